package dev.caravan.engine.model;

import dev.caravan.engine.tensor.GgmlType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * llama.cpp rounds a matmul's input activations to the weight type's "vec-dot type" before the product: F16 weights
 * see F16 activations, BF16 weights BF16 activations, Q8_0 and Q4_0 weights activations quantized to Q8_0 (blocks of
 * 32), Q4_K and Q6_K weights activations quantized to Q8_K (blocks of 256). Caravan does the same, as a pass over the
 * input that leaves each value at exactly what the quantized activation stands for ({@code q * d}), so the float
 * kernels then compute llama.cpp's products up to float summation order.
 *
 * <p>Why: quantized models then agree with llama.cpp to ~1e-6 instead of ~1e-1 (until a value that lies within float
 * noise of a rounding boundary rounds the other way). {@code -Dcaravan.activations=f32} keeps activations in F32.
 *
 * <p>Formats, as ggml's x86 code computes them:
 * <ul>
 *   <li>Q8_0: {@code amax = max|x|}, {@code d = fp16(amax / 127)}, {@code q = round_half_even(x * (127 / amax))};
 *       the value is {@code q * d} (exact in float: 8-bit times 11-bit);
 *   <li>Q8_K: {@code max} = the element of largest |x| (sign kept, first on ties), {@code iscale = -127 / max},
 *       {@code q = min(127, round_half_even(iscale * x))}, {@code d = 1 / iscale}; the value is {@code q * d};
 *   <li>F16, BF16: round to nearest even.
 * </ul>
 */
public final class ActivationRounding {
  private static final Logger LOG = LoggerFactory.getLogger(ActivationRounding.class);
  /** Whether activations are rounded like llama.cpp (default) or kept in F32. */
  public static final boolean ENABLED = choose();

  private ActivationRounding() {}

  private static boolean choose() {
    String p = System.getProperty("caravan.activations", "llamacpp");
    boolean on = !p.equalsIgnoreCase("f32");
    LOG.info("matmul activations: {}", on ? "rounded to each weight type's vec-dot type, like llama.cpp" : "F32 (caravan.activations=f32)");
    return on;
  }

  /** Whether {@code type}'s products see rounded activations. */
  public static boolean rounds(GgmlType type) {
    return ENABLED && switch (type) {
      case F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K -> true;
      default -> false;
    };
  }

  /**
   * Writes {@code rows} rows of {@code cols} activations from {@code x}, rounded for products with {@code type}
   * weights, to {@code out}.
   */
  public static void round(GgmlType type, float[] x, int rows, int cols, float[] out) {
    int n = rows * cols;
    switch (type) {
      case F16 -> {
        for (int i = 0; i < n; i++) {
          out[i] = Float.float16ToFloat(Float.floatToFloat16(x[i]));
        }
      }
      case BF16 -> {
        for (int i = 0; i < n; i++) {
          out[i] = bf16(x[i]);
        }
      }
      case Q8_0, Q4_0 -> {
        for (int b = 0; b < n; b += 32) {
          q8_0(x, b, out);
        }
      }
      case Q4_K, Q6_K -> {
        for (int b = 0; b < n; b += 256) {
          q8_K(x, b, out);
        }
      }
      default -> System.arraycopy(x, 0, out, 0, n);
    }
  }

  /** Round to nearest even BF16 (ggml's GGML_FP32_TO_BF16; NaN stays a quiet NaN). */
  static float bf16(float v) {
    int bits = Float.floatToRawIntBits(v);
    if ((bits & 0x7fffffff) > 0x7f800000) {
      return Float.intBitsToFloat((bits | 0x00400000) & 0xffff0000);
    }
    bits = (bits + (0x7fff + ((bits >>> 16) & 1))) & 0xffff0000;
    return Float.intBitsToFloat(bits);
  }

  /** One Q8_0 block of 32 at {@code off}. */
  private static void q8_0(float[] x, int off, float[] out) {
    float amax = 0f;
    for (int j = 0; j < 32; j++) {
      amax = Math.max(amax, Math.abs(x[off + j]));
    }
    float d = amax / 127f;
    float id = d != 0f ? 127f / amax : 0f;
    float dh = Float.float16ToFloat(Float.floatToFloat16(d));
    for (int j = 0; j < 32; j++) {
      out[off + j] = (float) Math.rint(x[off + j] * id) * dh;
    }
  }

  /** One Q8_K block of 256 at {@code off}. */
  private static void q8_K(float[] x, int off, float[] out) {
    float max = 0f;
    float amax = 0f;
    for (int j = 0; j < 256; j++) {
      float a = Math.abs(x[off + j]);
      if (a > amax) {
        amax = a;
        max = x[off + j];
      }
    }
    if (amax == 0f) {
      java.util.Arrays.fill(out, off, off + 256, 0f);
      return;
    }
    float iscale = -127f / max;
    float d = 1f / iscale;
    for (int j = 0; j < 256; j++) {
      float q = Math.min(127f, (float) Math.rint(iscale * x[off + j]));
      out[off + j] = q * d;
    }
  }
}
