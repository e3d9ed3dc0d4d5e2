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

/**
 * The exact dequantization kernels of {@link VectorKernels}, one per weight type: the same float operations as
 * {@link ScalarKernels}, so every value is bit-identical to the scalar twin (and to ggml's {@code dequantize_row_*}).
 */
final class VectorDequant {
  private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(LE);

  private VectorDequant() {}

  static void dequantizeF16(MemorySegment s, long base, int n, float[] out, int outOff) {
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

  static void dequantizeBF16(MemorySegment s, long base, int n, float[] out, int outOff) {
    int i = 0;
    for (; i + L <= n; i += L) {
      IntVector h = (IntVector) ShortVector.fromMemorySegment(S, s, base + 2L * i, LE).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
      h.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(out, outOff + i);
    }
    for (; i < n; i++) {
      out[outOff + i] = LittleEndian.bf16(s, base + 2L * i);
    }
  }

  static void dequantizeQ8_0(MemorySegment s, long base, int blocks, float[] out, int outOff) {
    for (int blk = 0; blk < blocks; blk++) {
      long o = base + 34L * blk;
      float d = f16(s, o);
      ByteVector q = ByteVector.fromMemorySegment(B256, s, o + 2, LE);
      for (int p = 0; p < 2 * P; p++) {
        ((FloatVector) q.convertShape(VectorOperators.B2F, F, p)).mul(d).intoArray(out, outOff + 32 * blk + p * L);
      }
    }
  }

  static void dequantizeQ4_0(MemorySegment s, long base, int blocks, float[] out, int outOff) {
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

  static void dequantizeQ4_K(MemorySegment s, long base, int blocks, float[] out, int outOff, float[] k4) {
    for (int blk = 0; blk < blocks; blk++) {
      long o = base + 144L * blk;
      int dm = s.get(I32, o);
      float d = Float.float16ToFloat((short) dm);
      float dmin = Float.float16ToFloat((short) (dm >>> 16));
      VectorDots.unpackK4(s, o + 4, d, -dmin, k4); // k4[8 + j] = -mn_j
      for (int j = 0; j < 8; j++) {
        float sc = k4[j];
        float nm = k4[8 + j];
        ByteVector q = ByteVector.fromMemorySegment(B256, s, o + 16 + 32 * (j >> 1), LE).reinterpretAsInts().lanewise(VectorOperators.LSHR, 4 * (j & 1)).reinterpretAsBytes().and((byte) 0x0F);
        for (int p = 0; p < 2 * P; p++) {
          ((FloatVector) q.convertShape(VectorOperators.B2F, F, p)).fma(sc, nm).intoArray(out, outOff + 256 * blk + 32 * j + p * L); // sc * q - mn, exactly (see VectorDots.dotQ4_K16)
        }
      }
    }
  }

  static void dequantizeQ6_K(MemorySegment s, long base, int blocks, float[] out, int outOff) {
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
}
