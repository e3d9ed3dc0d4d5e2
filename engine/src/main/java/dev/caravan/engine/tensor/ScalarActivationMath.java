package dev.caravan.engine.tensor;

/**
 * The plain reference for {@link ActivationMath}: one value at a time, the twin the vector versions are tested against.
 * The Javadoc of {@link ActivationMath} says exactly what each operation computes.
 */
public final class ScalarActivationMath {
  private ScalarActivationMath() {}

  /** {@code sum a[aOff+i] * b[bOff+i]} in index order, in float. */
  public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
    float sum = 0f;
    for (int i = 0; i < n; i++) {
      sum += a[aOff + i] * b[bOff + i];
    }
    return sum;
  }

  /** {@link #dot} with {@code a} in F16 bits: {@code sum f16(a[aOff+i]) * b[bOff+i]} in index order. */
  public static float dotF16(short[] a, int aOff, float[] b, int bOff, int n) {
    float sum = 0f;
    for (int i = 0; i < n; i++) {
      sum += Float.float16ToFloat(a[aOff + i]) * b[bOff + i];
    }
    return sum;
  }

  /** {@link #axpy} with {@code x} in F16 bits. */
  public static void axpyF16(float a, short[] x, int xOff, float[] y, int yOff, int n) {
    for (int i = 0; i < n; i++) {
      y[yOff + i] += a * Float.float16ToFloat(x[xOff + i]);
    }
  }

  /** {@code y[yOff+i] += a * x[xOff+i]} (product rounded, then sum rounded). */
  public static void axpy(float a, float[] x, int xOff, float[] y, int yOff, int n) {
    for (int i = 0; i < n; i++) {
      y[yOff + i] += a * x[xOff + i];
    }
  }

  /** {@code x[xOff+i] *= s}. */
  public static void scale(float s, float[] x, int xOff, int n) {
    for (int i = 0; i < n; i++) {
      x[xOff + i] *= s;
    }
  }

  /** {@code y[yOff+i] += x[xOff+i]}. */
  public static void add(float[] x, int xOff, float[] y, int yOff, int n) {
    for (int i = 0; i < n; i++) {
      y[yOff + i] += x[xOff + i];
    }
  }

  /** See {@link ActivationMath#rmsNorm}. */
  public static void rmsNorm(float[] out, int outOff, float[] x, int xOff, float[] weight, int n, float eps) {
    double sum = 0;
    for (int i = 0; i < n; i++) {
      float v = x[xOff + i];
      sum += v * v;
    }
    float scale = 1.0f / (float) Math.sqrt((float) (sum / n) + eps);
    for (int i = 0; i < n; i++) {
      out[outOff + i] = x[xOff + i] * scale * weight[i];
    }
  }

  /** See {@link ActivationMath#softmax}. */
  public static void softmax(float[] x, int off, int n) {
    if (n == 0) {
      return;
    }
    float max = x[off];
    for (int i = 1; i < n; i++) {
      if (x[off + i] > max) {
        max = x[off + i];
      }
    }
    double sum = 0;
    for (int i = 0; i < n; i++) {
      float e = ExpF.exp(x[off + i] - max);
      x[off + i] = e;
      sum += e;
    }
    float inv = (float) (1.0 / sum);
    for (int i = 0; i < n; i++) {
      x[off + i] *= inv;
    }
  }

  /** See {@link ActivationMath#swiglu}. */
  public static void swiglu(float[] gate, int gateOff, float[] up, int upOff, float[] out, int outOff, int n) {
    for (int i = 0; i < n; i++) {
      float g = gate[gateOff + i];
      out[outOff + i] = g / (1f + ExpF.exp(-g)) * up[upOff + i];
    }
  }

  /** See {@link ActivationMath#exp}. */
  public static void exp(float[] x, int off, int n) {
    for (int i = 0; i < n; i++) {
      x[off + i] = ExpF.exp(x[off + i]);
    }
  }
}
