package dev.caravan.engine.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The vector math against its scalar twins, and the scalar twins against double-precision formulas. */
class VectorActivationMathTest {

  static IntStream sizes() {
    return IntStream.of(0, 1, 3, 7, 15, 16, 17, 31, 32, 33, 64, 100, 255, 256, 2048, 5632, 11008);
  }

  @ParameterizedTest
  @MethodSource("sizes")
  void elementWiseOperationsAreBitIdentical(int n) {
    float[] x = random(n + 2, n, 1.0);
    float[] y = random(n + 5, n + 1, 1.0);
    float[] gate = random(n, n + 2, 4.0);
    float[] up = random(n, n + 3, 1.0);

    float[] ys = y.clone();
    float[] yv = y.clone();
    ScalarActivationMath.axpy(0.37f, x, 2, ys, 5, n);
    VectorActivationMath.axpy(0.37f, x, 2, yv, 5, n);
    assertBits(ys, yv, "axpy " + n);

    ys = y.clone();
    yv = y.clone();
    ScalarActivationMath.add(x, 2, ys, 5, n);
    VectorActivationMath.add(x, 2, yv, 5, n);
    assertBits(ys, yv, "add " + n);

    ys = y.clone();
    yv = y.clone();
    ScalarActivationMath.scale(-1.7f, ys, 5, n);
    VectorActivationMath.scale(-1.7f, yv, 5, n);
    assertBits(ys, yv, "scale " + n);

    float[] os = new float[n];
    float[] ov = new float[n];
    ScalarActivationMath.swiglu(gate, 0, up, 0, os, 0, n);
    VectorActivationMath.swiglu(gate, 0, up, 0, ov, 0, n);
    assertBits(os, ov, "swiglu " + n);

    float[] es = random(n, n + 4, 30.0);
    float[] ev = es.clone();
    ScalarActivationMath.exp(es, 0, n);
    VectorActivationMath.exp(ev, 0, n);
    assertBits(es, ev, "exp " + n);
  }

  @ParameterizedTest
  @MethodSource("sizes")
  void reductionsAgreeToRounding(int n) {
    float[] a = random(n + 3, n + 10, 1.0);
    float[] b = random(n + 1, n + 11, 1.0);
    double absSum = 0;
    for (int i = 0; i < n; i++) {
      absSum += Math.abs((double) a[3 + i] * b[1 + i]);
    }
    float ds = ScalarActivationMath.dot(a, 3, b, 1, n);
    float dv = VectorActivationMath.dot(a, 3, b, 1, n);
    assertTrue(Math.abs(ds - dv) <= 1e-5 * absSum, "dot " + n + ": " + ds + " vs " + dv);

    if (n == 0) {
      return;
    }
    float[] w = random(n, n + 12, 1.0);
    float[] os = new float[n + 1];
    float[] ov = new float[n + 1];
    ScalarActivationMath.rmsNorm(os, 1, a, 3, w, n, 1e-5f);
    VectorActivationMath.rmsNorm(ov, 1, a, 3, w, n, 1e-5f);
    assertClose(os, ov, 1e-6, "rmsNorm " + n);

    float[] ss = random(n + 2, n + 13, 8.0);
    float[] sv = ss.clone();
    ScalarActivationMath.softmax(ss, 2, n);
    VectorActivationMath.softmax(sv, 2, n);
    assertClose(ss, sv, 1e-6, "softmax " + n);
  }

  /**
   * The F16 KV cache's operations equal the F32 ones on the widened values, bit for bit, in both implementations (every
   * F16 bit pattern occurs: subnormals, infinities; NaNs are left out of the sums).
   */
  @ParameterizedTest
  @MethodSource("sizes")
  void f16OperationsEqualF32OnWidenedValues(int n) {
    SplittableRandom rnd = new SplittableRandom(n + 77);
    short[] h = new short[n + 3];
    float[] w = new float[n + 3];
    for (int i = 0; i < h.length; i++) {
      short bits;
      do {
        bits = (short) rnd.nextInt(1 << 16);
      } while (Float.isNaN(Float.float16ToFloat(bits)) || Float.isInfinite(Float.float16ToFloat(bits)) && rnd.nextInt(8) != 0);
      h[i] = bits;
      w[i] = Float.float16ToFloat(bits);
    }
    float[] q = random(n + 1, n + 9, 1.0);
    assertEquals(Float.floatToRawIntBits(ScalarActivationMath.dot(w, 3, q, 1, n)), Float.floatToRawIntBits(ScalarActivationMath.dotF16(h, 3, q, 1, n)), "scalar dotF16 " + n);
    assertEquals(Float.floatToRawIntBits(VectorActivationMath.dot(w, 3, q, 1, n)), Float.floatToRawIntBits(VectorActivationMath.dotF16(h, 3, q, 1, n)), "vector dotF16 " + n);
    float[] y = random(n + 5, n + 1, 1.0);
    float[] ys = y.clone();
    float[] yv = y.clone();
    float[] yw = y.clone();
    ScalarActivationMath.axpyF16(0.37f, h, 3, ys, 5, n);
    VectorActivationMath.axpyF16(0.37f, h, 3, yv, 5, n);
    ScalarActivationMath.axpy(0.37f, w, 3, yw, 5, n);
    assertBits(yw, ys, "scalar axpyF16 " + n);
    assertBits(yw, yv, "vector axpyF16 " + n);
    short[] back = new short[n];
    ActivationMath.toF16(w, 3, back, 0, n);
    for (int i = 0; i < n; i++) {
      assertEquals(h[3 + i] == (short) 0x8000 ? (short) 0x8000 : h[3 + i], back[i], "toF16 round trip at " + i);
    }
  }

  @Test
  void rmsNormMatchesTheFormulaInDouble() {
    int n = 2048;
    float[] x = random(n, 21, 2.0);
    float[] w = random(n, 22, 1.0);
    float[] out = new float[n];
    ScalarActivationMath.rmsNorm(out, 0, x, 0, w, n, 1e-5f);
    double ss = 0;
    for (float v : x) {
      ss += (double) v * v;
    }
    double scale = 1 / Math.sqrt(ss / n + 1e-5);
    for (int i = 0; i < n; i++) {
      double expected = x[i] * scale * w[i];
      assertEquals(expected, out[i], 2e-6 * Math.abs(expected) + 1e-30, "index " + i);
    }
    // in place
    float[] inPlace = x.clone();
    ScalarActivationMath.rmsNorm(inPlace, 0, inPlace, 0, w, n, 1e-5f);
    assertBits(out, inPlace, "in place");
  }

  @Test
  void softmaxMatchesTheFormulaInDouble() {
    int n = 1000;
    float[] x = random(n, 23, 6.0);
    x[17] = Float.NEGATIVE_INFINITY; // a masked position
    float[] p = x.clone();
    ScalarActivationMath.softmax(p, 0, n);
    double max = Double.NEGATIVE_INFINITY;
    for (float v : x) {
      max = Math.max(max, v);
    }
    double sum = 0;
    for (float v : x) {
      sum += Math.exp(v - max);
    }
    double total = 0;
    for (int i = 0; i < n; i++) {
      double expected = Math.exp(x[i] - max) / sum;
      // exp within 2 ulp, the float x - max off by half an ulp of its size, two more float roundings
      double rel = 1.2e-7 * (2 + Math.abs(x[i] - max) + 2);
      assertEquals(expected, p[i], i == 17 ? 0 : rel * expected + 1e-45, "index " + i);
      total += p[i];
    }
    assertEquals(0f, p[17]);
    assertEquals(1.0, total, 1e-5);
  }

  @Test
  void swigluMatchesTheFormulaInDouble() {
    int n = 4096;
    float[] g = random(n, 24, 6.0);
    float[] u = random(n, 25, 1.0);
    float[] out = new float[n];
    ScalarActivationMath.swiglu(g, 0, u, 0, out, 0, n);
    for (int i = 0; i < n; i++) {
      double expected = g[i] / (1 + Math.exp(-g[i])) * u[i];
      assertEquals(expected, out[i], 1e-6 * Math.abs(expected) + 1e-30, "index " + i);
    }
  }

  @Test
  void expIsWithinTwoUlpsAndHandlesTheEdges() {
    SplittableRandom rnd = new SplittableRandom(26);
    float[] x = new float[1 << 20];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) (-87.33 + rnd.nextDouble() * (88.72 + 87.33));
    }
    x[0] = 0f;
    x[1] = 1f;
    x[2] = -1f;
    x[3] = 88.72f;
    x[4] = -87.33f;
    float[] s = x.clone();
    float[] v = x.clone();
    ScalarActivationMath.exp(s, 0, s.length);
    VectorActivationMath.exp(v, 0, v.length);
    assertBits(s, v, "exp scalar vs vector");
    int worst = 0;
    for (int i = 0; i < x.length; i++) {
      float expected = (float) Math.exp(x[i]);
      int ulps = Math.abs(Float.floatToIntBits(expected) - Float.floatToIntBits(s[i]));
      worst = Math.max(worst, ulps);
    }
    assertTrue(worst <= 2, "worst error " + worst + " ulp");
    assertEquals(1f, ExpF.exp(0f));
    assertEquals(1f, ExpF.exp(-0f));
    assertEquals(0f, ExpF.exp(-100f));
    assertEquals(0f, ExpF.exp(Float.NEGATIVE_INFINITY));
    assertEquals(Float.POSITIVE_INFINITY, ExpF.exp(89f));
    assertEquals(Float.POSITIVE_INFINITY, ExpF.exp(Float.POSITIVE_INFINITY));
    assertTrue(Float.isNaN(ExpF.exp(Float.NaN)));
    assertTrue(Float.isFinite(ExpF.exp(88.72f)));
    float[] edges = {Float.NaN, Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, -100f, -1e30f, 1e30f, -87.33654f, -87.3365f, 88.8f, 88.81f, 89f, 88.75f, -87.34f, -0f, 0f, 1e-30f, -1e-30f, 3f, -3f, 10f, 50f, -50f, 88.7228f};
    float[] ve = edges.clone();
    VectorActivationMath.exp(ve, 0, ve.length);
    for (int i = 0; i < edges.length; i++) {
      assertEquals(Float.floatToIntBits(ExpF.exp(edges[i])), Float.floatToIntBits(ve[i]), "exp(" + edges[i] + ")");
    }
  }

  @Test
  void facadeFollowsTheKernelSwitch() {
    assertEquals(Kernels.get() instanceof VectorKernels, ActivationMath.vectorized());
    float[] a = random(100, 27, 1.0);
    float[] b = random(100, 28, 1.0);
    float expected = ActivationMath.vectorized() ? VectorActivationMath.dot(a, 0, b, 0, 100) : ScalarActivationMath.dot(a, 0, b, 0, 100);
    assertEquals(Float.floatToIntBits(expected), Float.floatToIntBits(ActivationMath.dot(a, 0, b, 0, 100)));
    assertEquals(Float.floatToIntBits(expected), Float.floatToIntBits(ActivationMath.dotF32(a, 0, b, 0, 100)));
  }

  private static float[] random(int n, long seed, double scale) {
    SplittableRandom rnd = new SplittableRandom(seed);
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) (rnd.nextGaussian() * scale);
    }
    return x;
  }

  private static void assertBits(float[] expected, float[] actual, String what) {
    for (int i = 0; i < expected.length; i++) {
      if (Float.floatToIntBits(expected[i]) != Float.floatToIntBits(actual[i])) {
        fail(what + " index " + i + ": scalar " + expected[i] + ", vector " + actual[i]);
      }
    }
  }

  private static void assertClose(float[] expected, float[] actual, double rel, String what) {
    for (int i = 0; i < expected.length; i++) {
      if (Math.abs(expected[i] - actual[i]) > rel * Math.abs(expected[i]) + 1e-38) {
        fail(what + " index " + i + ": scalar " + expected[i] + ", vector " + actual[i]);
      }
    }
  }
}
