package dev.caravan.engine.tensor;

import static dev.caravan.engine.tensor.LittleEndian.f16;
import static dev.caravan.engine.tensor.LittleEndian.i8;

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
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API kernels for every supported weight type: dequantize a block into float vectors, multiply-add them with
 * the F32 activations (like llama3.java), one float accumulator pair per row and token.
 *
 * <p>The float width is fixed once per JVM ({@link VectorWidth}: the preferred species, or
 * {@code -Dcaravan.vectorBits=512|256|128}); the species must be a compile-time constant for C2 to emit SIMD code, so it
 * is a static final, not a field. Helpers that take or return vectors are small so that C2 inlines them (a vector that
 * crosses a non-inlined call is boxed), and loop bodies are kept small to stay under C2's inlining node budget.
 *
 * <h2>Summation order (what makes results deterministic)</h2>
 *
 * With {@code L} float lanes, value {@code i} of a row is multiplied with {@code x[i]} (one fused multiply-add into a
 * lane) and accumulated as follows, for every type and every entry point:
 *
 * <ol>
 *   <li>For each whole 32-value chunk, in order: its values 0..15 go into accumulator A, 16..31 into accumulator B, as
 *       {@code 16/L} vectors each, in order (lane = value index mod L).
 *   <li>Then (F32/F16/BF16 rows only) each remaining whole L-vector goes into A.
 *   <li>{@code r = reduce(A + B)}, where reduce is a fixed pairwise tree over the lanes ({@link VectorWidth#sum}); never
 *       {@code reduceLanes}, whose order is unspecified and differs between interpreter and C2.
 *   <li>Then (F32/F16/BF16 only) each remaining value adds {@code w * x} to {@code r} in index order.
 * </ol>
 *
 * The weight vectors are the exact dequantized values (same float operations as {@link ScalarKernels}), so
 * {@link #dequantizeRow} is exact and the batched entry points, which dequantize rows into a per-thread float tile
 * and run an F32 micro-kernel over several tokens, produce bit-identical per-token results.
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
  private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
  private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(LE);

  /** Rows dequantized together by {@link #dotRows} before the token loop. */
  static final int ROW_TILE = 8;
  /** Tokens that share one pass over a dequantized row. */
  static final int TOKEN_TILE = 4;

  // per thread: ROW_TILE dequantized rows (ROW_TILE * cols), grown on demand
  private static final ThreadLocal<float[][]> TILE = ThreadLocal.withInitial(() -> new float[][] {new float[0]});

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
    int n = w.cols();
    Objects.checkFromIndexSize(xOff, n, x.length);
    MemorySegment s = w.data();
    long base = w.rowOffset(row);
    return switch (w.type()) {
      case F32 -> dotF32(s, base, n, x, xOff);
      case F16 -> dotF16(s, base, n, x, xOff);
      case BF16 -> dotBF16(s, base, n, x, xOff);
      case Q8_0 -> dotQ8_0(s, base, n / 32, x, xOff);
      case Q4_0 -> dotQ4_0(s, base, n / 32, x, xOff);
      case Q4_K -> dotQ4_K(s, base, n / 256, x, xOff);
      case Q6_K -> dotQ6_K(s, base, n / 256, x, xOff);
      default -> throw new UnsupportedOperationException("no kernels for " + w.type() + " weights");
    };
  }

  /** The lane sum in a fixed order ({@link VectorWidth#sum}). */
  private static float reduce(FloatVector v) {
    return VectorWidth.sum(v);
  }

  /** The high nibble of each of 16 bytes, 0..15. x86 has no byte shift: shift 32-bit lanes, then mask. */
  private static ByteVector highNibbles(ByteVector b16) {
    return b16.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F);
  }

  /** Lanes [p*L, p*L + L) of 16 bytes, as floats. */
  private static FloatVector floats(ByteVector b16, int p) {
    return (FloatVector) b16.convertShape(VectorOperators.B2F, F, p);
  }

  private static float dotF32(MemorySegment s, long base, int n, float[] x, int xOff) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    int i = 0;
    // whole 32-value chunks: values 0..15 into a, 16..31 into b
    for (; i + 32 <= n; i += 32) {
      for (int p = 0; p < P; p++) {
        a = FloatVector.fromMemorySegment(F, s, base + 4L * (i + p * L), LE).fma(FloatVector.fromArray(F, x, xOff + i + p * L), a);
      }
      for (int p = 0; p < P; p++) {
        b = FloatVector.fromMemorySegment(F, s, base + 4L * (i + 16 + p * L), LE).fma(FloatVector.fromArray(F, x, xOff + i + 16 + p * L), b);
      }
    }
    // remaining whole vectors into a
    for (; i + L <= n; i += L) {
      a = FloatVector.fromMemorySegment(F, s, base + 4L * i, LE).fma(FloatVector.fromArray(F, x, xOff + i), a);
    }
    float r = reduce(a.add(b));
    // scalar tail, in order
    for (; i < n; i++) {
      r += s.get(LittleEndian.F32, base + 4L * i) * x[xOff + i];
    }
    return r;
  }

  /** L fp16 values at byte offset {@code off}, widened exactly (as {@link Float#float16ToFloat}). */
  private static FloatVector f16Vector(MemorySegment s, long off) {
    IntVector h = (IntVector) ShortVector.fromMemorySegment(S, s, off, LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
    IntVector em = h.and(0x7FFF);
    IntVector shifted = em.lanewise(VectorOperators.LSHL, 13);
    // exponent and mantissa moved into float position, rebiased by multiplying with 2^112 (exact, also for subnormals)
    IntVector finite = shifted.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts();
    // infinities and NaNs keep their payload with an all-ones exponent
    VectorMask<Integer> special = em.compare(VectorOperators.GE, 0x7C00);
    IntVector magnitude = finite.blend(shifted.or(0x7F800000), special);
    return magnitude.or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
  }

  /** L bf16 values at byte offset {@code off}: each is the upper half of a float32. */
  private static FloatVector bf16Vector(MemorySegment s, long off) {
    IntVector h = (IntVector) ShortVector.fromMemorySegment(S, s, off, LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
    return h.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
  }

  private static float dotF16(MemorySegment s, long base, int n, float[] x, int xOff) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    int i = 0;
    for (; i + 32 <= n; i += 32) {
      for (int p = 0; p < P; p++) {
        a = f16Vector(s, base + 2L * (i + p * L)).fma(FloatVector.fromArray(F, x, xOff + i + p * L), a);
      }
      for (int p = 0; p < P; p++) {
        b = f16Vector(s, base + 2L * (i + 16 + p * L)).fma(FloatVector.fromArray(F, x, xOff + i + 16 + p * L), b);
      }
    }
    for (; i + L <= n; i += L) {
      a = f16Vector(s, base + 2L * i).fma(FloatVector.fromArray(F, x, xOff + i), a);
    }
    float r = reduce(a.add(b));
    for (; i < n; i++) {
      r += f16(s, base + 2L * i) * x[xOff + i];
    }
    return r;
  }

  private static float dotBF16(MemorySegment s, long base, int n, float[] x, int xOff) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    int i = 0;
    for (; i + 32 <= n; i += 32) {
      for (int p = 0; p < P; p++) {
        a = bf16Vector(s, base + 2L * (i + p * L)).fma(FloatVector.fromArray(F, x, xOff + i + p * L), a);
      }
      for (int p = 0; p < P; p++) {
        b = bf16Vector(s, base + 2L * (i + 16 + p * L)).fma(FloatVector.fromArray(F, x, xOff + i + 16 + p * L), b);
      }
    }
    for (; i + L <= n; i += L) {
      a = bf16Vector(s, base + 2L * i).fma(FloatVector.fromArray(F, x, xOff + i), a);
    }
    float r = reduce(a.add(b));
    for (; i < n; i++) {
      r += LittleEndian.bf16(s, base + 2L * i) * x[xOff + i];
    }
    return r;
  }

  private static float dotQ8_0(MemorySegment s, long base, int blocks, float[] x, int xOff) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk++) {
      long o = base + 34L * blk;
      float d = f16(s, o);
      int xb = xOff + 32 * blk;
      ByteVector q0 = ByteVector.fromMemorySegment(B128, s, o + 2, LE);
      ByteVector q1 = ByteVector.fromMemorySegment(B128, s, o + 18, LE);
      // w = q * d, values 0..15 into a, 16..31 into b
      for (int p = 0; p < P; p++) {
        a = floats(q0, p).mul(d).fma(FloatVector.fromArray(F, x, xb + p * L), a);
      }
      for (int p = 0; p < P; p++) {
        b = floats(q1, p).mul(d).fma(FloatVector.fromArray(F, x, xb + 16 + p * L), b);
      }
    }
    return reduce(a.add(b));
  }

  private static float dotQ4_0(MemorySegment s, long base, int blocks, float[] x, int xOff) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk++) {
      long o = base + 18L * blk;
      float d = f16(s, o);
      int xb = xOff + 32 * blk;
      ByteVector qs = ByteVector.fromMemorySegment(B128, s, o + 2, LE);
      ByteVector lo = qs.and((byte) 0x0F).sub((byte) 8);
      ByteVector hi = highNibbles(qs).sub((byte) 8);
      // w = (q - 8) * d: low nibbles are values 0..15 (into a), high nibbles 16..31 (into b)
      for (int p = 0; p < P; p++) {
        a = floats(lo, p).mul(d).fma(FloatVector.fromArray(F, x, xb + p * L), a);
      }
      for (int p = 0; p < P; p++) {
        b = floats(hi, p).mul(d).fma(FloatVector.fromArray(F, x, xb + 16 + p * L), b);
      }
    }
    return reduce(a.add(b));
  }

  private static float dotQ4_K(MemorySegment s, long base, int blocks, float[] x, int xOff) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk++) {
      long o = base + 144L * blk;
      // d and dmin, then the 12 packed scale bytes as three little-endian ints (few reads keep C2's graph small)
      int dm = s.get(I32, o);
      float d = Float.float16ToFloat((short) dm);
      float dmin = Float.float16ToFloat((short) (dm >>> 16));
      int s0 = s.get(I32, o + 4);
      int s1 = s.get(I32, o + 8);
      int s2 = s.get(I32, o + 12);
      for (int j = 0; j < 8; j++) {
        // sub-block j: the low (j even) or high (j odd) nibbles of qs[32 * (j / 2) ..], values 32j .. 32j+31
        float sc = d * scaleK4(s0, s2, j);
        float mn = dmin * minK4(s0, s1, s2, j);
        int shift = 4 * (j & 1);
        long q = o + 16 + 32 * (j >> 1);
        int xj = xOff + 256 * blk + 32 * j;
        ByteVector q0 = ByteVector.fromMemorySegment(B128, s, q, LE).reinterpretAsInts().lanewise(VectorOperators.LSHR, shift).reinterpretAsBytes().and((byte) 0x0F);
        ByteVector q1 = ByteVector.fromMemorySegment(B128, s, q + 16, LE).reinterpretAsInts().lanewise(VectorOperators.LSHR, shift).reinterpretAsBytes().and((byte) 0x0F);
        // w = sc * q - mn; values 0..15 of the sub-block into a, 16..31 into b
        for (int p = 0; p < P; p++) {
          a = floats(q0, p).mul(sc).sub(mn).fma(FloatVector.fromArray(F, x, xj + p * L), a);
        }
        for (int p = 0; p < P; p++) {
          b = floats(q1, p).mul(sc).sub(mn).fma(FloatVector.fromArray(F, x, xj + 16 + p * L), b);
        }
      }
    }
    return reduce(a.add(b));
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

  /**
   * Q6_K quants of one 16-value unit, minus 32: nibble {@code k / 2} (low or high) of the 16 {@code ql} bytes with bits
   * {@code 2k, 2k+1} of the 16 {@code qh} bytes on top, k = 0..3. Shifts run on 32-bit lanes (x86 has no byte shifts);
   * the masks drop the bits that cross into neighbouring bytes.
   */
  private static ByteVector q6(ByteVector ql, ByteVector qh, int k) {
    ByteVector low4 = ql.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4 * (k >> 1)).reinterpretAsBytes().and((byte) 0x0F);
    ByteVector high2 = qh.reinterpretAsInts().lanewise(VectorOperators.LSHR, 2 * k).lanewise(VectorOperators.LSHL, 4).reinterpretAsBytes().and((byte) 0x30);
    return low4.or(high2).sub((byte) 32);
  }

  private static float dotQ6_K(MemorySegment s, long base, int blocks, float[] x, int xOff) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk++) {
      long o = base + 210L * blk;
      float d = f16(s, o + 208);
      for (int u = 0; u < 8; u++) {
        // half h = u / 4, kind k = u % 4: values 128h + 32k + l for l = 0..31 (l < 16 into a, l >= 16 into b)
        int h = u >> 2;
        int k = u & 3;
        long ql = o + 64 * h + 32 * (k & 1);
        long qh = o + 128 + 32 * h;
        long sc = o + 192 + 8 * h + 2 * k; // scales sc[2k] (l < 16), sc[2k + 1] (l >= 16)
        int xu = xOff + 256 * blk + 128 * h + 32 * k;
        ByteVector q0 = q6(ByteVector.fromMemorySegment(B128, s, ql, LE), ByteVector.fromMemorySegment(B128, s, qh, LE), k);
        ByteVector q1 = q6(ByteVector.fromMemorySegment(B128, s, ql + 16, LE), ByteVector.fromMemorySegment(B128, s, qh + 16, LE), k);
        float s0 = d * i8(s, sc);
        float s1 = d * i8(s, sc + 1);
        // w = (d * sc) * q
        for (int p = 0; p < P; p++) {
          a = floats(q0, p).mul(s0).fma(FloatVector.fromArray(F, x, xu + p * L), a);
        }
        for (int p = 0; p < P; p++) {
          b = floats(q1, p).mul(s1).fma(FloatVector.fromArray(F, x, xu + 16 + p * L), b);
        }
      }
    }
    return reduce(a.add(b));
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
      case F16 -> {
        int i = 0;
        for (; i + L <= n; i += L) {
          f16Vector(s, base + 2L * i).intoArray(out, outOff + i);
        }
        for (; i < n; i++) {
          out[outOff + i] = f16(s, base + 2L * i);
        }
      }
      case BF16 -> {
        int i = 0;
        for (; i + L <= n; i += L) {
          bf16Vector(s, base + 2L * i).intoArray(out, outOff + i);
        }
        for (; i < n; i++) {
          out[outOff + i] = LittleEndian.bf16(s, base + 2L * i);
        }
      }
      case Q8_0 -> {
        for (int blk = 0; blk < n / 32; blk++) {
          long o = base + 34L * blk;
          float d = f16(s, o);
          int y = outOff + 32 * blk;
          ByteVector q0 = ByteVector.fromMemorySegment(B128, s, o + 2, LE);
          ByteVector q1 = ByteVector.fromMemorySegment(B128, s, o + 18, LE);
          for (int p = 0; p < P; p++) {
            floats(q0, p).mul(d).intoArray(out, y + p * L);
            floats(q1, p).mul(d).intoArray(out, y + 16 + p * L);
          }
        }
      }
      case Q4_0 -> {
        for (int blk = 0; blk < n / 32; blk++) {
          long o = base + 18L * blk;
          float d = f16(s, o);
          int y = outOff + 32 * blk;
          ByteVector qs = ByteVector.fromMemorySegment(B128, s, o + 2, LE);
          ByteVector lo = qs.and((byte) 0x0F).sub((byte) 8);
          ByteVector hi = highNibbles(qs).sub((byte) 8);
          for (int p = 0; p < P; p++) {
            floats(lo, p).mul(d).intoArray(out, y + p * L);
            floats(hi, p).mul(d).intoArray(out, y + 16 + p * L);
          }
        }
      }
      case Q4_K -> {
        for (int blk = 0; blk < n / 256; blk++) {
          long o = base + 144L * blk;
          int dm = s.get(I32, o);
          float d = Float.float16ToFloat((short) dm);
          float dmin = Float.float16ToFloat((short) (dm >>> 16));
          int s0 = s.get(I32, o + 4);
          int s1 = s.get(I32, o + 8);
          int s2 = s.get(I32, o + 12);
          for (int j = 0; j < 8; j++) {
            float sc = d * scaleK4(s0, s2, j);
            float mn = dmin * minK4(s0, s1, s2, j);
            int shift = 4 * (j & 1);
            long q = o + 16 + 32 * (j >> 1);
            int y = outOff + 256 * blk + 32 * j;
            ByteVector q0 = ByteVector.fromMemorySegment(B128, s, q, LE).reinterpretAsInts().lanewise(VectorOperators.LSHR, shift).reinterpretAsBytes().and((byte) 0x0F);
            ByteVector q1 = ByteVector.fromMemorySegment(B128, s, q + 16, LE).reinterpretAsInts().lanewise(VectorOperators.LSHR, shift).reinterpretAsBytes().and((byte) 0x0F);
            for (int p = 0; p < P; p++) {
              floats(q0, p).mul(sc).sub(mn).intoArray(out, y + p * L);
              floats(q1, p).mul(sc).sub(mn).intoArray(out, y + 16 + p * L);
            }
          }
        }
      }
      case Q6_K -> {
        for (int blk = 0; blk < n / 256; blk++) {
          long o = base + 210L * blk;
          float d = f16(s, o + 208);
          for (int u = 0; u < 8; u++) {
            int h = u >> 2;
            int k = u & 3;
            long ql = o + 64 * h + 32 * (k & 1);
            long qh = o + 128 + 32 * h;
            long sc = o + 192 + 8 * h + 2 * k;
            int y = outOff + 256 * blk + 128 * h + 32 * k;
            ByteVector q0 = q6(ByteVector.fromMemorySegment(B128, s, ql, LE), ByteVector.fromMemorySegment(B128, s, qh, LE), k);
            ByteVector q1 = q6(ByteVector.fromMemorySegment(B128, s, ql + 16, LE), ByteVector.fromMemorySegment(B128, s, qh + 16, LE), k);
            float s0 = d * i8(s, sc);
            float s1 = d * i8(s, sc + 1);
            for (int p = 0; p < P; p++) {
              floats(q0, p).mul(s0).intoArray(out, y + p * L);
              floats(q1, p).mul(s1).intoArray(out, y + 16 + p * L);
            }
          }
        }
      }
      default -> throw new UnsupportedOperationException("no kernels for " + w.type() + " weights");
    }
  }

  // ---------------------------------------------------------------- several tokens

  @Override
  public void dotTokens(WeightMatrix w, int row, float[] x, int xOff, int xStride, int nTokens, float[] out, int outOff, int outStride) {
    // out index for row r is outOff' + t * outStride + r; shift so that row `row` lands on outOff
    dotRows(w, row, row + 1, x, xOff, xStride, nTokens, out, outOff - row, outStride);
  }

  /**
   * One token: the direct {@link #dot} per row. Several: {@link #ROW_TILE} rows at a time are dequantized into a
   * per-thread float tile, which an F32 micro-kernel then multiplies with {@link #TOKEN_TILE} tokens at a time,
   * following the same summation order (so every result is bit-identical to {@link #dot}).
   */
  @Override
  public void dotRows(WeightMatrix w, int rowFrom, int rowTo, float[] x, int xOff, int xStride, int nTokens, float[] out, int outOff, int outStride) {
    Objects.checkFromToIndex(rowFrom, rowTo, w.rows());
    if (nTokens == 1) {
      for (int r = rowFrom; r < rowTo; r++) {
        out[outOff + r] = dot(w, r, x, xOff);
      }
      return;
    }
    int n = w.cols();
    if (nTokens > 0) {
      Objects.checkFromIndexSize(xOff, n, x.length);
      Objects.checkFromIndexSize(xOff + (nTokens - 1) * xStride, n, x.length);
      Objects.checkIndex(outOff + rowFrom, out.length);
      Objects.checkIndex(outOff + (nTokens - 1) * outStride + rowTo - 1, out.length);
    }
    float[][] holder = TILE.get();
    if (holder[0].length < ROW_TILE * n) {
      holder[0] = new float[ROW_TILE * n];
    }
    float[] tile = holder[0]; // (ROW_TILE, cols) dequantized rows
    for (int r0 = rowFrom; r0 < rowTo; r0 += ROW_TILE) {
      int rows = Math.min(ROW_TILE, rowTo - r0);
      for (int r = 0; r < rows; r++) {
        dequantizeRow(w, r0 + r, tile, r * n);
      }
      // token tiles over the dequantized rows, then single leftover tokens
      int t = 0;
      for (; t + TOKEN_TILE <= nTokens; t += TOKEN_TILE) {
        int xt = xOff + t * xStride;
        int ot = outOff + t * outStride + r0;
        for (int r = 0; r < rows; r++) {
          tileDot4(tile, r * n, n, x, xt, xStride, out, ot + r, outStride);
        }
      }
      for (; t < nTokens; t++) {
        int xt = xOff + t * xStride;
        int ot = outOff + t * outStride + r0;
        for (int r = 0; r < rows; r++) {
          out[ot + r] = tileDot1(tile, r * n, n, x, xt);
        }
      }
    }
  }

  /** One dequantized row against one token, in the documented order. */
  private static float tileDot1(float[] w, int wo, int n, float[] x, int xo) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    int i = 0;
    for (; i + 32 <= n; i += 32) {
      for (int p = 0; p < P; p++) {
        a = FloatVector.fromArray(F, w, wo + i + p * L).fma(FloatVector.fromArray(F, x, xo + i + p * L), a);
      }
      for (int p = 0; p < P; p++) {
        b = FloatVector.fromArray(F, w, wo + i + 16 + p * L).fma(FloatVector.fromArray(F, x, xo + i + 16 + p * L), b);
      }
    }
    for (; i + L <= n; i += L) {
      a = FloatVector.fromArray(F, w, wo + i).fma(FloatVector.fromArray(F, x, xo + i), a);
    }
    float r = reduce(a.add(b));
    for (; i < n; i++) {
      r += w[wo + i] * x[xo + i];
    }
    return r;
  }

  /** One dequantized row against 4 tokens (x at xo + t * xs, out at oo + t * os), each exactly as {@link #tileDot1}. */
  private static void tileDot4(float[] w, int wo, int n, float[] x, int xo, int xs, float[] out, int oo, int os) {
    int x0 = xo;
    int x1 = xo + xs;
    int x2 = xo + 2 * xs;
    int x3 = xo + 3 * xs;
    FloatVector a0 = FloatVector.zero(F);
    FloatVector a1 = a0;
    FloatVector a2 = a0;
    FloatVector a3 = a0;
    FloatVector b0 = a0;
    FloatVector b1 = a0;
    FloatVector b2 = a0;
    FloatVector b3 = a0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
      for (int p = 0; p < P; p++) {
        int k = i + p * L;
        FloatVector wv = FloatVector.fromArray(F, w, wo + k);
        a0 = wv.fma(FloatVector.fromArray(F, x, x0 + k), a0);
        a1 = wv.fma(FloatVector.fromArray(F, x, x1 + k), a1);
        a2 = wv.fma(FloatVector.fromArray(F, x, x2 + k), a2);
        a3 = wv.fma(FloatVector.fromArray(F, x, x3 + k), a3);
      }
      for (int p = 0; p < P; p++) {
        int k = i + 16 + p * L;
        FloatVector wv = FloatVector.fromArray(F, w, wo + k);
        b0 = wv.fma(FloatVector.fromArray(F, x, x0 + k), b0);
        b1 = wv.fma(FloatVector.fromArray(F, x, x1 + k), b1);
        b2 = wv.fma(FloatVector.fromArray(F, x, x2 + k), b2);
        b3 = wv.fma(FloatVector.fromArray(F, x, x3 + k), b3);
      }
    }
    for (; i + L <= n; i += L) {
      FloatVector wv = FloatVector.fromArray(F, w, wo + i);
      a0 = wv.fma(FloatVector.fromArray(F, x, x0 + i), a0);
      a1 = wv.fma(FloatVector.fromArray(F, x, x1 + i), a1);
      a2 = wv.fma(FloatVector.fromArray(F, x, x2 + i), a2);
      a3 = wv.fma(FloatVector.fromArray(F, x, x3 + i), a3);
    }
    float r0 = reduce(a0.add(b0));
    float r1 = reduce(a1.add(b1));
    float r2 = reduce(a2.add(b2));
    float r3 = reduce(a3.add(b3));
    for (; i < n; i++) {
      float wi = w[wo + i];
      r0 += wi * x[x0 + i];
      r1 += wi * x[x1 + i];
      r2 += wi * x[x2 + i];
      r3 += wi * x[x3 + i];
    }
    out[oo] = r0;
    out[oo + os] = r1;
    out[oo + 2 * os] = r2;
    out[oo + 3 * os] = r3;
  }
}
