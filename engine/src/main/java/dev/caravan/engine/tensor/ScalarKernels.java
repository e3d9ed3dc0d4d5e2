package dev.caravan.engine.tensor;

import static dev.caravan.engine.tensor.LittleEndian.F32;
import static dev.caravan.engine.tensor.LittleEndian.bf16;
import static dev.caravan.engine.tensor.LittleEndian.f16;
import static dev.caravan.engine.tensor.LittleEndian.i8;
import static dev.caravan.engine.tensor.LittleEndian.u8;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * The plain reference kernels: one value at a time, easy to read, and the twin every fast kernel is tested against.
 *
 * <p>Each quantized type has one {@code decode*} method that turns one block into its values exactly as ggml's
 * {@code dequantize_row_*} does (same float operations in the same order), so the layouts can be read side by side
 * with {@code ggml-quants.c}. {@link #dot} is then {@code sum += w[i] * x[i]} in index order, in float.
 */
public final class ScalarKernels implements Kernels {

  /** Largest block (Q4_K, Q6_K: 256 values); scratch for decoding one block. */
  private static final int MAX_BLOCK = 256;

  // per thread: one decoded block (MAX_BLOCK) for dot, one decoded row (grows to cols) for dotTokens
  private static final ThreadLocal<float[]> BLOCK = ThreadLocal.withInitial(() -> new float[MAX_BLOCK]);
  private static final ThreadLocal<float[][]> ROW = ThreadLocal.withInitial(() -> new float[][] {new float[0]});

  @Override
  public String name() {
    return "scalar";
  }

  @Override
  public float dot(WeightMatrix w, int row, float[] x, int xOff) {
    Objects.checkIndex(row, w.rows());
    Objects.checkFromIndexSize(xOff, w.cols(), x.length);
    MemorySegment s = w.data();
    long base = w.rowOffset(row);
    int n = w.cols();
    float sum = 0f;
    switch (w.type()) {
      case F32 -> {
        for (int i = 0; i < n; i++) {
          sum += s.get(F32, base + 4L * i) * x[xOff + i];
        }
      }
      case F16 -> {
        for (int i = 0; i < n; i++) {
          sum += f16(s, base + 2L * i) * x[xOff + i];
        }
      }
      case BF16 -> {
        for (int i = 0; i < n; i++) {
          sum += bf16(s, base + 2L * i) * x[xOff + i];
        }
      }
      default -> {
        // quantized: decode a block, then multiply-add its values in order
        GgmlType t = checkSupported(w.type());
        int bs = t.blockSize();
        float[] block = BLOCK.get();
        for (int b = 0; b < n / bs; b++) {
          decodeBlock(t, s, base + (long) b * t.typeSize(), block);
          int xb = xOff + b * bs;
          for (int j = 0; j < bs; j++) {
            sum += block[j] * x[xb + j];
          }
        }
      }
    }
    return sum;
  }

  /** Dequantizes the row once into a per-thread scratch row, then runs {@link #dot}'s loop for each token. */
  @Override
  public void dotTokens(WeightMatrix w, int row, float[] x, int xOff, int xStride, int nTokens, float[] out, int outOff, int outStride) {
    int n = w.cols();
    float[][] holder = ROW.get();
    if (holder[0].length < n) {
      holder[0] = new float[n];
    }
    float[] r = holder[0]; // (cols) the dequantized row
    dequantizeRow(w, row, r, 0);
    for (int t = 0; t < nTokens; t++) {
      int xt = xOff + t * xStride;
      Objects.checkFromIndexSize(xt, n, x.length);
      float sum = 0f;
      for (int i = 0; i < n; i++) {
        sum += r[i] * x[xt + i];
      }
      out[outOff + t * outStride] = sum;
    }
  }

  @Override
  public void dequantizeRow(WeightMatrix w, int row, float[] out, int outOff) {
    Objects.checkIndex(row, w.rows());
    Objects.checkFromIndexSize(outOff, w.cols(), out.length);
    MemorySegment s = w.data();
    long base = w.rowOffset(row);
    int n = w.cols();
    switch (w.type()) {
      case F32 -> {
        for (int i = 0; i < n; i++) {
          out[outOff + i] = s.get(F32, base + 4L * i);
        }
      }
      case F16 -> {
        for (int i = 0; i < n; i++) {
          out[outOff + i] = f16(s, base + 2L * i);
        }
      }
      case BF16 -> {
        for (int i = 0; i < n; i++) {
          out[outOff + i] = bf16(s, base + 2L * i);
        }
      }
      default -> {
        GgmlType t = checkSupported(w.type());
        int bs = t.blockSize();
        float[] block = BLOCK.get();
        for (int b = 0; b < n / bs; b++) {
          decodeBlock(t, s, base + (long) b * t.typeSize(), block);
          System.arraycopy(block, 0, out, outOff + b * bs, bs);
        }
      }
    }
  }

  private static GgmlType checkSupported(GgmlType t) {
    return switch (t) {
      case Q8_0, Q4_0, Q4_K, Q6_K -> t;
      default -> throw new UnsupportedOperationException("no kernels for " + t + " weights");
    };
  }

  /** Writes the {@code t.blockSize()} values of the block at byte offset {@code off} to {@code y[0 ..]}. */
  static void decodeBlock(GgmlType t, MemorySegment s, long off, float[] y) {
    switch (t) {
      case Q8_0 -> decodeQ8_0(s, off, y);
      case Q4_0 -> decodeQ4_0(s, off, y);
      case Q4_K -> decodeQ4_K(s, off, y);
      case Q6_K -> decodeQ6_K(s, off, y);
      default -> throw new UnsupportedOperationException("no kernels for " + t + " weights");
    }
  }

  /** Q8_0, 34 bytes: {fp16 d; int8 qs[32]}; {@code y[j] = qs[j] * d}. */
  static void decodeQ8_0(MemorySegment s, long off, float[] y) {
    float d = f16(s, off);
    for (int j = 0; j < 32; j++) {
      y[j] = i8(s, off + 2 + j) * d;
    }
  }

  /** Q4_0, 18 bytes: {fp16 d; u8 qs[16]}; value j&lt;16 is the low nibble of qs[j], j&gt;=16 the high nibble of qs[j-16]; {@code y = (q - 8) * d}. */
  static void decodeQ4_0(MemorySegment s, long off, float[] y) {
    float d = f16(s, off);
    for (int j = 0; j < 16; j++) {
      int q = u8(s, off + 2 + j);
      y[j] = ((q & 0x0F) - 8) * d;
      y[j + 16] = ((q >>> 4) - 8) * d;
    }
  }

  /**
   * Q4_K, 144 bytes, 256 values: {fp16 d; fp16 dmin; u8 scales[12]; u8 qs[128]}. Eight sub-blocks of 32 values, each
   * with a 6-bit scale {@code sc} and min {@code m} ({@link #scaleK4}, {@link #minK4}); {@code y = d*sc * q - dmin*m}.
   * Bytes qs[32g .. 32g+32) hold sub-block 2g in their low nibbles and sub-block 2g+1 in their high nibbles.
   */
  static void decodeQ4_K(MemorySegment s, long off, float[] y) {
    float d = f16(s, off);
    float dmin = f16(s, off + 2);
    long scales = off + 4;
    long qs = off + 16;
    for (int g = 0; g < 4; g++) {
      // the two sub-blocks that share bytes qs[32g .. 32g+32)
      float d1 = d * scaleK4(s, scales, 2 * g);
      float m1 = dmin * minK4(s, scales, 2 * g);
      float d2 = d * scaleK4(s, scales, 2 * g + 1);
      float m2 = dmin * minK4(s, scales, 2 * g + 1);
      for (int l = 0; l < 32; l++) {
        int q = u8(s, qs + 32 * g + l);
        y[64 * g + l] = d1 * (q & 0x0F) - m1;
        y[64 * g + 32 + l] = d2 * (q >>> 4) - m2;
      }
    }
  }

  /** The 6-bit scale of Q4_K sub-block {@code j} (0..7), ggml's {@code get_scale_min_k4} first output. */
  static int scaleK4(MemorySegment s, long scales, int j) {
    if (j < 4) {
      return u8(s, scales + j) & 63;
    }
    return (u8(s, scales + j + 4) & 0x0F) | ((u8(s, scales + j - 4) >>> 6) << 4);
  }

  /** The 6-bit min of Q4_K sub-block {@code j} (0..7), ggml's {@code get_scale_min_k4} second output. */
  static int minK4(MemorySegment s, long scales, int j) {
    if (j < 4) {
      return u8(s, scales + j + 4) & 63;
    }
    return (u8(s, scales + j + 4) >>> 4) | ((u8(s, scales + j) >>> 6) << 4);
  }

  /**
   * Q6_K, 210 bytes, 256 values: {u8 ql[128]; u8 qh[64]; int8 scales[16]; fp16 d}. Two halves of 128 values; in half
   * h, for l &lt; 32 (ql = ql + 64h, qh = qh + 32h, sc = scales + 8h, is = l/16), 6-bit values minus 32:
   * value l from the low nibble of ql[l] and bits 0-1 of qh[l] (scale sc[is]), l+32 from ql[l+32] low and bits 2-3
   * (sc[is+2]), l+64 from ql[l] high and bits 4-5 (sc[is+4]), l+96 from ql[l+32] high and bits 6-7 (sc[is+6]);
   * {@code y = d * sc * q}.
   */
  static void decodeQ6_K(MemorySegment s, long off, float[] y) {
    float d = f16(s, off + 208);
    for (int h = 0; h < 2; h++) {
      long ql = off + 64 * h;
      long qh = off + 128 + 32 * h;
      long sc = off + 192 + 8 * h;
      int y0 = 128 * h;
      for (int l = 0; l < 32; l++) {
        int is = l / 16;
        int low = u8(s, ql + l);
        int high = u8(s, ql + l + 32);
        int hb = u8(s, qh + l);
        int q1 = ((low & 0x0F) | ((hb & 3) << 4)) - 32;
        int q2 = ((high & 0x0F) | (((hb >>> 2) & 3) << 4)) - 32;
        int q3 = ((low >>> 4) | (((hb >>> 4) & 3) << 4)) - 32;
        int q4 = ((high >>> 4) | (((hb >>> 6) & 3) << 4)) - 32;
        y[y0 + l] = d * i8(s, sc + is) * q1;
        y[y0 + l + 32] = d * i8(s, sc + is + 2) * q2;
        y[y0 + l + 64] = d * i8(s, sc + is + 4) * q3;
        y[y0 + l + 96] = d * i8(s, sc + is + 6) * q4;
      }
    }
  }
}
