package dev.caravan.loadtest;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The console block, in the shape of vLLM's {@code benchmark_serving.py} / {@code vllm bench serve} output (labels
 * padded to 40 columns, values to 10), with a section of errors by gRPC status when requests failed; and the sweep
 * table.
 */
final class ConsoleReport {
  private static final int WIDTH = 50;

  private ConsoleReport() {}

  static String render(Report report) {
    Metrics m = report.metrics();
    Traffic t = report.traffic();
    StringBuilder sb = new StringBuilder();
    sb.append(center(" Serving Benchmark Result ", '=')).append('\n');
    row(sb, "Successful requests:", Integer.toString(m.completed()));
    row(sb, "Failed requests:", Integer.toString(m.failed()));
    if (report.showsRecovery()) {
      row(sb, "Migrated requests:", Integer.toString(m.migratedRequests()));
      row(sb, "Recomputed tokens:", Long.toString(m.recomputedTokens()));
    }
    if (t.closedLoop()) {
      row(sb, "Maximum request concurrency:", Integer.toString(t.concurrency()));
    } else {
      if (t.maxConcurrency() != null) {
        row(sb, "Maximum request concurrency:", Integer.toString(t.maxConcurrency()));
      }
      row(sb, "Request rate configured (RPS):", fixed(t.rate()));
    }
    row(sb, "Benchmark duration (s):", fixed(m.durationSeconds()));
    row(sb, "Total input tokens:", Long.toString(m.totalInput()));
    row(sb, "Total generated tokens:", Long.toString(m.totalOutput()));
    row(sb, "Request throughput (req/s):", fixed(m.requestThroughput()));
    if (m.requestGoodput() != null) {
      row(sb, "Request goodput (req/s):", fixed(m.requestGoodput()));
    }
    row(sb, "Output token throughput (tok/s):", fixed(m.outputThroughput()));
    row(sb, "Peak output token throughput (tok/s):", fixed(m.maxOutputTokensPerSecond()));
    row(sb, "Peak concurrent requests:", fixed(m.peakConcurrency()));
    row(sb, "Total Token throughput (tok/s):", fixed(m.totalTokenThroughput()));
    latency(sb, "Time to First Token", "TTFT", m.ttft());
    latency(sb, "Time per Output Token (excl. 1st token)", "TPOT", m.tpot());
    latency(sb, "Inter-token Latency", "ITL", m.itl());
    latency(sb, "End-to-end Latency", "E2EL", m.e2el());
    faults(sb, report);
    verification(sb, report.verification());
    if (!m.errorsByStatus().isEmpty()) {
      sb.append(center("Errors by Status", '-')).append('\n');
      for (Map.Entry<String, Long> e : m.errorsByStatus().entrySet()) {
        row(sb, e.getKey() + ":", Long.toString(e.getValue()));
      }
    }
    sb.append("=".repeat(WIDTH)).append('\n');
    return sb.toString();
  }

  /** Most mismatches listed on the console (the JSON has them all). */
  static final int MISMATCHES_SHOWN = 20;

  private static void faults(StringBuilder sb, Report report) {
    List<FaultEvent> faults = report.outcome().faults();
    if (faults.isEmpty()) {
      return;
    }
    RecoveryGaps g = report.metrics().recovery();
    sb.append(center("Faults", '-')).append('\n');
    long injected = faults.stream().filter(FaultEvent::ok).count();
    row(sb, "Faults injected:", Long.toString(injected));
    if (injected < faults.size()) {
      row(sb, "Faults not injected:", Long.toString(faults.size() - injected));
    }
    for (FaultEvent e : faults) {
      if (e.ok()) {
        row(sb, e.describe() + " at (s):", fixed(e.seconds()));
      } else {
        row(sb, e.fault() + ":", "not injected: " + e.detail());
      }
    }
    row(sb, "Streams alive across a fault:", Integer.toString(g.streamsAcross()));
    sb.append(center("Recovery Gap", '-')).append('\n');
    row(sb, "Gaps measured:", Integer.toString(g.count()));
    row(sb, "Median recovery gap (ms):", fixed(g.median()));
    row(sb, "P90 recovery gap (ms):", fixed(g.p90()));
    row(sb, "Max recovery gap (ms):", fixed(g.max()));
  }

  private static void verification(StringBuilder sb, Verification v) {
    if (v == null) {
      return;
    }
    sb.append(center("Verification", '-')).append('\n');
    row(sb, "Verified streams:", v.verified() + "/" + v.streams());
    List<Verification.Mismatch> ms = v.mismatches();
    for (int i = 0; i < Math.min(ms.size(), MISMATCHES_SHOWN); i++) {
      sb.append("  ").append(ms.get(i).describe()).append('\n');
    }
    if (ms.size() > MISMATCHES_SHOWN) {
      sb.append("  ... and ").append(ms.size() - MISMATCHES_SHOWN).append(" more (all of them are in --output-json)\n");
    }
  }

  private static void latency(StringBuilder sb, String header, String name, Metrics.Latency l) {
    sb.append(center(header, '-')).append('\n');
    row(sb, "Mean " + name + " (ms):", fixed(l.mean()));
    row(sb, "Median " + name + " (ms):", fixed(l.median()));
    for (Map.Entry<Double, Double> p : l.percentiles().entrySet()) {
      row(sb, "P" + Report.percentileWord(p.getKey()) + " " + name + " (ms):", fixed(p.getValue()));
    }
  }

  /** A sweep's points side by side: load against throughput, and the median and highest reported percentile of each latency. */
  static String renderSweep(SweepSpec.Dimension dimension, List<Report> points) {
    String tail = points.isEmpty() || points.getFirst().percentiles().isEmpty() ? "p50" : "p" + Report.percentileWord(points.getFirst().percentiles().getLast());
    StringBuilder sb = new StringBuilder();
    sb.append(center(" Sweep: " + dimension.key + " ", '=')).append('\n');
    sb.append(String.format(Locale.ROOT, "%-12s %6s %6s %9s %10s %9s %9s %9s %9s %9s %9s", dimension.key, "ok", "failed", "req/s", "out tok/s", "TTFT p50", "TTFT " + tail,
        "TPOT p50", "TPOT " + tail, "E2EL p50", "E2EL " + tail)).append('\n');
    for (Report r : points) {
      Metrics m = r.metrics();
      Traffic t = r.traffic();
      String load = t.closedLoop() ? Integer.toString(t.concurrency()) : Report.number(t.rate());
      sb.append(String.format(Locale.ROOT, "%-12s %6d %6d %9.2f %10.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f", load, m.completed(), m.failed(), m.requestThroughput(), m.outputThroughput(),
          m.ttft().median(), m.ttft().tail(), m.tpot().median(), m.tpot().tail(), m.e2el().median(), m.e2el().tail())).append('\n');
    }
    sb.append("(latencies in ms)\n");
    sb.append("=".repeat(WIDTH)).append('\n');
    return sb.toString();
  }

  private static void row(StringBuilder sb, String label, String value) {
    sb.append(String.format(Locale.ROOT, "%-40s %-10s", label, value)).append('\n');
  }

  private static String fixed(double d) {
    return String.format(Locale.ROOT, "%.2f", d);
  }

  /** Python's {@code "{s:{c}^{n}}".format(...)}: centred, the odd fill character on the right. */
  static String center(String s, char fill) {
    int pad = Math.max(0, WIDTH - s.length());
    int left = pad / 2;
    return String.valueOf(fill).repeat(left) + s + String.valueOf(fill).repeat(pad - left);
  }
}
