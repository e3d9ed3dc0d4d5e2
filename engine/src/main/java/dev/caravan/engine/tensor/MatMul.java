package dev.caravan.engine.tensor;

import java.util.Objects;

/**
 * Batched matrix-vector products over weight rows, in parallel over output rows.
 *
 * <p>Each pool chunk of rows goes to {@link Kernels#dotRows}, which reads every weight row once for the whole batch
 * (the vector kernels dequantize a few rows into a per-thread tile and run them against tokens four at a time). Every
 * {@code out} value is bit-identical to {@code k.dot} of its row and token, whatever the batch and thread count.
 *
 * <p>Allocation: none per call. The range task handed to the pool is a per-driving-thread object reused across calls
 * (a {@link ThreadLocal}, created once per thread that calls {@code matmul}); a capturing lambda would allocate on
 * every call.
 */
public final class MatMul {
  private static final ThreadLocal<RowsTask> TASKS = ThreadLocal.withInitial(RowsTask::new);

  private MatMul() {}

  /**
   * {@code out[b * w.rows() + r] = dot(w row r, x[b * w.cols() ..])} for every token {@code b < batch}. The weights are
   * read once per batch: each row is used for every token while it is hot in cache.
   *
   * @param x (batch, cols) activations, row-major
   * @param out (batch, rows) results, row-major
   */
  public static void matmul(Kernels k, Parallel p, WeightMatrix w, float[] x, int batch, float[] out) {
    Objects.requireNonNull(k, "k");
    int rows = w.rows();
    int cols = w.cols();
    if (batch < 1) {
      throw new IllegalArgumentException("batch must be >= 1, not " + batch);
    }
    if ((long) batch * cols > x.length || (long) batch * rows > out.length) {
      throw new IllegalArgumentException(w + ": batch " + batch + " needs x >= " + (long) batch * cols + " and out >= " + (long) batch * rows + " floats, got " + x.length + " and " + out.length);
    }
    RowsTask task = TASKS.get();
    task.set(k, w, x, batch, out);
    try {
      p.forRange(rows, task);
    } finally {
      task.clear();
    }
  }

  /** The pool task: rows [from, to) of the current call. Fields are published to workers by the pool's dispatch. */
  private static final class RowsTask implements Parallel.RangeTask {
    private Kernels k;
    private WeightMatrix w;
    private float[] x;
    private int batch;
    private float[] out;

    void set(Kernels k, WeightMatrix w, float[] x, int batch, float[] out) {
      this.k = k;
      this.w = w;
      this.x = x;
      this.batch = batch;
      this.out = out;
    }

    void clear() {
      set(null, null, null, 0, null);
    }

    @Override
    public void run(int from, int to) {
      k.dotRows(w, from, to, x, 0, w.cols(), batch, out, 0, w.rows());
    }
  }
}
