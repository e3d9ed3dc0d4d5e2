package dev.caravan.synth;

import dev.caravan.engine.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;

/**
 * Turns float32 values into the exact bytes of ggml's tensor blocks: what a GGUF writer stores and llama.cpp reads.
 *
 * <p>Every type follows ggml's own reference code ({@code ggml-quants.c}, {@code ggml-impl.h}) operation for operation,
 * in float32 and in the same order, so a value lands on the same side of every rounding decision as in ggml:
 *
 * <ul>
 *   <li>F32: the values, little-endian.
 *   <li>F16: round to nearest even ({@link Float#floatToFloat16}, what F16C's {@code vcvtps2ph} does).
 *   <li>BF16: {@code GGML_FP32_TO_BF16}: round to nearest even on the top 16 bits; a NaN stays NaN, made quiet.
 *   <li>Q8_0, Q4_0: {@code quantize_row_q8_0_ref}, {@code quantize_row_q4_0_ref} (blocks of 32, one fp16 scale).
 *   <li>Q4_K, Q6_K: {@code quantize_row_q4_K_ref}, {@code quantize_row_q6_K_ref} (super-blocks of 256) including their
 *       scale searches ({@code make_qkx2_quants}, {@code make_qx_quants}); no importance matrix.
 * </ul>
 *
 * <p>One caveat on "exact": a C compiler allowed to contract {@code a*b + c} into a fused multiply-add (GCC's default
 * outside ISO mode) can round a few intermediate values differently; this class is what the C source says with every
 * operation rounded separately. Row length {@code n} must be a multiple of the type's block size.
 *
 * <p>Thread-safe: no shared state; K-quant scratch is allocated per call (a few hundred bytes).
 */
public final class Quantizer {
  private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfFloat LE_F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfByte BYTE = ValueLayout.JAVA_BYTE;
  /** ggml's QK_K: values per K-quant super-block. */
  private static final int QK_K = 256;
  /** ggml's GROUP_MAX_EPS: a group whose largest magnitude is below this is treated as all zero. */
  private static final float GROUP_MAX_EPS = 1e-15f;

  private static final Set<GgmlType> SUPPORTED = EnumSet.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K);

  private Quantizer() {}

  /** The types this class can write. */
  public static Set<GgmlType> supportedTypes() {
    return EnumSet.copyOf(SUPPORTED);
  }

  /** Whether {@code type} can be written by {@link #quantize}. */
  public static boolean supports(GgmlType type) {
    return SUPPORTED.contains(type);
  }

  /**
   * Writes {@code src[srcOff .. srcOff+n)} as {@code type} blocks to {@code dst} at {@code dstOff}; exactly
   * {@code type.byteSize(n)} bytes are written.
   *
   * @throws IllegalArgumentException when the type is not supported or {@code n} is not a whole number of blocks
   * @throws IndexOutOfBoundsException when the source range or the destination is too small
   */
  public static void quantize(GgmlType type, float[] src, int srcOff, int n, MemorySegment dst, long dstOff) {
    if (!supports(type)) {
      throw new IllegalArgumentException("cannot quantize to " + type + "; supported: " + SUPPORTED);
    }
    if (n < 0 || n % type.blockSize() != 0) {
      throw new IllegalArgumentException(n + " values is not a whole number of " + type + " blocks of " + type.blockSize());
    }
    Objects.checkFromIndexSize(srcOff, n, src.length);
    Objects.checkFromIndexSize(dstOff, type.byteSize(n), dst.byteSize());
    switch (type) {
      case F32 -> MemorySegment.copy(src, srcOff, dst, LE_F32, dstOff, n);
      case F16 -> {
        for (int i = 0; i < n; i++) {
          dst.set(LE16, dstOff + 2L * i, Float.floatToFloat16(src[srcOff + i]));
        }
      }
      case BF16 -> {
        for (int i = 0; i < n; i++) {
          dst.set(LE16, dstOff + 2L * i, floatToBf16(src[srcOff + i]));
        }
      }
      case Q8_0 -> quantizeQ8_0(src, srcOff, n, dst, dstOff);
      case Q4_0 -> quantizeQ4_0(src, srcOff, n, dst, dstOff);
      case Q4_K -> quantizeQ4K(src, srcOff, n, dst, dstOff);
      case Q6_K -> quantizeQ6K(src, srcOff, n, dst, dstOff);
      default -> throw new AssertionError(type);
    }
  }

  /** {@code src} as {@code type} blocks, in a new array of {@code type.byteSize(src.length)} bytes. */
  public static byte[] quantize(GgmlType type, float[] src) {
    long size = type.byteSize(src.length);
    byte[] out = new byte[Math.toIntExact(size)];
    quantize(type, src, 0, src.length, MemorySegment.ofArray(out), 0);
    return out;
  }

  /** ggml's {@code GGML_FP32_TO_BF16}: round to nearest even; NaN keeps its top bits and is made quiet. */
  public static short floatToBf16(float f) {
    int bits = Float.floatToRawIntBits(f);
    if ((bits & 0x7fffffff) > 0x7f800000) {
      return (short) ((bits >>> 16) | 64);
    }
    return (short) ((bits + (0x7fff + ((bits >>> 16) & 1))) >>> 16);
  }

  /** ggml's {@code nearest_int}: round half to even via the 1.5 * 2^23 trick (meaningful for |f| <= 4194303). */
  static int nearestInt(float f) {
    float v = f + 12582912.f;
    return (Float.floatToRawIntBits(v) & 0x007fffff) - 0x00400000;
  }

  /** C's {@code roundf}: halfway cases away from zero. */
  static float roundAwayFromZero(float x) {
    // in double, |x| + 0.5 is exact for every float below 2^52, so floor gives roundf's answer
    double r = Math.floor(Math.abs((double) x) + 0.5);
    return (float) Math.copySign(r, x);
  }

  // ---------------------------------------------------------------- Q8_0: 32 values, fp16 d, int8 q[32]

  private static void quantizeQ8_0(float[] x, int xOff, int n, MemorySegment y, long yOff) {
    for (int b = 0; b < n / 32; b++) {
      int base = xOff + 32 * b;
      long out = yOff + 34L * b;
      // scale: the largest magnitude maps to 127 (ggml's MAX(a, b) is a > b ? a : b)
      float amax = 0f;
      for (int j = 0; j < 32; j++) {
        float a = Math.abs(x[base + j]);
        amax = amax > a ? amax : a;
      }
      float d = amax / 127f;
      float id = d != 0f ? 1f / d : 0f;
      y.set(LE16, out, Float.floatToFloat16(d));
      // values: roundf(x * id), stored as int8
      for (int j = 0; j < 32; j++) {
        y.set(BYTE, out + 2 + j, (byte) (int) roundAwayFromZero(x[base + j] * id));
      }
    }
  }

  // ---------------------------------------------------------------- Q4_0: 32 values, fp16 d, nibbles q[16]

  private static void quantizeQ4_0(float[] x, int xOff, int n, MemorySegment y, long yOff) {
    for (int b = 0; b < n / 32; b++) {
      int base = xOff + 32 * b;
      long out = yOff + 18L * b;
      // scale: the signed value of largest magnitude (first one on ties) maps to -8
      float amax = 0f;
      float max = 0f;
      for (int j = 0; j < 32; j++) {
        float v = x[base + j];
        if (amax < Math.abs(v)) {
          amax = Math.abs(v);
          max = v;
        }
      }
      float d = max / -8f;
      float id = d != 0f ? 1f / d : 0f;
      y.set(LE16, out, Float.floatToFloat16(d));
      // values: truncate(x * id + 8.5) capped at 15; value j in the low nibble of byte j, value j+16 in its high nibble
      for (int j = 0; j < 16; j++) {
        float x0 = x[base + j] * id;
        float x1 = x[base + 16 + j] * id;
        int q0 = Math.min(15, (int) (byte) (int) (x0 + 8.5f));
        int q1 = Math.min(15, (int) (byte) (int) (x1 + 8.5f));
        y.set(BYTE, out + 2 + j, (byte) ((q0 & 0xff) | (q1 << 4)));
      }
    }
  }

  // ---------------------------------------------------------------- Q4_K: 256 values = 8 groups of 32
  // layout: fp16 d, fp16 dmin, scales[12] (8 six-bit scales and 8 six-bit mins, packed), qs[128] nibbles

  private static void quantizeQ4K(float[] x, int xOff, int n, MemorySegment y, long yOff) {
    int[] levels = new int[QK_K];
    int[] aux = new int[32];
    float[] weights = new float[32];
    float[] mins = new float[8];
    float[] scales = new float[8];
    float[] theMin = new float[1];
    byte[] packed = new byte[12];
    for (int b = 0; b < n / QK_K; b++) {
      int base = xOff + QK_K * b;
      long out = yOff + 144L * b;
      // per group: weights |x| + rms of the group, then the best (scale, min) by make_qkx2_quants
      float maxScale = 0f;
      float maxMin = 0f;
      for (int j = 0; j < 8; j++) {
        int g = base + 32 * j;
        float sumX2 = 0f;
        for (int l = 0; l < 32; l++) {
          sumX2 += x[g + l] * x[g + l];
        }
        float avX = (float) Math.sqrt(sumX2 / 32);
        for (int l = 0; l < 32; l++) {
          weights[l] = avX + Math.abs(x[g + l]);
        }
        scales[j] = makeQkx2Quants(32, 15, x, g, weights, levels, 32 * j, theMin, aux, -1f, 0.1f, 20);
        mins[j] = theMin[0];
        if (scales[j] > maxScale) {
          maxScale = scales[j];
        }
        if (mins[j] > maxMin) {
          maxMin = mins[j];
        }
      }
      // six-bit group scales and mins relative to the block's largest ones
      float invScale = maxScale > 0 ? 63f / maxScale : 0f;
      float invMin = maxMin > 0 ? 63f / maxMin : 0f;
      Arrays.fill(packed, (byte) 0);
      for (int j = 0; j < 8; j++) {
        int ls = Math.min(63, nearestInt(invScale * scales[j]) & 0xff);
        int lm = Math.min(63, nearestInt(invMin * mins[j]) & 0xff);
        if (j < 4) {
          packed[j] = (byte) ls;
          packed[j + 4] = (byte) lm;
        } else {
          packed[j + 4] = (byte) ((ls & 0xF) | ((lm & 0xF) << 4));
          packed[j - 4] |= (byte) ((ls >> 4) << 6);
          packed[j] |= (byte) ((lm >> 4) << 6);
        }
      }
      short dBits = Float.floatToFloat16(maxScale / 63f);
      short dminBits = Float.floatToFloat16(maxMin / 63f);
      float dAll = Float.float16ToFloat(dBits);
      float dminAll = Float.float16ToFloat(dminBits);
      // requantize every group with the scales as stored
      for (int j = 0; j < 8; j++) {
        int sc;
        int m;
        if (j < 4) {
          sc = packed[j] & 63;
          m = packed[j + 4] & 63;
        } else {
          sc = (packed[j + 4] & 0xF) | (((packed[j - 4] & 0xff) >> 6) << 4);
          m = ((packed[j + 4] & 0xff) >> 4) | (((packed[j] & 0xff) >> 6) << 4);
        }
        float d = dAll * sc;
        if (d == 0f) {
          continue;
        }
        float dm = dminAll * m;
        for (int ii = 0; ii < 32; ii++) {
          int l = nearestInt((x[base + 32 * j + ii] + dm) / d);
          levels[32 * j + ii] = Math.max(0, Math.min(15, l));
        }
      }
      // write: d, dmin, scales, then per 64 values one 32-byte run: low nibbles values 0..31, high nibbles 32..63
      y.set(LE16, out, dBits);
      y.set(LE16, out + 2, dminBits);
      MemorySegment.copy(packed, 0, y, BYTE, out + 4, 12);
      long q = out + 16;
      for (int j = 0; j < QK_K; j += 64) {
        for (int l = 0; l < 32; l++) {
          y.set(BYTE, q + l, (byte) (levels[j + l] | (levels[j + l + 32] << 4)));
        }
        q += 32;
      }
    }
  }

  /**
   * ggml's {@code make_qkx2_quants}: asymmetric quantization of {@code n} values {@code x[xOff..]} to levels
   * {@code 0..nmax} as {@code scale * L - min}, searching {@code nstep + 1} scales for the least weighted squared error.
   * Writes the levels to {@code L[lOff..]}, {@code -min} to {@code theMin[0]}, returns the scale.
   */
  private static float makeQkx2Quants(int n, int nmax, float[] x, int xOff, float[] weights, int[] L, int lOff, float[] theMin, int[] laux, float rmin, float rdelta, int nstep) {
    // range and weighted sums
    float min = x[xOff];
    float max = x[xOff];
    float sumW = weights[0];
    float sumX = sumW * x[xOff];
    for (int i = 1; i < n; i++) {
      float xi = x[xOff + i];
      if (xi < min) {
        min = xi;
      }
      if (xi > max) {
        max = xi;
      }
      float w = weights[i];
      sumW += w;
      sumX += w * xi;
    }
    if (min > 0) {
      min = 0;
    }
    if (max == min) {
      for (int i = 0; i < n; i++) {
        L[lOff + i] = 0;
      }
      theMin[0] = -min;
      return 0f;
    }
    // first guess: the plain min/max scale, and its error
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float bestError = 0;
    for (int i = 0; i < n; i++) {
      int l = nearestInt(iscale * (x[xOff + i] - min));
      L[lOff + i] = Math.max(0, Math.min(nmax, l));
      float diff = scale * L[lOff + i] + min - x[xOff + i];
      diff = diff * diff;
      bestError += weights[i] * diff;
    }
    if (nstep < 1) {
      theMin[0] = -min;
      return scale;
    }
    // search: for each trial scale, levels, then the least-squares (scale, min) for those levels
    for (int is = 0; is <= nstep; is++) {
      iscale = (rmin + rdelta * is + nmax) / (max - min);
      float sumL = 0;
      float sumL2 = 0;
      float sumXL = 0;
      for (int i = 0; i < n; i++) {
        int l = nearestInt(iscale * (x[xOff + i] - min));
        l = Math.max(0, Math.min(nmax, l));
        laux[i] = l;
        float w = weights[i];
        sumL += w * l;
        sumL2 += w * l * l;
        sumXL += w * l * x[xOff + i];
      }
      float det = sumW * sumL2 - sumL * sumL;
      if (det > 0) {
        float thisScale = (sumW * sumXL - sumX * sumL) / det;
        float thisMin = (sumL2 * sumX - sumL * sumXL) / det;
        if (thisMin > 0) {
          thisMin = 0;
          thisScale = sumXL / sumL2;
        }
        float curError = 0;
        for (int i = 0; i < n; i++) {
          float diff = thisScale * laux[i] + thisMin - x[xOff + i];
          diff = diff * diff;
          curError += weights[i] * diff;
        }
        if (curError < bestError) {
          System.arraycopy(laux, 0, L, lOff, n);
          bestError = curError;
          scale = thisScale;
          min = thisMin;
        }
      }
    }
    theMin[0] = -min;
    return scale;
  }

  // ---------------------------------------------------------------- Q6_K: 256 values = 16 groups of 16
  // layout: ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16], fp16 d

  private static void quantizeQ6K(float[] x, int xOff, int n, MemorySegment y, long yOff) {
    int[] levels = new int[QK_K];
    float[] scales = new float[16];
    byte[] sc8 = new byte[16];
    for (int b = 0; b < n / QK_K; b++) {
      int base = xOff + QK_K * b;
      long out = yOff + 210L * b;
      // per group: a symmetric scale by make_qx_quants (levels -32..31, weights x^2)
      float maxScale = 0f;
      float maxAbsScale = 0f;
      for (int ib = 0; ib < 16; ib++) {
        float scale = makeQxQuants(16, 32, x, base + 16 * ib, levels, 16 * ib);
        scales[ib] = scale;
        float abs = Math.abs(scale);
        if (abs > maxAbsScale) {
          maxAbsScale = abs;
          maxScale = scale;
        }
      }
      if (maxAbsScale < GROUP_MAX_EPS) {
        // an all-zero block: every byte zero (d = +0)
        y.asSlice(out, 210).fill((byte) 0);
        continue;
      }
      // eight-bit group scales relative to the largest one (which maps to -128, capped at 127)
      float iscale = -128f / maxScale;
      short dBits = Float.floatToFloat16(1 / iscale);
      float dAll = Float.float16ToFloat(dBits);
      for (int ib = 0; ib < 16; ib++) {
        sc8[ib] = (byte) Math.min(127, nearestInt(iscale * scales[ib]));
      }
      // requantize every group with the scales as stored
      for (int j = 0; j < 16; j++) {
        float d = dAll * sc8[j];
        if (d == 0f) {
          continue;
        }
        for (int ii = 0; ii < 16; ii++) {
          int l = nearestInt(x[base + 16 * j + ii] / d);
          l = Math.max(-32, Math.min(31, l));
          levels[16 * j + ii] = l + 32;
        }
      }
      // write: per 128 values, 64 bytes of low nibbles and 32 bytes of high bit pairs
      long ql = out;
      long qh = out + 128;
      for (int j = 0; j < QK_K; j += 128) {
        for (int l = 0; l < 32; l++) {
          int q1 = levels[j + l] & 0xF;
          int q2 = levels[j + l + 32] & 0xF;
          int q3 = levels[j + l + 64] & 0xF;
          int q4 = levels[j + l + 96] & 0xF;
          y.set(BYTE, ql + l, (byte) (q1 | (q3 << 4)));
          y.set(BYTE, ql + l + 32, (byte) (q2 | (q4 << 4)));
          int h = (levels[j + l] >> 4) | ((levels[j + l + 32] >> 4) << 2) | ((levels[j + l + 64] >> 4) << 4) | ((levels[j + l + 96] >> 4) << 6);
          y.set(BYTE, qh + l, (byte) h);
        }
        ql += 64;
        qh += 32;
      }
      MemorySegment.copy(sc8, 0, y, BYTE, out + 192, 16);
      y.set(LE16, out + 208, dBits);
    }
  }

  /**
   * ggml's {@code make_qx_quants} with {@code rmse_type = 1} and no importance weights: symmetric quantization of
   * {@code n} values to levels {@code -nmax..nmax-1} (stored as {@code l + nmax} in {@code L[lOff..]}), weights
   * {@code x^2}, trying 19 scales around {@code nmax / max}. Returns the scale.
   */
  private static float makeQxQuants(int n, int nmax, float[] x, int xOff, int[] L, int lOff) {
    // the signed value of largest magnitude
    float max = 0;
    float amax = 0;
    for (int i = 0; i < n; i++) {
      float ax = Math.abs(x[xOff + i]);
      if (ax > amax) {
        amax = ax;
        max = x[xOff + i];
      }
    }
    if (amax < GROUP_MAX_EPS) {
      for (int i = 0; i < n; i++) {
        L[lOff + i] = 0;
      }
      return 0f;
    }
    // first guess: the extreme value maps to -nmax; least-squares scale for those levels
    float iscale = -nmax / max;
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; i++) {
      float xi = x[xOff + i];
      int l = nearestInt(iscale * xi);
      l = Math.max(-nmax, Math.min(nmax - 1, l));
      L[lOff + i] = l + nmax;
      float w = xi * xi;
      sumlx += w * xi * l;
      suml2 += w * l * l;
    }
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    // search: nmax +- 0.1 * is, keeping the levels that explain the most weighted energy
    for (int is = -9; is <= 9; is++) {
      if (is == 0) {
        continue;
      }
      iscale = -(nmax + 0.1f * is) / max;
      sumlx = 0;
      suml2 = 0;
      for (int i = 0; i < n; i++) {
        float xi = x[xOff + i];
        int l = nearestInt(iscale * xi);
        l = Math.max(-nmax, Math.min(nmax - 1, l));
        float w = xi * xi;
        sumlx += w * xi * l;
        suml2 += w * l * l;
      }
      if (suml2 > 0 && sumlx * sumlx > best * suml2) {
        for (int i = 0; i < n; i++) {
          int l = nearestInt(iscale * x[xOff + i]);
          L[lOff + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
        }
        scale = sumlx / suml2;
        best = scale * sumlx;
      }
    }
    return scale;
  }
}
