package dev.caravan.engine.tensor;

/** Batched matrix-vector products over weight rows, in parallel over output rows. */
public final class MatMul {
  private MatMul() {}

  /**
   * {@code out[b * w.rows() + r] = dot(w row r, x[b * w.cols() ..])} for every token {@code b < batch}. The weights are
   * read once per batch: each row is used for every token while it is hot in cache.
   */
  public static void matmul(Kernels k, Parallel p, WeightMatrix w, float[] x, int batch, float[] out) {
    int rows = w.rows();
    int cols = w.cols();
    p.forRange(rows, (from, to) -> {
      for (int r = from; r < to; r++) {
        for (int b = 0; b < batch; b++) {
          out[b * rows + r] = k.dot(w, r, x, b * cols);
        }
      }
    });
  }
}
