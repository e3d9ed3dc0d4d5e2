package dev.caravan.synth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.caravan.engine.TestData;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.gguf.GgufTensorInfo;
import dev.caravan.engine.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class QuantizerTest {
  private static final ValueLayout.OfFloat LE_F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  // ------------------------------------------------------------------ hand-computed cases

  @Test
  void f16RoundsToNearestEven() {
    // 1 + 2^-11 lies exactly between 1.0 (0x3C00) and 1 + 2^-10 (0x3C01): the even one wins
    byte[] b = Quantizer.quantize(GgmlType.F16, new float[] {1f + 0x1p-11f, 1f + 3 * 0x1p-11f, -2f, 65520f});
    assertEquals((short) 0x3C00, TestDequantizer.i16(b, 0));
    assertEquals((short) 0x3C02, TestDequantizer.i16(b, 2)); // 1 + 3*2^-11 is between 0x3C01 and 0x3C02: even is 0x3C02
    assertEquals((short) 0xC000, TestDequantizer.i16(b, 4));
    assertEquals((short) 0x7C00, TestDequantizer.i16(b, 6)); // 65520 rounds up to infinity
  }

  @Test
  void bf16RoundsToNearestEvenAndKeepsNanQuiet() {
    assertEquals((short) 0x3F80, Quantizer.floatToBf16(Float.intBitsToFloat(0x3F808000))); // tie, 0x3F80 is even
    assertEquals((short) 0x3F82, Quantizer.floatToBf16(Float.intBitsToFloat(0x3F818000))); // tie, 0x3F82 is even
    assertEquals((short) 0x3F81, Quantizer.floatToBf16(Float.intBitsToFloat(0x3F808001))); // above the tie
    assertEquals((short) 0x7F80, Quantizer.floatToBf16(Float.POSITIVE_INFINITY));
    assertEquals((short) 0x7FC0, Quantizer.floatToBf16(Float.intBitsToFloat(0x7F800001))); // signalling NaN made quiet
    assertEquals((short) 0xFFC1, Quantizer.floatToBf16(Float.intBitsToFloat(0xFFC10000))); // NaN payload kept
    assertEquals((short) 0x8000, Quantizer.floatToBf16(-0f));
  }

  @Test
  void q8_0HandExample() {
    // amax 127 -> d = 1, id = 1: values are roundf(x), halves away from zero
    float[] x = new float[32];
    for (int j = 0; j < 32; j++) {
      x[j] = j - 15.5f;
    }
    x[31] = 127f;
    byte[] b = Quantizer.quantize(GgmlType.Q8_0, x);
    assertEquals(34, b.length);
    assertEquals((short) 0x3C00, TestDequantizer.i16(b, 0)); // fp16(1.0)
    assertEquals(-16, b[2]); // -15.5 -> -16
    assertEquals(-1, b[2 + 15]); // -0.5 -> -1
    assertEquals(1, b[2 + 16]); // 0.5 -> 1
    assertEquals(15, b[2 + 30]); // 14.5 -> 15
    assertEquals(127, b[2 + 31]);
    // an all-zero block: d = 0, all values 0
    assertArrayEquals(new byte[34], Quantizer.quantize(GgmlType.Q8_0, new float[32]));
  }

  @Test
  void q4_0HandExample() {
    // x = j - 16: the largest magnitude is -16 at j = 0, so d = -16 / -8 = 2 and id = 0.5
    float[] x = new float[32];
    for (int j = 0; j < 32; j++) {
      x[j] = j - 16;
    }
    byte[] b = Quantizer.quantize(GgmlType.Q4_0, x);
    assertEquals(18, b.length);
    assertEquals((short) 0x4000, TestDequantizer.i16(b, 0)); // fp16(2.0)
    // q = trunc(x * 0.5 + 8.5), capped at 15: j=0 -> 0, j=1 -> 1 (trunc 1.0), j=2 -> 1, j=16 -> 8, j=31 -> 16 -> 15
    assertEquals(0, b[2] & 0xF);
    assertEquals(1, b[3] & 0xF);
    assertEquals(1, b[4] & 0xF);
    assertEquals(8, (b[2] & 0xff) >> 4); // value 16 in the high nibble of byte 0
    assertEquals(15, (b[2 + 15] & 0xff) >> 4); // value 31
    // a positive extreme flips the sign of d: x = 16 - j, max = 16 -> d = -2
    for (int j = 0; j < 32; j++) {
      x[j] = 16 - j;
    }
    b = Quantizer.quantize(GgmlType.Q4_0, x);
    assertEquals((short) 0xC000, TestDequantizer.i16(b, 0)); // fp16(-2.0)
    assertEquals(0, b[2] & 0xF); // 16 * -0.5 + 8.5 = 0.5 -> 0
  }

  @Test
  void nearestIntIsRoundHalfEvenAndRoundfIsHalfAway() {
    assertEquals(2, Quantizer.nearestInt(2.5f));
    assertEquals(4, Quantizer.nearestInt(3.5f));
    assertEquals(-2, Quantizer.nearestInt(-2.5f));
    assertEquals(-3, Quantizer.nearestInt(-2.6f));
    assertEquals(3f, Quantizer.roundAwayFromZero(2.5f));
    assertEquals(-3f, Quantizer.roundAwayFromZero(-2.5f));
    assertEquals(0f, Quantizer.roundAwayFromZero(0.49999997f));
  }

  @Test
  void kQuantsOfZerosAreZeroBlocks() {
    assertArrayEquals(new byte[210], Quantizer.quantize(GgmlType.Q6_K, new float[256]));
    float[] back = TestDequantizer.dequantize(GgmlType.Q4_K, Quantizer.quantize(GgmlType.Q4_K, new float[256]), 256);
    assertArrayEquals(new float[256], back);
  }

  @Test
  void rejectsPartialBlocksAndUnsupportedTypes() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Quantizer.quantize(GgmlType.Q4_K, new float[128]));
    assertTrue(e.getMessage().contains("block"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> Quantizer.quantize(GgmlType.Q5_K, new float[256]));
    assertTrue(e.getMessage().contains("Q5_K"), e.getMessage());
    assertThrows(IndexOutOfBoundsException.class, () -> Quantizer.quantize(GgmlType.Q8_0, new float[64], 0, 64, MemorySegment.ofArray(new byte[67]), 0));
  }

  @Test
  void quantizesIntoASegmentAtAnOffset() {
    float[] x = gaussian(new SplittableRandom(3), 512, 1f);
    byte[] whole = Quantizer.quantize(GgmlType.Q6_K, x);
    byte[] buf = new byte[7 + 210];
    Quantizer.quantize(GgmlType.Q6_K, x, 256, 256, MemorySegment.ofArray(buf), 7);
    for (int i = 0; i < 210; i++) {
      assertEquals(whole[210 + i], buf[7 + i], "byte " + i);
    }
  }

  // ------------------------------------------------------------------ the oracle files

  /** Quantizing tiny256-F32 reproduces the numpy-written F16, BF16, Q8_0 and Q4_0 files byte for byte. */
  @Test
  void reproducesTheOracleFilesExactly() throws IOException {
    Map<String, float[]> weights = readF32Tensors(TestData.oracle("models/tiny256-F32.gguf"));
    for (GgmlType type : new GgmlType[] {GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0}) {
      try (GgufFile f = GgufFile.open(TestData.oracle("models/tiny256-" + type + ".gguf"))) {
        int tensors = 0;
        for (GgufTensorInfo t : f.tensors()) {
          float[] x = weights.get(t.name());
          byte[] expected = f.tensorData(t).toArray(ValueLayout.JAVA_BYTE);
          byte[] mine = Quantizer.quantize(t.type(), x);
          List<Integer> badBlocks = differingBlocks(expected, mine, t.type().typeSize());
          assertTrue(badBlocks.isEmpty(), type + " " + t.name() + ": blocks " + badBlocks + " differ");
          tensors++;
        }
        assertEquals(21, tensors); // token_embd, 2 x 9 per layer, output_norm, output
      }
    }
  }

  /** For Q4_K / Q6_K the oracle used a plain min/max rule; ggml's search must do no worse on any tensor. */
  @Test
  void kQuantsAreNoWorseThanTheOracleFiles() throws IOException {
    Map<String, float[]> weights = readF32Tensors(TestData.oracle("models/tiny256-F32.gguf"));
    for (GgmlType type : new GgmlType[] {GgmlType.Q4_K, GgmlType.Q6_K}) {
      try (GgufFile f = GgufFile.open(TestData.oracle("models/tiny256-" + type + ".gguf"))) {
        double mineTotal = 0;
        double oracleTotal = 0;
        for (GgufTensorInfo t : f.tensors()) {
          if (t.type() != type) {
            continue; // norms are F32
          }
          float[] x = weights.get(t.name());
          double mine = rmse(x, TestDequantizer.dequantize(type, Quantizer.quantize(type, x), x.length));
          double oracle = rmse(x, TestDequantizer.dequantize(type, f.tensorData(t).toArray(ValueLayout.JAVA_BYTE), x.length));
          assertTrue(mine <= oracle * 1.0001, type + " " + t.name() + ": rmse " + mine + " > oracle's " + oracle);
          mineTotal += mine;
          oracleTotal += oracle;
        }
        // and it is not a tie by accident: the search helps overall
        assertTrue(mineTotal < oracleTotal, type + ": " + mineTotal + " vs " + oracleTotal);
      }
    }
  }

  // ------------------------------------------------------------------ ggml itself

  /** Byte-for-byte equality with ggml's own reference quantizers (the llama.cpp build bundled by de.kherud:llama). */
  @Test
  void matchesGgmlReferenceQuantizers() throws IOException {
    assumeTrue(GgmlReference.available(), "ggml's bundled library exists only for Linux x86-64");
    GgmlReference ggml = GgmlReference.get();
    SplittableRandom rnd = new SplittableRandom(20240611);
    Map<String, float[]> cases = new LinkedHashMap<>();
    cases.put("gaussian 0.02", gaussian(rnd, 256 * 512, 0.02f));
    cases.put("gaussian 1", gaussian(rnd, 256 * 512, 1f));
    cases.put("laplace-ish heavy tails", heavyTailed(rnd, 256 * 512));
    cases.put("sparse", sparse(rnd, 256 * 256));
    cases.put("edge blocks", edgeBlocks(rnd));
    for (GgmlType type : new GgmlType[] {GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K}) {
      for (Map.Entry<String, float[]> c : cases.entrySet()) {
        byte[] expected = ggml.quantize(type, c.getValue());
        byte[] mine = Quantizer.quantize(type, c.getValue());
        List<Integer> bad = differingBlocks(expected, mine, type.typeSize());
        assertTrue(bad.isEmpty(), type + " on " + c.getKey() + ": " + bad.size() + " blocks differ, first " + bad.subList(0, Math.min(5, bad.size())));
      }
    }
  }

  // ------------------------------------------------------------------ round-trip error bounds

  @Test
  void roundTripErrorIsWithinTheTypesResolution() {
    float[] x = gaussian(new SplittableRandom(11), 256 * 64, 1f);
    // rms error relative to the data's rms (= 1), measured: F16 2.1e-4, BF16 1.7e-3, Q8_0 5.3e-3, Q6_K 1.8e-2,
    // Q4_K 0.071, Q4_0 0.085; the bounds leave ~1.5x room and would catch a wrong layout or scale
    Map<GgmlType, Double> bound = new LinkedHashMap<>();
    bound.put(GgmlType.F32, 0.0);
    bound.put(GgmlType.F16, 3e-4);
    bound.put(GgmlType.BF16, 2.5e-3);
    bound.put(GgmlType.Q8_0, 8e-3);
    bound.put(GgmlType.Q6_K, 0.027);
    bound.put(GgmlType.Q4_K, 0.1);
    bound.put(GgmlType.Q4_0, 0.12);
    for (Map.Entry<GgmlType, Double> e : bound.entrySet()) {
      double err = rmse(x, TestDequantizer.dequantize(e.getKey(), Quantizer.quantize(e.getKey(), x), x.length));
      assertTrue(err <= e.getValue(), e.getKey() + ": relative rms error " + err + " > " + e.getValue());
    }
  }

  // ------------------------------------------------------------------ helpers

  static Map<String, float[]> readF32Tensors(java.nio.file.Path p) throws IOException {
    Map<String, float[]> out = new LinkedHashMap<>();
    try (GgufFile f = GgufFile.open(p)) {
      for (GgufTensorInfo t : f.tensors()) {
        assertEquals(GgmlType.F32, t.type());
        out.put(t.name(), f.tensorData(t).toArray(LE_F32));
      }
    }
    return out;
  }

  private static List<Integer> differingBlocks(byte[] expected, byte[] actual, int blockBytes) {
    assertEquals(expected.length, actual.length, "byte length");
    List<Integer> bad = new ArrayList<>();
    for (int b = 0; b < expected.length / blockBytes; b++) {
      if (MemorySegment.ofArray(expected).asSlice((long) b * blockBytes, blockBytes).mismatch(MemorySegment.ofArray(actual).asSlice((long) b * blockBytes, blockBytes)) != -1) {
        bad.add(b);
      }
    }
    return bad;
  }

  private static double rmse(float[] x, float[] y) {
    double e = 0;
    double s = 0;
    for (int i = 0; i < x.length; i++) {
      e += (double) (x[i] - y[i]) * (x[i] - y[i]);
      s += (double) x[i] * x[i];
    }
    return Math.sqrt(e / x.length) / Math.sqrt(s / x.length);
  }

  static float[] gaussian(SplittableRandom r, int n, float std) {
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) (gauss(r) * std);
    }
    return x;
  }

  private static double gauss(SplittableRandom r) {
    double u = 1 - r.nextDouble();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.nextDouble());
  }

  private static float[] heavyTailed(SplittableRandom r, int n) {
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      double g = gauss(r);
      x[i] = (float) (g * g * g * 0.01);
    }
    return x;
  }

  private static float[] sparse(SplittableRandom r, int n) {
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = r.nextInt(10) == 0 ? (float) gauss(r) : 0f;
    }
    return x;
  }

  /** Blocks that hit the corner cases: zeros, constants, one spike, exact halves, all negative, tiny and large values. */
  private static float[] edgeBlocks(SplittableRandom r) {
    List<float[]> blocks = new ArrayList<>();
    blocks.add(new float[256]);
    float[] c = new float[256];
    java.util.Arrays.fill(c, 0.75f);
    blocks.add(c);
    float[] neg = new float[256];
    java.util.Arrays.fill(neg, -3f);
    blocks.add(neg);
    float[] spike = new float[256];
    spike[77] = -5f;
    blocks.add(spike);
    float[] halves = new float[256];
    for (int i = 0; i < 256; i++) {
      halves[i] = (i % 64) - 31.5f; // amax 31.5 in every 32-block, many exact .5 products
    }
    blocks.add(halves);
    float[] ints = new float[256];
    for (int i = 0; i < 256; i++) {
      ints[i] = (i % 255) - 127;
    }
    blocks.add(ints);
    float[] allNeg = gaussian(r, 256, 1f);
    for (int i = 0; i < 256; i++) {
      allNeg[i] = -Math.abs(allNeg[i]) - 0.1f;
    }
    blocks.add(allNeg);
    float[] allPos = gaussian(r, 256, 1f);
    for (int i = 0; i < 256; i++) {
      allPos[i] = Math.abs(allPos[i]) + 0.1f;
    }
    blocks.add(allPos);
    blocks.add(gaussian(r, 256, 1e-6f));
    blocks.add(gaussian(r, 256, 1e-30f)); // subnormal scales
    blocks.add(gaussian(r, 256, 1e4f));
    float[] half = gaussian(r, 256, 1f);
    java.util.Arrays.fill(half, 0, 128, 0f); // some zero groups inside a live super-block
    blocks.add(half);
    float[] out = new float[256 * blocks.size()];
    for (int i = 0; i < blocks.size(); i++) {
      System.arraycopy(blocks.get(i), 0, out, 256 * i, 256);
    }
    return out;
  }
}
