package dev.caravan.engine.tensor;

/**
 * F32 activation math for the forward pass, the entry point like {@link Kernels} is for weight rows. Each operation
 * has a scalar twin in {@link ScalarActivationMath} and a Vector API version in {@link VectorActivationMath}; which one
 * runs is chosen once per JVM by the same switch as the kernels ({@code -Dcaravan.kernels=scalar} selects the twins).
 *
 * <p>Exactness: the element-wise operations ({@link #axpy}, {@link #scale}, {@link #add}, the output step of
 * {@link #rmsNorm}, {@link #swiglu}, {@link #exp}) give the same bits in both implementations. Reductions
 * ({@link #dot}, the double sums inside {@link #rmsNorm} and {@link #softmax}) add in a different but fixed order, so
 * they agree to rounding and are deterministic run to run, thread to thread and batch to batch.
 *
 * <p>Arrays are addressed as {@code (array, offset)} pairs over {@code n} elements; ranges may not overlap unless
 * stated.
 */
public final class ActivationMath {
  private static final boolean VECTOR = KernelSelector.VECTOR;

  private ActivationMath() {}

  /** Whether the Vector API versions are in use. */
  public static boolean vectorized() {
    return VECTOR;
  }

  /**
   * {@code sum_i a[aOff+i] * b[bOff+i]} in float. The scalar twin adds in index order; the vector version uses the
   * kernels' order (see {@link VectorKernels}).
   */
  public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
    return VECTOR ? VectorActivationMath.dot(a, aOff, b, bOff, n) : ScalarActivationMath.dot(a, aOff, b, bOff, n);
  }

  /** {@link #dot} of two F32 activation vectors, by the name attention code uses for {@code q . k} scores. */
  public static float dotF32(float[] a, int aOff, float[] b, int bOff, int n) {
    return dot(a, aOff, b, bOff, n);
  }

  /**
   * {@link #dot} with {@code a} given as F16 bits (an F16 KV cache): the same bits as {@link #dot} of the F16 values
   * widened to float (the widening is exact), in either implementation.
   */
  public static float dotF16(short[] a, int aOff, float[] b, int bOff, int n) {
    return VECTOR ? VectorActivationMath.dotF16(a, aOff, b, bOff, n) : ScalarActivationMath.dotF16(a, aOff, b, bOff, n);
  }

  /** {@link #axpy} with {@code x} given as F16 bits: the same bits as {@link #axpy} of the widened values. */
  public static void axpyF16(float a, short[] x, int xOff, float[] y, int yOff, int n) {
    if (VECTOR) {
      VectorActivationMath.axpyF16(a, x, xOff, y, yOff, n);
    } else {
      ScalarActivationMath.axpyF16(a, x, xOff, y, yOff, n);
    }
  }

  /** Rounds {@code n} floats to F16 bits (round to nearest even, like ggml's F16 KV cache). */
  public static void toF16(float[] x, int xOff, short[] out, int outOff, int n) {
    for (int i = 0; i < n; i++) {
      out[outOff + i] = Float.floatToFloat16(x[xOff + i]);
    }
  }

  /** {@code y[yOff+i] += a * x[xOff+i]}: the product rounded to float, then the sum (no fused multiply-add). */
  public static void axpy(float a, float[] x, int xOff, float[] y, int yOff, int n) {
    if (VECTOR) {
      VectorActivationMath.axpy(a, x, xOff, y, yOff, n);
    } else {
      ScalarActivationMath.axpy(a, x, xOff, y, yOff, n);
    }
  }

  /** {@code x[xOff+i] *= s}. */
  public static void scale(float s, float[] x, int xOff, int n) {
    if (VECTOR) {
      VectorActivationMath.scale(s, x, xOff, n);
    } else {
      ScalarActivationMath.scale(s, x, xOff, n);
    }
  }

  /** {@code y[yOff+i] += x[xOff+i]} (the residual add). */
  public static void add(float[] x, int xOff, float[] y, int yOff, int n) {
    if (VECTOR) {
      VectorActivationMath.add(x, xOff, y, yOff, n);
    } else {
      ScalarActivationMath.add(x, xOff, y, yOff, n);
    }
  }

  /**
   * RMS norm as llama.cpp computes it: {@code sum} = the float products {@code x[i]*x[i]} accumulated in double;
   * {@code scale = 1.0f / (float) sqrt((float) (sum / n) + eps)} (the mean rounded to float, eps added in float);
   * {@code out[outOff+i] = (x[xOff+i] * scale) * weight[i]} in float. {@code out} may be {@code x} at the same offset.
   */
  public static void rmsNorm(float[] out, int outOff, float[] x, int xOff, float[] weight, int n, float eps) {
    if (VECTOR) {
      VectorActivationMath.rmsNorm(out, outOff, x, xOff, weight, n, eps);
    } else {
      ScalarActivationMath.rmsNorm(out, outOff, x, xOff, weight, n, eps);
    }
  }

  /**
   * In-place softmax over {@code x[off .. off+n)}: {@code m} = the maximum; {@code e_i = exp(x_i - m)} in float
   * ({@link ExpF}); {@code sum} = the e_i accumulated in double; {@code x_i = e_i * (float) (1.0 / sum)}. Needs at least
   * one finite value.
   */
  public static void softmax(float[] x, int off, int n) {
    if (VECTOR) {
      VectorActivationMath.softmax(x, off, n);
    } else {
      ScalarActivationMath.softmax(x, off, n);
    }
  }

  /**
   * SwiGLU: {@code out[outOff+i] = silu(g) * up[upOff+i]} with {@code g = gate[gateOff+i]} and
   * {@code silu(g) = g / (1 + exp(-g))} in float ({@link ExpF}). {@code out} may be {@code gate} or {@code up} at the
   * same offset.
   */
  public static void swiglu(float[] gate, int gateOff, float[] up, int upOff, float[] out, int outOff, int n) {
    if (VECTOR) {
      VectorActivationMath.swiglu(gate, gateOff, up, upOff, out, outOff, n);
    } else {
      ScalarActivationMath.swiglu(gate, gateOff, up, upOff, out, outOff, n);
    }
  }

  /** In-place {@code x_i = exp(x_i)} with Caravan's float exp ({@link ExpF}: within 2 ulp, 0 below -87.33). */
  public static void exp(float[] x, int off, int n) {
    if (VECTOR) {
      VectorActivationMath.exp(x, off, n);
    } else {
      ScalarActivationMath.exp(x, off, n);
    }
  }
}
