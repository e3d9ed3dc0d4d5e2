package dev.caravan.engine.tensor;

/**
 * The compute kernels over weight rows. Two implementations exist: {@link ScalarKernels}, the plain reference, and a
 * Vector API one; {@link #get()} picks one once at start-up.
 *
 * <p>Contract shared by every implementation: results depend only on the row and the input vector, never on which
 * thread or batch computed them (so a token's numbers do not change with batch composition or pipeline split).
 */
public interface Kernels {

  /** A short name for logs, e.g. "scalar" or "vector-512". */
  String name();

  /** {@code sum_i row[i] * x[xOff + i]} over the {@code w.cols()} values of row {@code row}. */
  float dot(WeightMatrix w, int row, float[] x, int xOff);

  /** Writes the {@code w.cols()} values of row {@code row}, exactly dequantized, to {@code out[outOff ..]}. */
  void dequantizeRow(WeightMatrix w, int row, float[] out, int outOff);

  /** The kernels chosen for this JVM. */
  static Kernels get() {
    return KernelSelector.SELECTED;
  }
}
