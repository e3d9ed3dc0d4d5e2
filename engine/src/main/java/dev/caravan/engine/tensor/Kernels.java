package dev.caravan.engine.tensor;

/**
 * The compute kernels over weight rows. Two implementations exist: {@link ScalarKernels}, the plain reference, and
 * {@link VectorKernels} (Vector API); {@link #get()} picks one once at start-up.
 *
 * <p>Supported weight types: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K ({@link GgmlType#supported()}). The input
 * vectors are float arrays and the kernels use them as given. Like llama.cpp, the forward pass first rounds each
 * matmul input to the weight type's vec-dot type (Q8_0 blocks for Q8_0/Q4_0 weights, Q8_K for Q4_K/Q6_K, F16/BF16 for
 * F16/BF16; see {@link dev.caravan.engine.model.ActivationRounding}), so for those types the floats a kernel sees are
 * already exactly the quantized activations' values; {@code -Dcaravan.activations=f32} leaves them unrounded.
 *
 * <h2>Determinism contract</h2>
 *
 * Every implementation guarantees, for one {@code Kernels} instance in one JVM:
 *
 * <ul>
 *   <li>A row·vector result is a fixed function of the row's bytes and the {@code cols} input values: it never depends
 *       on the calling thread, on whether the code is interpreted or JIT-compiled, on the batch size, on which other
 *       tokens share the batch, or on where the vector sits in its array. (No order-unspecified reductions are used:
 *       each implementation defines its summation order in terms of the row alone.)
 *   <li>{@link #dotTokens} gives, for every token, the bit-identical float that {@link #dot} gives for that token.
 *   <li>{@link #dequantizeRow} is exact: the values are those of ggml's {@code dequantize_row_*} (same float
 *       operations), identical in every implementation.
 * </ul>
 *
 * Different implementations (scalar, vector at 512/256/128 bits) sum in different orders, so their {@code dot}
 * results agree only to float rounding; a deployment must use one implementation everywhere it needs identical
 * numbers (for example every shard of one model).
 */
public interface Kernels {

  /** A short name for logs, e.g. "scalar" or "vector-512". */
  String name();

  /** {@code sum_i row[i] * x[xOff + i]} over the {@code w.cols()} values of row {@code row}. */
  float dot(WeightMatrix w, int row, float[] x, int xOff);

  /**
   * Row {@code row} against {@code nTokens} input vectors: for each token {@code t < nTokens},
   * {@code out[outOff + t * outStride] = dot(w, row, x, xOff + t * xStride)}, bit for bit. The weight row is read and
   * decoded once per small group of tokens instead of once per token.
   *
   * @param x input vectors, token t at {@code x[xOff + t * xStride .. + w.cols())}
   * @param out results, token t at {@code out[outOff + t * outStride]}
   */
  default void dotTokens(WeightMatrix w, int row, float[] x, int xOff, int xStride, int nTokens, float[] out, int outOff, int outStride) {
    for (int t = 0; t < nTokens; t++) {
      out[outOff + t * outStride] = dot(w, row, x, xOff + t * xStride);
    }
  }

  /**
   * Rows [{@code rowFrom}, {@code rowTo}) against {@code nTokens} vectors, the building block of {@link MatMul}: for
   * each row r and token t, {@code out[outOff + t * outStride + r] = dot(w, r, x, xOff + t * xStride)}, bit for bit.
   * Implementations read each weight row once for all the tokens.
   */
  default void dotRows(WeightMatrix w, int rowFrom, int rowTo, float[] x, int xOff, int xStride, int nTokens, float[] out, int outOff, int outStride) {
    for (int r = rowFrom; r < rowTo; r++) {
      dotTokens(w, r, x, xOff, xStride, nTokens, out, outOff + r, outStride);
    }
  }

  /** Writes the {@code w.cols()} values of row {@code row}, exactly dequantized, to {@code out[outOff ..]}. */
  void dequantizeRow(WeightMatrix w, int row, float[] out, int outOff);

  /** The kernels chosen for this JVM. */
  static Kernels get() {
    return KernelSelector.SELECTED;
  }
}
