package dev.caravan.engine.gguf;

import dev.caravan.engine.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A GGUF file (versions 2 and 3), memory-mapped as one segment. Opening parses and validates the header, the metadata
 * and the tensor infos against the file; tensor data is never read or copied here: {@link #tensorData} hands out a
 * slice of the mapping, so only the pages of tensors actually used are ever touched.
 *
 * <p>Layout (little-endian): magic "GGUF", u32 version, u64 tensor count, u64 metadata count, the metadata entries
 * (string key, u32 type, value), the tensor infos (string name, u32 n_dims, u64 dims[n_dims], u32 ggml type, u64 offset),
 * padding to {@code general.alignment} (default 32), then the tensor data. Strings are u64 length + UTF-8 bytes.
 */
public final class GgufFile implements AutoCloseable {
  public static final int DEFAULT_ALIGNMENT = 32;
  public static final String ALIGNMENT_KEY = "general.alignment";
  /** ggml's limit on tensor dimensions. */
  public static final int MAX_DIMS = 4;
  /** ggml's GGML_MAX_NAME: names must be shorter than this. */
  public static final int MAX_NAME_BYTES = 64;
  /** Nesting deeper than this is hostile, not a model. */
  private static final int MAX_ARRAY_NESTING = 8;

  private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private final Path path;
  private final Arena arena;
  private final MemorySegment file;
  private final int version;
  private final GgufMetadata metadata;
  private final Map<String, GgufTensorInfo> tensors;
  private final int alignment;
  private final long dataOffset;
  private final MemorySegment data;

  private GgufFile(Path path, Arena arena, MemorySegment file, int version, GgufMetadata metadata, Map<String, GgufTensorInfo> tensors, int alignment, long dataOffset) {
    this.path = path;
    this.arena = arena;
    this.file = file;
    this.version = version;
    this.metadata = metadata;
    this.tensors = tensors;
    this.alignment = alignment;
    this.dataOffset = dataOffset;
    this.data = dataOffset >= file.byteSize() ? MemorySegment.NULL.reinterpret(0) : file.asSlice(dataOffset);
  }

  /**
   * Opens and validates {@code path}.
   *
   * @throws NoSuchFileException when there is no such file
   * @throws GgufFormatException when the file is not a GGUF file we can read, naming the problem
   */
  public static GgufFile open(Path path) throws IOException {
    if (!Files.exists(path)) {
      throw new NoSuchFileException(path.toString(), null, "no such model file");
    }
    if (Files.isDirectory(path)) {
      throw new GgufFormatException(path, "is a directory, not a GGUF file");
    }
    Arena arena = Arena.ofShared();
    try {
      MemorySegment seg;
      try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
        long size = ch.size();
        if (size == 0) {
          throw new GgufFormatException(path, "is empty, not a GGUF file");
        }
        seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
      }
      GgufFile f = parse(path, arena, seg);
      return f;
    } catch (IOException | RuntimeException | Error e) {
      arena.close();
      throw e;
    }
  }

  private static GgufFile parse(Path path, Arena arena, MemorySegment seg) throws GgufFormatException {
    Reader r = new Reader(path, seg);
    // magic and version
    if (seg.byteSize() < 4) {
      throw new GgufFormatException(path, "is " + seg.byteSize() + " bytes long, too short for a GGUF file");
    }
    int magic = r.u32("magic");
    if (magic != 0x46554747) { // "GGUF" read little-endian
      String hint = switch (magic) {
        case 0x67676d6c, 0x67676d66, 0x67676a74 -> " (it is an old GGML/GGMF/GGJT model: convert it to GGUF with llama.cpp)";
        default -> "";
      };
      throw new GgufFormatException(path, "is not a GGUF file: bad magic 0x" + Integer.toHexString(Integer.reverseBytes(magic)) + hint);
    }
    int version = r.u32("version");
    if (version == 1) {
      throw new GgufFormatException(path, "is GGUF version 1, which predates 64-bit counts; convert it with a current llama.cpp");
    }
    if (version != 2 && version != 3) {
      String why = Integer.reverseBytes(version) == 2 || Integer.reverseBytes(version) == 3 ? " (a big-endian GGUF, which Caravan does not read)" : "";
      throw new GgufFormatException(path, "has unsupported GGUF version " + Integer.toUnsignedString(version) + why);
    }
    long tensorCount = r.u64("tensor count");
    long kvCount = r.u64("metadata count");
    // every metadata entry takes at least 8 (key length) + 4 (type) + 1 bytes; every tensor info 8 + 4 + 4 + 8
    if (kvCount < 0 || kvCount > r.remaining() / 13) {
      throw new GgufFormatException(path, "claims " + Long.toUnsignedString(kvCount) + " metadata entries, more than its " + seg.byteSize() + " bytes can hold");
    }
    if (tensorCount < 0 || tensorCount > r.remaining() / 24) {
      throw new GgufFormatException(path, "claims " + Long.toUnsignedString(tensorCount) + " tensors, more than its " + seg.byteSize() + " bytes can hold");
    }

    // metadata
    Map<String, GgufValue> kv = new LinkedHashMap<>();
    for (long i = 0; i < kvCount; i++) {
      String key = r.string("metadata key #" + i);
      if (key.isEmpty()) {
        throw new GgufFormatException(path, "metadata key #" + i + " is empty");
      }
      String shown = printable(key);
      long typeId = Integer.toUnsignedLong(r.u32("type of " + shown));
      GgufValueType type = GgufValueType.byId(typeId);
      if (type == null) {
        throw new GgufFormatException(path, "metadata " + shown + " has unknown value type " + typeId);
      }
      GgufValue value = r.value(type, shown, 0);
      if (kv.putIfAbsent(key, value) != null) {
        throw new GgufFormatException(path, "metadata key " + shown + " appears twice");
      }
    }
    GgufMetadata metadata = new GgufMetadata(path.toString(), kv);

    int alignment = DEFAULT_ALIGNMENT;
    GgufValue al = kv.get(ALIGNMENT_KEY);
    if (al != null) {
      if (al.type() != GgufValueType.UINT32 && al.type() != GgufValueType.INT32 && al.type() != GgufValueType.UINT64) {
        throw new GgufFormatException(path, ALIGNMENT_KEY + " is " + al.type() + ", expected UINT32");
      }
      long a = (Long) al.value();
      if (a <= 0 || a > (1 << 20) || Long.bitCount(a) != 1) {
        throw new GgufFormatException(path, ALIGNMENT_KEY + " = " + a + " is not a power of two up to 1 MiB");
      }
      alignment = (int) a;
    }

    // tensor infos
    Map<String, GgufTensorInfo> infos = new LinkedHashMap<>();
    for (long i = 0; i < tensorCount; i++) {
      String rawName = r.string("tensor name #" + i);
      int nameBytes = rawName.getBytes(StandardCharsets.UTF_8).length;
      if (nameBytes == 0) {
        throw new GgufFormatException(path, "tensor #" + i + " has an empty name");
      }
      if (nameBytes >= MAX_NAME_BYTES) {
        throw new GgufFormatException(path, "tensor #" + i + " has a name of " + nameBytes + " bytes; ggml allows " + (MAX_NAME_BYTES - 1));
      }
      // in messages, the name with control characters escaped (a corrupt name could hold anything)
      String name = printable(rawName);
      long nDims = Integer.toUnsignedLong(r.u32("rank of tensor " + name));
      if (nDims < 1 || nDims > MAX_DIMS) {
        throw new GgufFormatException(path, "tensor " + name + " has " + nDims + " dimensions; ggml allows 1 to " + MAX_DIMS);
      }
      long[] dims = new long[(int) nDims];
      long elements = 1;
      for (int d = 0; d < nDims; d++) {
        dims[d] = r.u64("dimension " + d + " of tensor " + name);
        if (dims[d] <= 0) {
          throw new GgufFormatException(path, "tensor " + name + " has dimension " + d + " = " + Long.toUnsignedString(dims[d]) + ", not a valid size");
        }
        if (elements > Long.MAX_VALUE / dims[d]) {
          throw new GgufFormatException(path, "tensor " + name + " has an absurd shape " + shapeString(dims) + " (element count overflows)");
        }
        elements *= dims[d];
      }
      long typeId = Integer.toUnsignedLong(r.u32("type of tensor " + name));
      GgmlType type = GgmlType.byId(typeId);
      if (type == null) {
        throw new GgufFormatException(path, "tensor " + name + " has unknown ggml type id " + typeId);
      }
      if (dims[0] % type.blockSize() != 0) {
        throw new GgufFormatException(path, "tensor " + name + " is " + type + " with rows of " + dims[0] + " values, not a multiple of its block size " + type.blockSize());
      }
      long offset = r.u64("offset of tensor " + name);
      long bytes;
      try {
        bytes = type.byteSize(elements);
      } catch (ArithmeticException e) {
        throw new GgufFormatException(path, "tensor " + name + " has an absurd shape " + shapeString(dims) + " (byte size overflows)");
      }
      if (offset < 0 || offset % alignment != 0) {
        throw new GgufFormatException(path, "tensor " + name + " starts at data offset " + Long.toUnsignedString(offset) + ", not a multiple of the alignment " + alignment);
      }
      GgufTensorInfo info = new GgufTensorInfo(rawName, dims, type, offset, bytes);
      if (infos.putIfAbsent(rawName, info) != null) {
        throw new GgufFormatException(path, "tensor " + name + " appears twice");
      }
    }

    // data section: aligned after the header; every tensor inside it, none overlapping
    long headerEnd = r.position();
    long dataOffset = (headerEnd + alignment - 1) / alignment * alignment;
    long dataSize = Math.max(0, seg.byteSize() - dataOffset);
    List<GgufTensorInfo> byOffset = new ArrayList<>(infos.values());
    byOffset.sort(Comparator.comparingLong(GgufTensorInfo::offset));
    long prevEnd = 0;
    String prevName = null;
    for (GgufTensorInfo t : byOffset) {
      if (t.offset() > dataSize || t.byteSize() > dataSize - t.offset()) {
        throw new GgufFormatException(path, "tensor " + printable(t.name()) + " (" + t.byteSize() + " bytes at data offset " + t.offset() + ") runs past the end of the file: the data section holds " + dataSize + " bytes (file truncated?)");
      }
      if (t.offset() < prevEnd) {
        throw new GgufFormatException(path, "tensors " + printable(prevName) + " and " + printable(t.name()) + " overlap");
      }
      prevEnd = t.offset() + t.byteSize();
      prevName = t.name();
    }
    return new GgufFile(path, arena, seg, version, metadata, Collections.unmodifiableMap(infos), alignment, dataOffset);
  }

  /**
   * {@code s} as it may appear in a message: control characters escaped ({@code \n}, {@code \x00}) and anything past
   * 120 characters cut, since a hostile key or name can hold any bytes and any length.
   */
  static String printable(String s) {
    StringBuilder sb = new StringBuilder();
    int i = 0;
    for (; i < s.length() && sb.length() < 120; i++) {
      char c = s.charAt(i);
      if (c == '\n') {
        sb.append("\\n");
      } else if (c < 0x20 || c == 0x7f) {
        sb.append(String.format("\\x%02x", (int) c));
      } else {
        sb.append(c);
      }
    }
    if (i < s.length()) {
      sb.append("...(").append(s.length()).append(" chars)");
    }
    return sb.toString();
  }

  private static String shapeString(long[] dims) {
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < dims.length; i++) {
      sb.append(i > 0 ? ", " : "").append(Long.toUnsignedString(dims[i]));
    }
    return sb.append(']').toString();
  }

  public Path path() {
    return path;
  }

  public int version() {
    return version;
  }

  public GgufMetadata metadata() {
    return metadata;
  }

  /** Tensor infos in file order. */
  public List<GgufTensorInfo> tensors() {
    return List.copyOf(tensors.values());
  }

  public Optional<GgufTensorInfo> tensor(String name) {
    return Optional.ofNullable(tensors.get(name));
  }

  public int alignment() {
    return alignment;
  }

  /** Absolute file offset where the data section starts. */
  public long dataOffset() {
    return dataOffset;
  }

  public long fileSize() {
    return file.byteSize();
  }

  /** The bytes of one tensor: a read-only slice of the mapping, never a copy. */
  public MemorySegment tensorData(GgufTensorInfo t) {
    if (tensors.get(t.name()) != t && !t.equals(tensors.get(t.name()))) {
      throw new IllegalArgumentException("tensor " + t.name() + " is not from " + path);
    }
    return data.asSlice(t.offset(), t.byteSize());
  }

  /** Unmaps the file. Segments handed out become unusable (access throws, it does not crash). */
  @Override
  public void close() {
    arena.close();
  }

  @Override
  public String toString() {
    return "GgufFile[" + path + ", v" + version + ", " + tensors.size() + " tensors, " + metadata.keys().size() + " keys]";
  }

  /** A bounds-checked little-endian cursor over the mapped file; running off the end is a "truncated" error. */
  private static final class Reader {
    private final Path path;
    private final MemorySegment seg;
    private long pos;

    Reader(Path path, MemorySegment seg) {
      this.path = path;
      this.seg = seg;
    }

    long position() {
      return pos;
    }

    long remaining() {
      return seg.byteSize() - pos;
    }

    private void need(long n, String what) throws GgufFormatException {
      if (n < 0 || n > remaining()) {
        throw new GgufFormatException(path, "is truncated or corrupt: " + what + " needs " + (n < 0 ? Long.toUnsignedString(n) : n) + " bytes at offset " + pos + " but the file ends at " + seg.byteSize());
      }
    }

    int u32(String what) throws GgufFormatException {
      need(4, what);
      int v = seg.get(U32, pos);
      pos += 4;
      return v;
    }

    long u64(String what) throws GgufFormatException {
      need(8, what);
      long v = seg.get(U64, pos);
      pos += 8;
      return v;
    }

    byte u8(String what) throws GgufFormatException {
      need(1, what);
      return seg.get(ValueLayout.JAVA_BYTE, pos++);
    }

    short u16(String what) throws GgufFormatException {
      need(2, what);
      short v = seg.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), pos);
      pos += 2;
      return v;
    }

    String string(String what) throws GgufFormatException {
      return string(what, -1);
    }

    /**
     * A length-prefixed UTF-8 string; {@code index} ≥ 0 names element {@code index} of array {@code what} in errors (the
     * name is only built on an error: a vocabulary has tens of thousands of strings, read before any code is compiled).
     */
    String string(String what, int index) throws GgufFormatException {
      if (remaining() < 8) {
        need(8, "length of " + name(what, index));
      }
      long len = seg.get(U64, pos);
      pos += 8;
      if (len < 0 || len > Integer.MAX_VALUE - 16) {
        throw new GgufFormatException(path, name(what, index) + " claims a length of " + Long.toUnsignedString(len) + " bytes");
      }
      if (len > remaining()) {
        need(len, name(what, index));
      }
      byte[] bytes = new byte[(int) len];
      MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, pos, bytes, 0, bytes.length);
      pos += len;
      return new String(bytes, StandardCharsets.UTF_8);
    }

    private static String name(String what, int index) {
      return index < 0 ? what : what + "[" + index + "]";
    }

    GgufValue value(GgufValueType type, String key, int depth) throws GgufFormatException {
      return switch (type) {
        case UINT8 -> new GgufValue(type, (long) Byte.toUnsignedInt(u8(key)));
        case INT8 -> new GgufValue(type, (long) u8(key));
        case UINT16 -> new GgufValue(type, (long) Short.toUnsignedInt(u16(key)));
        case INT16 -> new GgufValue(type, (long) u16(key));
        case UINT32 -> new GgufValue(type, Integer.toUnsignedLong(u32(key)));
        case INT32 -> new GgufValue(type, (long) u32(key));
        case UINT64, INT64 -> new GgufValue(type, u64(key));
        case FLOAT32 -> new GgufValue(type, Float.intBitsToFloat(u32(key)));
        case FLOAT64 -> new GgufValue(type, Double.longBitsToDouble(u64(key)));
        case BOOL -> {
          byte b = u8(key);
          if (b != 0 && b != 1) {
            throw new GgufFormatException(path, "metadata " + key + " is a bool holding " + b);
          }
          yield new GgufValue(type, b == 1);
        }
        case STRING -> new GgufValue(type, string("metadata " + key));
        case ARRAY -> new GgufValue(type, array(key, depth));
      };
    }

    GgufArray array(String key, int depth) throws GgufFormatException {
      if (depth >= MAX_ARRAY_NESTING) {
        throw new GgufFormatException(path, "metadata " + key + " nests arrays more than " + MAX_ARRAY_NESTING + " deep");
      }
      long typeId = Integer.toUnsignedLong(u32("element type of " + key));
      GgufValueType et = GgufValueType.byId(typeId);
      if (et == null) {
        throw new GgufFormatException(path, "metadata " + key + " is an array of unknown type " + typeId);
      }
      long n = u64("length of " + key);
      if (n < 0 || n > Integer.MAX_VALUE - 16 || n > remaining() / et.minBytes()) {
        throw new GgufFormatException(path, "metadata " + key + " claims " + Long.toUnsignedString(n) + " " + et + " elements, more than the file can hold");
      }
      int len = (int) n;
      return switch (et) {
        case UINT8, INT8 -> {
          need(len, key);
          byte[] a = seg.asSlice(pos, len).toArray(ValueLayout.JAVA_BYTE);
          pos += len;
          yield new GgufArray(et, a);
        }
        case UINT16, INT16 -> {
          need(2L * len, key);
          short[] a = seg.asSlice(pos, 2L * len).toArray(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
          pos += 2L * len;
          yield new GgufArray(et, a);
        }
        case UINT32, INT32 -> {
          need(4L * len, key);
          int[] a = seg.asSlice(pos, 4L * len).toArray(U32);
          pos += 4L * len;
          yield new GgufArray(et, a);
        }
        case FLOAT32 -> {
          need(4L * len, key);
          float[] a = seg.asSlice(pos, 4L * len).toArray(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
          pos += 4L * len;
          yield new GgufArray(et, a);
        }
        case UINT64, INT64 -> {
          need(8L * len, key);
          long[] a = seg.asSlice(pos, 8L * len).toArray(U64);
          pos += 8L * len;
          yield new GgufArray(et, a);
        }
        case FLOAT64 -> {
          need(8L * len, key);
          double[] a = seg.asSlice(pos, 8L * len).toArray(ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
          pos += 8L * len;
          yield new GgufArray(et, a);
        }
        case BOOL -> {
          need(len, key);
          boolean[] a = new boolean[len];
          for (int i = 0; i < len; i++) {
            byte b = seg.get(ValueLayout.JAVA_BYTE, pos + i);
            if (b != 0 && b != 1) {
              throw new GgufFormatException(path, "metadata " + key + "[" + i + "] is a bool holding " + b);
            }
            a[i] = b == 1;
          }
          pos += len;
          yield new GgufArray(et, a);
        }
        case STRING -> {
          String[] a = new String[len];
          for (int i = 0; i < len; i++) {
            a[i] = string(key, i);
          }
          yield new GgufArray(et, a);
        }
        case ARRAY -> {
          GgufArray[] a = new GgufArray[len];
          for (int i = 0; i < len; i++) {
            a[i] = array(key + "[" + i + "]", depth + 1);
          }
          yield new GgufArray(et, a);
        }
      };
    }
  }
}
