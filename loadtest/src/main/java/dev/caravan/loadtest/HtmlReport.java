package dev.caravan.loadtest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import org.HdrHistogram.Histogram;

/**
 * The HTML report: one self-contained file (inline CSS and SVG, no scripts or external resources) with the summary
 * table, throughput and latency percentiles over time in one-second buckets, and TTFT, ITL and end-to-end latency
 * distributions. A sweep's report starts with throughput against latency across its points.
 */
final class HtmlReport {
  private static final String CSS = """
      body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;margin:24px auto;max-width:1500px;padding:0 16px}
      h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb;padding-bottom:4px} h3{font-size:15px;margin:18px 0 6px}
      .meta{color:#4b5563;margin:2px 0} .meta b{color:#111827}
      table{border-collapse:collapse;margin:6px 0 12px} td,th{padding:3px 12px;border-bottom:1px solid #e5e7eb;text-align:right} td:first-child,th:first-child{text-align:left}
      th{background:#f3f4f6;font-weight:600} .bad{color:#b91c1c;font-weight:600}
      .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:12px}
      .chart{width:100%;height:auto;background:#fff;border:1px solid #e5e7eb;border-radius:6px}
      .chart .title{font-size:14px;font-weight:600;fill:#111827} .chart .tick{font-size:11px;fill:#6b7280} .chart .label{font-size:12px;fill:#374151}
      .chart .legend{font-size:12px;fill:#374151} .chart .grid{stroke:#f1f5f9} .chart .axis{stroke:#9ca3af} .chart .nodata{font-size:14px;fill:#9ca3af}
      details{margin:10px 0} summary{cursor:pointer;font-weight:600;font-size:16px}
      """;

  private HtmlReport() {}

  static void write(Path file, String html) throws IOException {
    Files.writeString(file, html, StandardCharsets.UTF_8);
  }

  /** The report of one run. */
  static String render(Report r) {
    return page("Caravan load test", header(r) + runBody(r));
  }

  /** The report of a sweep: throughput against latency, then every point. */
  static String renderSweep(SweepSpec.Dimension dimension, List<Report> points) {
    StringBuilder body = new StringBuilder();
    if (!points.isEmpty()) {
      body.append(header(points.getFirst()));
    }
    body.append("<h2>Sweep over ").append(dimension.key).append("</h2>\n");
    body.append(sweepTable(dimension, points));
    body.append("<div class=\"grid\">\n");
    body.append(sweepLoadChart(dimension, points));
    body.append(sweepChart("TTFT", points, Metrics::ttft));
    body.append(sweepChart("TPOT", points, Metrics::tpot));
    body.append(sweepChart("ITL", points, Metrics::itl));
    body.append(sweepChart("E2EL", points, Metrics::e2el));
    body.append("</div>\n");
    for (Report r : points) {
      String load = r.traffic().closedLoop() ? "concurrency " + r.traffic().concurrency() : "rate " + Report.number(r.traffic().rate()) + " req/s";
      body.append("<details><summary>").append(Html.escape(load)).append(": ").append(r.metrics().completed()).append(" ok, ").append(r.metrics().failed()).append(" failed, ")
          .append(String.format(Locale.ROOT, "%.2f", r.metrics().outputThroughput())).append(" output tok/s</summary>\n");
      body.append(runBody(r)).append("</details>\n");
    }
    return page("Caravan load test sweep", body.toString());
  }

  private static String header(Report r) {
    StringBuilder sb = new StringBuilder("<h1>Caravan load test</h1>\n");
    meta(sb, "Target", r.target() + " — " + r.targetInfo().describe());
    meta(sb, "Workload", r.workload());
    meta(sb, "Started", r.outcome().startedAt().toString());
    if (r.slo().any()) {
      meta(sb, "Goodput SLOs", r.slo().describe());
    }
    return sb.toString();
  }

  private static void meta(StringBuilder sb, String key, String value) {
    sb.append("<p class=\"meta\"><b>").append(Html.escape(key)).append(":</b> ").append(Html.escape(value)).append("</p>\n");
  }

  private static String runBody(Report r) {
    Metrics m = r.metrics();
    StringBuilder sb = new StringBuilder();
    sb.append("<p class=\"meta\"><b>Traffic:</b> ").append(Html.escape(r.traffic().describe())).append("</p>\n");
    sb.append("<h2>Summary</h2>\n<table>\n");
    row(sb, "Successful requests", Integer.toString(m.completed()));
    row(sb, "Failed requests", m.failed() == 0 ? "0" : "<span class=\"bad\">" + m.failed() + "</span>");
    row(sb, "Benchmark duration (s)", fixed(m.durationSeconds()));
    row(sb, "Total input tokens", Long.toString(m.totalInput()));
    row(sb, "Total generated tokens", Long.toString(m.totalOutput()));
    row(sb, "Request throughput (req/s)", fixed(m.requestThroughput()));
    if (m.requestGoodput() != null) {
      row(sb, "Request goodput (req/s)", fixed(m.requestGoodput()));
    }
    row(sb, "Output token throughput (tok/s)", fixed(m.outputThroughput()));
    row(sb, "Peak output token throughput (tok/s)", fixed(m.maxOutputTokensPerSecond()));
    row(sb, "Peak concurrent requests", Integer.toString(m.peakConcurrency()));
    row(sb, "Total token throughput (tok/s)", fixed(m.totalTokenThroughput()));
    sb.append("</table>\n<table>\n<tr><th>Latency (ms)</th><th>Mean</th><th>Median</th>");
    for (double p : r.percentiles()) {
      sb.append("<th>P").append(Report.percentileWord(p)).append("</th>");
    }
    sb.append("<th>Std</th><th>Samples</th></tr>\n");
    latencyRow(sb, "Time to first token (TTFT)", m.ttft());
    latencyRow(sb, "Time per output token (TPOT)", m.tpot());
    latencyRow(sb, "Inter-token latency (ITL)", m.itl());
    latencyRow(sb, "End-to-end latency (E2EL)", m.e2el());
    sb.append("</table>\n");
    if (!m.errorsByStatus().isEmpty()) {
      sb.append("<h3>Errors by status</h3>\n<table>\n<tr><th>Status</th><th>Requests</th><th>First message</th></tr>\n");
      for (Map.Entry<String, Long> e : m.errorsByStatus().entrySet()) {
        String first = r.outcome().results().stream().filter(x -> x.status().name().equals(e.getKey())).map(RequestResult::error).findFirst().orElse("");
        sb.append("<tr><td>").append(Html.escape(e.getKey())).append("</td><td>").append(e.getValue()).append("</td><td>").append(Html.escape(first)).append("</td></tr>\n");
      }
      sb.append("</table>\n");
    }
    faults(sb, r);
    sb.append("<h2>Over time</h2>\n<div class=\"grid\">\n");
    Timeline timeline = Timeline.of(r.outcome());
    List<Timeline.Second> secs = timeline.seconds();
    double[] xs = secs.stream().mapToDouble(Timeline.Second::second).toArray();
    sb.append(SvgChart.lines("Output token throughput", "seconds since start", "tokens/s", List.of(new SvgChart.Series("output tok/s", xs, perSecond(secs, s -> (double) s.outputTokens()))), false));
    sb.append(SvgChart.lines("Requests ending per second, and in flight", "seconds since start", "requests", List.of(
        new SvgChart.Series("completed", xs, perSecond(secs, s -> (double) s.completed())),
        new SvgChart.Series("failed", xs, perSecond(secs, s -> (double) s.failed())),
        new SvgChart.Series("in flight", xs, perSecond(secs, s -> (double) s.active()))), false));
    sb.append(percentilesOverTime("TTFT percentiles (requests ending in each second)", xs, secs, Timeline.Second::ttftMicros, r.percentiles()));
    sb.append(percentilesOverTime("ITL percentiles (tokens arriving in each second)", xs, secs, Timeline.Second::itlMicros, r.percentiles()));
    sb.append(percentilesOverTime("End-to-end latency percentiles (requests ending in each second)", xs, secs, Timeline.Second::e2elMicros, r.percentiles()));
    sb.append("</div>\n<h2>Distributions</h2>\n<div class=\"grid\">\n");
    Distribution ttft = new Distribution();
    Distribution itl = new Distribution();
    Distribution e2el = new Distribution();
    for (RequestResult x : r.outcome().results()) {
      if (x.success()) {
        ttft.recordSeconds(x.ttftSeconds());
        e2el.recordSeconds(x.latencySeconds());
        for (double v : x.itlSeconds()) {
          itl.recordSeconds(v);
        }
      }
    }
    distribution(sb, "TTFT", ttft);
    distribution(sb, "ITL", itl);
    distribution(sb, "End-to-end latency", e2el);
    sb.append("</div>\n");
    return sb.toString();
  }

  /** Faults, migrations, recovery gaps and the verification, when the run had any of them. */
  private static void faults(StringBuilder sb, Report r) {
    Metrics m = r.metrics();
    if (r.showsRecovery()) {
      sb.append("<h2>Faults and recovery</h2>\n");
      List<FaultEvent> faults = r.outcome().faults();
      if (!faults.isEmpty()) {
        sb.append("<table>\n<tr><th>Fault</th><th>Action</th><th>Planned (s)</th><th>Injected (s)</th><th>Result</th></tr>\n");
        for (FaultEvent e : faults) {
          sb.append("<tr><td>").append(Html.escape(e.fault())).append("</td><td>").append(Html.escape(e.describe())).append("</td><td>").append(fixed(e.plannedSeconds()))
              .append("</td><td>").append(e.ok() ? fixed(e.seconds()) : "<span class=\"bad\">not injected</span>").append("</td><td>").append(Html.escape(e.detail()))
              .append("</td></tr>\n");
        }
        sb.append("</table>\n");
      }
      RecoveryGaps g = m.recovery();
      sb.append("<table>\n");
      row(sb, "Failed requests", m.failed() == 0 ? "0" : "<span class=\"bad\">" + m.failed() + "</span>");
      row(sb, "Migrated requests", Integer.toString(m.migratedRequests()));
      row(sb, "Recomputed tokens", Long.toString(m.recomputedTokens()));
      row(sb, "Streams alive across a fault", Integer.toString(g.streamsAcross()));
      row(sb, "Recovery gaps measured", Integer.toString(g.count()));
      row(sb, "Median recovery gap (ms)", fixed(g.median()));
      row(sb, "P90 recovery gap (ms)", fixed(g.p90()));
      row(sb, "Max recovery gap (ms)", fixed(g.max()));
      sb.append("</table>\n");
    }
    Verification v = r.verification();
    if (v != null) {
      sb.append("<h3>Verification against a fault-free greedy run</h3>\n<table>\n");
      row(sb, "Verified streams", (v.passed() ? "" : "<span class=\"bad\">") + v.verified() + "/" + v.streams() + (v.passed() ? "" : "</span>"));
      sb.append("</table>\n");
      if (!v.passed()) {
        sb.append("<table>\n<tr><th>Request</th><th>Mismatch</th></tr>\n");
        for (Verification.Mismatch x : v.mismatches()) {
          sb.append("<tr><td>").append(x.index()).append("</td><td>").append(Html.escape(x.describe())).append("</td></tr>\n");
        }
        sb.append("</table>\n");
      }
    }
  }

  private static void distribution(StringBuilder sb, String name, Distribution d) {
    Distribution.Bins bins = d.bins(40);
    sb.append(SvgChart.bars(name + " histogram (" + d.count() + " values; last bar holds the slowest 0.5%)", name + " (ms)", "count", bins.edges(), bins.counts()));
    double[][] cdf = d.cdf();
    sb.append(SvgChart.lines(name + " cumulative distribution", name + " (ms)", "percent at or below", List.of(new SvgChart.Series(name, cdf[0], cdf[1])), false));
  }

  private static String percentilesOverTime(String title, double[] xs, List<Timeline.Second> secs, Function<Timeline.Second, Histogram> h, List<Double> percentiles) {
    List<Double> qs = new ArrayList<>();
    qs.add(50.0);
    for (double p : percentiles) {
      if (p != 50) {
        qs.add(p);
      }
    }
    List<SvgChart.Series> series = new ArrayList<>();
    for (double q : qs) {
      double[] ys = new double[secs.size()];
      for (int i = 0; i < ys.length; i++) {
        Histogram hist = h.apply(secs.get(i));
        ys[i] = hist.getTotalCount() == 0 ? Double.NaN : hist.getValueAtPercentile(q) / 1000.0;
      }
      series.add(new SvgChart.Series("p" + Report.percentileWord(q), xs, ys));
    }
    return SvgChart.lines(title, "seconds since start", "ms", series, false);
  }

  private static double[] perSecond(List<Timeline.Second> secs, Function<Timeline.Second, Double> f) {
    double[] ys = new double[secs.size()];
    for (int i = 0; i < ys.length; i++) {
      ys[i] = f.apply(secs.get(i));
    }
    return ys;
  }

  private static String sweepTable(SweepSpec.Dimension dimension, List<Report> points) {
    StringBuilder sb = new StringBuilder("<table>\n<tr><th>").append(dimension.key).append("</th><th>ok</th><th>failed</th><th>req/s</th><th>output tok/s</th>");
    sb.append("<th>TTFT median</th><th>TTFT tail</th><th>TPOT median</th><th>TPOT tail</th><th>ITL median</th><th>E2EL median</th><th>E2EL tail</th></tr>\n");
    for (Report r : points) {
      Metrics m = r.metrics();
      sb.append("<tr><td>").append(load(r)).append("</td><td>").append(m.completed()).append("</td><td>").append(m.failed()).append("</td><td>").append(fixed(m.requestThroughput()))
          .append("</td><td>").append(fixed(m.outputThroughput())).append("</td><td>").append(fixed(m.ttft().median())).append("</td><td>").append(fixed(m.ttft().tail()))
          .append("</td><td>").append(fixed(m.tpot().median())).append("</td><td>").append(fixed(m.tpot().tail())).append("</td><td>").append(fixed(m.itl().median()))
          .append("</td><td>").append(fixed(m.e2el().median())).append("</td><td>").append(fixed(m.e2el().tail())).append("</td></tr>\n");
    }
    String tail = points.isEmpty() || points.getFirst().percentiles().isEmpty() ? "median" : "P" + Report.percentileWord(points.getFirst().percentiles().getLast());
    return sb.append("</table>\n<p class=\"meta\">Latencies in ms; tail is ").append(tail).append(".</p>\n").toString();
  }

  private static String sweepLoadChart(SweepSpec.Dimension dimension, List<Report> points) {
    double[] xs = points.stream().mapToDouble(r -> r.traffic().closedLoop() ? r.traffic().concurrency() : r.traffic().rate()).toArray();
    double[] tok = points.stream().mapToDouble(r -> r.metrics().outputThroughput()).toArray();
    return SvgChart.lines("Output token throughput against " + dimension.key, dimension == SweepSpec.Dimension.RATE ? "offered rate (req/s)" : "concurrency", "output tokens/s",
        List.of(new SvgChart.Series("output tok/s", xs, tok, null, tags(points))), true);
  }

  private static String sweepChart(String name, List<Report> points, Function<Metrics, Metrics.Latency> latency) {
    double[] xs = points.stream().mapToDouble(r -> r.metrics().outputThroughput()).toArray();
    double[] median = points.stream().mapToDouble(r -> latency.apply(r.metrics()).median()).toArray();
    double[] tail = points.stream().mapToDouble(r -> latency.apply(r.metrics()).tail()).toArray();
    String[] medianLabels = new String[points.size()];
    String[] tailLabels = new String[points.size()];
    for (int i = 0; i < points.size(); i++) {
      String at = load(points.get(i)) + ": " + SvgChart.value(xs[i]) + " tok/s, ";
      medianLabels[i] = at + "median " + SvgChart.value(median[i]) + " ms";
      tailLabels[i] = at + "tail " + SvgChart.value(tail[i]) + " ms";
    }
    String tailName = points.isEmpty() || points.getFirst().percentiles().isEmpty() ? "median" : "p" + Report.percentileWord(points.getFirst().percentiles().getLast());
    return SvgChart.lines(name + " against output throughput", "output tokens/s", name + " (ms)",
        List.of(new SvgChart.Series("median", xs, median, medianLabels, null), new SvgChart.Series(tailName, xs, tail, tailLabels, tags(points))), true);
  }

  /** Point tags of a sweep: c=4 or 2 req/s. */
  private static String[] tags(List<Report> points) {
    return points.stream().map(r -> r.traffic().closedLoop() ? "c=" + r.traffic().concurrency() : Report.number(r.traffic().rate()) + "/s").toArray(String[]::new);
  }

  private static String load(Report r) {
    return r.traffic().closedLoop() ? "concurrency " + r.traffic().concurrency() : Report.number(r.traffic().rate()) + " req/s";
  }

  private static void row(StringBuilder sb, String label, String valueHtml) {
    sb.append("<tr><td>").append(Html.escape(label)).append("</td><td>").append(valueHtml).append("</td></tr>\n");
  }

  private static void latencyRow(StringBuilder sb, String label, Metrics.Latency l) {
    sb.append("<tr><td>").append(Html.escape(label)).append("</td><td>").append(fixed(l.mean())).append("</td><td>").append(fixed(l.median())).append("</td>");
    for (double v : l.percentiles().values()) {
      sb.append("<td>").append(fixed(v)).append("</td>");
    }
    sb.append("<td>").append(fixed(l.std())).append("</td><td>").append(l.count()).append("</td></tr>\n");
  }

  private static String fixed(double d) {
    return String.format(Locale.ROOT, "%.2f", d);
  }

  private static String page(String title, String body) {
    return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" + Html.escape(title)
        + "</title>\n<style>\n" + CSS + "</style>\n</head>\n<body>\n" + body + "</body>\n</html>\n";
  }
}
