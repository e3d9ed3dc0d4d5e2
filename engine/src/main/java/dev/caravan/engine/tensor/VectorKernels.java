package dev.caravan.engine.tensor;

import static dev.caravan.engine.tensor.LittleEndian.f16;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Objects;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API kernels for every supported weight type: dequantize a block into float vectors, multiply-add them with
 * the F32 activations (like llama3.java), one float accumulator pair per row and token.
 *
 * <h2>Summation order (what makes results deterministic)</h2>
 *
 * With {@code L} float lanes ({@link VectorWidth}), value {@code i} of a row is multiplied with {@code x[i]} by one
 * fused multiply-add into a lane, and accumulated as follows, for every type and every entry point:
 *
 * <ol>
 *   <li>For each whole 32-value chunk, in order: its values 0..15 go into accumulator A, 16..31 into accumulator B, as
 *       {@code 16/L} vectors each, in order (lane = value index mod L).
 *   <li>Then (F32/F16/BF16 rows only) each remaining whole L-vector goes into A.
 *   <li>{@code r = sum(A + B)}, a fixed pairwise tree over the lanes ({@link VectorWidth#sum(float[])}); never
 *       {@code reduceLanes}, whose order is unspecified and differs between interpreter and C2.
 *   <li>Then (F32/F16/BF16 only) each remaining value adds {@code w * x} to {@code r} in index order.
 * </ol>
 *
 * The weight vectors are the exact dequantized values (the scalar twin's float operations; a fused {@code fma(q, d,
 * -8d)} would round the same value but turn the scalar's {@code -0.0} into {@code +0.0}), so {@link #dequantizeRow} is
 * exact and the batched path, which dequantizes rows into a per-thread float tile and runs an F32 micro-kernel over
 * several tokens, gives bit-identical per-token results.
 *
 * <h2>Code shape</h2>
 *
 * The species are static finals (C2 emits SIMD code only for constant species). Rules that keep C2 from boxing
 * vectors (which allocates and runs ~100x slower), each learnt from a measured failure:
 *
 * <ul>
 *   <li>Hot loops use only the JDK's vector methods, which are force-inlined, and no helper of ours that takes or
 *       returns a vector: once C2 has spent its node budget on a large method it stops inlining ordinary methods, and
 *       a vector crossing a call is boxed. For the same reason the final lane sum of the big kernels goes through a
 *       small per-thread float array.
 *   <li>No inner loops over the {@code 16/L} vectors of a unit: they are written out behind constant tests
 *       ({@code if (P >= 2)}, folded away by C2), because accumulator phis of a short inner loop got boxed.
 *   <li>Nibbles are shifted on 32-bit lanes and masked (x86 has no byte shifts), and 16-byte halves are loaded
 *       separately rather than converting the upper half of a 32-byte vector (a byte permute and a blend).
 * </ul>
 *
 * At 128 bits (e.g. {@code -Dcaravan.vectorBits=128}) x86 C2 lacks some intrinsics for 64-bit short vectors: results
 * stay exact, but F16 and some K-quant paths may box there. The 512- and 256-bit paths are allocation-free (tested).
 *
 * <h2>Batched path</h2>
 *
 * {@link #dotRows} with several tokens dequantizes {@link #ROW_TILE} rows into a per-thread float tile and runs a
 * 4-row x 4-token F32 micro-kernel over L1-sized column blocks, one accumulator half (A or B) at a time; partial
 * accumulators are parked in a scratch array between blocks (an exact store and load), so each (row, token) result
 * receives the same fused multiply-adds in the same order as {@link #dot}.
 */
public final class VectorKernels implements Kernels {

  /** Float vector width in bits, chosen once per JVM ({@link VectorWidth}). */
  static final int BITS = VectorWidth.BITS;

  private static final VectorSpecies<Float> F = VectorWidth.F;
  /** Float lanes. */
  private static final int L = VectorWidth.L;
  /** Float vectors per 16-value unit. */
  private static final int P = 16 / L;
  private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, VectorShape.forBitSize(BITS));
  private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(BITS / 2));
  private static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;
  private static final VectorSpecies<Byte> B256 = ByteVector.SPECIES_256;
  private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
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

  /** Rows dequantized together by {@link #dotRows} before the token loop. */
  static final int ROW_TILE = 8;
  /** Tokens that share one pass over the dequantized rows. */
  static final int TOKEN_TILE = 4;
  /** Columns per block of the batched micro-kernel (a multiple of 32): 4 rows and 4 tokens of it fit in L1. */
  static final int COL_BLOCK = 512;

  /** Per-thread scratch: the lanes of a final sum, and {@link #ROW_TILE} dequantized rows (grown on demand). */
  private static final class Scratch {
    final float[] lanes = new float[16];
    final float[] k4 = new float[16]; // a Q4_K super-block's 8 scales (d * sc) then 8 mins (dmin * m)
    final float[] acc = new float[ROW_TILE * TOKEN_TILE * 2 * 16]; // (ROW_TILE, TOKEN_TILE, 2, L) parked accumulators
    float[] tile = new float[0]; // (ROW_TILE, cols)
  }

  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  /** Whether this JVM can run these kernels usefully: at least 128-bit float vectors. */
  static boolean usable() {
    return VectorWidth.usable();
  }

  @Override
  public String name() {
    return "vector-" + BITS;
  }

  // ---------------------------------------------------------------- single token

  @Override
  public float dot(WeightMatrix w, int row, float[] x, int xOff) {
    Objects.checkIndex(row, w.rows());
    Objects.checkFromIndexSize(xOff, w.cols(), x.length);
    return dotRow(w, row, x, xOff, SCRATCH.get());
  }

  /** Row {@code row} against {@code x[xOff ..]}; the caller has checked the bounds. */
  private static float dotRow(WeightMatrix w, int row, float[] x, int xOff, Scratch scratch) {
    float[] lanes = scratch.lanes;
    MemorySegment s = w.data();
    long base = w.rowOffset(row);
    int n = w.cols();
    return switch (w.type()) {
      case F32 -> dotF32(s, base, n, x, xOff, lanes);
      case F16 -> dotF16(s, base, n, x, xOff, lanes);
      case BF16 -> dotBF16(s, base, n, x, xOff, lanes);
      case Q8_0 -> dotQ8_0(s, base, n / 32, x, xOff, lanes);
      case Q4_0 -> dotQ4_0(s, base, n / 32, x, xOff, lanes);
      case Q4_K -> dotQ4_K(s, base, n / 256, x, xOff, lanes, scratch.k4);
      case Q6_K -> dotQ6_K(s, base, n / 256, x, xOff, lanes);
      default -> throw new UnsupportedOperationException("no kernels for " + w.type() + " weights");
    };
  }

  private static float dotF32(MemorySegment s, long base, int n, float[] x, int xOff, float[] lanes) {
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

  private static float dotF16(MemorySegment s, long base, int n, float[] x, int xOff, float[] lanes) {
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

  private static float dotBF16(MemorySegment s, long base, int n, float[] x, int xOff, float[] lanes) {
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

  private static float dotQ8_0(MemorySegment s, long base, int blocks, float[] x, int xOff, float[] lanes) {
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

  private static float dotQ4_0(MemorySegment s, long base, int blocks, float[] x, int xOff, float[] lanes) {
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

  private static float dotQ4_K(MemorySegment s, long base, int blocks, float[] x, int xOff, float[] lanes, float[] k4) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk++) {
      long o = base + 144L * blk;
      // d and dmin, then the 12 packed scale bytes as three little-endian ints
      int dm = s.get(I32, o);
      float d = Float.float16ToFloat((short) dm);
      float dmin = Float.float16ToFloat((short) (dm >>> 16));
      unpackK4(s, o + 4, d, dmin, k4);
      for (int g = 0; g < 4; g++) {
        // bytes qs[32g .. 32g+32) hold sub-block 2g (low nibbles, values 64g + l) and 2g+1 (high, 64g + 32 + l);
        // w = sc * q - mn
        float sc1 = k4[2 * g];
        float mn1 = k4[8 + 2 * g];
        float sc2 = k4[2 * g + 1];
        float mn2 = k4[9 + 2 * g];
        ByteVector q0 = ByteVector.fromMemorySegment(B128, s, o + 16 + 32 * g, LE);
        ByteVector q1 = ByteVector.fromMemorySegment(B128, s, o + 32 + 32 * g, LE);
        int xg = xOff + 256 * blk + 64 * g;
        // sub-block 2g: low nibbles; values 0..15 into a, 16..31 into b
        ByteVector lo0 = q0.and((byte) 0x0F);
        a = ((FloatVector) lo0.convertShape(VectorOperators.B2F, F, 0)).mul(sc1).sub(mn1).fma(FloatVector.fromArray(F, x, xg), a);
        if (P >= 2) {
          a = ((FloatVector) lo0.convertShape(VectorOperators.B2F, F, 1)).mul(sc1).sub(mn1).fma(FloatVector.fromArray(F, x, xg + L), a);
        }
        if (P == 4) {
          a = ((FloatVector) lo0.convertShape(VectorOperators.B2F, F, 2)).mul(sc1).sub(mn1).fma(FloatVector.fromArray(F, x, xg + 2 * L), a);
          a = ((FloatVector) lo0.convertShape(VectorOperators.B2F, F, 3)).mul(sc1).sub(mn1).fma(FloatVector.fromArray(F, x, xg + 3 * L), a);
        }
        ByteVector lo1 = q1.and((byte) 0x0F);
        b = ((FloatVector) lo1.convertShape(VectorOperators.B2F, F, 0)).mul(sc1).sub(mn1).fma(FloatVector.fromArray(F, x, xg + 16), b);
        if (P >= 2) {
          b = ((FloatVector) lo1.convertShape(VectorOperators.B2F, F, 1)).mul(sc1).sub(mn1).fma(FloatVector.fromArray(F, x, xg + 16 + L), b);
        }
        if (P == 4) {
          b = ((FloatVector) lo1.convertShape(VectorOperators.B2F, F, 2)).mul(sc1).sub(mn1).fma(FloatVector.fromArray(F, x, xg + 16 + 2 * L), b);
          b = ((FloatVector) lo1.convertShape(VectorOperators.B2F, F, 3)).mul(sc1).sub(mn1).fma(FloatVector.fromArray(F, x, xg + 16 + 3 * L), b);
        }
        // sub-block 2g + 1: high nibbles (shifted on 32-bit lanes, x86 has no byte shift, then masked)
        ByteVector hi0 = q0.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F);
        a = ((FloatVector) hi0.convertShape(VectorOperators.B2F, F, 0)).mul(sc2).sub(mn2).fma(FloatVector.fromArray(F, x, xg + 32), a);
        if (P >= 2) {
          a = ((FloatVector) hi0.convertShape(VectorOperators.B2F, F, 1)).mul(sc2).sub(mn2).fma(FloatVector.fromArray(F, x, xg + 32 + L), a);
        }
        if (P == 4) {
          a = ((FloatVector) hi0.convertShape(VectorOperators.B2F, F, 2)).mul(sc2).sub(mn2).fma(FloatVector.fromArray(F, x, xg + 32 + 2 * L), a);
          a = ((FloatVector) hi0.convertShape(VectorOperators.B2F, F, 3)).mul(sc2).sub(mn2).fma(FloatVector.fromArray(F, x, xg + 32 + 3 * L), a);
        }
        ByteVector hi1 = q1.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F);
        b = ((FloatVector) hi1.convertShape(VectorOperators.B2F, F, 0)).mul(sc2).sub(mn2).fma(FloatVector.fromArray(F, x, xg + 48), b);
        if (P >= 2) {
          b = ((FloatVector) hi1.convertShape(VectorOperators.B2F, F, 1)).mul(sc2).sub(mn2).fma(FloatVector.fromArray(F, x, xg + 48 + L), b);
        }
        if (P == 4) {
          b = ((FloatVector) hi1.convertShape(VectorOperators.B2F, F, 2)).mul(sc2).sub(mn2).fma(FloatVector.fromArray(F, x, xg + 48 + 2 * L), b);
          b = ((FloatVector) hi1.convertShape(VectorOperators.B2F, F, 3)).mul(sc2).sub(mn2).fma(FloatVector.fromArray(F, x, xg + 48 + 3 * L), b);
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
  private static void unpackK4(MemorySegment s, long scales, float d, float dmin, float[] k4) {
    if (L == 16) {
      // 16 lanes at once: lane i takes a "low" byte (shifted, masked) and, for j >= 4, two high bits from another byte
      IntVector b = (IntVector) ByteVector.fromMemorySegment(B128, s, scales, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, IntVector.SPECIES_512, 0);
      IntVector low = b.rearrange(K4_LOW).lanewise(VectorOperators.LSHR, IntVector.fromArray(IntVector.SPECIES_512, K4_LOW_SHIFT, 0)).and(IntVector.fromArray(IntVector.SPECIES_512, K4_LOW_MASK, 0));
      IntVector high = b.rearrange(K4_HIGH).lanewise(VectorOperators.LSHR, 2).and(IntVector.fromArray(IntVector.SPECIES_512, K4_HIGH_MASK, 0));
      FloatVector dd = FloatVector.broadcast(FloatVector.SPECIES_512, d).blend(dmin, FloatVector.SPECIES_512.indexInRange(-8, 8)); // d x 8, dmin x 8
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

  private static float dotQ6_K(MemorySegment s, long base, int blocks, float[] x, int xOff, float[] lanes) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk++) {
      long o = base + 210L * blk;
      float d = f16(s, o + 208);
      for (int h = 0; h < 2; h++) {
        // half h (values 128h ..): ql[64h .. 64h+64), qh[32h .. 32h+32), scales sc[8h .. 8h+8), each read once. Kind k
        // (values 32k + l, l = 0..31) takes nibble k / 2 of ql[32 (k % 2) + l] and bits 2k, 2k+1 of qh[l]; its first
        // 16 values (scale sc[2k], into a) and last 16 (sc[2k + 1], into b) are the two 16-byte halves c = 0, 1.
        long ql = o + 64 * h;
        long qh = o + 128 + 32 * h;
        long sc = s.get(I64, o + 192 + 8 * h); // 8 int8 scales, little-endian
        IntVector qlA0 = ByteVector.fromMemorySegment(B128, s, ql, LE).reinterpretAsInts();
        IntVector qlA1 = ByteVector.fromMemorySegment(B128, s, ql + 16, LE).reinterpretAsInts();
        IntVector qlB0 = ByteVector.fromMemorySegment(B128, s, ql + 32, LE).reinterpretAsInts();
        IntVector qlB1 = ByteVector.fromMemorySegment(B128, s, ql + 48, LE).reinterpretAsInts();
        IntVector qh0 = ByteVector.fromMemorySegment(B128, s, qh, LE).reinterpretAsInts();
        IntVector qh1 = ByteVector.fromMemorySegment(B128, s, qh + 16, LE).reinterpretAsInts();
        int xh = xOff + 256 * blk + 128 * h;
        // 6-bit quants minus 32 (shifts on 32-bit lanes; the masks drop bits that crossed from neighbouring bytes),
        // then w = (d * sc) * q
        // kind 0: low nibbles of ql[0..32), bits 0-1 of qh; values l
        ByteVector q00 = qlA0.reinterpretAsBytes().and((byte) 0x0F).or(qh0.lanewise(VectorOperators.LSHL, 4).reinterpretAsBytes().and((byte) 0x30)).sub((byte) 32);
        a = ((FloatVector) q00.convertShape(VectorOperators.B2F, F, 0)).mul(d * (byte) (sc >>> 0)).fma(FloatVector.fromArray(F, x, xh), a);
        if (P >= 2) {
          a = ((FloatVector) q00.convertShape(VectorOperators.B2F, F, 1)).mul(d * (byte) (sc >>> 0)).fma(FloatVector.fromArray(F, x, xh + L), a);
        }
        if (P == 4) {
          a = ((FloatVector) q00.convertShape(VectorOperators.B2F, F, 2)).mul(d * (byte) (sc >>> 0)).fma(FloatVector.fromArray(F, x, xh + 2 * L), a);
          a = ((FloatVector) q00.convertShape(VectorOperators.B2F, F, 3)).mul(d * (byte) (sc >>> 0)).fma(FloatVector.fromArray(F, x, xh + 3 * L), a);
        }
        ByteVector q01 = qlA1.reinterpretAsBytes().and((byte) 0x0F).or(qh1.lanewise(VectorOperators.LSHL, 4).reinterpretAsBytes().and((byte) 0x30)).sub((byte) 32);
        b = ((FloatVector) q01.convertShape(VectorOperators.B2F, F, 0)).mul(d * (byte) (sc >>> 8)).fma(FloatVector.fromArray(F, x, xh + 16), b);
        if (P >= 2) {
          b = ((FloatVector) q01.convertShape(VectorOperators.B2F, F, 1)).mul(d * (byte) (sc >>> 8)).fma(FloatVector.fromArray(F, x, xh + 16 + L), b);
        }
        if (P == 4) {
          b = ((FloatVector) q01.convertShape(VectorOperators.B2F, F, 2)).mul(d * (byte) (sc >>> 8)).fma(FloatVector.fromArray(F, x, xh + 16 + 2 * L), b);
          b = ((FloatVector) q01.convertShape(VectorOperators.B2F, F, 3)).mul(d * (byte) (sc >>> 8)).fma(FloatVector.fromArray(F, x, xh + 16 + 3 * L), b);
        }
        // kind 1: low nibbles of ql[32..64), bits 2-3 of qh; values 32 * 1 + l
        ByteVector q10 = qlB0.reinterpretAsBytes().and((byte) 0x0F).or(qh0.lanewise(VectorOperators.LSHL, 2).reinterpretAsBytes().and((byte) 0x30)).sub((byte) 32);
        a = ((FloatVector) q10.convertShape(VectorOperators.B2F, F, 0)).mul(d * (byte) (sc >>> 16)).fma(FloatVector.fromArray(F, x, xh + 32), a);
        if (P >= 2) {
          a = ((FloatVector) q10.convertShape(VectorOperators.B2F, F, 1)).mul(d * (byte) (sc >>> 16)).fma(FloatVector.fromArray(F, x, xh + 32 + L), a);
        }
        if (P == 4) {
          a = ((FloatVector) q10.convertShape(VectorOperators.B2F, F, 2)).mul(d * (byte) (sc >>> 16)).fma(FloatVector.fromArray(F, x, xh + 32 + 2 * L), a);
          a = ((FloatVector) q10.convertShape(VectorOperators.B2F, F, 3)).mul(d * (byte) (sc >>> 16)).fma(FloatVector.fromArray(F, x, xh + 32 + 3 * L), a);
        }
        ByteVector q11 = qlB1.reinterpretAsBytes().and((byte) 0x0F).or(qh1.lanewise(VectorOperators.LSHL, 2).reinterpretAsBytes().and((byte) 0x30)).sub((byte) 32);
        b = ((FloatVector) q11.convertShape(VectorOperators.B2F, F, 0)).mul(d * (byte) (sc >>> 24)).fma(FloatVector.fromArray(F, x, xh + 48), b);
        if (P >= 2) {
          b = ((FloatVector) q11.convertShape(VectorOperators.B2F, F, 1)).mul(d * (byte) (sc >>> 24)).fma(FloatVector.fromArray(F, x, xh + 48 + L), b);
        }
        if (P == 4) {
          b = ((FloatVector) q11.convertShape(VectorOperators.B2F, F, 2)).mul(d * (byte) (sc >>> 24)).fma(FloatVector.fromArray(F, x, xh + 48 + 2 * L), b);
          b = ((FloatVector) q11.convertShape(VectorOperators.B2F, F, 3)).mul(d * (byte) (sc >>> 24)).fma(FloatVector.fromArray(F, x, xh + 48 + 3 * L), b);
        }
        // kind 2: high nibbles of ql[0..32), bits 4-5 of qh; values 32 * 2 + l
        ByteVector q20 = qlA0.lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).or(qh0.reinterpretAsBytes().and((byte) 0x30)).sub((byte) 32);
        a = ((FloatVector) q20.convertShape(VectorOperators.B2F, F, 0)).mul(d * (byte) (sc >>> 32)).fma(FloatVector.fromArray(F, x, xh + 64), a);
        if (P >= 2) {
          a = ((FloatVector) q20.convertShape(VectorOperators.B2F, F, 1)).mul(d * (byte) (sc >>> 32)).fma(FloatVector.fromArray(F, x, xh + 64 + L), a);
        }
        if (P == 4) {
          a = ((FloatVector) q20.convertShape(VectorOperators.B2F, F, 2)).mul(d * (byte) (sc >>> 32)).fma(FloatVector.fromArray(F, x, xh + 64 + 2 * L), a);
          a = ((FloatVector) q20.convertShape(VectorOperators.B2F, F, 3)).mul(d * (byte) (sc >>> 32)).fma(FloatVector.fromArray(F, x, xh + 64 + 3 * L), a);
        }
        ByteVector q21 = qlA1.lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).or(qh1.reinterpretAsBytes().and((byte) 0x30)).sub((byte) 32);
        b = ((FloatVector) q21.convertShape(VectorOperators.B2F, F, 0)).mul(d * (byte) (sc >>> 40)).fma(FloatVector.fromArray(F, x, xh + 80), b);
        if (P >= 2) {
          b = ((FloatVector) q21.convertShape(VectorOperators.B2F, F, 1)).mul(d * (byte) (sc >>> 40)).fma(FloatVector.fromArray(F, x, xh + 80 + L), b);
        }
        if (P == 4) {
          b = ((FloatVector) q21.convertShape(VectorOperators.B2F, F, 2)).mul(d * (byte) (sc >>> 40)).fma(FloatVector.fromArray(F, x, xh + 80 + 2 * L), b);
          b = ((FloatVector) q21.convertShape(VectorOperators.B2F, F, 3)).mul(d * (byte) (sc >>> 40)).fma(FloatVector.fromArray(F, x, xh + 80 + 3 * L), b);
        }
        // kind 3: high nibbles of ql[32..64), bits 6-7 of qh; values 32 * 3 + l
        ByteVector q30 = qlB0.lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).or(qh0.lanewise(VectorOperators.LSHR, 2).reinterpretAsBytes().and((byte) 0x30)).sub((byte) 32);
        a = ((FloatVector) q30.convertShape(VectorOperators.B2F, F, 0)).mul(d * (byte) (sc >>> 48)).fma(FloatVector.fromArray(F, x, xh + 96), a);
        if (P >= 2) {
          a = ((FloatVector) q30.convertShape(VectorOperators.B2F, F, 1)).mul(d * (byte) (sc >>> 48)).fma(FloatVector.fromArray(F, x, xh + 96 + L), a);
        }
        if (P == 4) {
          a = ((FloatVector) q30.convertShape(VectorOperators.B2F, F, 2)).mul(d * (byte) (sc >>> 48)).fma(FloatVector.fromArray(F, x, xh + 96 + 2 * L), a);
          a = ((FloatVector) q30.convertShape(VectorOperators.B2F, F, 3)).mul(d * (byte) (sc >>> 48)).fma(FloatVector.fromArray(F, x, xh + 96 + 3 * L), a);
        }
        ByteVector q31 = qlB1.lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).or(qh1.lanewise(VectorOperators.LSHR, 2).reinterpretAsBytes().and((byte) 0x30)).sub((byte) 32);
        b = ((FloatVector) q31.convertShape(VectorOperators.B2F, F, 0)).mul(d * (byte) (sc >>> 56)).fma(FloatVector.fromArray(F, x, xh + 112), b);
        if (P >= 2) {
          b = ((FloatVector) q31.convertShape(VectorOperators.B2F, F, 1)).mul(d * (byte) (sc >>> 56)).fma(FloatVector.fromArray(F, x, xh + 112 + L), b);
        }
        if (P == 4) {
          b = ((FloatVector) q31.convertShape(VectorOperators.B2F, F, 2)).mul(d * (byte) (sc >>> 56)).fma(FloatVector.fromArray(F, x, xh + 112 + 2 * L), b);
          b = ((FloatVector) q31.convertShape(VectorOperators.B2F, F, 3)).mul(d * (byte) (sc >>> 56)).fma(FloatVector.fromArray(F, x, xh + 112 + 3 * L), b);
        }
      }
    }
    a.add(b).intoArray(lanes, 0);
    return VectorWidth.sum(lanes);
  }

  // ---------------------------------------------------------------- dequantize

  @Override
  public void dequantizeRow(WeightMatrix w, int row, float[] out, int outOff) {
    Objects.checkIndex(row, w.rows());
    int n = w.cols();
    Objects.checkFromIndexSize(outOff, n, out.length);
    MemorySegment s = w.data();
    long base = w.rowOffset(row);
    switch (w.type()) {
      case F32 -> MemorySegment.copy(s, LittleEndian.F32, base, out, outOff, n);
      case F16 -> dequantizeF16(s, base, n, out, outOff);
      case BF16 -> dequantizeBF16(s, base, n, out, outOff);
      case Q8_0 -> dequantizeQ8_0(s, base, n / 32, out, outOff);
      case Q4_0 -> dequantizeQ4_0(s, base, n / 32, out, outOff);
      case Q4_K -> dequantizeQ4_K(s, base, n / 256, out, outOff, SCRATCH.get().k4);
      case Q6_K -> dequantizeQ6_K(s, base, n / 256, out, outOff);
      default -> throw new UnsupportedOperationException("no kernels for " + w.type() + " weights");
    }
  }

  private static void dequantizeF16(MemorySegment s, long base, int n, float[] out, int outOff) {
    int i = 0;
    for (; i + L <= n; i += L) {
      // as in dotF16
      IntVector h = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * i, LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
      IntVector shifted = h.and(0x7FFF).lanewise(VectorOperators.LSHL, 13);
      VectorMask<Integer> special = shifted.compare(VectorOperators.GE, 0x7C00 << 13);
      IntVector magnitude = shifted.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts().blend(shifted.or(0x7F800000), special);
      magnitude.or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats().intoArray(out, outOff + i);
    }
    for (; i < n; i++) {
      out[outOff + i] = f16(s, base + 2L * i);
    }
  }

  private static void dequantizeBF16(MemorySegment s, long base, int n, float[] out, int outOff) {
    int i = 0;
    for (; i + L <= n; i += L) {
      IntVector h = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * i, LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
      h.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(out, outOff + i);
    }
    for (; i < n; i++) {
      out[outOff + i] = LittleEndian.bf16(s, base + 2L * i);
    }
  }

  private static void dequantizeQ8_0(MemorySegment s, long base, int blocks, float[] out, int outOff) {
    for (int blk = 0; blk < blocks; blk++) {
      long o = base + 34L * blk;
      float d = f16(s, o);
      ByteVector q = ByteVector.fromMemorySegment(B256, s, o + 2, LE);
      for (int p = 0; p < 2 * P; p++) {
        ((FloatVector) q.convertShape(VectorOperators.B2F, F, p)).mul(d).intoArray(out, outOff + 32 * blk + p * L);
      }
    }
  }

  private static void dequantizeQ4_0(MemorySegment s, long base, int blocks, float[] out, int outOff) {
    for (int blk = 0; blk < blocks; blk++) {
      long o = base + 18L * blk;
      float d = f16(s, o);
      int y = outOff + 32 * blk;
      ByteVector qs = ByteVector.fromMemorySegment(B128, s, o + 2, LE);
      ByteVector lo = qs.and((byte) 0x0F).sub((byte) 8);
      ByteVector hi = qs.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).sub((byte) 8);
      ((FloatVector) lo.convertShape(VectorOperators.B2F, F, 0)).mul(d).intoArray(out, y);
      ((FloatVector) hi.convertShape(VectorOperators.B2F, F, 0)).mul(d).intoArray(out, y + 16);
      if (P >= 2) {
        ((FloatVector) lo.convertShape(VectorOperators.B2F, F, 1)).mul(d).intoArray(out, y + L);
        ((FloatVector) hi.convertShape(VectorOperators.B2F, F, 1)).mul(d).intoArray(out, y + 16 + L);
      }
      if (P == 4) {
        ((FloatVector) lo.convertShape(VectorOperators.B2F, F, 2)).mul(d).intoArray(out, y + 2 * L);
        ((FloatVector) hi.convertShape(VectorOperators.B2F, F, 2)).mul(d).intoArray(out, y + 16 + 2 * L);
        ((FloatVector) lo.convertShape(VectorOperators.B2F, F, 3)).mul(d).intoArray(out, y + 3 * L);
        ((FloatVector) hi.convertShape(VectorOperators.B2F, F, 3)).mul(d).intoArray(out, y + 16 + 3 * L);
      }
    }
  }

  private static void dequantizeQ4_K(MemorySegment s, long base, int blocks, float[] out, int outOff, float[] k4) {
    for (int blk = 0; blk < blocks; blk++) {
      long o = base + 144L * blk;
      int dm = s.get(I32, o);
      float d = Float.float16ToFloat((short) dm);
      float dmin = Float.float16ToFloat((short) (dm >>> 16));
      unpackK4(s, o + 4, d, dmin, k4);
      for (int j = 0; j < 8; j++) {
        float sc = k4[j];
        float mn = k4[8 + j];
        ByteVector q = ByteVector.fromMemorySegment(B256, s, o + 16 + 32 * (j >> 1), LE).reinterpretAsInts().lanewise(VectorOperators.LSHR, 4 * (j & 1)).reinterpretAsBytes().and((byte) 0x0F);
        for (int p = 0; p < 2 * P; p++) {
          ((FloatVector) q.convertShape(VectorOperators.B2F, F, p)).mul(sc).sub(mn).intoArray(out, outOff + 256 * blk + 32 * j + p * L);
        }
      }
    }
  }

  private static void dequantizeQ6_K(MemorySegment s, long base, int blocks, float[] out, int outOff) {
    for (int blk = 0; blk < blocks; blk++) {
      long o = base + 210L * blk;
      float d = f16(s, o + 208);
      for (int u = 0; u < 8; u++) {
        int h = u >> 2;
        int k = u & 3;
        IntVector ql = ByteVector.fromMemorySegment(B256, s, o + 64 * h + 32 * (k & 1), LE).reinterpretAsInts();
        IntVector qh = ByteVector.fromMemorySegment(B256, s, o + 128 + 32 * h, LE).reinterpretAsInts();
        ByteVector low4 = ql.lanewise(VectorOperators.LSHR, 4 * (k >> 1)).reinterpretAsBytes().and((byte) 0x0F);
        ByteVector high2 = qh.lanewise(VectorOperators.LSHR, 2 * k).lanewise(VectorOperators.LSHL, 4).reinterpretAsBytes().and((byte) 0x30);
        ByteVector q = low4.or(high2).sub((byte) 32);
        long sc = o + 192 + 8 * h + 2 * k;
        float s0 = d * s.get(ValueLayout.JAVA_BYTE, sc);
        float s1 = d * s.get(ValueLayout.JAVA_BYTE, sc + 1);
        int y = outOff + 256 * blk + 128 * h + 32 * k;
        ((FloatVector) q.convertShape(VectorOperators.B2F, F, 0)).mul(s0).intoArray(out, y);
        ((FloatVector) q.convertShape(VectorOperators.B2F, F, P)).mul(s1).intoArray(out, y + 16);
        if (P >= 2) {
          ((FloatVector) q.convertShape(VectorOperators.B2F, F, 1)).mul(s0).intoArray(out, y + L);
          ((FloatVector) q.convertShape(VectorOperators.B2F, F, P + 1)).mul(s1).intoArray(out, y + 16 + L);
        }
        if (P == 4) {
          ((FloatVector) q.convertShape(VectorOperators.B2F, F, 2)).mul(s0).intoArray(out, y + 2 * L);
          ((FloatVector) q.convertShape(VectorOperators.B2F, F, P + 2)).mul(s1).intoArray(out, y + 16 + 2 * L);
          ((FloatVector) q.convertShape(VectorOperators.B2F, F, 3)).mul(s0).intoArray(out, y + 3 * L);
          ((FloatVector) q.convertShape(VectorOperators.B2F, F, P + 3)).mul(s1).intoArray(out, y + 16 + 3 * L);
        }
      }
    }
  }

  // ---------------------------------------------------------------- several tokens

  @Override
  public void dotTokens(WeightMatrix w, int row, float[] x, int xOff, int xStride, int nTokens, float[] out, int outOff, int outStride) {
    // dotRows writes row r of token t at outOff' + t * outStride + r: shift so that row `row` lands on outOff
    dotRows(w, row, row + 1, x, xOff, xStride, nTokens, out, outOff - row, outStride);
  }

  /**
   * One token: the direct dot per row. Several: {@link #ROW_TILE} rows at a time are dequantized into a per-thread
   * float tile; then, for each group of {@link #TOKEN_TILE} tokens, an F32 micro-kernel runs 4 rows x 4 tokens over
   * column blocks of {@link #COL_BLOCK} (so the tile and token slices it touches stay in L1), one accumulator half at a
   * time. Each (row, token) accumulator receives exactly the fused multiply-adds of {@link #dot}, in the same order
   * (accumulators are parked in a scratch array between blocks, which is exact), so every result is bit-identical.
   * Leftover tokens use the one-token F32 kernel over the tile.
   */
  @Override
  public void dotRows(WeightMatrix w, int rowFrom, int rowTo, float[] x, int xOff, int xStride, int nTokens, float[] out, int outOff, int outStride) {
    Objects.checkFromToIndex(rowFrom, rowTo, w.rows());
    int n = w.cols();
    if (nTokens <= 0 || rowFrom == rowTo) {
      return;
    }
    Objects.checkFromIndexSize(xOff, n, x.length);
    Objects.checkFromIndexSize(xOff + (nTokens - 1) * xStride, n, x.length);
    Objects.checkIndex(outOff + rowFrom, out.length);
    Objects.checkIndex(outOff + (nTokens - 1) * outStride + rowTo - 1, out.length);
    Scratch scratch = SCRATCH.get();
    float[] lanes = scratch.lanes;
    if (nTokens == 1) {
      for (int r = rowFrom; r < rowTo; r++) {
        out[outOff + r] = dotRow(w, r, x, xOff, scratch);
      }
      return;
    }
    if (scratch.tile.length < ROW_TILE * n) {
      scratch.tile = new float[ROW_TILE * n];
    }
    float[] tile = scratch.tile; // (ROW_TILE, cols) dequantized rows
    float[] acc = scratch.acc; // (ROW_TILE, TOKEN_TILE, 2, L) parked accumulators
    int whole = n / 32 * 32; // the 32-value chunks; F32-type rows may have a remainder
    for (int r0 = rowFrom; r0 < rowTo; r0 += ROW_TILE) {
      int rows = Math.min(ROW_TILE, rowTo - r0);
      for (int r = 0; r < rows; r++) {
        dequantizeRow(w, r0 + r, tile, r * n);
      }
      int t = 0;
      for (; t + TOKEN_TILE <= nTokens; t += TOKEN_TILE) {
        int xt = xOff + t * xStride;
        java.util.Arrays.fill(acc, 0, ROW_TILE * TOKEN_TILE * 2 * L, 0f);
        // column blocks; in each, accumulator half A (values 0..15 of every chunk), then half B (16..31)
        for (int c0 = 0; c0 < whole; c0 += COL_BLOCK) {
          int c1 = Math.min(c0 + COL_BLOCK, whole);
          for (int half = 0; half < 2; half++) {
            int r = 0;
            for (; r + 4 <= rows; r += 4) {
              micro4x4(tile, r * n, n, x, xt, xStride, c0, c1, half, acc, r);
            }
            for (; r < rows; r++) {
              micro1x4(tile, r * n, x, xt, xStride, c0, c1, half, acc, r);
            }
          }
        }
        // remainder vectors into A, the lane sums, the scalar tails
        for (int r = 0; r < rows; r++) {
          for (int k = 0; k < TOKEN_TILE; k++) {
            out[outOff + (t + k) * outStride + r0 + r] = finish(tile, r * n, n, whole, x, xt + k * xStride, acc, (r * TOKEN_TILE + k) * 2 * L, lanes);
          }
        }
      }
      for (; t < nTokens; t++) {
        int xt = xOff + t * xStride;
        for (int r = 0; r < rows; r++) {
          out[outOff + t * outStride + r0 + r] = tileDot1(tile, r * n, n, x, xt, lanes);
        }
      }
    }
  }

  /**
   * Rows {@code r..r+3} of the tile (row r at {@code wo}, the next ones {@code n} apart) against tokens 0..3 (x at
   * {@code xo + k * xs}), over the 32-value chunks in columns [c0, c1), accumulator half {@code half}. The 16
   * accumulators are loaded from and stored back to {@code acc}. Vector {@code v} of the half covers values
   * {@code 32 (v / P) + 16 half + L (v % P)}: one fused multiply-add per (row, token) per vector, in order.
   */
  private static void micro4x4(float[] w, int wo, int n, float[] x, int xo, int xs, int c0, int c1, int half, float[] acc, int r) {
    int w0 = wo;
    int w1 = wo + n;
    int w2 = wo + 2 * n;
    int w3 = wo + 3 * n;
    int x0 = xo;
    int x1 = xo + xs;
    int x2 = xo + 2 * xs;
    int x3 = xo + 3 * xs;
    // acc index of (row r + i, token k, half): ((r + i) * 4 + k) * 2L + half * L
    int a0 = (r * TOKEN_TILE) * 2 * L + half * L;
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
      FloatVector xv = FloatVector.fromArray(F, x, x0 + i);
      c00 = v0.fma(xv, c00);
      c10 = v1.fma(xv, c10);
      c20 = v2.fma(xv, c20);
      c30 = v3.fma(xv, c30);
      xv = FloatVector.fromArray(F, x, x1 + i);
      c01 = v0.fma(xv, c01);
      c11 = v1.fma(xv, c11);
      c21 = v2.fma(xv, c21);
      c31 = v3.fma(xv, c31);
      xv = FloatVector.fromArray(F, x, x2 + i);
      c02 = v0.fma(xv, c02);
      c12 = v1.fma(xv, c12);
      c22 = v2.fma(xv, c22);
      c32 = v3.fma(xv, c32);
      xv = FloatVector.fromArray(F, x, x3 + i);
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
  private static void micro1x4(float[] w, int wo, float[] x, int xo, int xs, int c0, int c1, int half, float[] acc, int r) {
    int x0 = xo;
    int x1 = xo + xs;
    int x2 = xo + 2 * xs;
    int x3 = xo + 3 * xs;
    int a0 = (r * TOKEN_TILE) * 2 * L + half * L;
    int tok = 2 * L;
    FloatVector c0v = FloatVector.fromArray(F, acc, a0);
    FloatVector c1v = FloatVector.fromArray(F, acc, a0 + tok);
    FloatVector c2v = FloatVector.fromArray(F, acc, a0 + 2 * tok);
    FloatVector c3v = FloatVector.fromArray(F, acc, a0 + 3 * tok);
    for (int v = c0 / 32 * P; v < c1 / 32 * P; v++) {
      int i = (v / P) * 32 + half * 16 + (v % P) * L;
      FloatVector wv = FloatVector.fromArray(F, w, wo + i);
      c0v = wv.fma(FloatVector.fromArray(F, x, x0 + i), c0v);
      c1v = wv.fma(FloatVector.fromArray(F, x, x1 + i), c1v);
      c2v = wv.fma(FloatVector.fromArray(F, x, x2 + i), c2v);
      c3v = wv.fma(FloatVector.fromArray(F, x, x3 + i), c3v);
    }
    c0v.intoArray(acc, a0);
    c1v.intoArray(acc, a0 + tok);
    c2v.intoArray(acc, a0 + 2 * tok);
    c3v.intoArray(acc, a0 + 3 * tok);
  }

  /**
   * The end of a batched (row, token) dot: accumulators A and B from {@code acc[ai ..]}, the remaining whole vectors
   * after {@code whole} into A, the lane sum of A + B, then the scalar tail, as in {@link #tileDot1}.
   */
  private static float finish(float[] w, int wo, int n, int whole, float[] x, int xo, float[] acc, int ai, float[] lanes) {
    FloatVector a = FloatVector.fromArray(F, acc, ai);
    FloatVector b = FloatVector.fromArray(F, acc, ai + L);
    int i = whole;
    for (; i + L <= n; i += L) {
      a = FloatVector.fromArray(F, w, wo + i).fma(FloatVector.fromArray(F, x, xo + i), a);
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
      r += w[wo + i] * x[xo + i];
    }
    return r;
  }

  /** One dequantized row against one token, in the documented order. */
  private static float tileDot1(float[] w, int wo, int n, float[] x, int xo, float[] lanes) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    int i = 0;
    for (; i + 32 <= n; i += 32) {
      a = FloatVector.fromArray(F, w, wo + i).fma(FloatVector.fromArray(F, x, xo + i), a);
      b = FloatVector.fromArray(F, w, wo + i + 16).fma(FloatVector.fromArray(F, x, xo + i + 16), b);
      if (P >= 2) {
        a = FloatVector.fromArray(F, w, wo + i + L).fma(FloatVector.fromArray(F, x, xo + i + L), a);
        b = FloatVector.fromArray(F, w, wo + i + 16 + L).fma(FloatVector.fromArray(F, x, xo + i + 16 + L), b);
      }
      if (P == 4) {
        a = FloatVector.fromArray(F, w, wo + i + 2 * L).fma(FloatVector.fromArray(F, x, xo + i + 2 * L), a);
        b = FloatVector.fromArray(F, w, wo + i + 16 + 2 * L).fma(FloatVector.fromArray(F, x, xo + i + 16 + 2 * L), b);
        a = FloatVector.fromArray(F, w, wo + i + 3 * L).fma(FloatVector.fromArray(F, x, xo + i + 3 * L), a);
        b = FloatVector.fromArray(F, w, wo + i + 16 + 3 * L).fma(FloatVector.fromArray(F, x, xo + i + 16 + 3 * L), b);
      }
    }
    for (; i + L <= n; i += L) {
      a = FloatVector.fromArray(F, w, wo + i).fma(FloatVector.fromArray(F, x, xo + i), a);
    }
    a.add(b).intoArray(lanes, 0);
    float r = VectorWidth.sum(lanes);
    for (; i < n; i++) {
      r += w[wo + i] * x[xo + i];
    }
    return r;
  }
}
