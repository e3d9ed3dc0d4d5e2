package dev.caravan.engine.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.engine.TestData;
import dev.caravan.engine.tensor.GgmlType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufFileTest {

  @Test
  void readsStories260K() throws IOException {
    try (GgufFile f = GgufFile.open(TestData.stories260K())) {
      assertEquals(3, f.version());
      GgufMetadata m = f.metadata();
      assertEquals("llama", m.requireString("general.architecture"));
      assertEquals(64, m.requireInt("llama.embedding_length", 1, 1 << 20));
      assertEquals(5, m.requireInt("llama.block_count", 1, 1000));
      assertEquals(8, m.requireInt("llama.attention.head_count", 1, 1000));
      assertEquals(4, m.requireInt("llama.attention.head_count_kv", 1, 1000));
      assertEquals(10000f, m.float32("llama.rope.freq_base").orElseThrow());
      assertEquals("llama", m.requireString("tokenizer.ggml.model"));
      String[] tokens = m.stringArray("tokenizer.ggml.tokens").orElseThrow();
      assertEquals(512, tokens.length);
      assertEquals("<s>", tokens[1]);
      assertEquals("<0x00>", tokens[3]);
      assertEquals(512, m.floatArray("tokenizer.ggml.scores").orElseThrow().length);
      assertEquals(32, f.alignment());
      assertEquals(48, f.tensors().size());
      GgufTensorInfo q = f.tensor("blk.0.attn_q.weight").orElseThrow();
      assertEquals(GgmlType.F32, q.type());
      assertArrayEquals(new long[] {64, 64}, q.dims());
      GgufTensorInfo ffnDown = f.tensor("blk.4.ffn_down.weight").orElseThrow();
      assertArrayEquals(new long[] {172, 64}, ffnDown.dims());
      assertEquals(172L * 64 * 4, f.tensorData(ffnDown).byteSize());
      // the shared classifier is an explicit copy of the embedding
      var emb = f.tensorData(f.tensor("token_embd.weight").orElseThrow());
      var out = f.tensorData(f.tensor("output.weight").orElseThrow());
      assertEquals(-1L, emb.mismatch(out));
    }
  }

  @Test
  void readsEveryOracleModelAndVocabulary() throws IOException {
    for (String name : new String[] {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q6_K"}) {
      try (GgufFile f = GgufFile.open(TestData.oracle("models/tiny256-" + name + ".gguf"))) {
        GgmlType t = f.tensor("blk.0.attn_q.weight").orElseThrow().type();
        assertEquals(name, t.name());
      }
    }
    try (GgufFile f = GgufFile.open(TestData.oracle("models/stories15m-shape-Q8_0.gguf"))) {
      assertTrue(f.tensor("output.weight").isEmpty(), "tied model has no output.weight");
    }
    try (GgufFile f = GgufFile.open(TestData.oracle("tokenizer/llama3-vocab.gguf"))) {
      assertEquals(128256, f.metadata().stringArray("tokenizer.ggml.tokens").orElseThrow().length);
      assertEquals("llama-bpe", f.metadata().requireString("tokenizer.ggml.pre"));
    }
  }

  @Test
  void missingFileIsNoSuchFile() {
    assertThrows(NoSuchFileException.class, () -> GgufFile.open(Path.of("/nonexistent/model.gguf")));
  }

  @Test
  void nonGgufFileNamesTheMagic(@TempDir Path dir) throws IOException {
    Path p = dir.resolve("not.gguf");
    Files.writeString(p, "hello world, this is not a model");
    GgufFormatException e = assertThrows(GgufFormatException.class, () -> GgufFile.open(p));
    assertTrue(e.getMessage().contains("not a GGUF file"), e.getMessage());
  }

  @Test
  void everyTruncationFailsCleanly(@TempDir Path dir) throws IOException {
    byte[] whole = Files.readAllBytes(TestData.stories260K());
    // cutting anywhere in the header or the data must give a format error, never another exception
    int[] cuts = {0, 3, 4, 7, 8, 16, 24, 30, 100, 1000, 5000, 9000, whole.length / 2, whole.length - 1};
    for (int cut : cuts) {
      Path p = dir.resolve("cut" + cut + ".gguf");
      Files.write(p, Arrays.copyOf(whole, cut));
      IOException e = assertThrows(IOException.class, () -> GgufFile.open(p).close(), "cut at " + cut);
      assertTrue(e instanceof GgufFormatException, "cut at " + cut + ": " + e);
    }
  }
}
