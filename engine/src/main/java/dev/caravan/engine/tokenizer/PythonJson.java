package dev.caravan.engine.tokenizer;

import java.lang.reflect.Array;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.Iterator;
import java.util.Map;

/**
 * Python's {@code json.dumps(value, ensure_ascii=False, indent=indent)} for the Java values a chat template sees (maps,
 * lists and arrays, strings, numbers, booleans, null): the text Hugging Face's {@code tojson} filter produces.
 * Without indent, items are separated by {@code ", "} and keys by {@code ": "}; with indent, by {@code ","} and a
 * newline.
 */
final class PythonJson {
  private PythonJson() {}

  static String dumps(Object value, Integer indent) {
    StringBuilder sb = new StringBuilder();
    write(sb, value, indent, 0);
    return sb.toString();
  }

  private static void write(StringBuilder sb, Object v, Integer indent, int depth) {
    if (v == null) {
      sb.append("null");
    } else if (v instanceof Boolean b) {
      sb.append(b ? "true" : "false");
    } else if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte || v instanceof BigInteger) {
      sb.append(v);
    } else if (v instanceof Double || v instanceof Float || v instanceof BigDecimal) {
      sb.append(floatRepr(((Number) v).doubleValue()));
    } else if (v instanceof Map<?, ?> map) {
      if (map.isEmpty()) {
        sb.append("{}");
        return;
      }
      sb.append('{');
      Iterator<? extends Map.Entry<?, ?>> it = map.entrySet().iterator();
      boolean first = true;
      while (it.hasNext()) {
        Map.Entry<?, ?> e = it.next();
        separator(sb, first, indent, depth + 1);
        first = false;
        string(sb, String.valueOf(e.getKey()));
        sb.append(": ");
        write(sb, e.getValue(), indent, depth + 1);
      }
      close(sb, '}', indent, depth);
    } else if (v instanceof Iterable<?> list) {
      Iterator<?> it = list.iterator();
      if (!it.hasNext()) {
        sb.append("[]");
        return;
      }
      sb.append('[');
      boolean first = true;
      while (it.hasNext()) {
        separator(sb, first, indent, depth + 1);
        first = false;
        write(sb, it.next(), indent, depth + 1);
      }
      close(sb, ']', indent, depth);
    } else if (v.getClass().isArray()) {
      int n = Array.getLength(v);
      java.util.List<Object> items = new java.util.ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        items.add(Array.get(v, i));
      }
      write(sb, items, indent, depth);
    } else {
      string(sb, v.toString());
    }
  }

  private static void separator(StringBuilder sb, boolean first, Integer indent, int depth) {
    if (indent == null) {
      if (!first) {
        sb.append(", ");
      }
    } else {
      if (!first) {
        sb.append(',');
      }
      sb.append('\n').append(" ".repeat(indent * depth));
    }
  }

  private static void close(StringBuilder sb, char bracket, Integer indent, int depth) {
    if (indent != null) {
      sb.append('\n').append(" ".repeat(indent * depth));
    }
    sb.append(bracket);
  }

  /** A JSON string as Python writes it with ensure_ascii=False: only quote, backslash and control characters escaped. */
  private static void string(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        case '\b' -> sb.append("\\b");
        case '\f' -> sb.append("\\f");
        default -> {
          if (c < 0x20) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
        }
      }
    }
    sb.append('"');
  }

  /** Python's float repr: shortest round-trip digits, exponent as e+NN / e-NN, NaN and Infinity as json.dumps writes them. */
  static String floatRepr(double d) {
    if (Double.isNaN(d)) {
      return "NaN";
    }
    if (Double.isInfinite(d)) {
      return d > 0 ? "Infinity" : "-Infinity";
    }
    BigDecimal bd = new BigDecimal(Double.toString(d)).stripTrailingZeros();
    int exponent = bd.precision() - bd.scale() - 1; // decimal exponent of the leading digit
    if (exponent >= -5 && exponent < 16) {
      String plain = bd.toPlainString();
      return plain.contains(".") ? plain : plain + ".0";
    }
    String digits = bd.unscaledValue().abs().toString();
    String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
    return (d < 0 ? "-" : "") + mantissa + "e" + (exponent < 0 ? "-" : "+") + String.format("%02d", Math.abs(exponent));
  }
}
