package dev.caravan.engine.gguf;

import dev.caravan.engine.tensor.GgmlType;
import java.util.Arrays;

/**
 * One tensor's entry in a GGUF file. {@code dims} are in ggml order: {@code dims[0]} is the row length (the number of
 * input features of a weight matrix), {@code dims[1]} the number of rows. {@code offset} is relative to the start of the
 * data section.
 */
public record GgufTensorInfo(String name, long[] dims, GgmlType type, long offset, long byteSize) {

  public GgufTensorInfo {
    dims = dims.clone();
  }

  @Override
  public long[] dims() {
    return dims.clone();
  }

  public int rank() {
    return dims.length;
  }

  /** Dimension {@code i}, or 1 past the tensor's rank. */
  public long dim(int i) {
    return i < dims.length ? dims[i] : 1;
  }

  public long elementCount() {
    long n = 1;
    for (long d : dims) {
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  public String shape() {
    return Arrays.toString(dims);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof GgufTensorInfo t
        && t.name.equals(name)
        && Arrays.equals(t.dims, dims)
        && t.type == type
        && t.offset == offset
        && t.byteSize == byteSize;
  }

  @Override
  public int hashCode() {
    return name.hashCode() * 31 + Arrays.hashCode(dims);
  }

  @Override
  public String toString() {
    return name + " " + type + " " + shape() + " @" + offset + " (" + byteSize + " bytes)";
  }
}
