package dev.caravan.engine.tensor;

import static dev.caravan.engine.tensor.LittleEndian.f16;
import static dev.caravan.engine.tensor.VectorWidth.B128;
import static dev.caravan.engine.tensor.VectorWidth.B256;
import static dev.caravan.engine.tensor.VectorWidth.F;
import static dev.caravan.engine.tensor.VectorWidth.I;
import static dev.caravan.engine.tensor.VectorWidth.L;
import static dev.caravan.engine.tensor.VectorWidth.LE;
import static dev.caravan.engine.tensor.VectorWidth.P;
import static dev.caravan.engine.tensor.VectorWidth.S;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;

/**
 * The single-token dot kernels of {@link VectorKernels}, one per weight type: each dequantizes blocks into float vectors
 * (the exact values of {@link ScalarKernels}) and multiply-adds them with x in the summation order documented on
 * {@link VectorKernels}. The code shape follows the rules listed there (no vector-typed helpers, no inner loops over
 * the parts of a unit).
 */
final class VectorDots {
  private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(LE);
  private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(LE);

  // Q4_K scale unpacking on 16 int lanes (used when L == 16): lanes 0..7 are the scales sc_j, 8..15 the mins m_j.
  // sc_j = b[j] & 63 (j < 4), (b[j+4] & 0xF) | (b[j-4] >> 6) << 4 (j >= 4); m_j = b[j+4] & 63 (j < 4),
  // (b[j+4] >> 4) | (b[j] >> 6) << 4 (j >= 4), with b the 12 scale bytes (ggml's get_scale_min_k4)
  private static final VectorShuffle<Integer> K4_LOW = VectorShuffle.fromValues(IntVector.SPECIES_512, 0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11);
  private static final int[] K4_LOW_SHIFT = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4};
  private static final int[] K4_LOW_MASK = {63, 63, 63, 63, 0xF, 0xF, 0xF, 0xF, 63, 63, 63, 63, 0xF, 0xF, 0xF, 0xF};
  private static final VectorShuffle<Integer> K4_HIGH = VectorShuffle.fromValues(IntVector.SPECIES_512, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 4, 5, 6, 7);
  private static final int[] K4_HIGH_MASK = {0, 0, 0, 0, 0x30, 0x30, 0x30, 0x30, 0, 0, 0, 0, 0x30, 0x30, 0x30, 0x30}; // (b >> 2) & 0x30
  /** Lanes 8..15, the mins (a constant: computed in the loop, the mask cost a compare per super-block). */
  private static final VectorMask<Float> K4_MINS = FloatVector.SPECIES_512.indexInRange(-8, 8);

  /** Q4_0's quants minus 8, one per lane of a 16-lane vector. */
  private static final float[] Q4_LEVELS = {-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7};

  /** Q4_K's quants, one per lane of a 16-lane vector. */
  private static final float[] Q4_K_LEVELS = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

  private VectorDots() {}

  static float dotF32(MemorySegment s, long base, int n, float[] x, int xOff, float[] lanes) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    int i = 0;
    // whole 32-value chunks: values 0..15 into a, 16..31 into b (as P vectors each, no inner loop: see the class comment)
    for (; i + 32 <= n; i += 32) {
      a = FloatVector.fromMemorySegment(F, s, base + 4L * (i), LE).fma(FloatVector.fromArray(F, x, xOff + i), a);
      b = FloatVector.fromMemorySegment(F, s, base + 4L * (i + 16), LE).fma(FloatVector.fromArray(F, x, xOff + i + 16), b);
      if (P >= 2) {
        a = FloatVector.fromMemorySegment(F, s, base + 4L * (i + L), LE).fma(FloatVector.fromArray(F, x, xOff + i + L), a);
        b = FloatVector.fromMemorySegment(F, s, base + 4L * (i + 16 + L), LE).fma(FloatVector.fromArray(F, x, xOff + i + 16 + L), b);
      }
      if (P == 4) {
        a = FloatVector.fromMemorySegment(F, s, base + 4L * (i + 2 * L), LE).fma(FloatVector.fromArray(F, x, xOff + i + 2 * L), a);
        b = FloatVector.fromMemorySegment(F, s, base + 4L * (i + 16 + 2 * L), LE).fma(FloatVector.fromArray(F, x, xOff + i + 16 + 2 * L), b);
        a = FloatVector.fromMemorySegment(F, s, base + 4L * (i + 3 * L), LE).fma(FloatVector.fromArray(F, x, xOff + i + 3 * L), a);
        b = FloatVector.fromMemorySegment(F, s, base + 4L * (i + 16 + 3 * L), LE).fma(FloatVector.fromArray(F, x, xOff + i + 16 + 3 * L), b);
      }
    }
    // remaining whole vectors into a
    for (; i + L <= n; i += L) {
      a = FloatVector.fromMemorySegment(F, s, base + 4L * i, LE).fma(FloatVector.fromArray(F, x, xOff + i), a);
    }
    a.add(b).intoArray(lanes, 0);
    float r = VectorWidth.sum(lanes);
    // scalar tail, in order
    for (; i < n; i++) {
      r += s.get(LittleEndian.F32, base + 4L * i) * x[xOff + i];
    }
    return r;
  }

  static float dotF16(MemorySegment s, long base, int n, float[] x, int xOff, float[] lanes) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    int i = 0;
    // fp16 -> float exactly: exponent and mantissa moved into place and rebiased by 2^112 (exact, subnormals too);
    // infinities and NaNs keep their payload under an all-ones exponent; then the sign
    for (; i + 32 <= n; i += 32) {
      IntVector h0a = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * (i), LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
      IntVector eh0a = h0a.and(0x7FFF).lanewise(VectorOperators.LSHL, 13);
      IntVector mh0a = eh0a.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts().blend(eh0a.or(0x7F800000), eh0a.compare(VectorOperators.GE, 0x7C00 << 13));
      a = mh0a.or(h0a.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOff + i), a);
      IntVector h0b = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * (i + 16), LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
      IntVector eh0b = h0b.and(0x7FFF).lanewise(VectorOperators.LSHL, 13);
      IntVector mh0b = eh0b.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts().blend(eh0b.or(0x7F800000), eh0b.compare(VectorOperators.GE, 0x7C00 << 13));
      b = mh0b.or(h0b.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOff + i + 16), b);
      if (P >= 2) {
        IntVector h1a = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * (i + L), LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
        IntVector eh1a = h1a.and(0x7FFF).lanewise(VectorOperators.LSHL, 13);
        IntVector mh1a = eh1a.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts().blend(eh1a.or(0x7F800000), eh1a.compare(VectorOperators.GE, 0x7C00 << 13));
        a = mh1a.or(h1a.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOff + i + L), a);
        IntVector h1b = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * (i + 16 + L), LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
        IntVector eh1b = h1b.and(0x7FFF).lanewise(VectorOperators.LSHL, 13);
        IntVector mh1b = eh1b.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts().blend(eh1b.or(0x7F800000), eh1b.compare(VectorOperators.GE, 0x7C00 << 13));
        b = mh1b.or(h1b.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOff + i + 16 + L), b);
      }
      if (P == 4) {
        IntVector h2a = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * (i + 2 * L), LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
        IntVector eh2a = h2a.and(0x7FFF).lanewise(VectorOperators.LSHL, 13);
        IntVector mh2a = eh2a.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts().blend(eh2a.or(0x7F800000), eh2a.compare(VectorOperators.GE, 0x7C00 << 13));
        a = mh2a.or(h2a.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOff + i + 2 * L), a);
        IntVector h2b = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * (i + 16 + 2 * L), LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
        IntVector eh2b = h2b.and(0x7FFF).lanewise(VectorOperators.LSHL, 13);
        IntVector mh2b = eh2b.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts().blend(eh2b.or(0x7F800000), eh2b.compare(VectorOperators.GE, 0x7C00 << 13));
        b = mh2b.or(h2b.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOff + i + 16 + 2 * L), b);
        IntVector h3a = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * (i + 3 * L), LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
        IntVector eh3a = h3a.and(0x7FFF).lanewise(VectorOperators.LSHL, 13);
        IntVector mh3a = eh3a.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts().blend(eh3a.or(0x7F800000), eh3a.compare(VectorOperators.GE, 0x7C00 << 13));
        a = mh3a.or(h3a.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOff + i + 3 * L), a);
        IntVector h3b = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * (i + 16 + 3 * L), LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
        IntVector eh3b = h3b.and(0x7FFF).lanewise(VectorOperators.LSHL, 13);
        IntVector mh3b = eh3b.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts().blend(eh3b.or(0x7F800000), eh3b.compare(VectorOperators.GE, 0x7C00 << 13));
        b = mh3b.or(h3b.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOff + i + 16 + 3 * L), b);
      }
    }
    for (; i + L <= n; i += L) {
      IntVector h0a = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * (i), LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
      IntVector eh0a = h0a.and(0x7FFF).lanewise(VectorOperators.LSHL, 13);
      IntVector mh0a = eh0a.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts().blend(eh0a.or(0x7F800000), eh0a.compare(VectorOperators.GE, 0x7C00 << 13));
      a = mh0a.or(h0a.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOff + i), a);
    }
    a.add(b).intoArray(lanes, 0);
    float r = VectorWidth.sum(lanes);
    for (; i < n; i++) {
      r += f16(s, base + 2L * i) * x[xOff + i];
    }
    return r;
  }

  static float dotBF16(MemorySegment s, long base, int n, float[] x, int xOff, float[] lanes) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    int i = 0;
    // bf16 -> float: the 16 bits are the upper half of a float32
    for (; i + 32 <= n; i += 32) {
      IntVector h0a = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * (i), LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
      a = h0a.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOff + i), a);
      IntVector h0b = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * (i + 16), LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
      b = h0b.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOff + i + 16), b);
      if (P >= 2) {
        IntVector h1a = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * (i + L), LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
        a = h1a.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOff + i + L), a);
        IntVector h1b = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * (i + 16 + L), LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
        b = h1b.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOff + i + 16 + L), b);
      }
      if (P == 4) {
        IntVector h2a = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * (i + 2 * L), LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
        a = h2a.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOff + i + 2 * L), a);
        IntVector h2b = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * (i + 16 + 2 * L), LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
        b = h2b.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOff + i + 16 + 2 * L), b);
        IntVector h3a = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * (i + 3 * L), LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
        a = h3a.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOff + i + 3 * L), a);
        IntVector h3b = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * (i + 16 + 3 * L), LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
        b = h3b.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOff + i + 16 + 3 * L), b);
      }
    }
    for (; i + L <= n; i += L) {
      IntVector h0a = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * (i), LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
      a = h0a.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOff + i), a);
    }
    a.add(b).intoArray(lanes, 0);
    float r = VectorWidth.sum(lanes);
    for (; i < n; i++) {
      r += LittleEndian.bf16(s, base + 2L * i) * x[xOff + i];
    }
    return r;
  }

  static float dotQ8_0(MemorySegment s, long base, int blocks, float[] x, int xOff, float[] lanes) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk++) {
      long o = base + 34L * blk;
      float d = f16(s, o);
      int xb = xOff + 32 * blk;
      ByteVector q0 = ByteVector.fromMemorySegment(B128, s, o + 2, LE);
      ByteVector q1 = ByteVector.fromMemorySegment(B128, s, o + 18, LE);
      // w = q * d; values 0..15 into a, 16..31 into b
      FloatVector w0 = (FloatVector) q0.convertShape(VectorOperators.B2F, F, 0);
      a = w0.mul(d).fma(FloatVector.fromArray(F, x, xb), a);
      if (P >= 2) {
        FloatVector w0p1 = (FloatVector) q0.convertShape(VectorOperators.B2F, F, 1);
        a = w0p1.mul(d).fma(FloatVector.fromArray(F, x, xb + L), a);
      }
      if (P == 4) {
        FloatVector w0p2 = (FloatVector) q0.convertShape(VectorOperators.B2F, F, 2);
        a = w0p2.mul(d).fma(FloatVector.fromArray(F, x, xb + 2 * L), a);
        FloatVector w0p3 = (FloatVector) q0.convertShape(VectorOperators.B2F, F, 3);
        a = w0p3.mul(d).fma(FloatVector.fromArray(F, x, xb + 3 * L), a);
      }
      FloatVector w1 = (FloatVector) q1.convertShape(VectorOperators.B2F, F, 0);
      b = w1.mul(d).fma(FloatVector.fromArray(F, x, xb + 16), b);
      if (P >= 2) {
        FloatVector w1p1 = (FloatVector) q1.convertShape(VectorOperators.B2F, F, 1);
        b = w1p1.mul(d).fma(FloatVector.fromArray(F, x, xb + 16 + L), b);
      }
      if (P == 4) {
        FloatVector w1p2 = (FloatVector) q1.convertShape(VectorOperators.B2F, F, 2);
        b = w1p2.mul(d).fma(FloatVector.fromArray(F, x, xb + 16 + 2 * L), b);
        FloatVector w1p3 = (FloatVector) q1.convertShape(VectorOperators.B2F, F, 3);
        b = w1p3.mul(d).fma(FloatVector.fromArray(F, x, xb + 16 + 3 * L), b);
      }
    }
    a.add(b).intoArray(lanes, 0);
    return VectorWidth.sum(lanes);
  }

  /**
   * Four consecutive Q8_0 rows ({@code base}, {@code base + rowBytes}, ...) against one x: {@link #dotQ8_0} for each,
   * with each x vector loaded once for the four rows and eight independent accumulators (rows x halves) instead of
   * two, so that the fused multiply-adds no longer wait for each other. Every row's accumulators receive exactly
   * {@link #dotQ8_0}'s operations in its order, and are reduced the same way: the four results are bit-identical to
   * four {@link #dotQ8_0} calls. Writes them to {@code out[outOff .. outOff + 4)}.
   *
   * <p>Measured on AMD Zen 4 ({@code DecodeKernelHarness}): 1.14x over four {@link #dotQ8_0} calls when the rows sit in
   * L2, but 0.75x when they stream from memory (TinyLlama-sized layers, 1 and 2 threads): the four interleaved weight
   * streams, 2176 bytes each, are prefetched worse than one sequential stream (two rows at a time: 0.60x). Hence
   * opt-in ({@link VectorKernels#MULTI_ROW}).
   */
  static void dotQ8_0x4(MemorySegment s, long base, long rowBytes, int blocks, float[] x, int xOff, float[] out, int outOff, float[] lanes) {
    FloatVector a0 = FloatVector.zero(F);
    FloatVector b0 = FloatVector.zero(F);
    FloatVector a1 = FloatVector.zero(F);
    FloatVector b1 = FloatVector.zero(F);
    FloatVector a2 = FloatVector.zero(F);
    FloatVector b2 = FloatVector.zero(F);
    FloatVector a3 = FloatVector.zero(F);
    FloatVector b3 = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk++) {
      long o0 = base + 34L * blk;
      long o1 = o0 + rowBytes;
      long o2 = o1 + rowBytes;
      long o3 = o2 + rowBytes;
      float d0 = f16(s, o0);
      float d1 = f16(s, o1);
      float d2 = f16(s, o2);
      float d3 = f16(s, o3);
      int xb = xOff + 32 * blk;
      // values 0..15 of the block (into the a's), as P vectors
      ByteVector q0 = ByteVector.fromMemorySegment(B128, s, o0 + 2, LE);
      ByteVector q1 = ByteVector.fromMemorySegment(B128, s, o1 + 2, LE);
      ByteVector q2 = ByteVector.fromMemorySegment(B128, s, o2 + 2, LE);
      ByteVector q3 = ByteVector.fromMemorySegment(B128, s, o3 + 2, LE);
      FloatVector xv = FloatVector.fromArray(F, x, xb);
      a0 = ((FloatVector) q0.convertShape(VectorOperators.B2F, F, 0)).mul(d0).fma(xv, a0);
      a1 = ((FloatVector) q1.convertShape(VectorOperators.B2F, F, 0)).mul(d1).fma(xv, a1);
      a2 = ((FloatVector) q2.convertShape(VectorOperators.B2F, F, 0)).mul(d2).fma(xv, a2);
      a3 = ((FloatVector) q3.convertShape(VectorOperators.B2F, F, 0)).mul(d3).fma(xv, a3);
      if (P >= 2) {
        xv = FloatVector.fromArray(F, x, xb + L);
        a0 = ((FloatVector) q0.convertShape(VectorOperators.B2F, F, 1)).mul(d0).fma(xv, a0);
        a1 = ((FloatVector) q1.convertShape(VectorOperators.B2F, F, 1)).mul(d1).fma(xv, a1);
        a2 = ((FloatVector) q2.convertShape(VectorOperators.B2F, F, 1)).mul(d2).fma(xv, a2);
        a3 = ((FloatVector) q3.convertShape(VectorOperators.B2F, F, 1)).mul(d3).fma(xv, a3);
      }
      if (P == 4) {
        xv = FloatVector.fromArray(F, x, xb + 2 * L);
        a0 = ((FloatVector) q0.convertShape(VectorOperators.B2F, F, 2)).mul(d0).fma(xv, a0);
        a1 = ((FloatVector) q1.convertShape(VectorOperators.B2F, F, 2)).mul(d1).fma(xv, a1);
        a2 = ((FloatVector) q2.convertShape(VectorOperators.B2F, F, 2)).mul(d2).fma(xv, a2);
        a3 = ((FloatVector) q3.convertShape(VectorOperators.B2F, F, 2)).mul(d3).fma(xv, a3);
        xv = FloatVector.fromArray(F, x, xb + 3 * L);
        a0 = ((FloatVector) q0.convertShape(VectorOperators.B2F, F, 3)).mul(d0).fma(xv, a0);
        a1 = ((FloatVector) q1.convertShape(VectorOperators.B2F, F, 3)).mul(d1).fma(xv, a1);
        a2 = ((FloatVector) q2.convertShape(VectorOperators.B2F, F, 3)).mul(d2).fma(xv, a2);
        a3 = ((FloatVector) q3.convertShape(VectorOperators.B2F, F, 3)).mul(d3).fma(xv, a3);
      }
      // values 16..31 (into the b's)
      q0 = ByteVector.fromMemorySegment(B128, s, o0 + 18, LE);
      q1 = ByteVector.fromMemorySegment(B128, s, o1 + 18, LE);
      q2 = ByteVector.fromMemorySegment(B128, s, o2 + 18, LE);
      q3 = ByteVector.fromMemorySegment(B128, s, o3 + 18, LE);
      xv = FloatVector.fromArray(F, x, xb + 16);
      b0 = ((FloatVector) q0.convertShape(VectorOperators.B2F, F, 0)).mul(d0).fma(xv, b0);
      b1 = ((FloatVector) q1.convertShape(VectorOperators.B2F, F, 0)).mul(d1).fma(xv, b1);
      b2 = ((FloatVector) q2.convertShape(VectorOperators.B2F, F, 0)).mul(d2).fma(xv, b2);
      b3 = ((FloatVector) q3.convertShape(VectorOperators.B2F, F, 0)).mul(d3).fma(xv, b3);
      if (P >= 2) {
        xv = FloatVector.fromArray(F, x, xb + 16 + L);
        b0 = ((FloatVector) q0.convertShape(VectorOperators.B2F, F, 1)).mul(d0).fma(xv, b0);
        b1 = ((FloatVector) q1.convertShape(VectorOperators.B2F, F, 1)).mul(d1).fma(xv, b1);
        b2 = ((FloatVector) q2.convertShape(VectorOperators.B2F, F, 1)).mul(d2).fma(xv, b2);
        b3 = ((FloatVector) q3.convertShape(VectorOperators.B2F, F, 1)).mul(d3).fma(xv, b3);
      }
      if (P == 4) {
        xv = FloatVector.fromArray(F, x, xb + 16 + 2 * L);
        b0 = ((FloatVector) q0.convertShape(VectorOperators.B2F, F, 2)).mul(d0).fma(xv, b0);
        b1 = ((FloatVector) q1.convertShape(VectorOperators.B2F, F, 2)).mul(d1).fma(xv, b1);
        b2 = ((FloatVector) q2.convertShape(VectorOperators.B2F, F, 2)).mul(d2).fma(xv, b2);
        b3 = ((FloatVector) q3.convertShape(VectorOperators.B2F, F, 2)).mul(d3).fma(xv, b3);
        xv = FloatVector.fromArray(F, x, xb + 16 + 3 * L);
        b0 = ((FloatVector) q0.convertShape(VectorOperators.B2F, F, 3)).mul(d0).fma(xv, b0);
        b1 = ((FloatVector) q1.convertShape(VectorOperators.B2F, F, 3)).mul(d1).fma(xv, b1);
        b2 = ((FloatVector) q2.convertShape(VectorOperators.B2F, F, 3)).mul(d2).fma(xv, b2);
        b3 = ((FloatVector) q3.convertShape(VectorOperators.B2F, F, 3)).mul(d3).fma(xv, b3);
      }
    }
    // the reduction of dotQ8_0, row by row, through the lanes array (see the class comment of VectorKernels)
    a0.add(b0).intoArray(lanes, 0);
    out[outOff] = VectorWidth.sum(lanes);
    a1.add(b1).intoArray(lanes, 0);
    out[outOff + 1] = VectorWidth.sum(lanes);
    a2.add(b2).intoArray(lanes, 0);
    out[outOff + 2] = VectorWidth.sum(lanes);
    a3.add(b3).intoArray(lanes, 0);
    out[outOff + 3] = VectorWidth.sum(lanes);
  }

  static float dotQ4_0(MemorySegment s, long base, int blocks, float[] x, int xOff, float[] lanes) {
    return P == 1 ? dotQ4_0_16(s, base, blocks, x, xOff, lanes) : dotQ4_0Any(s, base, blocks, x, xOff, lanes);
  }

  /**
   * Q4_0 with 16 float lanes: a block's 16 possible weights (q - 8) * d fill one vector, and each nibble picks its
   * weight from it with a lane permute — the values of {@link #dotQ4_0Any}, bit for bit, with about half the work per
   * block (no byte-to-float conversions, no per-value scaling).
   */
  private static float dotQ4_0_16(MemorySegment s, long base, int blocks, float[] x, int xOff, float[] lanes) {
    FloatVector levels = FloatVector.fromArray(F, Q4_LEVELS, 0); // (16) q - 8 for q = 0..15
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk++) {
      long o = base + 18L * blk;
      float d = f16(s, o);
      int xb = xOff + 32 * blk;
      IntVector table = levels.mul(d).reinterpretAsInts(); // (16) the block's weights, as bits, by quant
      // the 16 bytes as 16 int lanes (sign-extended: selectFrom wraps an index to its low 4 bits, the low nibble)
      IntVector qs = (IntVector) ByteVector.fromMemorySegment(B128, s, o + 2, LE).convertShape(VectorOperators.B2I, I, 0);
      // low nibbles are values 0..15 (into a), high nibbles 16..31 (into b)
      a = qs.selectFrom(table).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb), a);
      b = qs.lanewise(VectorOperators.LSHR, 4).selectFrom(table).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb + 16), b);
    }
    a.add(b).intoArray(lanes, 0);
    return VectorWidth.sum(lanes);
  }

  /** Q4_0 at any width: each half of a block converted to floats and scaled. */
  private static float dotQ4_0Any(MemorySegment s, long base, int blocks, float[] x, int xOff, float[] lanes) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk++) {
      long o = base + 18L * blk;
      float d = f16(s, o);
      int xb = xOff + 32 * blk;
      ByteVector qs = ByteVector.fromMemorySegment(B128, s, o + 2, LE);
      // low nibbles are values 0..15 (into a), high nibbles 16..31 (into b); x86 has no byte shift, so shift ints
      ByteVector lo = qs.and((byte) 0x0F).sub((byte) 8);
      ByteVector hi = qs.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).sub((byte) 8);
      // w = (q - 8) * d
      FloatVector w0 = (FloatVector) lo.convertShape(VectorOperators.B2F, F, 0);
      a = w0.mul(d).fma(FloatVector.fromArray(F, x, xb), a);
      if (P >= 2) {
        FloatVector w0p1 = (FloatVector) lo.convertShape(VectorOperators.B2F, F, 1);
        a = w0p1.mul(d).fma(FloatVector.fromArray(F, x, xb + L), a);
      }
      if (P == 4) {
        FloatVector w0p2 = (FloatVector) lo.convertShape(VectorOperators.B2F, F, 2);
        a = w0p2.mul(d).fma(FloatVector.fromArray(F, x, xb + 2 * L), a);
        FloatVector w0p3 = (FloatVector) lo.convertShape(VectorOperators.B2F, F, 3);
        a = w0p3.mul(d).fma(FloatVector.fromArray(F, x, xb + 3 * L), a);
      }
      FloatVector w1 = (FloatVector) hi.convertShape(VectorOperators.B2F, F, 0);
      b = w1.mul(d).fma(FloatVector.fromArray(F, x, xb + 16), b);
      if (P >= 2) {
        FloatVector w1p1 = (FloatVector) hi.convertShape(VectorOperators.B2F, F, 1);
        b = w1p1.mul(d).fma(FloatVector.fromArray(F, x, xb + 16 + L), b);
      }
      if (P == 4) {
        FloatVector w1p2 = (FloatVector) hi.convertShape(VectorOperators.B2F, F, 2);
        b = w1p2.mul(d).fma(FloatVector.fromArray(F, x, xb + 16 + 2 * L), b);
        FloatVector w1p3 = (FloatVector) hi.convertShape(VectorOperators.B2F, F, 3);
        b = w1p3.mul(d).fma(FloatVector.fromArray(F, x, xb + 16 + 3 * L), b);
      }
    }
    a.add(b).intoArray(lanes, 0);
    return VectorWidth.sum(lanes);
  }

  static float dotQ4_K(MemorySegment s, long base, int blocks, float[] x, int xOff, float[] lanes, float[] k4) {
    return P == 1 ? dotQ4_K16(s, base, blocks, x, xOff, lanes, k4) : dotQ4_KAny(s, base, blocks, x, xOff, lanes, k4);
  }

  /**
   * Q4_K with 16 float lanes: as {@link #dotQ4_0_16}, each sub-block's 16 possible weights sc * q - mn fill one vector
   * and the nibbles pick from it — the values of {@link #dotQ4_KAny}, bit for bit. A table is one fused multiply-add,
   * {@code fma(q, sc, -mn)}: {@code sc * q} is exact (a 17-bit scale times a 4-bit quant), so it rounds the same value
   * as {@code sc * q - mn}, signed zeros included. Two groups of 64 values per iteration (1.1-1.3x over one group with
   * {@code mul} and {@code sub} tables, on the Q4_K matrices of a TinyLlama Q4_K_M file on Zen 5).
   */
  private static float dotQ4_K16(MemorySegment s, long base, int blocks, float[] x, int xOff, float[] lanes, float[] k4) {
    FloatVector levels = FloatVector.fromArray(F, Q4_K_LEVELS, 0); // (16) q = 0..15
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk++) {
      long o = base + 144L * blk;
      int dm = s.get(I32, o);
      float d = Float.float16ToFloat((short) dm);
      float dmin = Float.float16ToFloat((short) (dm >>> 16));
      unpackK4(s, o + 4, d, -dmin, k4); // k4[8 + j] = -mn_j
      for (int g = 0; g < 4; g += 2) {
        // bytes qs[32g .. 32g+32) as 32 int lanes: low nibbles are sub-block 2g, high nibbles 2g + 1; then group g + 1
        IntVector lo = levels.fma(k4[2 * g], k4[8 + 2 * g]).reinterpretAsInts(); // (16) sub-block 2g's weights by quant
        IntVector hi = levels.fma(k4[2 * g + 1], k4[9 + 2 * g]).reinterpretAsInts(); // (16) sub-block 2g + 1's
        IntVector q0 = (IntVector) ByteVector.fromMemorySegment(B128, s, o + 16 + 32 * g, LE).convertShape(VectorOperators.B2I, I, 0);
        IntVector q1 = (IntVector) ByteVector.fromMemorySegment(B128, s, o + 32 + 32 * g, LE).convertShape(VectorOperators.B2I, I, 0);
        int xg = xOff + 256 * blk + 64 * g;
        // selectFrom wraps each index to its low 4 bits: the low nibble, or after the shift the high one
        a = q0.selectFrom(lo).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xg), a);
        b = q1.selectFrom(lo).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xg + 16), b);
        a = q0.lanewise(VectorOperators.LSHR, 4).selectFrom(hi).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xg + 32), a);
        b = q1.lanewise(VectorOperators.LSHR, 4).selectFrom(hi).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xg + 48), b);
        IntVector lo2 = levels.fma(k4[2 * g + 2], k4[10 + 2 * g]).reinterpretAsInts(); // (16) sub-block 2g + 2's
        IntVector hi2 = levels.fma(k4[2 * g + 3], k4[11 + 2 * g]).reinterpretAsInts(); // (16) sub-block 2g + 3's
        IntVector q2 = (IntVector) ByteVector.fromMemorySegment(B128, s, o + 48 + 32 * g, LE).convertShape(VectorOperators.B2I, I, 0);
        IntVector q3 = (IntVector) ByteVector.fromMemorySegment(B128, s, o + 64 + 32 * g, LE).convertShape(VectorOperators.B2I, I, 0);
        a = q2.selectFrom(lo2).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xg + 64), a);
        b = q3.selectFrom(lo2).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xg + 80), b);
        a = q2.lanewise(VectorOperators.LSHR, 4).selectFrom(hi2).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xg + 96), a);
        b = q3.lanewise(VectorOperators.LSHR, 4).selectFrom(hi2).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xg + 112), b);
      }
    }
    a.add(b).intoArray(lanes, 0);
    return VectorWidth.sum(lanes);
  }

  /**
   * Q4_K at any width: each sub-block's nibbles converted to floats, scaled and shifted by its min in one fused
   * multiply-add, {@code fma(q, sc, -mn)} (the same bits as {@code sc * q - mn}: see {@link #dotQ4_K16}).
   */
  private static float dotQ4_KAny(MemorySegment s, long base, int blocks, float[] x, int xOff, float[] lanes, float[] k4) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk++) {
      long o = base + 144L * blk;
      // d and dmin, then the 12 packed scale bytes as three little-endian ints
      int dm = s.get(I32, o);
      float d = Float.float16ToFloat((short) dm);
      float dmin = Float.float16ToFloat((short) (dm >>> 16));
      unpackK4(s, o + 4, d, -dmin, k4); // k4[8 + j] = -mn_j
      for (int g = 0; g < 4; g++) {
        // bytes qs[32g .. 32g+32) hold sub-block 2g (low nibbles, values 64g + l) and 2g+1 (high, 64g + 32 + l);
        // w = sc * q - mn = fma(q, sc, -mn)
        float sc1 = k4[2 * g];
        float nm1 = k4[8 + 2 * g]; // -mn
        float sc2 = k4[2 * g + 1];
        float nm2 = k4[9 + 2 * g];
        ByteVector q0 = ByteVector.fromMemorySegment(B128, s, o + 16 + 32 * g, LE);
        ByteVector q1 = ByteVector.fromMemorySegment(B128, s, o + 32 + 32 * g, LE);
        int xg = xOff + 256 * blk + 64 * g;
        // sub-block 2g: low nibbles; values 0..15 into a, 16..31 into b
        ByteVector lo0 = q0.and((byte) 0x0F);
        a = ((FloatVector) lo0.convertShape(VectorOperators.B2F, F, 0)).fma(sc1, nm1).fma(FloatVector.fromArray(F, x, xg), a);
        if (P >= 2) {
          a = ((FloatVector) lo0.convertShape(VectorOperators.B2F, F, 1)).fma(sc1, nm1).fma(FloatVector.fromArray(F, x, xg + L), a);
        }
        if (P == 4) {
          a = ((FloatVector) lo0.convertShape(VectorOperators.B2F, F, 2)).fma(sc1, nm1).fma(FloatVector.fromArray(F, x, xg + 2 * L), a);
          a = ((FloatVector) lo0.convertShape(VectorOperators.B2F, F, 3)).fma(sc1, nm1).fma(FloatVector.fromArray(F, x, xg + 3 * L), a);
        }
        ByteVector lo1 = q1.and((byte) 0x0F);
        b = ((FloatVector) lo1.convertShape(VectorOperators.B2F, F, 0)).fma(sc1, nm1).fma(FloatVector.fromArray(F, x, xg + 16), b);
        if (P >= 2) {
          b = ((FloatVector) lo1.convertShape(VectorOperators.B2F, F, 1)).fma(sc1, nm1).fma(FloatVector.fromArray(F, x, xg + 16 + L), b);
        }
        if (P == 4) {
          b = ((FloatVector) lo1.convertShape(VectorOperators.B2F, F, 2)).fma(sc1, nm1).fma(FloatVector.fromArray(F, x, xg + 16 + 2 * L), b);
          b = ((FloatVector) lo1.convertShape(VectorOperators.B2F, F, 3)).fma(sc1, nm1).fma(FloatVector.fromArray(F, x, xg + 16 + 3 * L), b);
        }
        // sub-block 2g + 1: high nibbles (shifted on 32-bit lanes, x86 has no byte shift, then masked)
        ByteVector hi0 = q0.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F);
        a = ((FloatVector) hi0.convertShape(VectorOperators.B2F, F, 0)).fma(sc2, nm2).fma(FloatVector.fromArray(F, x, xg + 32), a);
        if (P >= 2) {
          a = ((FloatVector) hi0.convertShape(VectorOperators.B2F, F, 1)).fma(sc2, nm2).fma(FloatVector.fromArray(F, x, xg + 32 + L), a);
        }
        if (P == 4) {
          a = ((FloatVector) hi0.convertShape(VectorOperators.B2F, F, 2)).fma(sc2, nm2).fma(FloatVector.fromArray(F, x, xg + 32 + 2 * L), a);
          a = ((FloatVector) hi0.convertShape(VectorOperators.B2F, F, 3)).fma(sc2, nm2).fma(FloatVector.fromArray(F, x, xg + 32 + 3 * L), a);
        }
        ByteVector hi1 = q1.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F);
        b = ((FloatVector) hi1.convertShape(VectorOperators.B2F, F, 0)).fma(sc2, nm2).fma(FloatVector.fromArray(F, x, xg + 48), b);
        if (P >= 2) {
          b = ((FloatVector) hi1.convertShape(VectorOperators.B2F, F, 1)).fma(sc2, nm2).fma(FloatVector.fromArray(F, x, xg + 48 + L), b);
        }
        if (P == 4) {
          b = ((FloatVector) hi1.convertShape(VectorOperators.B2F, F, 2)).fma(sc2, nm2).fma(FloatVector.fromArray(F, x, xg + 48 + 2 * L), b);
          b = ((FloatVector) hi1.convertShape(VectorOperators.B2F, F, 3)).fma(sc2, nm2).fma(FloatVector.fromArray(F, x, xg + 48 + 3 * L), b);
        }
      }
    }
    a.add(b).intoArray(lanes, 0);
    return VectorWidth.sum(lanes);
  }

  /**
   * The 8 sub-block scales {@code d * sc_j} into {@code k4[j]} and mins {@code dmin * m_j} into {@code k4[8 + j]} of a
   * Q4_K super-block, from its 12 scale bytes read as little-endian ints s0, s1, s2 (ggml's {@code get_scale_min_k4}).
   */
  static void unpackK4(MemorySegment s, long scales, float d, float dmin, float[] k4) {
    if (L == 16) {
      // 16 lanes at once: lane i takes a "low" byte (shifted, masked) and, for j >= 4, two high bits from another byte
      IntVector b = (IntVector) ByteVector.fromMemorySegment(B128, s, scales, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, IntVector.SPECIES_512, 0);
      IntVector low = b.rearrange(K4_LOW).lanewise(VectorOperators.LSHR, IntVector.fromArray(IntVector.SPECIES_512, K4_LOW_SHIFT, 0)).and(IntVector.fromArray(IntVector.SPECIES_512, K4_LOW_MASK, 0));
      IntVector high = b.rearrange(K4_HIGH).lanewise(VectorOperators.LSHR, 2).and(IntVector.fromArray(IntVector.SPECIES_512, K4_HIGH_MASK, 0));
      FloatVector dd = FloatVector.broadcast(FloatVector.SPECIES_512, d).blend(dmin, K4_MINS); // d x 8, dmin x 8
      ((FloatVector) low.or(high).convertShape(VectorOperators.I2F, FloatVector.SPECIES_512, 0)).mul(dd).intoArray(k4, 0);
      return;
    }
    int s0 = s.get(I32, scales);
    int s1 = s.get(I32, scales + 4);
    int s2 = s.get(I32, scales + 8);
    for (int j = 0; j < 8; j++) {
      k4[j] = d * scaleK4(s0, s2, j);
      k4[8 + j] = dmin * minK4(s0, s1, s2, j);
    }
  }

  /** ggml's {@code get_scale_min_k4} scale of sub-block j, from the 12 scale bytes read as ints s0, s1, s2. */
  static int scaleK4(int s0, int s2, int j) {
    if (j < 4) {
      return (s0 >>> (8 * j)) & 63;
    }
    int k = 8 * (j - 4);
    return ((s2 >>> k) & 0x0F) | (((s0 >>> k) >>> 6) & 3) << 4;
  }

  /** ggml's {@code get_scale_min_k4} min of sub-block j, from the 12 scale bytes read as ints s0, s1, s2. */
  static int minK4(int s0, int s1, int s2, int j) {
    if (j < 4) {
      return (s1 >>> (8 * j)) & 63;
    }
    int k = 8 * (j - 4);
    return ((s2 >>> k) >>> 4 & 0x0F) | (((s1 >>> k) >>> 6) & 3) << 4;
  }

  /** {@code q}: 64 bytes of scratch for the 16-lane kernel. */
  static float dotQ6_K(MemorySegment s, long base, int blocks, float[] x, int xOff, float[] lanes, byte[] q) {
    return P == 1 ? dotQ6_K16(s, base, blocks, x, xOff, lanes, q) : dotQ6_KAny(s, base, blocks, x, xOff, lanes);
  }

  /** Q6_K at any width: one kind (32 values) per iteration. */
  private static float dotQ6_KAny(MemorySegment s, long base, int blocks, float[] x, int xOff, float[] lanes) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk++) {
      long o = base + 210L * blk;
      float d = f16(s, o + 208);
      for (int h = 0; h < 2; h++) {
        // half h (values 128h ..): ql[64h .. 64h+64), qh[32h .. 32h+32), scales sc[8h .. 8h+8), the last two read once
        long sc = s.get(I64, o + 192 + 8 * h); // 8 int8 scales, little-endian
        IntVector qh0 = ByteVector.fromMemorySegment(B128, s, o + 128 + 32 * h, LE).reinterpretAsInts();
        IntVector qh1 = ByteVector.fromMemorySegment(B128, s, o + 144 + 32 * h, LE).reinterpretAsInts();
        for (int k = 0; k < 4; k++) {
          // kind k: values 32k + l (l = 0..31) from nibble k / 2 of ql[32 (k % 2) + l] and bits 2k, 2k+1 of qh[l];
          // l < 16 (scale sc[2k]) into a, l >= 16 (sc[2k + 1]) into b. 6-bit quants minus 32: shifts run on 32-bit
          // lanes and the masks drop bits that crossed from neighbouring bytes. w = (d * sc) * q
          long ql = o + 64 * h + 32 * (k & 1);
          int lowShift = 4 * (k >> 1);
          float s0 = d * (byte) (sc >>> (16 * k));
          float s1 = d * (byte) (sc >>> (16 * k + 8));
          int xk = xOff + 256 * blk + 128 * h + 32 * k;
          ByteVector q0 = ByteVector.fromMemorySegment(B128, s, ql + 0, LE).reinterpretAsInts().lanewise(VectorOperators.LSHR, lowShift).reinterpretAsBytes().and((byte) 0x0F)
              .or(qh0.lanewise(VectorOperators.LSHR, 2 * k).lanewise(VectorOperators.LSHL, 4).reinterpretAsBytes().and((byte) 0x30)).sub((byte) 32);
          a = ((FloatVector) q0.convertShape(VectorOperators.B2F, F, 0)).mul(s0).fma(FloatVector.fromArray(F, x, xk), a);
          if (P >= 2) {
            a = ((FloatVector) q0.convertShape(VectorOperators.B2F, F, 1)).mul(s0).fma(FloatVector.fromArray(F, x, xk + L), a);
          }
          if (P == 4) {
            a = ((FloatVector) q0.convertShape(VectorOperators.B2F, F, 2)).mul(s0).fma(FloatVector.fromArray(F, x, xk + 2 * L), a);
            a = ((FloatVector) q0.convertShape(VectorOperators.B2F, F, 3)).mul(s0).fma(FloatVector.fromArray(F, x, xk + 3 * L), a);
          }
          ByteVector q1 = ByteVector.fromMemorySegment(B128, s, ql + 16, LE).reinterpretAsInts().lanewise(VectorOperators.LSHR, lowShift).reinterpretAsBytes().and((byte) 0x0F)
              .or(qh1.lanewise(VectorOperators.LSHR, 2 * k).lanewise(VectorOperators.LSHL, 4).reinterpretAsBytes().and((byte) 0x30)).sub((byte) 32);
          b = ((FloatVector) q1.convertShape(VectorOperators.B2F, F, 0)).mul(s1).fma(FloatVector.fromArray(F, x, xk + 16), b);
          if (P >= 2) {
            b = ((FloatVector) q1.convertShape(VectorOperators.B2F, F, 1)).mul(s1).fma(FloatVector.fromArray(F, x, xk + 16 + L), b);
          }
          if (P == 4) {
            b = ((FloatVector) q1.convertShape(VectorOperators.B2F, F, 2)).mul(s1).fma(FloatVector.fromArray(F, x, xk + 16 + 2 * L), b);
            b = ((FloatVector) q1.convertShape(VectorOperators.B2F, F, 3)).mul(s1).fma(FloatVector.fromArray(F, x, xk + 16 + 3 * L), b);
          }
        }
      }
    }
    a.add(b).intoArray(lanes, 0);
    return VectorWidth.sum(lanes);
  }

  /**
   * Q6_K with 16 float lanes: a half (128 values) per iteration with its qh and scales read once, the kinds in pairs
   * (1.3x over {@link #dotQ6_KAny}). The six-bit quants of two kinds are assembled on 32 bytes at once and stored to
   * {@code q} (64 bytes), then widened to floats from there 16 at a time: converting the upper half of a 32-byte vector
   * directly costs a byte permute and a blend (2.6x slower), and the round trip through L1 is 1.1x faster than
   * assembling 16 bytes at a time. The pair loop is not written out: the four kinds in one body give C2 enough nodes to
   * stop inlining before the end of the method, and the last vector operations then box on every call.
   */
  private static float dotQ6_K16(MemorySegment s, long base, int blocks, float[] x, int xOff, float[] lanes, byte[] q) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk++) {
      long o = base + 210L * blk;
      float d = f16(s, o + 208);
      for (int h = 0; h < 2; h++) {
        // as in dotQ6_KAny: ql[64h ..), qh[32h ..), scales sc[8h ..); kinds 2j and 2j + 1 take nibble j of ql[0..32)
        // and ql[32..64), and bits 4j .. 4j + 3 of qh
        long sc = s.get(I64, o + 192 + 8 * h);
        IntVector qh = ByteVector.fromMemorySegment(B256, s, o + 128 + 32 * h, LE).reinterpretAsInts(); // (32 bytes)
        IntVector ql0 = ByteVector.fromMemorySegment(B256, s, o + 64 * h, LE).reinterpretAsInts(); // (32 bytes) ql[0..32)
        IntVector ql1 = ByteVector.fromMemorySegment(B256, s, o + 64 * h + 32, LE).reinterpretAsInts(); // ql[32..64)
        int xh = xOff + 256 * blk + 128 * h;
        for (int j = 0; j < 2; j++) {
          int nib = 4 * j;
          int xk = xh + 64 * j;
          long scj = sc >>> (32 * j);
          // q[0..32) = kind 2j (nibble j of ql[0..32), qh bits 4j, 4j+1), q[32..64) = kind 2j + 1 (ql[32..64), bits
          // 4j+2, 4j+3), each minus 32
          IntVector qhA = qh.lanewise(VectorOperators.LSHR, nib).lanewise(VectorOperators.LSHL, 4);
          ql0.lanewise(VectorOperators.LSHR, nib).reinterpretAsBytes().and((byte) 0x0F).or(qhA.reinterpretAsBytes().and((byte) 0x30)).sub((byte) 32).intoArray(q, 0);
          ql1.lanewise(VectorOperators.LSHR, nib).reinterpretAsBytes().and((byte) 0x0F).or(qhA.lanewise(VectorOperators.LSHR, 2).reinterpretAsBytes().and((byte) 0x30)).sub((byte) 32).intoArray(q, 32);
          // values 0..15 of a kind (scale sc[2k]) into a, 16..31 (sc[2k + 1]) into b; w = (d * sc) * q
          a = ((FloatVector) ByteVector.fromArray(B128, q, 0).convertShape(VectorOperators.B2F, F, 0)).mul(d * (byte) scj).fma(FloatVector.fromArray(F, x, xk), a);
          b = ((FloatVector) ByteVector.fromArray(B128, q, 16).convertShape(VectorOperators.B2F, F, 0)).mul(d * (byte) (scj >>> 8)).fma(FloatVector.fromArray(F, x, xk + 16), b);
          a = ((FloatVector) ByteVector.fromArray(B128, q, 32).convertShape(VectorOperators.B2F, F, 0)).mul(d * (byte) (scj >>> 16)).fma(FloatVector.fromArray(F, x, xk + 32), a);
          b = ((FloatVector) ByteVector.fromArray(B128, q, 48).convertShape(VectorOperators.B2F, F, 0)).mul(d * (byte) (scj >>> 24)).fma(FloatVector.fromArray(F, x, xk + 48), b);
        }
      }
    }
    a.add(b).intoArray(lanes, 0);
    return VectorWidth.sum(lanes);
  }

}
