package dev.caravan.synth;

import dev.caravan.engine.tensor.GgmlType;

/**
 * A plain test-only dequantizer for the types {@link Quantizer} writes, written from ggml's {@code dequantize_row_*}
 * descriptions of the block layouts, used only to measure round-trip error (the production dequantizers live with the
 * kernels).
 */
final class TestDequantizer {
  private TestDequantizer() {}

  static float[] dequantize(GgmlType type, byte[] b, int n) {
    float[] y = new float[n];
    switch (type) {
      case F32 -> {
        for (int i = 0; i < n; i++) {
          y[i] = Float.intBitsToFloat(i32(b, 4 * i));
        }
      }
      case F16 -> {
        for (int i = 0; i < n; i++) {
          y[i] = Float.float16ToFloat(i16(b, 2 * i));
        }
      }
      case BF16 -> {
        for (int i = 0; i < n; i++) {
          y[i] = Float.intBitsToFloat((i16(b, 2 * i) & 0xffff) << 16);
        }
      }
      case Q8_0 -> {
        for (int blk = 0; blk < n / 32; blk++) {
          int o = 34 * blk;
          float d = Float.float16ToFloat(i16(b, o));
          for (int j = 0; j < 32; j++) {
            y[32 * blk + j] = b[o + 2 + j] * d;
          }
        }
      }
      case Q4_0 -> {
        for (int blk = 0; blk < n / 32; blk++) {
          int o = 18 * blk;
          float d = Float.float16ToFloat(i16(b, o));
          for (int j = 0; j < 16; j++) {
            int q = b[o + 2 + j] & 0xff;
            y[32 * blk + j] = ((q & 0xF) - 8) * d;
            y[32 * blk + j + 16] = ((q >> 4) - 8) * d;
          }
        }
      }
      case Q4_K -> {
        for (int blk = 0; blk < n / 256; blk++) {
          int o = 144 * blk;
          float d = Float.float16ToFloat(i16(b, o));
          float dmin = Float.float16ToFloat(i16(b, o + 2));
          int sc = o + 4;
          int q = o + 16;
          int out = 256 * blk;
          for (int j = 0; j < 256; j += 64) {
            int is = j / 32;
            float d1 = d * scale6(b, sc, is);
            float m1 = dmin * min6(b, sc, is);
            float d2 = d * scale6(b, sc, is + 1);
            float m2 = dmin * min6(b, sc, is + 1);
            for (int l = 0; l < 32; l++) {
              y[out++] = d1 * (b[q + l] & 0xF) - m1;
            }
            for (int l = 0; l < 32; l++) {
              y[out++] = d2 * ((b[q + l] & 0xff) >> 4) - m2;
            }
            q += 32;
          }
        }
      }
      case Q6_K -> {
        for (int blk = 0; blk < n / 256; blk++) {
          int o = 210 * blk;
          float d = Float.float16ToFloat(i16(b, o + 208));
          int ql = o;
          int qh = o + 128;
          int sc = o + 192;
          int out = 256 * blk;
          for (int half = 0; half < 2; half++) {
            for (int l = 0; l < 32; l++) {
              int is = l / 16;
              int h = b[qh + l] & 0xff;
              int q1 = ((b[ql + l] & 0xF) | ((h & 3) << 4)) - 32;
              int q2 = ((b[ql + l + 32] & 0xF) | (((h >> 2) & 3) << 4)) - 32;
              int q3 = (((b[ql + l] & 0xff) >> 4) | (((h >> 4) & 3) << 4)) - 32;
              int q4 = (((b[ql + l + 32] & 0xff) >> 4) | (((h >> 6) & 3) << 4)) - 32;
              y[out + l] = d * b[sc + is] * q1;
              y[out + l + 32] = d * b[sc + is + 2] * q2;
              y[out + l + 64] = d * b[sc + is + 4] * q3;
              y[out + l + 96] = d * b[sc + is + 6] * q4;
            }
            out += 128;
            ql += 64;
            qh += 32;
            sc += 8;
          }
        }
      }
      default -> throw new IllegalArgumentException(type.toString());
    }
    return y;
  }

  /** The six-bit scale of group {@code j} in a Q4_K scales[12] array at {@code s}. */
  private static int scale6(byte[] b, int s, int j) {
    return j < 4 ? b[s + j] & 63 : (b[s + j + 4] & 0xF) | (((b[s + j - 4] & 0xff) >> 6) << 4);
  }

  /** The six-bit min of group {@code j}. */
  private static int min6(byte[] b, int s, int j) {
    return j < 4 ? b[s + j + 4] & 63 : ((b[s + j + 4] & 0xff) >> 4) | (((b[s + j] & 0xff) >> 6) << 4);
  }

  static short i16(byte[] b, int o) {
    return (short) ((b[o] & 0xff) | (b[o + 1] << 8));
  }

  static int i32(byte[] b, int o) {
    return (b[o] & 0xff) | (b[o + 1] & 0xff) << 8 | (b[o + 2] & 0xff) << 16 | b[o + 3] << 24;
  }
}
