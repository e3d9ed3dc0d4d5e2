package dev.caravan.engine.tensor;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * A weight matrix as it lies in the GGUF file: {@code rows} rows of {@code cols} values each, row-major, each row
 * {@code type.byteSize(cols)} bytes. It wraps the mapped bytes and never copies or expands them.
 *
 * <p>In GGUF terms a weight {@code [ne0 = cols, ne1 = rows]} maps {@code cols} input features to {@code rows} outputs.
 */
public final class WeightMatrix {
  private final String name;
  private final GgmlType type;
  private final MemorySegment data;
  private final int rows;
  private final int cols;
  private final long rowBytes;

  public WeightMatrix(String name, GgmlType type, MemorySegment data, int rows, int cols) {
    this.name = Objects.requireNonNull(name, "name");
    this.type = Objects.requireNonNull(type, "type");
    this.data = Objects.requireNonNull(data, "data");
    if (rows <= 0 || cols <= 0) {
      throw new IllegalArgumentException(name + ": bad shape " + rows + "x" + cols);
    }
    this.rows = rows;
    this.cols = cols;
    this.rowBytes = type.byteSize(cols);
    if (data.byteSize() != rowBytes * rows) {
      throw new IllegalArgumentException(name + ": " + data.byteSize() + " bytes do not hold " + rows + " rows of " + cols + " " + type + " values");
    }
  }

  public String name() {
    return name;
  }

  public GgmlType type() {
    return type;
  }

  public MemorySegment data() {
    return data;
  }

  public int rows() {
    return rows;
  }

  public int cols() {
    return cols;
  }

  /** Bytes per row. */
  public long rowBytes() {
    return rowBytes;
  }

  /** Byte offset of row {@code row} inside {@link #data()}. */
  public long rowOffset(int row) {
    return row * rowBytes;
  }

  @Override
  public String toString() {
    return name + " " + type + " " + rows + "x" + cols;
  }
}
