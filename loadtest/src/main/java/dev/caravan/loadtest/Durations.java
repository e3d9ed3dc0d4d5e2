package dev.caravan.loadtest;

import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parses human durations: a number with a unit ({@code 250ms}, {@code 1.5s}, {@code 2m}, {@code 1h}), ISO-8601
 * ({@code PT30S}), or a bare number in a caller-chosen unit.
 */
final class Durations {
  private static final Pattern NUMBER_UNIT = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(us|ms|s|m|h)?");

  private Durations() {}

  /**
   * @param text the duration as typed
   * @param bareUnit the unit of a number given without one, e.g. "s" or "ms"
   * @throws IllegalArgumentException naming the accepted forms
   */
  static Duration parse(String text, String bareUnit) {
    String t = text.trim().toLowerCase(Locale.ROOT);
    if (t.startsWith("p")) {
      try {
        return Duration.parse(text.trim().toUpperCase(Locale.ROOT));
      } catch (DateTimeParseException e) {
        throw invalid(text);
      }
    }
    Matcher m = NUMBER_UNIT.matcher(t);
    if (!m.matches()) {
      throw invalid(text);
    }
    double amount = Double.parseDouble(m.group(1));
    String unit = m.group(2) == null ? bareUnit : m.group(2);
    double nanosPerUnit = switch (unit) {
      case "us" -> 1e3;
      case "ms" -> 1e6;
      case "s" -> 1e9;
      case "m" -> 60e9;
      case "h" -> 3600e9;
      default -> throw new IllegalStateException("unknown unit " + unit);
    };
    double nanos = amount * nanosPerUnit;
    if (nanos > Long.MAX_VALUE / 2.0) {
      throw new IllegalArgumentException("duration '" + text + "' is too long");
    }
    return Duration.ofNanos(Math.round(nanos));
  }

  private static IllegalArgumentException invalid(String text) {
    return new IllegalArgumentException("'" + text + "' is not a duration; use a number with a unit (250ms, 1.5s, 2m, 1h) or ISO-8601 (PT30S)");
  }

  /** A short rendering for messages: 1.5s, 250ms, 2m. */
  static String format(Duration d) {
    long ms = d.toMillis();
    if (ms % 60_000 == 0 && ms >= 60_000) {
      return (ms / 60_000) + "m";
    }
    if (ms >= 1000) {
      return (ms % 1000 == 0 ? Long.toString(ms / 1000) : Double.toString(ms / 1000.0)) + "s";
    }
    return ms + "ms";
  }
}
