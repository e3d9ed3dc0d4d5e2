package dev.caravan.cluster;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.caravan.proto.v1.DType;
import dev.caravan.proto.v1.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Float activations to and from the wire: F32, little-endian, row-major, exact (no bit is lost between stages). */
public final class Activations {
  private Activations() {}

  /** A [rows, cols] F32 tensor from {@code data[0 .. rows*cols)}. */
  public static Tensor toTensor(float[] data, int rows, int cols) {
    int n = Math.multiplyExact(rows, cols);
    ByteBuffer buf = ByteBuffer.allocate(n * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    buf.asFloatBuffer().put(data, 0, n);
    ByteString bytes = UnsafeByteOperations.unsafeWrap(buf.array());
    return Tensor.newBuilder().setDtype(DType.DTYPE_F32).addShape(rows).addShape(cols).setData(bytes).build();
  }

  /**
   * Reads a [rows, cols] F32 tensor into {@code dst}; checks dtype, shape and byte length.
   *
   * @throws IllegalArgumentException naming what does not match
   */
  public static void fromTensor(Tensor t, int rows, int cols, float[] dst) {
    if (t.getDtype() != DType.DTYPE_F32) {
      throw new IllegalArgumentException("activations are " + t.getDtype() + ", expected DTYPE_F32");
    }
    if (t.getShapeCount() != 2 || t.getShape(0) != rows || t.getShape(1) != cols) {
      throw new IllegalArgumentException("activations have shape " + t.getShapeList() + ", expected [" + rows + ", " + cols + "]");
    }
    long n = (long) rows * cols;
    if (t.getData().size() != n * Float.BYTES) {
      throw new IllegalArgumentException("activations hold " + t.getData().size() + " bytes, expected " + n * Float.BYTES);
    }
    if (dst.length < n) {
      throw new IllegalArgumentException("destination holds " + dst.length + " floats, needs " + n);
    }
    t.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(dst, 0, (int) n);
  }
}
