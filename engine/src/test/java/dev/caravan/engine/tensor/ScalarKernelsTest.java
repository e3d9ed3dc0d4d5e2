package dev.caravan.engine.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Known values for the scalar reference: blocks are packed by hand in the test with ggml's quantizer packing (the
 * inverse of what the kernels decode), from chosen quants and scales, and the expected values come from ggml's
 * formulas evaluated here. Both kernel implementations must produce them.
 */
class ScalarKernelsTest {
  private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final Arena ARENA = Arena.ofShared();
  private static final Kernels[] KERNELS = {new ScalarKernels(), new VectorKernels()};

  @AfterAll
  static void closeArena() {
    ARENA.close();
  }

  @Test
  void q8_0() {
    // two blocks: d = 0.25 and d = -3; qs = -128, -127, ...
    MemorySegment s = ARENA.allocate(68);
    float[] expected = new float[64];
    float[] ds = {0.25f, -3f};
    for (int b = 0; b < 2; b++) {
      s.set(I16, 34L * b, Float.floatToFloat16(ds[b]));
      for (int j = 0; j < 32; j++) {
        int q = -128 + 5 * (32 * b + j) % 256;
        s.set(ValueLayout.JAVA_BYTE, 34L * b + 2 + j, (byte) q);
        expected[32 * b + j] = (byte) q * ds[b];
      }
    }
    check(new WeightMatrix("q8", GgmlType.Q8_0, s, 1, 64), expected);
  }

  @Test
  void q4_0() {
    // d = -1.5; byte j holds quant j in its low nibble and 15 - j in its high nibble
    MemorySegment s = ARENA.allocate(18);
    s.set(I16, 0, Float.floatToFloat16(-1.5f));
    float[] expected = new float[32];
    for (int j = 0; j < 16; j++) {
      s.set(ValueLayout.JAVA_BYTE, 2 + j, (byte) (j | (15 - j) << 4));
      expected[j] = (j - 8) * -1.5f;
      expected[16 + j] = (15 - j - 8) * -1.5f;
    }
    check(new WeightMatrix("q4", GgmlType.Q4_0, s, 1, 32), expected);
  }

  @Test
  void q4_K() {
    float d = 0.5f;
    float dmin = 0.25f;
    int[] sc = {10, 17, 24, 31, 38, 45, 52, 63};
    int[] m = {63, 58, 0, 48, 43, 38, 1, 28};
    MemorySegment s = ARENA.allocate(144);
    s.set(I16, 0, Float.floatToFloat16(d));
    s.set(I16, 2, Float.floatToFloat16(dmin));
    // ggml's quantize_row_q4_K packing of 6-bit scales and mins into 12 bytes
    byte[] scales = new byte[12];
    for (int j = 0; j < 8; j++) {
      if (j < 4) {
        scales[j] = (byte) sc[j];
        scales[j + 4] = (byte) m[j];
      } else {
        scales[j + 4] = (byte) ((sc[j] & 0xF) | ((m[j] & 0xF) << 4));
        scales[j - 4] |= (byte) ((sc[j] >> 4) << 6);
        scales[j] |= (byte) ((m[j] >> 4) << 6);
      }
    }
    MemorySegment.copy(scales, 0, s, ValueLayout.JAVA_BYTE, 4, 12);
    // value 32j + l has quant (7 * (32j + l) + j) % 16; sub-block 2g in low nibbles of qs[32g + l], 2g+1 in high
    int[] q = new int[256];
    for (int i = 0; i < 256; i++) {
      q[i] = (7 * i + i / 32) % 16;
    }
    for (int g = 0; g < 4; g++) {
      for (int l = 0; l < 32; l++) {
        s.set(ValueLayout.JAVA_BYTE, 16 + 32 * g + l, (byte) (q[64 * g + l] | q[64 * g + 32 + l] << 4));
      }
    }
    float[] expected = new float[256];
    for (int i = 0; i < 256; i++) {
      int j = i / 32;
      expected[i] = d * sc[j] * q[i] - dmin * m[j];
    }
    check(new WeightMatrix("q4k", GgmlType.Q4_K, s, 1, 256), expected);
  }

  @Test
  void q6_K() {
    float d = 0.125f;
    byte[] scales = {-128, 127, 1, -1, 64, -64, 33, -33, 5, 6, 7, 8, -9, -10, 11, 100};
    int[] l6 = new int[256]; // 6-bit quants 0..63; value = d * scale * (l6 - 32)
    for (int i = 0; i < 256; i++) {
      l6[i] = (13 * i + 5) % 64;
    }
    MemorySegment s = ARENA.allocate(210);
    // ggml's quantize_row_q6_K packing: ql low/high nibbles and 2-bit pieces in qh, per 128-value half
    for (int h = 0; h < 2; h++) {
      for (int l = 0; l < 32; l++) {
        int base = 128 * h + l;
        int q1 = l6[base];
        int q2 = l6[base + 32];
        int q3 = l6[base + 64];
        int q4 = l6[base + 96];
        s.set(ValueLayout.JAVA_BYTE, 64L * h + l, (byte) ((q1 & 0xF) | (q3 & 0xF) << 4));
        s.set(ValueLayout.JAVA_BYTE, 64L * h + l + 32, (byte) ((q2 & 0xF) | (q4 & 0xF) << 4));
        s.set(ValueLayout.JAVA_BYTE, 128 + 32L * h + l, (byte) ((q1 >> 4) | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6));
      }
    }
    MemorySegment.copy(scales, 0, s, ValueLayout.JAVA_BYTE, 192, 16);
    s.set(I16, 208, Float.floatToFloat16(d));
    float[] expected = new float[256];
    for (int i = 0; i < 256; i++) {
      expected[i] = d * scales[i / 16] * (l6[i] - 32);
    }
    check(new WeightMatrix("q6k", GgmlType.Q6_K, s, 1, 256), expected);
  }

  @Test
  void floatTypes() {
    float[] values = {0f, -0f, 1f, -2.5f, 65504f, 6.1035156e-5f, 5.9604645e-8f, 0.333251953125f, 3.140625f};
    int n = values.length;
    MemorySegment f32 = ARENA.allocate(4L * n);
    MemorySegment f16 = ARENA.allocate(2L * n);
    MemorySegment bf16 = ARENA.allocate(2L * n);
    float[] bf16Values = new float[n];
    for (int i = 0; i < n; i++) {
      f32.set(F32, 4L * i, values[i]);
      f16.set(I16, 2L * i, Float.floatToFloat16(values[i])); // every value here is exact in fp16
      bf16.set(I16, 2L * i, (short) (Float.floatToRawIntBits(values[i]) >>> 16));
      bf16Values[i] = Float.intBitsToFloat(Float.floatToRawIntBits(values[i]) & 0xFFFF0000);
    }
    check(new WeightMatrix("f32", GgmlType.F32, f32, 1, n), values);
    check(new WeightMatrix("f16", GgmlType.F16, f16, 1, n), values);
    check(new WeightMatrix("bf16", GgmlType.BF16, bf16, 1, n), bf16Values);
  }

  @Test
  void unsupportedTypesFailWithTheirName() {
    MemorySegment s = ARENA.allocate(20);
    WeightMatrix w = new WeightMatrix("q4_1", GgmlType.Q4_1, s, 1, 32);
    for (Kernels k : KERNELS) {
      UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, () -> k.dot(w, 0, new float[32], 0));
      assertEquals("no kernels for Q4_1 weights", e.getMessage());
      assertThrows(UnsupportedOperationException.class, () -> k.dequantizeRow(w, 0, new float[32], 0));
    }
  }

  /** dequantizeRow gives {@code expected}; dot with one-hot vectors picks each value; dot with ones sums them in order. */
  private static void check(WeightMatrix w, float[] expected) {
    int n = w.cols();
    for (Kernels k : KERNELS) {
      float[] out = new float[n];
      k.dequantizeRow(w, 0, out, 0);
      for (int i = 0; i < n; i++) {
        assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(out[i]), k.name() + " " + w.type() + " value " + i + ": expected " + expected[i] + ", got " + out[i]);
      }
      float[] x = new float[n];
      for (int i = 0; i < n; i++) {
        x[i] = 1f;
        assertEquals(expected[i] == 0 ? 0f : expected[i], k.dot(w, 0, x, 0) + 0f, k.name() + " " + w.type() + " one-hot " + i);
        x[i] = 0f;
      }
    }
    float[] ones = new float[n];
    java.util.Arrays.fill(ones, 1f);
    float sum = 0f;
    for (float v : expected) {
      sum += v;
    }
    assertEquals(sum, KERNELS[0].dot(w, 0, ones, 0), "scalar dot adds in index order");
  }
}
