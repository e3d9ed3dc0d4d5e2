package dev.caravan.engine.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** The plain reference kernels: one value at a time, easy to read, and the twin every fast kernel is tested against. */
public final class ScalarKernels implements Kernels {
  private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  @Override
  public String name() {
    return "scalar";
  }

  @Override
  public float dot(WeightMatrix w, int row, float[] x, int xOff) {
    MemorySegment d = w.data();
    long base = w.rowOffset(row);
    int n = w.cols();
    switch (w.type()) {
      case F32 -> {
        float sum = 0f;
        for (int i = 0; i < n; i++) {
          sum += d.get(F32, base + 4L * i) * x[xOff + i];
        }
        return sum;
      }
      default -> throw new UnsupportedOperationException("no scalar dot for " + w.type() + " yet");
    }
  }

  @Override
  public void dequantizeRow(WeightMatrix w, int row, float[] out, int outOff) {
    MemorySegment d = w.data();
    long base = w.rowOffset(row);
    int n = w.cols();
    switch (w.type()) {
      case F32 -> {
        for (int i = 0; i < n; i++) {
          out[outOff + i] = d.get(F32, base + 4L * i);
        }
      }
      default -> throw new UnsupportedOperationException("no scalar dequantize for " + w.type() + " yet");
    }
  }
}
