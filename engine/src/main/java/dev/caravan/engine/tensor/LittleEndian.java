package dev.caravan.engine.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Unaligned little-endian reads from weight bytes: GGUF stores every value little-endian, at any alignment. */
final class LittleEndian {
  static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  static final ValueLayout.OfByte I8 = ValueLayout.JAVA_BYTE;

  private LittleEndian() {}

  /** The IEEE binary16 value at byte offset {@code off}, widened exactly to float. */
  static float f16(MemorySegment s, long off) {
    return Float.float16ToFloat(s.get(I16, off));
  }

  /** The bfloat16 value at byte offset {@code off}: its 16 bits are the upper half of a float32. */
  static float bf16(MemorySegment s, long off) {
    return Float.intBitsToFloat(s.get(I16, off) << 16);
  }

  /** The signed byte at {@code off}. */
  static int i8(MemorySegment s, long off) {
    return s.get(I8, off);
  }

  /** The unsigned byte at {@code off}, 0..255. */
  static int u8(MemorySegment s, long off) {
    return s.get(I8, off) & 0xFF;
  }
}
