package dev.caravan.engine.gguf;

import java.util.Objects;

/**
 * One metadata value with its GGUF type, so that it can be written back as it was read.
 *
 * <p>Java representation of {@link #value()}: integer types as {@link Long} (UINT64 keeps its bits: values above
 * 2^63 - 1 read as negative), FLOAT32 as {@link Float}, FLOAT64 as {@link Double}, BOOL as {@link Boolean}, STRING as
 * {@link String}, ARRAY as {@link GgufArray}.
 */
public record GgufValue(GgufValueType type, Object value) {

  public GgufValue {
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(value, "value");
    Class<?> expected =
        switch (type) {
          case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> Long.class;
          case FLOAT32 -> Float.class;
          case FLOAT64 -> Double.class;
          case BOOL -> Boolean.class;
          case STRING -> String.class;
          case ARRAY -> GgufArray.class;
        };
    if (!expected.isInstance(value)) {
      throw new IllegalArgumentException(type + " value must be a " + expected.getSimpleName() + ", not " + value.getClass().getSimpleName());
    }
  }

  public static GgufValue ofString(String s) {
    return new GgufValue(GgufValueType.STRING, s);
  }

  public static GgufValue ofUInt32(long v) {
    return new GgufValue(GgufValueType.UINT32, v);
  }

  public static GgufValue ofInt32(long v) {
    return new GgufValue(GgufValueType.INT32, v);
  }

  public static GgufValue ofUInt64(long v) {
    return new GgufValue(GgufValueType.UINT64, v);
  }

  public static GgufValue ofFloat32(float v) {
    return new GgufValue(GgufValueType.FLOAT32, v);
  }

  public static GgufValue ofBool(boolean v) {
    return new GgufValue(GgufValueType.BOOL, v);
  }

  public static GgufValue ofArray(GgufArray a) {
    return new GgufValue(GgufValueType.ARRAY, a);
  }

  /** A short human-readable rendering (arrays abbreviated), for {@code model info}. */
  public String describe() {
    return switch (type) {
      case STRING -> {
        String s = (String) value;
        yield s.length() > 120 ? '"' + s.substring(0, 117).replace("\n", "\\n") + "...\" (" + s.length() + " chars)" : '"' + s.replace("\n", "\\n") + '"';
      }
      case ARRAY -> ((GgufArray) value).describe();
      case UINT64 -> Long.toUnsignedString((Long) value);
      default -> String.valueOf(value);
    };
  }
}
