package dev.caravan.loadtest;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Service-level objectives for goodput, as in vLLM's {@code --goodput} (the DistServe definition): a successful request
 * is good when every objective given holds, each as {@code value <= limit}. TPOT counts as 0 for requests with at most
 * one output token, as vLLM does. Limits are kept in milliseconds.
 *
 * @param ttftMs limit on time to first token, or null when not an objective
 * @param tpotMs limit on time per output token after the first, or null
 * @param e2elMs limit on end-to-end latency, or null
 */
record Slo(Double ttftMs, Double tpotMs, Double e2elMs) {
  static final Slo NONE = new Slo(null, null, null);

  /** True when at least one objective is set (and goodput is reported). */
  boolean any() {
    return ttftMs != null || tpotMs != null || e2elMs != null;
  }

  /** Whether a request with these latencies (ms) meets every objective. */
  boolean met(double ttft, double tpot, double e2el) {
    return (ttftMs == null || ttft <= ttftMs) && (tpotMs == null || tpot <= tpotMs) && (e2elMs == null || e2el <= e2elMs);
  }

  /** The objectives in milliseconds by vLLM's names (ttft, tpot, e2el), in that order. */
  Map<String, Double> asMap() {
    Map<String, Double> m = new LinkedHashMap<>();
    if (ttftMs != null) {
      m.put("ttft", ttftMs);
    }
    if (tpotMs != null) {
      m.put("tpot", tpotMs);
    }
    if (e2elMs != null) {
      m.put("e2el", e2elMs);
    }
    return m;
  }

  /** For people: "ttft <= 500 ms, tpot <= 50 ms". */
  String describe() {
    StringBuilder sb = new StringBuilder();
    asMap().forEach((k, v) -> sb.append(sb.isEmpty() ? "" : ", ").append(k).append(" <= ").append(SvgChart.value(v)).append(" ms"));
    return sb.toString();
  }

  /**
   * Parses {@code ttft=500ms,tpot=50ms,e2el=2s}. A number without a unit is milliseconds, as in vLLM.
   *
   * @throws IllegalArgumentException naming the bad part
   */
  static Slo parse(String text) {
    Double ttft = null;
    Double tpot = null;
    Double e2el = null;
    if (text.isBlank()) {
      throw new IllegalArgumentException("empty SLO list; expected e.g. ttft=500ms,tpot=50ms,e2el=2s");
    }
    for (String part : text.split(",")) {
      String[] kv = part.trim().split("=", 2);
      if (kv.length != 2 || kv[0].isBlank() || kv[1].isBlank()) {
        throw new IllegalArgumentException("'" + part.trim() + "' is not NAME=LIMIT; expected e.g. ttft=500ms,tpot=50ms,e2el=2s");
      }
      Duration d = Durations.parse(kv[1], "ms");
      if (d.isZero()) {
        throw new IllegalArgumentException("SLO " + kv[0].trim() + " must be positive, not " + kv[1].trim());
      }
      double ms = d.toNanos() / 1e6;
      switch (kv[0].trim()) {
        case "ttft" -> ttft = once(ttft, "ttft", ms);
        case "tpot" -> tpot = once(tpot, "tpot", ms);
        case "e2el" -> e2el = once(e2el, "e2el", ms);
        default -> throw new IllegalArgumentException("unknown SLO '" + kv[0].trim() + "'; the objectives are ttft, tpot and e2el");
      }
    }
    return new Slo(ttft, tpot, e2el);
  }

  private static Double once(Double previous, String name, double ms) {
    if (previous != null) {
      throw new IllegalArgumentException("SLO " + name + " is given twice");
    }
    return ms;
  }
}
