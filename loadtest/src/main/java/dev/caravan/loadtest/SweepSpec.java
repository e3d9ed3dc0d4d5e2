package dev.caravan.loadtest;

import java.util.ArrayList;
import java.util.List;

/**
 * A list of load points to run one after the other: closed-loop concurrencies ({@code concurrency=1,2,4,8}) or
 * open-loop rates ({@code rate=1,2,4}).
 *
 * @param dimension what varies
 * @param values the points, in the order given
 */
record SweepSpec(Dimension dimension, List<Double> values) {
  /** What a sweep varies. */
  enum Dimension {
    CONCURRENCY("concurrency"),
    RATE("rate");

    final String key;

    Dimension(String key) {
      this.key = key;
    }
  }

  /**
   * Parses {@code concurrency=1,2,4} (positive integers) or {@code rate=0.5,1,2} (positive requests per second).
   *
   * @throws IllegalArgumentException naming the problem
   */
  static SweepSpec parse(String text) {
    String[] kv = text.trim().split("=", 2);
    if (kv.length != 2) {
      throw new IllegalArgumentException("'" + text + "' is not a sweep; expected concurrency=1,2,4,8 or rate=1,2,4");
    }
    Dimension dim = switch (kv[0].trim()) {
      case "concurrency" -> Dimension.CONCURRENCY;
      case "rate" -> Dimension.RATE;
      default -> throw new IllegalArgumentException("a sweep varies concurrency or rate, not '" + kv[0].trim() + "'");
    };
    List<Double> values = new ArrayList<>();
    for (String v : kv[1].split(",")) {
      String s = v.trim();
      double d;
      try {
        d = Double.parseDouble(s);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("sweep value '" + s + "' is not a number");
      }
      if (!(d > 0) || Double.isInfinite(d)) {
        throw new IllegalArgumentException("sweep values must be positive, not " + s);
      }
      if (dim == Dimension.CONCURRENCY && (d != Math.rint(d) || d > 100_000)) {
        throw new IllegalArgumentException("concurrency values must be whole numbers up to 100000, not " + s);
      }
      values.add(d);
    }
    return new SweepSpec(dim, List.copyOf(values));
  }
}
