package dev.caravan.engine.gguf;

import java.lang.reflect.Array;
import java.util.Arrays;
import java.util.Objects;

/**
 * A GGUF metadata array: its element type and a Java array of the matching kind.
 *
 * <p>Element storage: UINT8/INT8 {@code byte[]}, UINT16/INT16 {@code short[]}, UINT32/INT32 {@code int[]} (UINT32 keeps
 * its bits), UINT64/INT64 {@code long[]}, FLOAT32 {@code float[]}, FLOAT64 {@code double[]}, BOOL {@code boolean[]},
 * STRING {@code String[]}, ARRAY {@code GgufArray[]}.
 */
public record GgufArray(GgufValueType elementType, Object elements) {

  public GgufArray {
    Objects.requireNonNull(elementType, "elementType");
    Objects.requireNonNull(elements, "elements");
    if (storageClass(elementType) != elements.getClass()) {
      throw new IllegalArgumentException(elementType + " array must be stored as " + storageClass(elementType).getSimpleName());
    }
  }

  static Class<?> storageClass(GgufValueType t) {
    return switch (t) {
      case UINT8, INT8 -> byte[].class;
      case UINT16, INT16 -> short[].class;
      case UINT32, INT32 -> int[].class;
      case UINT64, INT64 -> long[].class;
      case FLOAT32 -> float[].class;
      case FLOAT64 -> double[].class;
      case BOOL -> boolean[].class;
      case STRING -> String[].class;
      case ARRAY -> GgufArray[].class;
    };
  }

  public int length() {
    return Array.getLength(elements);
  }

  public static GgufArray ofStrings(String... s) {
    return new GgufArray(GgufValueType.STRING, s);
  }

  public static GgufArray ofFloats(float... f) {
    return new GgufArray(GgufValueType.FLOAT32, f);
  }

  public static GgufArray ofInt32s(int... v) {
    return new GgufArray(GgufValueType.INT32, v);
  }

  /** Integer element {@code i} as a long (unsigned types widened without sign). */
  public long longAt(int i) {
    return switch (elementType) {
      case UINT8 -> Byte.toUnsignedLong(((byte[]) elements)[i]);
      case INT8 -> ((byte[]) elements)[i];
      case UINT16 -> Short.toUnsignedLong(((short[]) elements)[i]);
      case INT16 -> ((short[]) elements)[i];
      case UINT32 -> Integer.toUnsignedLong(((int[]) elements)[i]);
      case INT32 -> ((int[]) elements)[i];
      case UINT64, INT64 -> ((long[]) elements)[i];
      default -> throw new IllegalStateException(elementType + " array has no integer elements");
    };
  }

  public String describe() {
    int n = length();
    StringBuilder sb = new StringBuilder("[").append(elementType).append(" x ").append(n);
    if (n > 0 && elementType != GgufValueType.ARRAY) {
      sb.append(": ");
      int show = Math.min(n, 5);
      for (int i = 0; i < show; i++) {
        if (i > 0) {
          sb.append(", ");
        }
        Object e = Array.get(elements, i);
        sb.append(e instanceof String s ? '"' + s.replace("\n", "\\n") + '"' : String.valueOf(e));
      }
      if (n > show) {
        sb.append(", ...");
      }
    }
    return sb.append(']').toString();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof GgufArray other && other.elementType == elementType && Arrays.deepEquals(new Object[] {elements}, new Object[] {other.elements});
  }

  @Override
  public int hashCode() {
    return elementType.hashCode() * 31 + Arrays.deepHashCode(new Object[] {elements});
  }
}
