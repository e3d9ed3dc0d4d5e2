package dev.caravan.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.caravan.engine.tensor.GgmlType;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The activation formats against hand-worked values of ggml's rules. */
class ActivationRoundingTest {

  @Test
  void q8_0BlockScalesByItsLargestMagnitudeAndRoundsHalfToEven() {
    float[] x = new float[32];
    x[0] = -2.54f; // amax: d = 0.02 (as fp16), q = -127
    x[1] = 0.01f; // 0.01 * 127/2.54 = 0.5 -> rounds to even 0
    x[2] = 0.03f; // 1.5 -> 2
    x[3] = 1.0f; // 50
    float[] out = new float[32];
    ActivationRounding.round(GgmlType.Q8_0, x, 1, 32, out);
    float d = Float.float16ToFloat(Float.floatToFloat16(2.54f / 127f));
    assertEquals(-127 * d, out[0]);
    assertEquals(0f, out[1]);
    assertEquals(2 * d, out[2]);
    assertEquals(50 * d, out[3]);
    assertEquals(0f, out[4]);
  }

  @Test
  void q8_0OfZerosIsZeros() {
    float[] out = new float[64];
    Arrays.fill(out, 9f);
    ActivationRounding.round(GgmlType.Q4_0, new float[64], 2, 32, out);
    for (float v : out) {
      assertEquals(0f, v);
    }
  }

  @Test
  void q8_KUsesTheSignedMaximumAndCapsAt127() {
    float[] x = new float[256];
    x[5] = -4f; // max element: iscale = -127 / -4 = 31.75, d = 1/31.75
    x[6] = 4f; // |x| ties with x[5]: the first one is the maximum; 4 * 31.75 = 127
    x[7] = 0.5f / 31.75f * 3; // 1.5 -> 2
    float[] out = new float[256];
    ActivationRounding.round(GgmlType.Q6_K, x, 1, 256, out);
    float iscale = -127f / -4f;
    float d = 1f / iscale;
    assertEquals(-127 * d, out[5]);
    assertEquals(127 * d, out[6]);
    assertEquals(2 * d, out[7]);
    // a positive maximum gives a negative scale: q = -127 for it, and the value still comes back positive
    float[] y = new float[256];
    y[0] = 4f;
    y[1] = -4.0001f / 2;
    ActivationRounding.round(GgmlType.Q4_K, y, 1, 256, out);
    assertEquals(4f, out[0], 1e-6f);
  }

  @Test
  void bf16AndF16RoundToNearestEven() {
    // 1 + 2^-8 is halfway between two BF16 values: ties go to the even one (1.0)
    assertEquals(1.0f, ActivationRounding.bf16(1.0f + 0x1p-8f));
    // 1 + 3 * 2^-8 ties between 1 + 2^-7 (odd) and 1 + 2^-6 (even)
    assertEquals(1.0f + 0x1p-6f, ActivationRounding.bf16(1.0f + 3 * 0x1p-8f));
    float[] out = new float[2];
    ActivationRounding.round(GgmlType.F16, new float[] {1.0f + 0x1p-11f, 65519f}, 1, 2, out);
    assertEquals(1.0f, out[0]);
    assertEquals(65504f, out[1]);
  }

  @Test
  void roundedValuesStayWithinHalfAStepOfTheInput() {
    Random r = new Random(3);
    float[] x = new float[4 * 256];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) r.nextGaussian() * (i % 97 == 0 ? 20 : 1);
    }
    for (GgmlType t : new GgmlType[] {GgmlType.Q8_0, GgmlType.Q6_K}) {
      float[] out = new float[x.length];
      ActivationRounding.round(t, x, 4, 256, out);
      int block = t == GgmlType.Q8_0 ? 32 : 256;
      for (int b = 0; b < x.length; b += block) {
        float amax = 0;
        for (int j = 0; j < block; j++) {
          amax = Math.max(amax, Math.abs(x[b + j]));
        }
        // half a step, plus (Q8_0) the step's own rounding to fp16: up to 127 steps times 2^-11
        float bound = amax / 127 * (0.5f + (t == GgmlType.Q8_0 ? 127 * 0x1p-11f : 0f)) * 1.01f;
        for (int j = 0; j < block; j++) {
          assertEquals(x[b + j], out[b + j], bound, t + " value " + (b + j));
        }
      }
    }
  }
}
