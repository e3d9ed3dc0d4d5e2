package dev.caravan.engine.tensor;

import static dev.caravan.engine.tensor.LittleEndian.F32;
import static dev.caravan.engine.tensor.VectorWidth.F;
import static dev.caravan.engine.tensor.VectorWidth.L;
import static dev.caravan.engine.tensor.VectorWidth.LE;
import static dev.caravan.engine.tensor.VectorWidth.P;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;

/**
 * The F32 micro-kernels of the batched path of {@link VectorKernels#dotRows}: dequantized rows (a float tile) against
 * several tokens, each (row, token) pair receiving the same fused multiply-adds, in the same order, as the single-token
 * kernels (see {@link VectorKernels} for the order).
 *
 * <p>The tokens' activations are off-heap floats (little-endian) whose rows start on 64-byte boundaries: a float
 * array's data is only 16-byte aligned, and with 512-bit vectors three loads in four then straddle two cache lines.
 * With the activations aligned the 4 x 4 kernel ran at 1.3x the speed of the same kernel over float arrays (97 against
 * 75 GFLOP/s per thread on Zen 5, data in L1; 12 independent fused multiply-adds in registers reach 135-210 there,
 * FmaPeakHarness). Aligning the tile as well (1.5x in isolation) did not pay in the whole batched path: a copy of
 * every dequantized row cost more than it saved below 16 tokens, and dequantizing straight into aligned off-heap memory
 * was 0.88-0.92x at 64 tokens. Offsets and strides below count floats.
 */
final class TileKernels {
  private static final int TOKEN_TILE = VectorKernels.TOKEN_TILE;

  private TileKernels() {}

  /**
   * Rows {@code r..r+3} of the tile (row r at {@code wo}, the next ones {@code n} apart) against tokens 0..3 (x at
   * {@code xo + k * xs}), over the 32-value chunks in columns [c0, c1), accumulator half {@code half}. The 16
   * accumulators are loaded from and stored back to {@code acc}. Vector {@code v} of the half covers values
   * {@code 32 (v / P) + 16 half + L (v % P)}: one fused multiply-add per (row, token) per vector, in order.
   */
  static void micro4x4(float[] w, int wo, int n, MemorySegment x, int xo, int xs, int c0, int c1, int half, float[] acc, int ao, int r) {
    int w0 = wo;
    int w1 = wo + n;
    int w2 = wo + 2 * n;
    int w3 = wo + 3 * n;
    int x0 = xo;
    int x1 = xo + xs;
    int x2 = xo + 2 * xs;
    int x3 = xo + 3 * xs;
    // acc index of (row r + i, token k, half): ao + ((r + i) * 4 + k) * 2L + half * L
    int a0 = ao + (r * TOKEN_TILE) * 2 * L + half * L;
    int step = TOKEN_TILE * 2 * L; // next row
    int tok = 2 * L; // next token
    FloatVector c00 = FloatVector.fromArray(F, acc, a0);
    FloatVector c01 = FloatVector.fromArray(F, acc, a0 + tok);
    FloatVector c02 = FloatVector.fromArray(F, acc, a0 + 2 * tok);
    FloatVector c03 = FloatVector.fromArray(F, acc, a0 + 3 * tok);
    FloatVector c10 = FloatVector.fromArray(F, acc, a0 + step);
    FloatVector c11 = FloatVector.fromArray(F, acc, a0 + step + tok);
    FloatVector c12 = FloatVector.fromArray(F, acc, a0 + step + 2 * tok);
    FloatVector c13 = FloatVector.fromArray(F, acc, a0 + step + 3 * tok);
    FloatVector c20 = FloatVector.fromArray(F, acc, a0 + 2 * step);
    FloatVector c21 = FloatVector.fromArray(F, acc, a0 + 2 * step + tok);
    FloatVector c22 = FloatVector.fromArray(F, acc, a0 + 2 * step + 2 * tok);
    FloatVector c23 = FloatVector.fromArray(F, acc, a0 + 2 * step + 3 * tok);
    FloatVector c30 = FloatVector.fromArray(F, acc, a0 + 3 * step);
    FloatVector c31 = FloatVector.fromArray(F, acc, a0 + 3 * step + tok);
    FloatVector c32 = FloatVector.fromArray(F, acc, a0 + 3 * step + 2 * tok);
    FloatVector c33 = FloatVector.fromArray(F, acc, a0 + 3 * step + 3 * tok);
    for (int v = c0 / 32 * P; v < c1 / 32 * P; v++) {
      int i = (v / P) * 32 + half * 16 + (v % P) * L;
      FloatVector v0 = FloatVector.fromArray(F, w, w0 + i);
      FloatVector v1 = FloatVector.fromArray(F, w, w1 + i);
      FloatVector v2 = FloatVector.fromArray(F, w, w2 + i);
      FloatVector v3 = FloatVector.fromArray(F, w, w3 + i);
      FloatVector xv = FloatVector.fromMemorySegment(F, x, 4L * (x0 + i), LE);
      c00 = v0.fma(xv, c00);
      c10 = v1.fma(xv, c10);
      c20 = v2.fma(xv, c20);
      c30 = v3.fma(xv, c30);
      xv = FloatVector.fromMemorySegment(F, x, 4L * (x1 + i), LE);
      c01 = v0.fma(xv, c01);
      c11 = v1.fma(xv, c11);
      c21 = v2.fma(xv, c21);
      c31 = v3.fma(xv, c31);
      xv = FloatVector.fromMemorySegment(F, x, 4L * (x2 + i), LE);
      c02 = v0.fma(xv, c02);
      c12 = v1.fma(xv, c12);
      c22 = v2.fma(xv, c22);
      c32 = v3.fma(xv, c32);
      xv = FloatVector.fromMemorySegment(F, x, 4L * (x3 + i), LE);
      c03 = v0.fma(xv, c03);
      c13 = v1.fma(xv, c13);
      c23 = v2.fma(xv, c23);
      c33 = v3.fma(xv, c33);
    }
    c00.intoArray(acc, a0);
    c01.intoArray(acc, a0 + tok);
    c02.intoArray(acc, a0 + 2 * tok);
    c03.intoArray(acc, a0 + 3 * tok);
    c10.intoArray(acc, a0 + step);
    c11.intoArray(acc, a0 + step + tok);
    c12.intoArray(acc, a0 + step + 2 * tok);
    c13.intoArray(acc, a0 + step + 3 * tok);
    c20.intoArray(acc, a0 + 2 * step);
    c21.intoArray(acc, a0 + 2 * step + tok);
    c22.intoArray(acc, a0 + 2 * step + 2 * tok);
    c23.intoArray(acc, a0 + 2 * step + 3 * tok);
    c30.intoArray(acc, a0 + 3 * step);
    c31.intoArray(acc, a0 + 3 * step + tok);
    c32.intoArray(acc, a0 + 3 * step + 2 * tok);
    c33.intoArray(acc, a0 + 3 * step + 3 * tok);
  }

  /** {@link #micro4x4} for a single row r of the tile (at {@code wo}). */
  static void micro1x4(float[] w, int wo, MemorySegment x, int xo, int xs, int c0, int c1, int half, float[] acc, int ao, int r) {
    int x0 = xo;
    int x1 = xo + xs;
    int x2 = xo + 2 * xs;
    int x3 = xo + 3 * xs;
    int a0 = ao + (r * TOKEN_TILE) * 2 * L + half * L;
    int tok = 2 * L;
    FloatVector c0v = FloatVector.fromArray(F, acc, a0);
    FloatVector c1v = FloatVector.fromArray(F, acc, a0 + tok);
    FloatVector c2v = FloatVector.fromArray(F, acc, a0 + 2 * tok);
    FloatVector c3v = FloatVector.fromArray(F, acc, a0 + 3 * tok);
    for (int v = c0 / 32 * P; v < c1 / 32 * P; v++) {
      int i = (v / P) * 32 + half * 16 + (v % P) * L;
      FloatVector wv = FloatVector.fromArray(F, w, wo + i);
      c0v = wv.fma(FloatVector.fromMemorySegment(F, x, 4L * (x0 + i), LE), c0v);
      c1v = wv.fma(FloatVector.fromMemorySegment(F, x, 4L * (x1 + i), LE), c1v);
      c2v = wv.fma(FloatVector.fromMemorySegment(F, x, 4L * (x2 + i), LE), c2v);
      c3v = wv.fma(FloatVector.fromMemorySegment(F, x, 4L * (x3 + i), LE), c3v);
    }
    c0v.intoArray(acc, a0);
    c1v.intoArray(acc, a0 + tok);
    c2v.intoArray(acc, a0 + 2 * tok);
    c3v.intoArray(acc, a0 + 3 * tok);
  }

  /**
   * The end of a batched (row, token) dot: accumulators A and B from {@code acc[ai ..]}, the remaining whole vectors
   * after {@code whole} into A, the lane sum of A + B, then the scalar tail, as in {@link VectorActivationMath#dot}.
   */
  static float finish(float[] w, int wo, int n, int whole, MemorySegment x, int xo, float[] acc, int ai, float[] lanes) {
    FloatVector a = FloatVector.fromArray(F, acc, ai);
    FloatVector b = FloatVector.fromArray(F, acc, ai + L);
    int i = whole;
    for (; i + L <= n; i += L) {
      a = FloatVector.fromArray(F, w, wo + i).fma(FloatVector.fromMemorySegment(F, x, 4L * (xo + i), LE), a);
    }
    // VectorWidth.sum's pairwise tree, written out with the JDK's (force-inlined) shuffles: this runs once per
    // (row, token), often enough for the array round trip to show
    FloatVector v = a.add(b);
    if (L >= 16) {
      v = v.add(v.rearrange(VectorWidth.ROT8));
    }
    if (L >= 8) {
      v = v.add(v.rearrange(VectorWidth.ROT4));
    }
    v = v.add(v.rearrange(VectorWidth.ROT2));
    v = v.add(v.rearrange(VectorWidth.ROT1));
    float r = v.lane(0);
    for (; i < n; i++) {
      r += w[wo + i] * x.get(F32, 4L * (xo + i));
    }
    return r;
  }
}
