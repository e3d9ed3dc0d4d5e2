package dev.caravan.engine.gguf;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The key/value metadata of a GGUF file, in file order, with typed getters that fail with a message naming the key
 * when a value is missing or of the wrong type.
 */
public final class GgufMetadata {
  private final String source;
  private final Map<String, GgufValue> values;

  public GgufMetadata(String source, Map<String, GgufValue> values) {
    this.source = source;
    this.values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
  }

  /** All entries, in file order. */
  public Map<String, GgufValue> asMap() {
    return values;
  }

  public Set<String> keys() {
    return values.keySet();
  }

  public boolean contains(String key) {
    return values.containsKey(key);
  }

  public Optional<GgufValue> get(String key) {
    return Optional.ofNullable(values.get(key));
  }

  public Optional<String> string(String key) throws GgufFormatException {
    GgufValue v = values.get(key);
    if (v == null) {
      return Optional.empty();
    }
    if (v.type() != GgufValueType.STRING) {
      throw wrongType(key, v, "a string");
    }
    return Optional.of((String) v.value());
  }

  public String requireString(String key) throws GgufFormatException {
    return string(key).orElseThrow(() -> missing(key));
  }

  /** An integer value of any GGUF integer type; fails when it does not fit in a Java long (UINT64 above 2^63 - 1). */
  public Optional<Long> integer(String key) throws GgufFormatException {
    GgufValue v = values.get(key);
    if (v == null) {
      return Optional.empty();
    }
    return switch (v.type()) {
      case UINT8, INT8, UINT16, INT16, UINT32, INT32, INT64 -> Optional.of((Long) v.value());
      case UINT64 -> {
        long l = (Long) v.value();
        if (l < 0) {
          throw new GgufFormatException(source + ": metadata " + key + " = " + Long.toUnsignedString(l) + " is out of range");
        }
        yield Optional.of(l);
      }
      default -> throw wrongType(key, v, "an integer");
    };
  }

  /** An integer value that must lie in [min, max]. */
  public Optional<Integer> intInRange(String key, int min, int max) throws GgufFormatException {
    Optional<Long> l = integer(key);
    if (l.isPresent() && (l.get() < min || l.get() > max)) {
      throw new GgufFormatException(source + ": metadata " + key + " = " + l.get() + " is outside the sensible range [" + min + ", " + max + "]");
    }
    return l.map(Long::intValue);
  }

  public int requireInt(String key, int min, int max) throws GgufFormatException {
    return intInRange(key, min, max).orElseThrow(() -> missing(key));
  }

  public Optional<Float> float32(String key) throws GgufFormatException {
    GgufValue v = values.get(key);
    if (v == null) {
      return Optional.empty();
    }
    return switch (v.type()) {
      case FLOAT32 -> Optional.of((Float) v.value());
      case FLOAT64 -> Optional.of(((Double) v.value()).floatValue());
      default -> throw wrongType(key, v, "a float");
    };
  }

  public Optional<Boolean> bool(String key) throws GgufFormatException {
    GgufValue v = values.get(key);
    if (v == null) {
      return Optional.empty();
    }
    if (v.type() != GgufValueType.BOOL) {
      throw wrongType(key, v, "a bool");
    }
    return Optional.of((Boolean) v.value());
  }

  public Optional<GgufArray> array(String key) throws GgufFormatException {
    GgufValue v = values.get(key);
    if (v == null) {
      return Optional.empty();
    }
    if (v.type() != GgufValueType.ARRAY) {
      throw wrongType(key, v, "an array");
    }
    return Optional.of((GgufArray) v.value());
  }

  public Optional<String[]> stringArray(String key) throws GgufFormatException {
    Optional<GgufArray> a = array(key);
    if (a.isPresent() && a.get().elementType() != GgufValueType.STRING) {
      throw new GgufFormatException(source + ": metadata " + key + " is an array of " + a.get().elementType() + ", expected strings");
    }
    return a.map(x -> (String[]) x.elements());
  }

  public Optional<float[]> floatArray(String key) throws GgufFormatException {
    Optional<GgufArray> a = array(key);
    if (a.isPresent() && a.get().elementType() != GgufValueType.FLOAT32) {
      throw new GgufFormatException(source + ": metadata " + key + " is an array of " + a.get().elementType() + ", expected FLOAT32");
    }
    return a.map(x -> (float[]) x.elements());
  }

  /** An array of any integer type, as ints; fails when an element does not fit. */
  public Optional<int[]> intArray(String key) throws GgufFormatException {
    Optional<GgufArray> a = array(key);
    if (a.isEmpty()) {
      return Optional.empty();
    }
    GgufArray arr = a.get();
    switch (arr.elementType()) {
      case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> {}
      default -> throw new GgufFormatException(source + ": metadata " + key + " is an array of " + arr.elementType() + ", expected integers");
    }
    int n = arr.length();
    int[] out = new int[n];
    for (int i = 0; i < n; i++) {
      long l = arr.longAt(i);
      if (l != (int) l) {
        throw new GgufFormatException(source + ": metadata " + key + "[" + i + "] = " + l + " does not fit in 32 bits");
      }
      out[i] = (int) l;
    }
    return Optional.of(out);
  }

  private GgufFormatException missing(String key) {
    return new GgufFormatException(source + ": required metadata key " + key + " is missing");
  }

  private GgufFormatException wrongType(String key, GgufValue v, String expected) {
    return new GgufFormatException(source + ": metadata " + key + " is " + v.type() + ", expected " + expected);
  }

  @Override
  public String toString() {
    return "GgufMetadata" + values.keySet();
  }
}
