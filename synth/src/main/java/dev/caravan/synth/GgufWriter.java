package dev.caravan.synth;

import dev.caravan.engine.gguf.GgufArray;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.gguf.GgufTensorInfo;
import dev.caravan.engine.gguf.GgufValue;
import dev.caravan.engine.gguf.GgufValueType;
import dev.caravan.engine.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Writes a GGUF version 3 file: metadata of every value type (nested arrays included), tensor infos, and tensor data
 * streamed to disk, so a file of any size is written with a bounded amount of memory.
 *
 * <p>Usage: {@link #put} metadata, {@link #addTensor} each tensor with a {@link TensorSource} that produces its bytes
 * (or float values, quantized on the way) in chunks of any size when asked, then {@link #write}. The header is built in
 * memory (it is small: metadata and tensor infos); tensor data passes through one fixed-size buffer. The file is
 * written beside the target as {@code NAME.part} and renamed when complete, so a failed write leaves no half file.
 *
 * <p>Layout: as {@link GgufFile} describes it. Tensor data starts at the header size rounded up to the alignment;
 * tensors follow in the order they were added, each at an offset that is a multiple of the alignment, zero-padded
 * between. The alignment is {@code general.alignment} when that key is set (as UINT32; see {@link #alignment(int)}),
 * else {@value GgufFile#DEFAULT_ALIGNMENT}.
 */
public final class GgufWriter {
  /** GGUF magic "GGUF" read as a little-endian u32. */
  private static final int MAGIC = 0x46554747;
  private static final int VERSION = 3;
  private static final int BUFFER_BYTES = 1 << 20;

  private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
  private final List<PendingTensor> tensors = new ArrayList<>();
  private final Set<String> tensorNames = new LinkedHashSet<>();

  /** Produces one tensor's bytes when the writer reaches it. */
  @FunctionalInterface
  public interface TensorSource {
    /** Writes exactly {@code sink.byteSize()} bytes to {@code sink}, in as many calls as convenient. */
    void writeTo(TensorSink sink) throws IOException;
  }

  /** Where a {@link TensorSource} puts its tensor's bytes. */
  public interface TensorSink {
    /** The tensor being written. */
    GgufTensorInfo tensor();

    /** Bytes still expected for this tensor. */
    long remaining();

    /** Raw bytes, already in the tensor's type. */
    void write(MemorySegment bytes) throws IOException;

    /** Raw bytes, already in the tensor's type. */
    default void write(byte[] bytes, int off, int len) throws IOException {
      write(MemorySegment.ofArray(bytes).asSlice(off, len));
    }

    /**
     * Float values converted to the tensor's type with {@link Quantizer}; {@code n} must be a whole number of blocks
     * (a row or several rows, typically).
     */
    void writeFloats(float[] values, int off, int n) throws IOException;
  }

  /** Told how far the write has come: {@code written} of {@code total} bytes (the final file size). */
  @FunctionalInterface
  public interface Progress {
    void update(long written, long total);

    /** A listener that ignores everything. */
    static Progress none() {
      return (w, t) -> {};
    }
  }

  private record PendingTensor(GgufTensorInfo info, TensorSource source) {}

  // ------------------------------------------------------------------------------------------------ metadata

  /** Sets metadata {@code key} to {@code value} (replacing an earlier value; the key keeps its first position). */
  public GgufWriter put(String key, GgufValue value) {
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(value, "value");
    if (key.isEmpty()) {
      throw new IllegalArgumentException("metadata key is empty");
    }
    checkRange(key, value);
    if (key.equals(GgufFile.ALIGNMENT_KEY)) {
      checkAlignment(value);
    }
    metadata.put(key, value);
    return this;
  }

  /** Sets a STRING value. */
  public GgufWriter putString(String key, String value) {
    return put(key, GgufValue.ofString(value));
  }

  /** Sets a UINT32 value (0 to 2^32 - 1). */
  public GgufWriter putUInt32(String key, long value) {
    return put(key, GgufValue.ofUInt32(value));
  }

  /** Sets an INT32 value. */
  public GgufWriter putInt32(String key, int value) {
    return put(key, GgufValue.ofInt32(value));
  }

  /** Sets a UINT64 value (the long's bits: negative values stand for 2^63 and above). */
  public GgufWriter putUInt64(String key, long value) {
    return put(key, GgufValue.ofUInt64(value));
  }

  /** Sets a FLOAT32 value. */
  public GgufWriter putFloat32(String key, float value) {
    return put(key, GgufValue.ofFloat32(value));
  }

  /** Sets a BOOL value. */
  public GgufWriter putBool(String key, boolean value) {
    return put(key, GgufValue.ofBool(value));
  }

  /** Sets an ARRAY value (any element type, nested arrays included). */
  public GgufWriter putArray(String key, GgufArray value) {
    return put(key, GgufValue.ofArray(value));
  }

  /** Sets {@code general.alignment} (a power of two up to 1 MiB) as UINT32. */
  public GgufWriter alignment(int alignment) {
    return putUInt32(GgufFile.ALIGNMENT_KEY, alignment);
  }

  /** The alignment the file will use. */
  public int alignment() {
    GgufValue v = metadata.get(GgufFile.ALIGNMENT_KEY);
    return v == null ? GgufFile.DEFAULT_ALIGNMENT : (int) (long) (Long) v.value();
  }

  /** The metadata set so far, in file order. */
  public Map<String, GgufValue> metadata() {
    return Collections.unmodifiableMap(metadata);
  }

  // ------------------------------------------------------------------------------------------------ tensors

  /**
   * Adds a tensor; its data comes from {@code source} when {@link #write} reaches it. {@code dims} are in ggml order
   * ({@code dims[0]} = row length, a multiple of the type's block size).
   */
  public GgufWriter addTensor(String name, GgmlType type, long[] dims, TensorSource source) {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(source, "source");
    int nameBytes = name.getBytes(StandardCharsets.UTF_8).length;
    if (nameBytes == 0 || nameBytes >= GgufFile.MAX_NAME_BYTES) {
      throw new IllegalArgumentException("tensor name '" + name + "' has " + nameBytes + " bytes; ggml allows 1 to " + (GgufFile.MAX_NAME_BYTES - 1));
    }
    if (!tensorNames.add(name)) {
      throw new IllegalArgumentException("tensor " + name + " was already added");
    }
    if (dims.length < 1 || dims.length > GgufFile.MAX_DIMS) {
      tensorNames.remove(name);
      throw new IllegalArgumentException("tensor " + name + " has " + dims.length + " dimensions; ggml allows 1 to " + GgufFile.MAX_DIMS);
    }
    long elements = 1;
    for (long d : dims) {
      if (d <= 0) {
        tensorNames.remove(name);
        throw new IllegalArgumentException("tensor " + name + " has a dimension of " + d);
      }
      elements = Math.multiplyExact(elements, d);
    }
    if (dims[0] % type.blockSize() != 0) {
      tensorNames.remove(name);
      throw new IllegalArgumentException("tensor " + name + " is " + type + " with rows of " + dims[0] + " values, not a multiple of its block size " + type.blockSize());
    }
    // the offset is fixed at write time, when the alignment is final
    tensors.add(new PendingTensor(new GgufTensorInfo(name, dims, type, -1, type.byteSize(elements)), source));
    return this;
  }

  /** Adds a tensor whose bytes (already in {@code type}) are in {@code data}. */
  public GgufWriter addTensor(String name, GgmlType type, long[] dims, MemorySegment data) {
    return addTensor(name, type, dims, sink -> sink.write(data));
  }

  /** Adds a tensor of {@code values}, converted to {@code type} by {@link Quantizer}. */
  public GgufWriter addTensor(String name, GgmlType type, long[] dims, float[] values) {
    return addTensor(name, type, dims, sink -> sink.writeFloats(values, 0, values.length));
  }

  /** The tensor infos as they will be written (offsets relative to the data section), in file order. */
  public List<GgufTensorInfo> tensorInfos() {
    List<GgufTensorInfo> out = new ArrayList<>(tensors.size());
    long offset = 0;
    int alignment = alignment();
    for (PendingTensor t : tensors) {
      GgufTensorInfo i = t.info();
      out.add(new GgufTensorInfo(i.name(), i.dims(), i.type(), offset, i.byteSize()));
      offset = align(offset + i.byteSize(), alignment);
    }
    return out;
  }

  /** The size of the file {@link #write} will produce. */
  public long fileSize() {
    List<GgufTensorInfo> infos = tensorInfos();
    long data = 0;
    if (!infos.isEmpty()) {
      GgufTensorInfo last = infos.getLast();
      data = align(last.offset() + last.byteSize(), alignment());
    }
    return align(header(infos).length, alignment()) + data;
  }

  // ------------------------------------------------------------------------------------------------ writing

  /** Writes the file to {@code out} (replacing it), reporting progress as tensor data is written. */
  public void write(Path out, Progress progress) throws IOException {
    Objects.requireNonNull(progress, "progress");
    int alignment = alignment();
    List<GgufTensorInfo> infos = tensorInfos();
    byte[] header = header(infos);
    long total = fileSize();
    Path part = out.resolveSibling(out.getFileName() + ".part");
    boolean done = false;
    try (FileChannel ch = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
      Output o = new Output(ch, total, progress);
      // header, padded to the alignment
      o.put(MemorySegment.ofArray(header));
      o.pad(alignment);
      // tensor data, each tensor padded to the alignment
      for (int i = 0; i < tensors.size(); i++) {
        GgufTensorInfo info = infos.get(i);
        Sink sink = new Sink(o, info);
        tensors.get(i).source().writeTo(sink);
        if (sink.remaining() != 0) {
          throw new IOException("tensor " + info.name() + ": its source wrote " + (info.byteSize() - sink.remaining()) + " of " + info.byteSize() + " bytes");
        }
        o.pad(alignment);
      }
      o.flush();
      if (o.position != total) {
        throw new IllegalStateException("wrote " + o.position + " bytes, planned " + total);
      }
      done = true;
    } finally {
      if (!done) {
        Files.deleteIfExists(part);
      }
    }
    Files.move(part, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  /** Magic, version, counts, metadata, tensor infos: everything before the first padding. */
  private byte[] header(List<GgufTensorInfo> infos) {
    Bytes b = new Bytes();
    b.u32(MAGIC);
    b.u32(VERSION);
    b.u64(infos.size());
    b.u64(metadata.size());
    for (Map.Entry<String, GgufValue> e : metadata.entrySet()) {
      b.string(e.getKey());
      b.u32(e.getValue().type().id());
      value(b, e.getValue().type(), e.getValue().value());
    }
    for (GgufTensorInfo t : infos) {
      b.string(t.name());
      b.u32(t.rank());
      for (long d : t.dims()) {
        b.u64(d);
      }
      b.u32(t.type().id());
      b.u64(t.offset());
    }
    return b.toArray();
  }

  private static void value(Bytes b, GgufValueType type, Object v) {
    switch (type) {
      case UINT8, INT8 -> b.u8((int) (long) (Long) v);
      case UINT16, INT16 -> b.u16((int) (long) (Long) v);
      case UINT32, INT32 -> b.u32((int) (long) (Long) v);
      case UINT64, INT64 -> b.u64((Long) v);
      case FLOAT32 -> b.u32(Float.floatToRawIntBits((Float) v));
      case FLOAT64 -> b.u64(Double.doubleToRawLongBits((Double) v));
      case BOOL -> b.u8((Boolean) v ? 1 : 0);
      case STRING -> b.string((String) v);
      case ARRAY -> array(b, (GgufArray) v);
    }
  }

  private static void array(Bytes b, GgufArray a) {
    b.u32(a.elementType().id());
    int n = a.length();
    b.u64(n);
    Object e = a.elements();
    switch (a.elementType()) {
      case UINT8, INT8 -> b.bytes((byte[]) e);
      case UINT16, INT16 -> {
        for (short s : (short[]) e) {
          b.u16(s);
        }
      }
      case UINT32, INT32 -> {
        for (int i : (int[]) e) {
          b.u32(i);
        }
      }
      case UINT64, INT64 -> {
        for (long l : (long[]) e) {
          b.u64(l);
        }
      }
      case FLOAT32 -> {
        for (float f : (float[]) e) {
          b.u32(Float.floatToRawIntBits(f));
        }
      }
      case FLOAT64 -> {
        for (double d : (double[]) e) {
          b.u64(Double.doubleToRawLongBits(d));
        }
      }
      case BOOL -> {
        for (boolean x : (boolean[]) e) {
          b.u8(x ? 1 : 0);
        }
      }
      case STRING -> {
        for (String s : (String[]) e) {
          b.string(s);
        }
      }
      case ARRAY -> {
        for (GgufArray inner : (GgufArray[]) e) {
          array(b, inner);
        }
      }
    }
  }

  // ------------------------------------------------------------------------------------------------ validation

  /** Integer values must fit their GGUF type (so that they read back as the same value). */
  private static void checkRange(String key, GgufValue v) {
    if (!(v.value() instanceof Long l)) {
      if (v.value() instanceof GgufArray a) {
        checkArray(key, a);
      }
      return;
    }
    long min;
    long max;
    switch (v.type()) {
      case UINT8 -> { min = 0; max = 0xff; }
      case INT8 -> { min = Byte.MIN_VALUE; max = Byte.MAX_VALUE; }
      case UINT16 -> { min = 0; max = 0xffff; }
      case INT16 -> { min = Short.MIN_VALUE; max = Short.MAX_VALUE; }
      case UINT32 -> { min = 0; max = 0xffffffffL; }
      case INT32 -> { min = Integer.MIN_VALUE; max = Integer.MAX_VALUE; }
      default -> { return; } // 64-bit: every long is a valid bit pattern
    }
    if (l < min || l > max) {
      throw new IllegalArgumentException("metadata " + key + " = " + l + " does not fit " + v.type());
    }
  }

  private static void checkArray(String key, GgufArray a) {
    if (a.elementType() == GgufValueType.STRING) {
      for (String s : (String[]) a.elements()) {
        Objects.requireNonNull(s, () -> "metadata " + key + " holds a null string");
      }
    } else if (a.elementType() == GgufValueType.ARRAY) {
      for (GgufArray inner : (GgufArray[]) a.elements()) {
        Objects.requireNonNull(inner, () -> "metadata " + key + " holds a null array");
        checkArray(key, inner);
      }
    }
  }

  private static void checkAlignment(GgufValue v) {
    if (v.type() != GgufValueType.UINT32 && v.type() != GgufValueType.INT32 && v.type() != GgufValueType.UINT64) {
      throw new IllegalArgumentException(GgufFile.ALIGNMENT_KEY + " must be UINT32, not " + v.type());
    }
    long a = (Long) v.value();
    if (a <= 0 || a > (1 << 20) || Long.bitCount(a) != 1) {
      throw new IllegalArgumentException(GgufFile.ALIGNMENT_KEY + " = " + a + " is not a power of two up to 1 MiB");
    }
  }

  private static long align(long x, int alignment) {
    return (x + alignment - 1) / alignment * alignment;
  }

  // ------------------------------------------------------------------------------------------------ plumbing

  /** A growable little-endian byte buffer for the header. */
  private static final class Bytes {
    private byte[] buf = new byte[4096];
    private int size;

    private void ensure(int n) {
      if (size + n > buf.length) {
        long want = Math.max((long) buf.length * 2, (long) size + n);
        if (want > Integer.MAX_VALUE - 16) {
          throw new IllegalStateException("GGUF header larger than 2 GiB");
        }
        buf = Arrays.copyOf(buf, (int) want);
      }
    }

    void u8(int v) {
      ensure(1);
      buf[size++] = (byte) v;
    }

    void u16(int v) {
      ensure(2);
      buf[size++] = (byte) v;
      buf[size++] = (byte) (v >>> 8);
    }

    void u32(int v) {
      ensure(4);
      for (int i = 0; i < 4; i++) {
        buf[size++] = (byte) (v >>> (8 * i));
      }
    }

    void u64(long v) {
      ensure(8);
      for (int i = 0; i < 8; i++) {
        buf[size++] = (byte) (v >>> (8 * i));
      }
    }

    void bytes(byte[] b) {
      ensure(b.length);
      System.arraycopy(b, 0, buf, size, b.length);
      size += b.length;
    }

    void string(String s) {
      byte[] b = s.getBytes(StandardCharsets.UTF_8);
      u64(b.length);
      bytes(b);
    }

    byte[] toArray() {
      return Arrays.copyOf(buf, size);
    }
  }

  /** The file: one direct buffer in front of the channel, counting bytes and reporting progress per flush. */
  private static final class Output {
    private final FileChannel ch;
    private final long total;
    private final Progress progress;
    private final ByteBuffer buf = ByteBuffer.allocateDirect(BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    private final MemorySegment bufSeg = MemorySegment.ofBuffer(buf);
    private long position;

    Output(FileChannel ch, long total, Progress progress) {
      this.ch = ch;
      this.total = total;
      this.progress = progress;
    }

    void put(MemorySegment src) throws IOException {
      long off = 0;
      long n = src.byteSize();
      while (off < n) {
        int chunk = (int) Math.min(n - off, buf.remaining());
        MemorySegment.copy(src, off, bufSeg, buf.position(), chunk);
        buf.position(buf.position() + chunk);
        off += chunk;
        position += chunk;
        if (!buf.hasRemaining()) {
          flush();
        }
      }
    }

    void pad(int alignment) throws IOException {
      int n = (int) (align(position, alignment) - position);
      for (int i = 0; i < n; i++) {
        if (!buf.hasRemaining()) {
          flush();
        }
        buf.put((byte) 0);
        position++;
      }
    }

    void flush() throws IOException {
      buf.flip();
      while (buf.hasRemaining()) {
        ch.write(buf);
      }
      buf.clear();
      progress.update(position, total);
    }
  }

  /** One tensor's sink: checks the byte count and quantizes floats through a reused scratch array. */
  private static final class Sink implements TensorSink {
    private final Output out;
    private final GgufTensorInfo info;
    private long remaining;
    private byte[] scratch = new byte[0];

    Sink(Output out, GgufTensorInfo info) {
      this.out = out;
      this.info = info;
      this.remaining = info.byteSize();
    }

    @Override
    public GgufTensorInfo tensor() {
      return info;
    }

    @Override
    public long remaining() {
      return remaining;
    }

    @Override
    public void write(MemorySegment bytes) throws IOException {
      if (bytes.byteSize() > remaining) {
        throw new IOException("tensor " + info.name() + ": its source wrote more than its " + info.byteSize() + " bytes");
      }
      out.put(bytes);
      remaining -= bytes.byteSize();
    }

    @Override
    public void writeFloats(float[] values, int off, int n) throws IOException {
      long size = info.type().byteSize(n);
      if (size > remaining) {
        throw new IOException("tensor " + info.name() + ": its source wrote more than its " + info.byteSize() + " bytes");
      }
      if (scratch.length < size) {
        scratch = new byte[Math.toIntExact(size)];
      }
      Quantizer.quantize(info.type(), values, off, n, MemorySegment.ofArray(scratch), 0);
      write(MemorySegment.ofArray(scratch).asSlice(0, size));
    }
  }

  /** Copies the metadata and tensors of an open file (e.g. to rewrite it, or as a starting point for edits). */
  public static GgufWriter copyOf(GgufFile file) {
    GgufWriter w = new GgufWriter();
    for (Map.Entry<String, GgufValue> e : file.metadata().asMap().entrySet()) {
      w.put(e.getKey(), e.getValue());
    }
    for (GgufTensorInfo t : file.tensors()) {
      w.addTensor(t.name(), t.type(), t.dims(), file.tensorData(t));
    }
    return w;
  }
}
