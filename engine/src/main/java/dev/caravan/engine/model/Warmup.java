package dev.caravan.engine.model;

import dev.caravan.engine.tensor.ActivationMath;
import dev.caravan.engine.tensor.GgmlType;
import dev.caravan.engine.tensor.Kernels;
import dev.caravan.engine.tensor.Parallel;
import dev.caravan.engine.tensor.WeightMatrix;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gets the hot kernels compiled before the first real token. Vector API code runs 100x slower or worse until C2 has
 * compiled it, and the first forward pass of a 1.1B model otherwise runs for seconds in the interpreter and C1. This
 * runs every kernel the model's weight types need (single-token and batched), and the activation math, on the first
 * blocks of the model's own matrices seen as short rows (the real types, little work per call), round after round until
 * the rounds stop getting faster, within a time budget (2 s); then real forward passes over one layer of the stage
 * ({@link #passes}), for the code around the kernels. Once per JVM, and only for models of at least 64 MiB of layer
 * weights (small ones run their first token fast anyway); pure computation on scratch outputs and caches, so it changes
 * no result. {@code -Dcaravan.warmup=false} skips it. The launcher's JVM flags (bin/lib/java-env.sh) let C2 compile the
 * kernels after 2 % of the usual invocations, so these rounds reach compiled code sooner: on a 2-core Zen 5, a 1.1B Q8_0
 * model's first token came 2.3–2.9 s after the process started, against 3.9–4.4 s with neither.
 */
final class Warmup {
  private static final Logger LOG = LoggerFactory.getLogger(Warmup.class);
  private static final AtomicBoolean DONE = new AtomicBoolean();
  private static final boolean ENABLED = !"false".equalsIgnoreCase(System.getProperty("caravan.warmup", "true"));
  /** Most time spent warming up. */
  private static final long BUDGET_NANOS = 2_000_000_000L;
  /** Models with fewer weight bytes than this run their first token fast enough without (every test model). */
  private static final long MIN_BYTES = 64L << 20;
  /** Rows of each matrix used: enough for the batched path's row tile and four-row micro-kernel. */
  private static final int ROWS = 9;
  /** Tokens of the batched calls: a four-token tile and a leftover token. */
  private static final int TOKENS = 5;

  private Warmup() {}

  /** Most time spent on whole forward passes over one layer, after the kernels. */
  private static final long PASSES_BUDGET_NANOS = 1_500_000_000L;

  /** Warms up for {@code weights}' types, then the forward pass of one of its layers, the first time in this JVM. */
  static void once(LlamaWeights weights, Kernels kernels, Parallel parallel) {
    if (!ENABLED || bytes(weights) < MIN_BYTES || !DONE.compareAndSet(false, true)) {
      return;
    }
    run(weights, kernels, BUDGET_NANOS);
    passes(weights, kernels, parallel, PASSES_BUDGET_NANOS);
  }

  /**
   * Real forward passes over the first layer of {@code weights} alone (its own scratch caches): a five-token prompt, then
   * three single-token steps, round after round until the rounds stop getting faster, within {@code budgetNanos}. The
   * kernel rounds of {@link #run} get the kernels compiled; these get the code around them compiled with the profile of
   * real shapes (the parallel fan-out, activation rounding, RoPE, attention), which the first prompt otherwise pays for.
   * Returns the rounds run.
   */
  static int passes(LlamaWeights weights, Kernels kernels, Parallel parallel, long budgetNanos) {
    long t0 = System.nanoTime();
    LayerStack stack = new LayerStack(weights.firstLayer(), kernels, parallel);
    LlamaConfig c = weights.config;
    int[] prompt = new int[TOKENS];
    for (int i = 0; i < TOKENS; i++) {
      prompt[i] = 1 + i % (c.vocabSize() - 1);
    }
    float[] hidden = new float[TOKENS * c.dim()]; // (TOKENS, dim) input of a stage that does not embed tokens
    for (int i = 0; i < hidden.length; i++) {
      hidden[i] = (float) Math.sin(0.37 * i);
    }
    Batch batch = new Batch(TOKENS);
    float[] out = new float[Math.max(TOKENS * c.dim(), c.vocabSize())];
    Rounds rounds = new Rounds();
    while (System.nanoTime() - t0 < budgetNanos) {
      long r0 = System.nanoTime();
      KvCache cache = stack.newCache(2 * TOKENS);
      batch.clear();
      batch.addSequence(prompt, cache, true);
      stack.forward(batch, hidden, out);
      for (int step = 0; step < 3; step++) {
        batch.clear();
        batch.add(prompt[step], cache.length(), cache, true);
        stack.forward(batch, hidden, out);
      }
      if (rounds.settled(System.nanoTime() - r0, 5)) {
        break;
      }
    }
    LOG.info("forward pass warmed up in {} ms ({} rounds over layer {})", (System.nanoTime() - t0) / 1_000_000, rounds.count, weights.range.start());
    return rounds.count;
  }

  /** One warm-up of at most {@code budgetNanos} (checked between calls); returns the rounds run. */
  static int run(LlamaWeights weights, Kernels kernels, long budgetNanos) {
    long t0 = System.nanoTime();
    List<WeightMatrix> mats = matrices(weights);
    int maxCols = mats.stream().mapToInt(WeightMatrix::cols).max().orElse(0);
    float[] x = new float[Math.max(TOKENS * maxCols, 1024)];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) Math.sin(i) * 0.5f;
    }
    float[] out = new float[TOKENS * ROWS];
    float[] tmp = new float[Math.max(maxCols, 256)];
    short[] half = new short[256];
    Rounds rounds = new Rounds();
    while (System.nanoTime() - t0 < budgetNanos) {
      long r0 = System.nanoTime();
      for (int rep = 0; rep < 20 && System.nanoTime() - t0 < budgetNanos; rep++) {
        for (WeightMatrix w : mats) {
          kernels.dotRows(w, 0, w.rows(), x, 0, w.cols(), 1, out, 0, w.rows());
          kernels.dotRows(w, 0, w.rows(), x, 0, w.cols(), TOKENS, out, 0, w.rows());
          kernels.dequantizeRow(w, 0, tmp, 0);
        }
        ActivationMath.rmsNorm(tmp, 0, x, 0, x, 256, 1e-5f);
        ActivationMath.softmax(tmp, 0, 256);
        ActivationMath.swiglu(x, 0, x, 256, tmp, 0, 256);
        ActivationMath.add(x, 0, tmp, 0, 256);
        ActivationMath.axpy(0.5f, x, 0, tmp, 0, 64);
        tmp[0] += ActivationMath.dotF32(x, 0, tmp, 0, 64);
        ActivationMath.toF16(x, 0, half, 0, 256);
        tmp[1] += ActivationMath.dotF16(half, 0, x, 0, 64);
        ActivationMath.axpyF16(0.5f, half, 0, tmp, 0, 64);
      }
      if (rounds.settled(System.nanoTime() - r0, 10)) {
        break;
      }
    }
    LOG.info("kernels warmed up in {} ms ({} rounds, {} matrix types)", (System.nanoTime() - t0) / 1_000_000, rounds.count, mats.size());
    return rounds.count;
  }

  private static long bytes(LlamaWeights w) {
    long b = 0;
    for (LlamaWeights.Layer l : w.layers) {
      for (WeightMatrix m : List.of(l.wq(), l.wk(), l.wv(), l.wo(), l.wGate(), l.wUp(), l.wDown())) {
        b += m.data().byteSize();
      }
    }
    return b;
  }

  /** One short matrix per weight type of the model, over the first blocks of one of its matrices. */
  private static List<WeightMatrix> matrices(LlamaWeights w) {
    Map<GgmlType, Map<Integer, WeightMatrix>> seen = new EnumMap<>(GgmlType.class);
    List<WeightMatrix> all = new ArrayList<>();
    for (LlamaWeights.Layer l : w.layers) {
      all.addAll(List.of(l.wq(), l.wk(), l.wv(), l.wo(), l.wGate(), l.wUp(), l.wDown()));
    }
    if (w.output != null) {
      all.add(w.output);
    }
    if (w.tokenEmbedding != null) {
      all.add(w.tokenEmbedding);
    }
    List<WeightMatrix> picked = new ArrayList<>();
    for (WeightMatrix m : all) {
      Map<Integer, WeightMatrix> byCols = seen.computeIfAbsent(m.type(), t -> new java.util.HashMap<>());
      if (byCols.isEmpty()) {
        // the same bytes seen as short rows of two blocks each: real blocks of the real type, little work per call, and
        // every loop still iterates more than once (a loop whose back edge was never taken would be compiled with a
        // trap there)
        int cols = 2 * m.type().blockSize() * (m.type().blockSize() == 1 ? 32 : 1);
        long rowBytes = m.type().byteSize(cols);
        int rows = (int) Math.min(ROWS, m.data().byteSize() / rowBytes);
        WeightMatrix slice = new WeightMatrix(m.name() + "[warm-up]", m.type(), m.data().asSlice(0, rows * rowBytes), rows, cols);
        byCols.put(cols, slice);
        picked.add(slice);
      }
    }
    return picked;
  }

  /** Round times of a warm-up loop: settled once a round is no faster than the best by more than 10 % three times in a row. */
  private static final class Rounds {
    private long best = Long.MAX_VALUE;
    private int calm;
    int count;

    /** Records a round of {@code nanos}; true once at least {@code minRounds} rounds ran and the times settled. */
    boolean settled(long nanos, int minRounds) {
      count++;
      calm = nanos * 10 >= best * 9 ? calm + 1 : 0;
      best = Math.min(best, nanos);
      return count >= minRounds && calm >= 3;
    }
  }
}
