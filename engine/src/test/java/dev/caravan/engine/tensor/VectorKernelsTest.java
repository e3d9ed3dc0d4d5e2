package dev.caravan.engine.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The Vector API kernels against their scalar twins, for every type, many row lengths (smallest, odd block counts,
 * tails that are not a multiple of the vector width, 5632 and 11008) and seeded random data. This class runs once per
 * vector width: the default Surefire run uses the preferred width, extra executions set {@code caravan.vectorBits}.
 */
class VectorKernelsTest {
  private static final Arena ARENA = Arena.ofShared();
  private static final ScalarKernels SCALAR = new ScalarKernels();
  private static final VectorKernels VECTOR = new VectorKernels();

  @AfterAll
  static void closeArena() {
    ARENA.close();
  }

  /** (type, cols) pairs covering each type's smallest row, odd block counts and model-sized rows. */
  static Stream<Arguments> shapes() {
    List<Arguments> out = new ArrayList<>();
    for (GgmlType t : new GgmlType[] {GgmlType.F32, GgmlType.F16, GgmlType.BF16}) {
      for (int cols : new int[] {1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 100, 255, 256, 288, 2048, 5632, 11008}) {
        out.add(Arguments.of(t, cols));
      }
    }
    for (GgmlType t : new GgmlType[] {GgmlType.Q8_0, GgmlType.Q4_0}) {
      for (int cols : new int[] {32, 64, 96, 160, 288, 800, 2048, 5632, 11008}) {
        out.add(Arguments.of(t, cols));
      }
    }
    for (GgmlType t : new GgmlType[] {GgmlType.Q4_K, GgmlType.Q6_K}) {
      for (int cols : new int[] {256, 512, 768, 1280, 2816, 5632, 11008}) {
        out.add(Arguments.of(t, cols));
      }
    }
    return out.stream();
  }

  @Test
  void namesTheWidth() {
    assertEquals("vector-" + VectorKernels.BITS + (VectorKernels.MULTI_ROW ? " (four-row decode kernels)" : ""), VECTOR.name());
  }

  @ParameterizedTest(name = "{0} x {1}")
  @MethodSource("shapes")
  void dequantizeIsExactlyTheScalarTwin(GgmlType t, int cols) {
    WeightMatrix w = TestWeights.random(t, 3, cols, seed(t, cols), ARENA);
    float[] expected = new float[cols + 5];
    float[] actual = new float[cols + 5];
    for (int r = 0; r < w.rows(); r++) {
      SCALAR.dequantizeRow(w, r, expected, 5);
      VECTOR.dequantizeRow(w, r, actual, 5);
      for (int i = 0; i < cols; i++) {
        if (Float.floatToRawIntBits(expected[5 + i]) != Float.floatToRawIntBits(actual[5 + i])) {
          fail(t + " row " + r + " value " + i + ": scalar " + expected[5 + i] + ", vector " + actual[5 + i]);
        }
      }
    }
  }

  @ParameterizedTest(name = "{0} x {1}")
  @MethodSource("shapes")
  void dotMatchesTheScalarTwin(GgmlType t, int cols) {
    WeightMatrix w = TestWeights.random(t, 3, cols, seed(t, cols), ARENA);
    float[] x = TestWeights.activations(cols + 3, seed(t, cols) + 1);
    float[] row = new float[cols];
    for (int r = 0; r < w.rows(); r++) {
      SCALAR.dequantizeRow(w, r, row, 0);
      // |sum w x| error scale: the sum of |w x|, in double
      double absSum = 0;
      for (int i = 0; i < cols; i++) {
        absSum += Math.abs((double) row[i] * x[3 + i]);
      }
      float s = SCALAR.dot(w, r, x, 3);
      float v = VECTOR.dot(w, r, x, 3);
      double tol = 1e-5 * absSum + 1e-30;
      assertTrue(Math.abs(s - v) <= tol, t + " x " + cols + " row " + r + ": scalar " + s + ", vector " + v + ", tolerance " + tol);
    }
  }

  @ParameterizedTest(name = "{0} x {1}")
  @MethodSource("shapes")
  void dotTokensIsBitIdenticalToDot(GgmlType t, int cols) {
    WeightMatrix w = TestWeights.random(t, 2, cols, seed(t, cols), ARENA);
    int stride = cols + 7;
    for (int nTokens : new int[] {1, 2, 3, 4, 5, 7, 8, 9, 17}) {
      float[] x = TestWeights.activations(11 + nTokens * stride, seed(t, cols) + nTokens);
      for (Kernels k : new Kernels[] {SCALAR, VECTOR}) {
        for (int r = 0; r < w.rows(); r++) {
          float[] out = new float[2 + nTokens * 3];
          k.dotTokens(w, r, x, 11, stride, nTokens, out, 2, 3);
          for (int tok = 0; tok < nTokens; tok++) {
            float single = k.dot(w, r, x, 11 + tok * stride);
            assertEquals(Float.floatToRawIntBits(single), Float.floatToRawIntBits(out[2 + tok * 3]),
                k.name() + " " + t + " x " + cols + " row " + r + " token " + tok + " of " + nTokens + ": dot " + single + ", dotTokens " + out[2 + tok * 3]);
          }
        }
      }
    }
  }

  @ParameterizedTest(name = "{0} x {1}")
  @MethodSource("shapes")
  void dotRowsIsBitIdenticalToDot(GgmlType t, int cols) {
    int rows = VectorKernels.ROW_TILE + 3;
    WeightMatrix w = TestWeights.random(t, rows, cols, seed(t, cols) + 2, ARENA);
    int nTokens = 6;
    float[] x = TestWeights.activations(nTokens * cols, seed(t, cols) + 3);
    float[] out = new float[nTokens * rows];
    VECTOR.dotRows(w, 1, rows, x, 0, cols, nTokens, out, 0, rows);
    for (int tok = 0; tok < nTokens; tok++) {
      assertEquals(0f, out[tok * rows], "row 0 is outside the block and must stay untouched");
      for (int r = 1; r < rows; r++) {
        float single = VECTOR.dot(w, r, x, tok * cols);
        assertEquals(Float.floatToRawIntBits(single), Float.floatToRawIntBits(out[tok * rows + r]), t + " row " + r + " token " + tok);
      }
    }
  }

  /** More tokens than one aligned copy holds ({@code TOKEN_CHUNK}): every chunk, and its leftover tokens, keep dot's bits. */
  @ParameterizedTest(name = "{0} x {1}")
  @org.junit.jupiter.params.provider.CsvSource({"Q8_0, 2048", "Q4_K, 768", "F32, 100", "F16, 33"})
  void dotRowsOverSeveralTokenChunksIsBitIdenticalToDot(GgmlType t, int cols) {
    int rows = VectorKernels.ROW_TILE + 3;
    int nTokens = 2 * VectorKernels.TOKEN_CHUNK + VectorKernels.TOKEN_TILE + 3;
    WeightMatrix w = TestWeights.random(t, rows, cols, seed(t, cols) + 9, ARENA);
    int stride = cols + 5;
    float[] x = TestWeights.activations(nTokens * stride, seed(t, cols) + 10);
    float[] out = new float[nTokens * rows];
    VECTOR.dotRows(w, 0, rows, x, 0, stride, nTokens, out, 0, rows);
    for (int tok = 0; tok < nTokens; tok++) {
      for (int r = 0; r < rows; r++) {
        float single = VECTOR.dot(w, r, x, tok * stride);
        assertEquals(Float.floatToRawIntBits(single), Float.floatToRawIntBits(out[tok * rows + r]), t + " x " + cols + " row " + r + " token " + tok);
      }
    }
  }

  /** The one-token path runs several rows per kernel call (four-row kernels plus a remainder): each row gives dot's bits. */
  @ParameterizedTest(name = "{0} x {1}")
  @MethodSource("shapes")
  void oneTokenDotRowsIsBitIdenticalToDot(GgmlType t, int cols) {
    int rows = 11;
    WeightMatrix w = TestWeights.random(t, rows, cols, seed(t, cols) + 4, ARENA);
    float[] x = TestWeights.activations(cols + 5, seed(t, cols) + 5);
    int[][] ranges = {{0, rows}, {1, rows}, {3, 8}, {2, 3}, {4, 8}};
    for (int[] range : ranges) {
      float[] out = new float[rows + 2];
      java.util.Arrays.fill(out, -1f);
      VECTOR.dotRows(w, range[0], range[1], x, 5, cols, 1, out, 2, rows);
      for (int r = 0; r < rows; r++) {
        if (r < range[0] || r >= range[1]) {
          assertEquals(-1f, out[2 + r], t + " row " + r + " is outside [" + range[0] + ", " + range[1] + ") and must stay untouched");
          continue;
        }
        float single = VECTOR.dot(w, r, x, 5);
        assertEquals(Float.floatToRawIntBits(single), Float.floatToRawIntBits(out[2 + r]), t + " x " + cols + " rows [" + range[0] + ", " + range[1] + ") row " + r + ": dot " + single + ", dotRows " + out[2 + r]);
      }
    }
  }

  /** The four-row Q8_0 kernel (opt-in, {@code -Dcaravan.kernels.multiRow=true}) gives four dots' bits. */
  @ParameterizedTest(name = "Q8_0 x {0}")
  @org.junit.jupiter.params.provider.ValueSource(ints = {32, 64, 96, 160, 288, 2048, 5632})
  void fourRowQ8_0KernelIsBitIdenticalToDot(int cols) {
    WeightMatrix w = TestWeights.random(GgmlType.Q8_0, 9, cols, seed(GgmlType.Q8_0, cols) + 6, ARENA);
    float[] x = TestWeights.activations(cols + 3, seed(GgmlType.Q8_0, cols) + 7);
    for (int r0 : new int[] {0, 1, 5}) {
      float[] out = new float[6];
      VectorDots.dotQ8_0x4(w.data(), w.rowOffset(r0), w.rowBytes(), cols / 32, x, 3, out, 1, new float[16]);
      for (int i = 0; i < 4; i++) {
        float single = VECTOR.dot(w, r0 + i, x, 3);
        assertEquals(Float.floatToRawIntBits(single), Float.floatToRawIntBits(out[1 + i]), "cols " + cols + " row " + (r0 + i) + ": dot " + single + ", four-row kernel " + out[1 + i]);
      }
      assertEquals(0f, out[0]);
      assertEquals(0f, out[5]);
    }
  }

  /**
   * K-quant super-blocks whose fp16 scales are negative, +0 or -0 (legal in a GGUF file, never made by the random
   * weights): the batched path still gives dot's bits, and dequantization the scalar twin's, signed zeros included.
   */
  @ParameterizedTest(name = "{0}")
  @org.junit.jupiter.params.provider.EnumSource(value = GgmlType.class, names = {"Q4_K", "Q6_K"})
  void kQuantsWithSignedAndZeroScalesStayBitIdentical(GgmlType t) {
    int rows = VectorKernels.ROW_TILE + 1;
    int cols = 1024;
    WeightMatrix random = TestWeights.random(t, rows, cols, seed(t, cols) + 8, ARENA);
    MemorySegment s = ARENA.allocate(random.data().byteSize(), 64);
    s.copyFrom(random.data());
    ValueLayout.OfShort f16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    short[] scales = {(short) 0x0000, (short) 0x8000, Float.floatToFloat16(-0.0123f), Float.floatToFloat16(0.0071f), Float.floatToFloat16(-3.5e-5f)};
    int[] scaleOffsets = t == GgmlType.Q4_K ? new int[] {0, 2} : new int[] {208};
    SplittableRandom rnd = new SplittableRandom(11);
    for (long b = 0; b < s.byteSize() / t.typeSize(); b++) {
      for (int off : scaleOffsets) {
        s.set(f16, b * t.typeSize() + off, scales[rnd.nextInt(scales.length)]);
      }
    }
    WeightMatrix w = new WeightMatrix("signed-scales-" + t, t, s, rows, cols);
    float[] row = new float[cols];
    float[] twin = new float[cols];
    for (int r = 0; r < rows; r++) {
      VECTOR.dequantizeRow(w, r, row, 0);
      SCALAR.dequantizeRow(w, r, twin, 0);
      for (int i = 0; i < cols; i++) {
        assertEquals(Float.floatToRawIntBits(twin[i]), Float.floatToRawIntBits(row[i]), t + " row " + r + " value " + i);
      }
    }
    int nTokens = 5;
    float[] x = TestWeights.activations(nTokens * cols, 12);
    float[] out = new float[nTokens * rows];
    VECTOR.dotRows(w, 0, rows, x, 0, cols, nTokens, out, 0, rows);
    for (int tok = 0; tok < nTokens; tok++) {
      for (int r = 0; r < rows; r++) {
        float single = VECTOR.dot(w, r, x, tok * cols);
        assertEquals(Float.floatToRawIntBits(single), Float.floatToRawIntBits(out[tok * rows + r]), t + " row " + r + " token " + tok);
      }
    }
  }

  @Test
  void dotResultDoesNotDependOnWhereTheVectorSits() {
    // same values at a different array offset (different alignment) give the same bits
    WeightMatrix w = TestWeights.random(GgmlType.Q4_K, 1, 768, 5, ARENA);
    float[] x = TestWeights.activations(768, 6);
    float reference = VECTOR.dot(w, 0, x, 0);
    for (int shift = 1; shift < 20; shift++) {
      float[] moved = new float[768 + shift];
      System.arraycopy(x, 0, moved, shift, 768);
      assertEquals(Float.floatToRawIntBits(reference), Float.floatToRawIntBits(VECTOR.dot(w, 0, moved, shift)), "offset " + shift);
    }
  }

  @Test
  void f16AndBf16DequantizeEveryBitPatternLikeTheJdk() {
    // all 65536 half-precision patterns, including subnormals, infinities and NaNs
    MemorySegment s = ARENA.allocate(2 * 65536);
    for (int i = 0; i < 65536; i++) {
      s.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2L * i, (short) i);
    }
    float[] out = new float[65536];
    VECTOR.dequantizeRow(new WeightMatrix("f16", GgmlType.F16, s, 1, 65536), 0, out, 0);
    for (int i = 0; i < 65536; i++) {
      float expected = Float.float16ToFloat((short) i);
      if (Float.isNaN(expected)) {
        assertTrue(Float.isNaN(out[i]), "f16 pattern " + Integer.toHexString(i));
      } else {
        assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(out[i]), "f16 pattern " + Integer.toHexString(i));
      }
    }
    VECTOR.dequantizeRow(new WeightMatrix("bf16", GgmlType.BF16, s, 1, 65536), 0, out, 0);
    for (int i = 0; i < 65536; i++) {
      assertEquals(i << 16, Float.floatToRawIntBits(out[i]), "bf16 pattern " + Integer.toHexString(i));
    }
  }

  @Test
  void rejectsRowsOutsideTheMatrix() {
    WeightMatrix w = TestWeights.random(GgmlType.Q8_0, 2, 64, 1, ARENA);
    float[] x = new float[64];
    for (Kernels k : new Kernels[] {SCALAR, VECTOR}) {
      org.junit.jupiter.api.Assertions.assertThrows(IndexOutOfBoundsException.class, () -> k.dot(w, 2, x, 0));
      org.junit.jupiter.api.Assertions.assertThrows(IndexOutOfBoundsException.class, () -> k.dot(w, 0, x, 1));
      org.junit.jupiter.api.Assertions.assertThrows(IndexOutOfBoundsException.class, () -> k.dequantizeRow(w, 0, new float[63], 0));
    }
  }

  private static long seed(GgmlType t, int cols) {
    return new SplittableRandom(t.ordinal() * 100_003L + cols).nextLong();
  }
}
