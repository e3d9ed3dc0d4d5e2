package dev.caravan.engine.tensor;

import static dev.caravan.engine.tensor.VectorWidth.F;
import static dev.caravan.engine.tensor.VectorWidth.L;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API versions of {@link ScalarActivationMath}, reached through {@link ActivationMath}. Element-wise operations and
 * {@link ExpF exp} perform the same float operations as the scalar twins, so they give identical bits; only the
 * reductions (dot, and the double sums of rmsNorm and softmax) add in a different, fixed order.
 */
final class VectorActivationMath {
  /** Doubles with the same vector shape as {@link VectorWidth#F}: half the lanes. */
  private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED.vectorShape() == F.vectorShape() ? DoubleVector.SPECIES_PREFERRED : F.vectorShape().withLanes(double.class);
  private static final int DL = D.length();
  private static final VectorShuffle<Double> DROT4 = VectorShuffle.iota(D, 4 % DL, 1, true);
  private static final VectorShuffle<Double> DROT2 = VectorShuffle.iota(D, 2 % DL, 1, true);
  private static final VectorShuffle<Double> DROT1 = VectorShuffle.iota(D, 1, 1, true);

  private VectorActivationMath() {}

  /**
   * Dot product in the kernels' order: whole 32-value chunks split into accumulators A (values 0..15) and B (16..31),
   * remaining whole vectors into A, then the fixed lane sum of A + B, then the tail in index order.
   */
  static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
    FloatVector accA = FloatVector.zero(F);
    FloatVector accB = FloatVector.zero(F);
    int i = 0;
    for (; i + 32 <= n; i += 32) {
      // 16 / L vectors into each accumulator, unrolled by constant tests rather than an inner loop (see VectorKernels)
      accA = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), accA);
      accB = FloatVector.fromArray(F, a, aOff + i + 16).fma(FloatVector.fromArray(F, b, bOff + i + 16), accB);
      if (L <= 8) {
        accA = FloatVector.fromArray(F, a, aOff + i + L).fma(FloatVector.fromArray(F, b, bOff + i + L), accA);
        accB = FloatVector.fromArray(F, a, aOff + i + 16 + L).fma(FloatVector.fromArray(F, b, bOff + i + 16 + L), accB);
      }
      if (L == 4) {
        accA = FloatVector.fromArray(F, a, aOff + i + 2 * L).fma(FloatVector.fromArray(F, b, bOff + i + 2 * L), accA);
        accB = FloatVector.fromArray(F, a, aOff + i + 16 + 2 * L).fma(FloatVector.fromArray(F, b, bOff + i + 16 + 2 * L), accB);
        accA = FloatVector.fromArray(F, a, aOff + i + 3 * L).fma(FloatVector.fromArray(F, b, bOff + i + 3 * L), accA);
        accB = FloatVector.fromArray(F, a, aOff + i + 16 + 3 * L).fma(FloatVector.fromArray(F, b, bOff + i + 16 + 3 * L), accB);
      }
    }
    for (; i + L <= n; i += L) {
      accA = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), accA);
    }
    float sum = VectorWidth.sum(accA.add(accB));
    for (; i < n; i++) {
      sum += a[aOff + i] * b[bOff + i];
    }
    return sum;
  }

  /** F16 bits to floats, exactly (subnormals, infinities and NaN payloads too), as in {@code VectorDots.dotF16}. */
  private static FloatVector f16(short[] a, int off) {
    IntVector h = (IntVector) ShortVector.fromArray(VectorWidth.S, a, off).convertShape(VectorOperators.ZERO_EXTEND_S2I, VectorWidth.I, 0);
    IntVector e = h.and(0x7FFF).lanewise(VectorOperators.LSHL, 13);
    IntVector m = e.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts().blend(e.or(0x7F800000), e.compare(VectorOperators.GE, 0x7C00 << 13));
    return m.or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
  }

  /** {@link #dot} with {@code a} in F16 bits: the same order, on the exactly widened values. */
  static float dotF16(short[] a, int aOff, float[] b, int bOff, int n) {
    FloatVector accA = FloatVector.zero(F);
    FloatVector accB = FloatVector.zero(F);
    int i = 0;
    for (; i + 32 <= n; i += 32) {
      accA = f16(a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), accA);
      accB = f16(a, aOff + i + 16).fma(FloatVector.fromArray(F, b, bOff + i + 16), accB);
      if (L <= 8) {
        accA = f16(a, aOff + i + L).fma(FloatVector.fromArray(F, b, bOff + i + L), accA);
        accB = f16(a, aOff + i + 16 + L).fma(FloatVector.fromArray(F, b, bOff + i + 16 + L), accB);
      }
      if (L == 4) {
        accA = f16(a, aOff + i + 2 * L).fma(FloatVector.fromArray(F, b, bOff + i + 2 * L), accA);
        accB = f16(a, aOff + i + 16 + 2 * L).fma(FloatVector.fromArray(F, b, bOff + i + 16 + 2 * L), accB);
        accA = f16(a, aOff + i + 3 * L).fma(FloatVector.fromArray(F, b, bOff + i + 3 * L), accA);
        accB = f16(a, aOff + i + 16 + 3 * L).fma(FloatVector.fromArray(F, b, bOff + i + 16 + 3 * L), accB);
      }
    }
    for (; i + L <= n; i += L) {
      accA = f16(a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), accA);
    }
    float sum = VectorWidth.sum(accA.add(accB));
    for (; i < n; i++) {
      sum += Float.float16ToFloat(a[aOff + i]) * b[bOff + i];
    }
    return sum;
  }

  /** {@link #axpy} with {@code x} in F16 bits. */
  static void axpyF16(float s, short[] x, int xOff, float[] y, int yOff, int n) {
    int i = 0;
    for (; i + L <= n; i += L) {
      FloatVector.fromArray(F, y, yOff + i).add(f16(x, xOff + i).mul(s)).intoArray(y, yOff + i);
    }
    for (; i < n; i++) {
      y[yOff + i] += s * Float.float16ToFloat(x[xOff + i]);
    }
  }

  static void axpy(float s, float[] x, int xOff, float[] y, int yOff, int n) {
    int i = 0;
    for (; i + L <= n; i += L) {
      FloatVector.fromArray(F, y, yOff + i).add(FloatVector.fromArray(F, x, xOff + i).mul(s)).intoArray(y, yOff + i);
    }
    for (; i < n; i++) {
      y[yOff + i] += s * x[xOff + i];
    }
  }

  static void scale(float s, float[] x, int xOff, int n) {
    int i = 0;
    for (; i + L <= n; i += L) {
      FloatVector.fromArray(F, x, xOff + i).mul(s).intoArray(x, xOff + i);
    }
    for (; i < n; i++) {
      x[xOff + i] *= s;
    }
  }

  static void add(float[] x, int xOff, float[] y, int yOff, int n) {
    int i = 0;
    for (; i + L <= n; i += L) {
      FloatVector.fromArray(F, y, yOff + i).add(FloatVector.fromArray(F, x, xOff + i)).intoArray(y, yOff + i);
    }
    for (; i < n; i++) {
      y[yOff + i] += x[xOff + i];
    }
  }

  static void rmsNorm(float[] out, int outOff, float[] x, int xOff, float[] weight, int n, float eps) {
    // sum of float products x*x, accumulated in double: low half-lanes into da, high into db
    DoubleVector da = DoubleVector.zero(D);
    DoubleVector db = DoubleVector.zero(D);
    int i = 0;
    for (; i + L <= n; i += L) {
      FloatVector v = FloatVector.fromArray(F, x, xOff + i);
      FloatVector sq = v.mul(v);
      da = da.add((DoubleVector) sq.convertShape(VectorOperators.F2D, D, 0));
      db = db.add((DoubleVector) sq.convertShape(VectorOperators.F2D, D, 1));
    }
    double sum = sum(da.add(db));
    for (; i < n; i++) {
      float v = x[xOff + i];
      sum += v * v;
    }
    float scale = 1.0f / (float) Math.sqrt((float) (sum / n) + eps);
    // out = (x * scale) * weight, element-wise as in the scalar twin
    i = 0;
    for (; i + L <= n; i += L) {
      FloatVector.fromArray(F, x, xOff + i).mul(scale).mul(FloatVector.fromArray(F, weight, i)).intoArray(out, outOff + i);
    }
    for (; i < n; i++) {
      out[outOff + i] = x[xOff + i] * scale * weight[i];
    }
  }

  static void softmax(float[] x, int off, int n) {
    if (n == 0) {
      return;
    }
    // max (exact in any order)
    float max = x[off];
    int i = 0;
    if (n >= L) {
      FloatVector m = FloatVector.fromArray(F, x, off);
      for (i = L; i + L <= n; i += L) {
        m = m.max(FloatVector.fromArray(F, x, off + i));
      }
      max = m.reduceLanes(VectorOperators.MAX);
    }
    for (; i < n; i++) {
      if (x[off + i] > max) {
        max = x[off + i];
      }
    }
    // e = exp(x - max), summed in double (low half-lanes into da, high into db)
    DoubleVector da = DoubleVector.zero(D);
    DoubleVector db = DoubleVector.zero(D);
    i = 0;
    for (; i + L <= n; i += L) {
      FloatVector e = exp(FloatVector.fromArray(F, x, off + i).sub(max));
      e.intoArray(x, off + i);
      da = da.add((DoubleVector) e.convertShape(VectorOperators.F2D, D, 0));
      db = db.add((DoubleVector) e.convertShape(VectorOperators.F2D, D, 1));
    }
    double sum = sum(da.add(db));
    for (; i < n; i++) {
      float e = ExpF.exp(x[off + i] - max);
      x[off + i] = e;
      sum += e;
    }
    scale((float) (1.0 / sum), x, off, n);
  }

  static void swiglu(float[] gate, int gateOff, float[] up, int upOff, float[] out, int outOff, int n) {
    int i = 0;
    for (; i + L <= n; i += L) {
      FloatVector g = FloatVector.fromArray(F, gate, gateOff + i);
      FloatVector silu = g.div(exp(g.neg()).add(1f));
      silu.mul(FloatVector.fromArray(F, up, upOff + i)).intoArray(out, outOff + i);
    }
    for (; i < n; i++) {
      float g = gate[gateOff + i];
      out[outOff + i] = g / (1f + ExpF.exp(-g)) * up[upOff + i];
    }
  }

  static void exp(float[] x, int off, int n) {
    int i = 0;
    for (; i + L <= n; i += L) {
      exp(FloatVector.fromArray(F, x, off + i)).intoArray(x, off + i);
    }
    for (; i < n; i++) {
      x[off + i] = ExpF.exp(x[off + i]);
    }
  }

  /**
   * {@link ExpF#exp} on every lane, with the same operations. Lanes outside [{@link ExpF#MIN}, {@link ExpF#MAX}] are
   * computed from 0 instead and then replaced by 0 or +inf: computed from themselves, their 2^n factors would be
   * subnormal, zero or garbage and the multiplications slow (on AMD Zen 4, SwiGLU of N(0, 100) gates ran 1.6x slower
   * than of N(0, 1) ones, softmax over a range of 1000 1.3x; {@code ValueSpeedHarness}). In-range lanes are unchanged.
   */
  static FloatVector exp(FloatVector x0) {
    VectorMask<Float> under = x0.compare(VectorOperators.LT, ExpF.MIN);
    VectorMask<Float> over = x0.compare(VectorOperators.GT, ExpF.MAX);
    FloatVector x = x0.blend(0f, under.or(over));
    FloatVector t = x.fma(ExpF.LOG2E, ExpF.ROUND);
    FloatVector n = t.sub(ExpF.ROUND);
    IntVector ni = t.reinterpretAsInts().sub(ExpF.ROUND_BITS);
    FloatVector r = n.fma(FloatVector.broadcast(F, -ExpF.LN2_HI), x);
    r = n.fma(FloatVector.broadcast(F, -ExpF.LN2_LO), r);
    FloatVector p = FloatVector.broadcast(F, ExpF.P0).fma(r, FloatVector.broadcast(F, ExpF.P1));
    p = p.fma(r, FloatVector.broadcast(F, ExpF.P2));
    p = p.fma(r, FloatVector.broadcast(F, ExpF.P3));
    p = p.fma(r, FloatVector.broadcast(F, ExpF.P4));
    p = p.fma(r, FloatVector.broadcast(F, ExpF.P5));
    FloatVector y = p.fma(r.mul(r), r).add(1f);
    IntVector n1 = ni.lanewise(VectorOperators.ASHR, 1);
    IntVector n2 = ni.sub(n1);
    FloatVector e = y.mul(n1.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats()).mul(n2.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats());
    // out of range: 0 below MIN, +inf above MAX, NaN stays NaN (it compares false with both bounds)
    e = e.blend(0f, under);
    e = e.blend(Float.POSITIVE_INFINITY, over);
    VectorMask<Float> nan = x0.compare(VectorOperators.NE, x0);
    return e.blend(x0, nan);
  }

  /** Lane sum of a double vector in a fixed pairwise order. */
  private static double sum(DoubleVector v) {
    if (DL >= 8) {
      v = v.add(v.rearrange(DROT4));
    }
    if (DL >= 4) {
      v = v.add(v.rearrange(DROT2));
    }
    v = v.add(v.rearrange(DROT1));
    return v.lane(0);
  }
}
