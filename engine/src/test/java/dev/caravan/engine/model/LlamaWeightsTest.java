package dev.caravan.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.caravan.engine.TestData;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.gguf.GgufTensorInfo;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LlamaWeightsTest {

  /**
   * Found by GgufFuzzTest: a tensor named {@code blk.<not a layer number>.*} made {@code bytesOf} (what {@code caravan
   * run} sizes its progress bar with) throw NumberFormatException. Such a tensor belongs to no layer range.
   */
  @Test
  void aTensorWhoseLayerIsNotANumberBelongsToNoRange(@TempDir Path dir) throws IOException {
    byte[] model = Files.readAllBytes(TestData.stories260K());
    long whole;
    long layer0;
    try (GgufFile f = GgufFile.open(TestData.stories260K())) {
      LlamaConfig c = LlamaConfig.from(f);
      whole = LlamaWeights.bytesOf(f, c, LayerRange.all(c.layers()));
      layer0 = LlamaWeights.bytesOf(f, c, new LayerRange(0, 1));
    }
    for (String name : new String[] {"blk.99999999999.ffn", "blk.x.attn_q.weight", "blk.-.attn_q.weight"}) {
      Path renamed = dir.resolve(name + ".gguf");
      Files.write(renamed, replace(model, "blk.0.attn_q.weight", name));
      try (GgufFile f = GgufFile.open(renamed)) {
        LlamaConfig c = LlamaConfig.from(f);
        long q = f.tensor(name).map(GgufTensorInfo::byteSize).orElseThrow();
        assertEquals(whole - q, LlamaWeights.bytesOf(f, c, LayerRange.all(c.layers())), name);
        assertEquals(layer0 - q, LlamaWeights.bytesOf(f, c, new LayerRange(0, 1)), name);
      }
    }
  }

  /** {@code bytes} with the first occurrence of {@code from} replaced by {@code to} of the same length. */
  private static byte[] replace(byte[] bytes, String from, String to) {
    byte[] f = from.getBytes(StandardCharsets.US_ASCII);
    byte[] t = to.getBytes(StandardCharsets.US_ASCII);
    assertEquals(f.length, t.length);
    byte[] out = bytes.clone();
    outer:
    for (int i = 0; i + f.length <= out.length; i++) {
      for (int j = 0; j < f.length; j++) {
        if (out[i + j] != f[j]) {
          continue outer;
        }
      }
      System.arraycopy(t, 0, out, i, t.length);
      return out;
    }
    throw new AssertionError(from + " not found");
  }
}
