package dev.caravan.engine.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.caravan.engine.TestData;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.gguf.GgufTensorInfo;
import java.io.IOException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Known values from the shared oracle models: tiny256-TYPE.gguf holds the weights of tiny256-F32.gguf quantized to
 * TYPE (see testdata/oracle/README.md). Dequantizing every 2-D tensor must give the F32 values to within TYPE's
 * quantization error, bounded per block from the F32 values alone; F16 and BF16 must be exactly the round-to-nearest-even
 * of the F32 value. Both kernel implementations are checked.
 */
class OracleDequantizeTest {
  private static final Kernels[] KERNELS = {new ScalarKernels(), new VectorKernels()};

  @ParameterizedTest
  @EnumSource(value = GgmlType.class, names = {"F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q6_K"})
  void dequantizedTensorsMatchTheF32Twin(GgmlType type) throws IOException {
    try (GgufFile ref = GgufFile.open(TestData.oracle("models/tiny256-F32.gguf"));
        GgufFile q = GgufFile.open(TestData.oracle("models/tiny256-" + type + ".gguf"))) {
      int checked = 0;
      for (GgufTensorInfo info : q.tensors()) {
        if (info.rank() != 2) {
          continue;
        }
        assertEquals(type, info.type(), info.name());
        WeightMatrix w = matrix(q, info);
        WeightMatrix f = matrix(ref, ref.tensor(info.name()).orElseThrow());
        assertEquals(GgmlType.F32, f.type());
        for (Kernels k : KERNELS) {
          double rmsRatio = compare(k, w, f);
          assertTrue(rmsRatio <= maxRelativeRms(type), k.name() + " " + info.name() + ": rms error / rms value = " + rmsRatio);
        }
        checked++;
      }
      assertEquals(2 * 7 + 2, checked, "token_embd, output and 7 matrices per layer");
    }
  }

  @Test
  void theF32ModelReadsBackItsOwnValues() throws IOException {
    try (GgufFile ref = GgufFile.open(TestData.oracle("models/tiny256-F32.gguf"))) {
      WeightMatrix w = matrix(ref, ref.tensor("blk.0.ffn_down.weight").orElseThrow());
      float[] row = new float[w.cols()];
      for (Kernels k : KERNELS) {
        k.dequantizeRow(w, 3, row, 0);
        for (int i = 0; i < w.cols(); i++) {
          assertEquals(w.data().get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, w.rowOffset(3) + 4L * i), row[i]);
        }
      }
    }
  }

  private static WeightMatrix matrix(GgufFile file, GgufTensorInfo info) {
    return new WeightMatrix(info.name(), info.type(), file.tensorData(info), (int) info.dim(1), (int) info.dim(0));
  }

  /** Checks every value against its bound; returns rms(error) / rms(value) over the tensor. */
  private static double compare(Kernels k, WeightMatrix w, WeightMatrix f) {
    int n = w.cols();
    float[] got = new float[n];
    float[] want = new float[n];
    double errSq = 0;
    double valSq = 0;
    for (int r = 0; r < w.rows(); r++) {
      k.dequantizeRow(w, r, got, 0);
      f.data().asSlice(f.rowOffset(r), 4L * n).asByteBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(want);
      switch (w.type()) {
        case F16 -> {
          for (int i = 0; i < n; i++) {
            float expected = Float.float16ToFloat(Float.floatToFloat16(want[i]));
            if (Float.floatToRawIntBits(expected) != Float.floatToRawIntBits(got[i])) {
              fail(w.name() + " row " + r + " value " + i + ": F16 " + got[i] + ", expected " + expected);
            }
          }
        }
        case BF16 -> {
          for (int i = 0; i < n; i++) {
            float expected = bf16RoundToNearestEven(want[i]);
            if (Float.floatToRawIntBits(expected) != Float.floatToRawIntBits(got[i])) {
              fail(w.name() + " row " + r + " value " + i + ": BF16 " + got[i] + ", expected " + expected);
            }
          }
        }
        default -> checkBlocks(w, r, want, got);
      }
      for (int i = 0; i < n; i++) {
        errSq += (double) (got[i] - want[i]) * (got[i] - want[i]);
        valSq += (double) want[i] * want[i];
      }
    }
    return Math.sqrt(errSq / valSq);
  }

  /** The value a float32 rounds to in bfloat16 (round to nearest, ties to even), as ggml writes it. */
  private static float bf16RoundToNearestEven(float v) {
    int bits = Float.floatToRawIntBits(v);
    int rounded = (bits + 0x7FFF + ((bits >>> 16) & 1)) & 0xFFFF0000;
    return Float.intBitsToFloat(rounded);
  }

  /**
   * Per-value error bounds from the F32 values of the block (fp16 scales add at most 2^-11 relative to the scale):
   * <ul>
   *   <li>Q8_0: d = amax/127, error &le; d/2 + 127 d 2^-11 &lt; 0.57 d.
   *   <li>Q4_0: d = max/-8; the far side of the range clamps at quant 15, so error &le; |d| (1 + 2^-8).
   *   <li>Q4_K (min/max rule per 32-value sub-block, 6-bit scales and mins against super-block maxima): error &le;
   *       range/30 (grid) + maxRange/126 (scale rounding across 15 steps) + amax/126 (min rounding).
   *   <li>Q6_K (scale max/-32 per 16 values; 8-bit scales d * sc with d = max scale / -128 and sc clamped to 127, so
   *       a scale can be off by a whole d): error &le; amax16/32 (one grid step: the value opposite the signed
   *       maximum clamps at quant 31) + 31 d = amax256/132.
   * </ul>
   */
  private static void checkBlocks(WeightMatrix w, int r, float[] want, float[] got) {
    int n = want.length;
    int bs = w.type().blockSize();
    for (int b0 = 0; b0 < n; b0 += bs) {
      double blockAmax = amax(want, b0, bs);
      double maxRange = 0;
      if (w.type() == GgmlType.Q4_K) {
        for (int j = 0; j < 8; j++) {
          maxRange = Math.max(maxRange, range(want, b0 + 32 * j, 32));
        }
      }
      for (int i = b0; i < b0 + bs; i++) {
        double bound = switch (w.type()) {
          case Q8_0 -> 0.57 * blockAmax / 127;
          case Q4_0 -> (1 + 1.0 / 256) * blockAmax / 8;
          case Q4_K -> 1.05 * (range(want, i / 32 * 32, 32) / 30 + maxRange / 126 + blockAmax / 126);
          case Q6_K -> 1.05 * (amax(want, i / 16 * 16, 16) / 32 + blockAmax / 132);
          default -> throw new IllegalArgumentException(w.type().toString());
        };
        if (Math.abs(got[i] - want[i]) > bound) {
          fail(w.name() + " " + w.type() + " row " + r + " value " + i + ": dequantized " + got[i] + ", F32 " + want[i] + ", bound " + bound);
        }
      }
    }
  }

  private static double amax(float[] v, int from, int n) {
    double m = 0;
    for (int i = from; i < from + n; i++) {
      m = Math.max(m, Math.abs(v[i]));
    }
    return m;
  }

  /** max - min over the values, with min clamped to at most 0 (the K-quant min is subtracted, never added). */
  private static double range(float[] v, int from, int n) {
    double lo = 0;
    double hi = Double.NEGATIVE_INFINITY;
    for (int i = from; i < from + n; i++) {
      lo = Math.min(lo, v[i]);
      hi = Math.max(hi, v[i]);
    }
    return hi - lo;
  }

  /** Typical quantization noise relative to the signal, with margin: a wrong layout gives ~1.4. */
  private static double maxRelativeRms(GgmlType t) {
    return switch (t) {
      case F16 -> 1e-3;
      case BF16 -> 1e-2;
      case Q8_0 -> 0.02;
      case Q6_K -> 0.06;
      case Q4_0, Q4_K -> 0.2;
      default -> throw new IllegalArgumentException(t.toString());
    };
  }
}
