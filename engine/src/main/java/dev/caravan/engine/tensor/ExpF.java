package dev.caravan.engine.tensor;

/**
 * Caravan's float {@code exp}, the one used by softmax and SiLU: the same operations in {@link ScalarActivationMath} and
 * {@link VectorActivationMath}, so both give identical bits (llama.cpp likewise uses its own polynomial, {@code ggml_v_expf}).
 *
 * <p>Method (Cephes {@code expf}): {@code n = round(x * log2 e)} (fused multiply-add with 1.5 * 2^23),
 * {@code r = x - n * ln 2} in two fused steps, {@code e^r ≈ 1 + r + r^2 * P(r)} with a degree-5 polynomial in Horner
 * form (fused), then multiplied by {@code 2^n} as two exact powers of two. Within 2 ulp of the correctly rounded
 * value on [-87.33, 88.72] (tested). Results: NaN for NaN, {@code +inf} above ~88.72, and 0 below {@value #MIN}
 * (where the true value would be subnormal).
 */
final class ExpF {
  static final float LOG2E = 1.44269504088896341f;
  /** 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits. */
  static final float ROUND = 12582912f;
  static final int ROUND_BITS = 0x4B400000;
  static final float LN2_HI = 0.693359375f;
  static final float LN2_LO = -2.12194440e-4f;
  static final float P0 = 1.9875691500e-4f;
  static final float P1 = 1.3981999507e-3f;
  static final float P2 = 8.3334519073e-3f;
  static final float P3 = 4.1665795894e-2f;
  static final float P4 = 1.6666665459e-1f;
  static final float P5 = 5.0000001201e-1f;
  /** Below this the result is 0. */
  static final float MIN = -87.33654f;
  /** Above this the result is +inf (between ~88.7228 and this, 2^n scaling overflows to +inf by itself). */
  static final float MAX = 88.8f;

  private ExpF() {}

  /** e^x as described in the class comment. */
  static float exp(float x) {
    if (x != x) {
      return x;
    }
    if (x < MIN) {
      return 0f;
    }
    if (x > MAX) {
      return Float.POSITIVE_INFINITY;
    }
    // n = round(x / ln 2), r = x - n ln 2
    float t = Math.fma(x, LOG2E, ROUND);
    float n = t - ROUND;
    int ni = Float.floatToRawIntBits(t) - ROUND_BITS;
    float r = Math.fma(n, -LN2_HI, x);
    r = Math.fma(n, -LN2_LO, r);
    // e^r = 1 + r + r^2 P(r)
    float p = Math.fma(P0, r, P1);
    p = Math.fma(p, r, P2);
    p = Math.fma(p, r, P3);
    p = Math.fma(p, r, P4);
    p = Math.fma(p, r, P5);
    float y = Math.fma(p, r * r, r) + 1f;
    // times 2^n, as 2^(n/2) * 2^(n - n/2) so that n = -126 .. 128 stays in range
    int n1 = ni >> 1;
    int n2 = ni - n1;
    return y * Float.intBitsToFloat((n1 + 127) << 23) * Float.intBitsToFloat((n2 + 127) << 23);
  }
}
