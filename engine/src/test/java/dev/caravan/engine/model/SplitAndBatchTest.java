package dev.caravan.engine.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.engine.TestData;
import dev.caravan.engine.tensor.Parallel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Sharding and batching must not change a single bit of a token's result. */
class SplitAndBatchTest {
  private static final int[] PROMPT = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 400, 428, 395, 392, 412, 444, 426};
  private static Parallel parallel;

  @BeforeAll
  static void pool() {
    parallel = new Parallel(2);
  }

  @AfterAll
  static void closePool() {
    parallel.close();
  }

  /** Prompt as one batch, then 8 greedy decode steps: the logits of every step, concatenated. */
  private static float[] run(LayerStack[] stages, int[] prompt, int steps) {
    return run(stages, prompt, steps, KvCache.Type.F32);
  }

  private static float[] run(LayerStack[] stages, int[] prompt, int steps, KvCache.Type type) {
    int vocab = stages[0].config().vocabSize();
    int dim = stages[0].config().dim();
    KvCache[] caches = new KvCache[stages.length];
    for (int s = 0; s < stages.length; s++) {
      caches[s] = stages[s].newCache(stages[s].config().contextLength(), type);
    }
    float[] all = new float[steps * vocab];
    int[] tokens = prompt;
    for (int step = 0; step < steps; step++) {
      float[] hidden = null;
      for (int s = 0; s < stages.length; s++) {
        Batch b = new Batch(tokens.length);
        b.addSequence(tokens, caches[s], true);
        float[] out = new float[stages[s].outputSize(b)];
        stages[s].forward(b, hidden, out);
        hidden = out;
        if (s < stages.length - 1) {
          assertEquals(tokens.length * dim, out.length, "a non-final stage returns hidden states");
        }
      }
      System.arraycopy(hidden, 0, all, step * vocab, vocab);
      tokens = new int[] {argmax(hidden)};
    }
    return all;
  }

  private static int argmax(float[] v) {
    int best = 0;
    for (int i = 1; i < v.length; i++) {
      best = v[i] > v[best] ? i : best;
    }
    return best;
  }

  @ParameterizedTest
  @EnumSource(KvCache.Type.class)
  void everySplitPointGivesBitIdenticalLogits(KvCache.Type type) throws IOException {
    Path path = TestData.stories260K();
    try (LlamaModel whole = LlamaModel.open(path, parallel)) {
      int layers = whole.config().layers();
      float[] reference = run(new LayerStack[] {whole.layers()}, PROMPT, 8, type);
      for (int k = 1; k < layers; k++) {
        try (LlamaModel a = LlamaModel.open(path, new LayerRange(0, k), parallel, null);
            LlamaModel b = LlamaModel.open(path, new LayerRange(k, layers), parallel, null)) {
          assertTrue(a.layers().isFirst() && !a.layers().isLast());
          assertTrue(!b.layers().isFirst() && b.layers().isLast());
          assertArrayEquals(reference, run(new LayerStack[] {a.layers(), b.layers()}, PROMPT, 8, type), "split at layer " + k);
        }
      }
      // three stages, uneven
      try (LlamaModel a = LlamaModel.open(path, new LayerRange(0, 1), parallel, null);
          LlamaModel b = LlamaModel.open(path, new LayerRange(1, 4), parallel, null);
          LlamaModel c = LlamaModel.open(path, new LayerRange(4, layers), parallel, null)) {
        assertArrayEquals(reference, run(new LayerStack[] {a.layers(), b.layers(), c.layers()}, PROMPT, 8, type), "split [0,1) [1,4) [4,5)");
      }
    }
  }

  @Test
  void stagesLoadOnlyTheirTensors() throws IOException {
    try (LlamaModel mid = LlamaModel.open(TestData.stories260K(), new LayerRange(1, 3), parallel, null)) {
      assertEquals(null, mid.weights().tokenEmbedding);
      assertEquals(null, mid.weights().output);
      assertEquals(2, mid.weights().layers.size());
      assertEquals("blk.1.attn_q.weight", mid.weights().layers.get(0).wq().name());
    }
  }

  /** An F16 KV cache changes the logits only by its rounding: close to the exact F32 cache's, not equal. */
  @Test
  void f16CacheStaysCloseToF32() throws IOException {
    try (LlamaModel model = LlamaModel.open(TestData.stories260K(), parallel)) {
      LayerStack[] one = {model.layers()};
      float[] exact = run(one, PROMPT, 8, KvCache.Type.F32);
      float[] half = run(one, PROMPT, 8, KvCache.Type.F16);
      double worst = 0;
      double scale = 0;
      for (int i = 0; i < exact.length; i++) {
        worst = Math.max(worst, Math.abs(exact[i] - half[i]));
        scale = Math.max(scale, Math.abs(exact[i]));
      }
      assertTrue(worst > 0, "F16 rounding changes something");
      assertTrue(worst < 0.02 * scale, "max |F16 - F32| " + worst + " against max |logit| " + scale);
      KvCache c = model.layers().newCache(64, KvCache.Type.F16);
      assertEquals(new KvCache(c.layers(), c.kvDim(), 64, KvCache.Type.F32).blockBytes() / 2, c.blockBytes());
    }
  }

  @ParameterizedTest
  @EnumSource(KvCache.Type.class)
  void mixedBatchEqualsSequencesRunAlone(KvCache.Type type) throws IOException {
    try (LlamaModel model = LlamaModel.open(TestData.stories260K(), parallel)) {
      LayerStack stage = model.layers();
      int vocab = model.config().vocabSize();
      // three sequences: A has decoded for a while, B is fresh with a prompt chunk, C is mid-prompt
      int[] a = Arrays.copyOfRange(PROMPT, 0, 12);
      int[] b = {1, 400, 401, 402, 403};
      int[] c = {1, 300, 301, 302, 303, 304, 305, 306, 307};

      // alone: each sequence in its own batches
      float[] aloneA = lastLogits(stage, new int[][] {Arrays.copyOfRange(a, 0, 11), {a[11]}}, type);
      float[] aloneB = lastLogits(stage, new int[][] {b}, type);
      float[] aloneC = lastLogits(stage, new int[][] {Arrays.copyOfRange(c, 0, 4), Arrays.copyOfRange(c, 4, 9)}, type);

      // together: A's prefix and C's first chunk earlier; then one mixed batch of A's next token, all of B, C's second chunk
      KvCache ca = stage.newCache(512, type);
      KvCache cb = stage.newCache(512, type);
      KvCache cc = stage.newCache(512, type);
      Batch warm = new Batch(32);
      warm.addSequence(Arrays.copyOfRange(a, 0, 11), ca, false);
      warm.addSequence(Arrays.copyOfRange(c, 0, 4), cc, false);
      stage.forward(warm, null, new float[0]);
      Batch mixed = new Batch(32);
      mixed.add(a[11], ca.length(), ca, true);
      mixed.addSequence(b, cb, true);
      mixed.addSequence(Arrays.copyOfRange(c, 4, 9), cc, true);
      float[] out = new float[3 * vocab];
      stage.forward(mixed, null, out);
      assertArrayEquals(aloneA, Arrays.copyOfRange(out, 0, vocab), "sequence A");
      assertArrayEquals(aloneB, Arrays.copyOfRange(out, vocab, 2 * vocab), "sequence B");
      assertArrayEquals(aloneC, Arrays.copyOfRange(out, 2 * vocab, 3 * vocab), "sequence C");
      assertEquals(12, ca.length());
      assertEquals(5, cb.length());
      assertEquals(9, cc.length());
    }
  }

  private static float[] lastLogits(LayerStack stage, int[][] chunks, KvCache.Type type) {
    KvCache cache = stage.newCache(512, type);
    float[] logits = new float[stage.config().vocabSize()];
    for (int[] chunk : chunks) {
      Batch batch = new Batch(chunk.length);
      batch.addSequence(chunk, cache, true);
      stage.forward(batch, null, logits);
    }
    return logits;
  }

  @Test
  void batchesThatDoNotContinueTheirCacheAreRefused() throws IOException {
    try (LlamaModel model = LlamaModel.open(TestData.stories260K(), parallel)) {
      LayerStack stage = model.layers();
      KvCache cache = stage.newCache(8);
      Batch gap = new Batch(4);
      gap.add(1, 1, cache, true);
      assertThrows(IllegalArgumentException.class, () -> stage.forward(gap, null, new float[512]));
      Batch tooLong = new Batch(9);
      tooLong.addSequence(new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9}, cache, true);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> stage.forward(tooLong, null, new float[512]));
      assertTrue(e.getMessage().contains("context length"), e.getMessage());
      Batch badToken = new Batch(1);
      badToken.add(512, 0, cache, true);
      e = assertThrows(IllegalArgumentException.class, () -> stage.forward(badToken, null, new float[512]));
      assertTrue(e.getMessage().contains("vocabulary"), e.getMessage());
      assertEquals(0, cache.length(), "a refused batch leaves the cache as it was");
    }
  }
}
