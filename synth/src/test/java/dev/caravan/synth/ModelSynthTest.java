package dev.caravan.synth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.engine.TestData;
import dev.caravan.engine.gguf.GgufArray;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.gguf.GgufMetadata;
import dev.caravan.engine.gguf.GgufTensorInfo;
import dev.caravan.engine.gguf.GgufValue;
import dev.caravan.engine.tensor.GgmlType;
import dev.caravan.synth.ModelSynth.FileType;
import dev.caravan.synth.ModelSynth.Spec;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelSynthTest {
  private static final ValueLayout.OfFloat LE_F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  @TempDir static Path dir;
  private static Vocabulary stories;
  /** The tiny model in every file type, seed 42, written once for the tests below. */
  private static final Map<FileType, Path> TINY = new LinkedHashMap<>();

  @BeforeAll
  static void writeTinyInEveryType() throws IOException {
    stories = Vocabulary.fromGguf(TestData.stories260K());
    for (FileType t : FileType.values()) {
      Path p = dir.resolve("tiny-" + t + ".gguf");
      List<long[]> progress = new ArrayList<>();
      ModelSynth.write(p, tinySpec(t, 42), (w, total) -> progress.add(new long[] {w, total}));
      assertEquals(Files.size(p), progress.getLast()[0], "progress ends at the file size");
      assertEquals(Files.size(p), progress.getLast()[1]);
      TINY.put(t, p);
    }
  }

  private static Spec tinySpec(FileType t, long seed) {
    return new Spec(Shape.named("tiny"), t, seed, stories, 2);
  }

  /** The tensors llama.cpp's llama architecture expects for the tiny shape, with their ggml dims. */
  private static Map<String, long[]> tinyTensors() {
    Map<String, long[]> m = new LinkedHashMap<>();
    m.put("token_embd.weight", new long[] {256, 512});
    for (int l = 0; l < 2; l++) {
      String p = "blk." + l + ".";
      m.put(p + "attn_norm.weight", new long[] {256});
      m.put(p + "attn_q.weight", new long[] {256, 256});
      m.put(p + "attn_k.weight", new long[] {256, 128}); // 2 KV heads of 64
      m.put(p + "attn_v.weight", new long[] {256, 128});
      m.put(p + "attn_output.weight", new long[] {256, 256});
      m.put(p + "ffn_norm.weight", new long[] {256});
      m.put(p + "ffn_gate.weight", new long[] {256, 512});
      m.put(p + "ffn_up.weight", new long[] {256, 512});
      m.put(p + "ffn_down.weight", new long[] {512, 256});
    }
    m.put("output_norm.weight", new long[] {256});
    m.put("output.weight", new long[] {256, 512});
    return m;
  }

  @Test
  void tinyReadsBackWithLlamaCppNamesShapesAndMetadata() throws IOException {
    Map<FileType, Integer> fileTypes = Map.of(FileType.F32, 0, FileType.F16, 1, FileType.Q4_0, 2, FileType.Q8_0, 7, FileType.Q4_K, 14, FileType.Q4_K_M, 15, FileType.Q6_K, 18, FileType.BF16, 32);
    Map<FileType, GgmlType> types = Map.of(FileType.F32, GgmlType.F32, FileType.F16, GgmlType.F16, FileType.Q4_0, GgmlType.Q4_0, FileType.Q8_0, GgmlType.Q8_0, FileType.Q4_K, GgmlType.Q4_K, FileType.Q4_K_M, GgmlType.Q4_K, FileType.Q6_K, GgmlType.Q6_K, FileType.BF16, GgmlType.BF16);
    // with 2 layers, llama.cpp's use_more_bits picks layer 1 only (1 >= 7*2/8); the output goes to Q6_K too
    Set<String> q4kmQ6 = Set.of("blk.1.attn_v.weight", "blk.1.ffn_down.weight", "output.weight");
    for (Map.Entry<FileType, Path> e : TINY.entrySet()) {
      try (GgufFile f = GgufFile.open(e.getValue())) {
        GgufMetadata m = f.metadata();
        assertEquals("llama", m.requireString("general.architecture"));
        assertEquals(fileTypes.get(e.getKey()), m.requireInt("general.file_type", 0, 100), e.getKey().toString());
        assertEquals(32, m.requireInt("general.alignment", 1, 1 << 20));
        assertEquals(512, m.requireInt("llama.vocab_size", 1, 1 << 30));
        assertEquals(512, m.requireInt("llama.context_length", 1, 1 << 30));
        assertEquals(256, m.requireInt("llama.embedding_length", 1, 1 << 30));
        assertEquals(2, m.requireInt("llama.block_count", 1, 1 << 30));
        assertEquals(512, m.requireInt("llama.feed_forward_length", 1, 1 << 30));
        assertEquals(64, m.requireInt("llama.rope.dimension_count", 1, 1 << 30));
        assertEquals(4, m.requireInt("llama.attention.head_count", 1, 1 << 30));
        assertEquals(2, m.requireInt("llama.attention.head_count_kv", 1, 1 << 30));
        assertEquals(1e-5f, m.float32("llama.attention.layer_norm_rms_epsilon").orElseThrow());
        assertEquals(10000f, m.float32("llama.rope.freq_base").orElseThrow());
        // the vocabulary is stories260K's, every tokenizer key copied
        try (GgufFile s = GgufFile.open(TestData.stories260K())) {
          for (Map.Entry<String, GgufValue> kv : s.metadata().asMap().entrySet()) {
            if (kv.getKey().startsWith("tokenizer.")) {
              assertEquals(kv.getValue(), m.get(kv.getKey()).orElseThrow(), kv.getKey());
            }
          }
        }
        // tensors: names, dims and order as llama.cpp expects; 1-D tensors F32
        Map<String, long[]> expected = tinyTensors();
        List<GgufTensorInfo> tensors = f.tensors();
        assertEquals(new ArrayList<>(expected.keySet()), tensors.stream().map(GgufTensorInfo::name).toList());
        for (GgufTensorInfo t : tensors) {
          assertArrayEquals(expected.get(t.name()), t.dims(), t.name());
          GgmlType want = t.rank() == 1 ? GgmlType.F32 : e.getKey() == FileType.Q4_K_M && q4kmQ6.contains(t.name()) ? GgmlType.Q6_K : types.get(e.getKey());
          assertEquals(want, t.type(), e.getKey() + " " + t.name());
          if (t.name().endsWith("_norm.weight")) {
            for (float v : f.tensorData(t).toArray(LE_F32)) {
              assertEquals(1f, v);
            }
          }
        }
      }
    }
  }

  /** The F32 file's weights look like N(0, std) with the shape's scales. */
  @Test
  void weightsHaveTheShapesDistribution() throws IOException {
    try (GgufFile f = GgufFile.open(TINY.get(FileType.F32))) {
      for (GgufTensorInfo t : f.tensors()) {
        if (t.rank() != 2) {
          continue;
        }
        float[] x = f.tensorData(t).toArray(LE_F32);
        double sum = 0;
        double sq = 0;
        for (float v : x) {
          sum += v;
          sq += (double) v * v;
        }
        double mean = sum / x.length;
        double std = Math.sqrt(sq / x.length - mean * mean);
        double want = t.name().equals("output.weight") ? 0.25 : 0.02; // output: 4 / sqrt(256)
        assertEquals(want, std, want * 0.02, t.name() + " std");
        assertEquals(0, mean, want * 0.02, t.name() + " mean");
      }
    }
  }

  /** Every type of one seed holds the same weights: quantizing the F32 file gives the other files' bytes. */
  @Test
  void everyTypeHoldsTheSameWeights() throws IOException {
    Map<String, float[]> f32 = new HashMap<>();
    try (GgufFile f = GgufFile.open(TINY.get(FileType.F32))) {
      for (GgufTensorInfo t : f.tensors()) {
        f32.put(t.name(), f.tensorData(t).toArray(LE_F32));
      }
    }
    for (Map.Entry<FileType, Path> e : TINY.entrySet()) {
      try (GgufFile f = GgufFile.open(e.getValue())) {
        for (GgufTensorInfo t : f.tensors()) {
          byte[] expected = Quantizer.quantize(t.type(), f32.get(t.name()));
          assertEquals(-1L, f.tensorData(t).mismatch(java.lang.foreign.MemorySegment.ofArray(expected)), e.getKey() + " " + t.name());
        }
      }
    }
  }

  @Test
  void sameSeedSameBytesWhateverTheThreadsAndOtherSeedsDiffer() throws IOException {
    Path one = dir.resolve("q4k-1thread.gguf");
    ModelSynth.write(one, tinySpec(FileType.Q4_K, 42).withThreads(1), GgufWriter.Progress.none());
    assertEquals(-1L, Files.mismatch(TINY.get(FileType.Q4_K), one), "1 and 2 threads give the same file");
    Path other = dir.resolve("q4k-seed43.gguf");
    ModelSynth.write(other, tinySpec(FileType.Q4_K, 43), GgufWriter.Progress.none());
    try (GgufFile a = GgufFile.open(one);
        GgufFile b = GgufFile.open(other)) {
      assertEquals(a.tensors(), b.tensors(), "same layout");
      for (GgufTensorInfo t : a.tensors()) {
        boolean differs = a.tensorData(t).mismatch(b.tensorData(t)) != -1;
        assertEquals(t.rank() == 2, differs, t.name() + ": weights differ between seeds, norms do not");
      }
    }
    // tensors of several generator chunks (token_embd: 256 x 8192 = 2 chunks, in flight on 2 threads at once)
    Shape wide = Shape.named("tiny").withVocab(8192);
    assertTrue(256L * 8192 > ModelSynth.CHUNK_VALUES);
    Path w1 = dir.resolve("wide1.gguf");
    Path w3 = dir.resolve("wide3.gguf");
    ModelSynth.write(w1, Spec.of(wide, FileType.Q4_0, 5).withThreads(1), GgufWriter.Progress.none());
    ModelSynth.write(w3, Spec.of(wide, FileType.Q4_0, 5).withThreads(3), GgufWriter.Progress.none());
    assertEquals(-1L, Files.mismatch(w1, w3), "multi-chunk tensors do not depend on the thread count");
    // and the same seed through the ggml-type convenience API with a synthesized vocabulary is reproducible too
    Path c1 = dir.resolve("c1.gguf");
    Path c2 = dir.resolve("c2.gguf");
    ModelSynth.write(c1, Shape.named("tiny"), GgmlType.Q8_0, 9, GgufWriter.Progress.none());
    ModelSynth.write(c2, Shape.named("tiny"), GgmlType.Q8_0, 9, GgufWriter.Progress.none());
    assertEquals(-1L, Files.mismatch(c1, c2));
  }

  @Test
  void namedShapesMatchThePublishedModels() {
    assertEquals(List.of("tiny", "tinyllama-1.1b", "llama2-7b", "llama3.2-1b"), Shape.names());
    // parameter counts from the model cards / Hugging Face safetensors metadata
    assertEquals(1_100_048_384L, Shape.named("tinyllama-1.1b").parameterCount());
    assertEquals(6_738_415_616L, Shape.named("llama2-7b").parameterCount());
    assertEquals(1_235_814_400L, Shape.named("llama3.2-1b").parameterCount());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Shape.named("gpt-5"));
    assertTrue(e.getMessage().contains("gpt-5") && e.getMessage().contains("tinyllama-1.1b") && e.getMessage().contains("llama3.2-1b"), e.getMessage());
  }

  /** The big shapes are planned (metadata, tensor infos, sizes) without generating any weight. */
  @Test
  void bigShapesPlanLikeLlamaCppFiles() {
    GgufWriter tl = ModelSynth.plan(Spec.of(Shape.named("tinyllama-1.1b"), FileType.Q8_0, 1), null);
    assertEquals(201, tl.tensorInfos().size());
    assertArrayEquals(new long[] {2048, 256}, info(tl, "blk.21.attn_k.weight").dims()); // 4 KV heads of 64
    assertArrayEquals(new long[] {5632, 2048}, info(tl, "blk.0.ffn_down.weight").dims());

    GgufWriter l2 = ModelSynth.plan(Spec.of(Shape.named("llama2-7b"), FileType.Q4_0, 1), null);
    assertEquals(291, l2.tensorInfos().size());
    assertArrayEquals(new long[] {4096, 32000}, info(l2, "output.weight").dims());
    // pure Q4_0: (6738415616 - 65 * 4096 norm values) * 18/32 bytes + the norms in F32, plus header and padding
    long weights = (6_738_415_616L - 65 * 4096) / 32 * 18 + 65 * 4096 * 4;
    assertTrue(l2.fileSize() > weights && l2.fileSize() < weights + 2_000_000, "size " + l2.fileSize());

    Spec l3spec = Spec.of(Shape.named("llama3.2-1b"), FileType.Q4_K_M, 1);
    GgufWriter l3 = ModelSynth.plan(l3spec, null);
    assertEquals(147, l3.tensorInfos().size()); // tied: no output.weight, plus rope_freqs
    assertTrue(l3.tensorInfos().stream().noneMatch(t -> t.name().equals("output.weight")));
    assertArrayEquals(new long[] {32}, info(l3, "rope_freqs.weight").dims());
    assertEquals(GgmlType.F32, info(l3, "rope_freqs.weight").type());
    assertEquals(GgmlType.Q6_K, info(l3, "token_embd.weight").type(), "tied embedding is the output: Q6_K in Q4_K_M");
    // use_more_bits over 16 layers: 0, 1 (first eighth), 14, 15 (last eighth), and (l - 2) % 3 == 2: 4, 7, 10, 13
    Set<Integer> more = Set.of(0, 1, 4, 7, 10, 13, 14, 15);
    for (int l = 0; l < 16; l++) {
      GgmlType want = more.contains(l) ? GgmlType.Q6_K : GgmlType.Q4_K;
      assertEquals(want, info(l3, "blk." + l + ".attn_v.weight").type(), "layer " + l);
      assertEquals(want, info(l3, "blk." + l + ".ffn_down.weight").type(), "layer " + l);
      assertEquals(GgmlType.Q4_K, info(l3, "blk." + l + ".attn_q.weight").type());
    }
    assertEquals(500000f, (Float) l3.metadata().get("llama.rope.freq_base").value());
    assertEquals(131072L, (Long) l3.metadata().get("llama.context_length").value());
    assertEquals(128256, ((String[]) ((dev.caravan.engine.gguf.GgufArray) l3.metadata().get("tokenizer.ggml.tokens").value()).elements()).length);
  }

  @Test
  void llama31RopeFactors() {
    float[] f = ModelSynth.ropeFreqFactors(64, 500000f, Shape.named("llama3.2-1b").ropeScaling());
    assertEquals(32, f.length);
    // wavelength 2 pi 500000^(i/32): below 2048 (i <= 14) factor 1, above 8192 (i >= 18) factor 32
    for (int i = 0; i <= 14; i++) {
      assertEquals(1f, f[i], "i=" + i);
    }
    for (int i = 18; i < 32; i++) {
      assertEquals(32f, f[i], "i=" + i);
    }
    // i = 16: wavelength 2 pi sqrt(500000) = 4442.88; smooth = (8192/4442.88 - 1)/3 = 0.28128; 1/((1-s)/32 + s) = 3.2923
    assertEquals(3.2923, f[16], 1e-3);
    assertTrue(f[14] < f[15] && f[15] < f[16] && f[16] < f[17] && f[17] < f[18]);
  }

  @Test
  void synthesizedVocabularyIsAValidSentencePieceVocabulary() {
    Vocabulary v = Vocabulary.sentencePiece(32000);
    String[] tokens = (String[]) ((dev.caravan.engine.gguf.GgufArray) v.metadata().get("tokenizer.ggml.tokens").value()).elements();
    int[] types = (int[]) ((dev.caravan.engine.gguf.GgufArray) v.metadata().get("tokenizer.ggml.token_type").value()).elements();
    float[] scores = (float[]) ((dev.caravan.engine.gguf.GgufArray) v.metadata().get("tokenizer.ggml.scores").value()).elements();
    assertEquals(32000, tokens.length);
    assertEquals(32000, types.length);
    assertEquals(32000, scores.length);
    assertEquals("<unk>", tokens[0]);
    assertEquals("<s>", tokens[1]);
    assertEquals("</s>", tokens[2]);
    assertEquals("<0x00>", tokens[3]);
    assertEquals("<0x0A>", tokens[3 + 10]);
    assertEquals("<0xFF>", tokens[258]);
    assertEquals("▁", tokens[259]);
    assertEquals(2, types[0]);
    assertEquals(3, types[1]);
    assertEquals(6, types[100]);
    assertEquals(1, types[31999]);
    assertEquals(0f, scores[259]);
    assertEquals(-1f, scores[260]);
    Set<String> unique = new HashSet<>(List.of(tokens));
    assertEquals(32000, unique.size(), "tokens are distinct");
    assertEquals("llama", v.metadata().get("tokenizer.ggml.model").value());
    assertThrows(IllegalArgumentException.class, () -> Vocabulary.sentencePiece(100));
  }

  @Test
  void rejectsAVocabularyOfTheWrongSize() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Spec(Shape.named("tinyllama-1.1b"), FileType.F16, 1, stories, 1));
    assertTrue(e.getMessage().contains("512") && e.getMessage().contains("32000"), e.getMessage());
    assertEquals(512, Shape.named("tinyllama-1.1b").withVocab(512).vocab());
  }

  @Test
  void rowsThatDoNotFitTheBlockFallBack() {
    Shape s = Shape.named("tiny");
    assertEquals(GgmlType.Q8_0, ModelSynth.tensorType(s, FileType.Q4_K, "blk.0.attn_q.weight", 288));
    assertEquals(GgmlType.F16, ModelSynth.tensorType(s, FileType.Q6_K, "blk.0.attn_q.weight", 48));
    assertEquals(GgmlType.F16, ModelSynth.tensorType(s, FileType.Q4_0, "blk.0.attn_q.weight", 48));
    assertEquals(GgmlType.Q4_K, ModelSynth.tensorType(s, FileType.Q4_K, "blk.0.attn_q.weight", 256));
    assertFalse(ModelSynth.useMoreBits(2, 16));
  }

  private static GgufTensorInfo info(GgufWriter w, String name) {
    return w.tensorInfos().stream().filter(t -> t.name().equals(name)).findFirst().orElseThrow(() -> new AssertionError("no tensor " + name));
  }

  @Test
  void differentSeedsGiveDifferentChunkSeeds() {
    assertNotEquals(ModelSynth.chunkSeed(1, 5, 0), ModelSynth.chunkSeed(2, 5, 0));
    assertNotEquals(ModelSynth.chunkSeed(1, 5, 0), ModelSynth.chunkSeed(1, 5, 1));
  }
}
