package dev.caravan.engine.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class MatMulTest {
  private static final Arena ARENA = Arena.ofShared();
  private static final Kernels[] KERNELS = {new ScalarKernels(), new VectorKernels()};

  @AfterAll
  static void closeArena() {
    ARENA.close();
  }

  @ParameterizedTest
  @EnumSource(value = GgmlType.class, names = {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q6_K"})
  void everyBatchAndThreadCountIsBitIdenticalToPerRowDot(GgmlType t) {
    int rows = 37; // not a multiple of the row tile
    int cols = t.blockSize() == 256 ? 512 : t.blockSize() == 32 ? 96 : 100;
    WeightMatrix w = TestWeights.random(t, rows, cols, 77 + t.ordinal(), ARENA);
    for (Kernels k : KERNELS) {
      for (int threads = 1; threads <= 2; threads++) {
        try (Parallel p = new Parallel(threads)) {
          for (int batch = 1; batch <= 17; batch++) {
            float[] x = TestWeights.activations(batch * cols, 1000 + batch);
            float[] out = new float[batch * rows];
            MatMul.matmul(k, p, w, x, batch, out);
            for (int b = 0; b < batch; b++) {
              for (int r = 0; r < rows; r++) {
                float expected = k.dot(w, r, x, b * cols);
                if (Float.floatToRawIntBits(expected) != Float.floatToRawIntBits(out[b * rows + r])) {
                  fail(k.name() + " " + t + " threads " + threads + " batch " + batch + " token " + b + " row " + r + ": dot " + expected + ", matmul " + out[b * rows + r]);
                }
              }
            }
          }
        }
      }
    }
  }

  @Test
  void rejectsArraysTooSmallForTheBatch() {
    WeightMatrix w = TestWeights.random(GgmlType.Q8_0, 4, 64, 3, ARENA);
    try (Parallel p = new Parallel(1)) {
      assertThrows(IllegalArgumentException.class, () -> MatMul.matmul(KERNELS[0], p, w, new float[127], 2, new float[8]));
      assertThrows(IllegalArgumentException.class, () -> MatMul.matmul(KERNELS[0], p, w, new float[128], 2, new float[7]));
      assertThrows(IllegalArgumentException.class, () -> MatMul.matmul(KERNELS[0], p, w, new float[128], 0, new float[8]));
    }
  }
}
