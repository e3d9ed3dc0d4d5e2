package dev.caravan.loadtest;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Map;

/**
 * The JSON result, with the field names and units of vLLM's benchmark result file ({@code vllm bench serve
 * --save-result --save-detailed}) so tools that read those read this: durations and per-request times in seconds,
 * summary latencies in milliseconds ({@code mean_ttft_ms}, {@code p99_itl_ms}, ...), {@code request_rate} "inf" for a
 * closed loop. Fields of Caravan's own ({@code target}, {@code traffic}, {@code workload}, {@code slo},
 * {@code errors_by_status}, {@code statuses}) come after vLLM's, then those of faults and recovery:
 * {@code migrated_requests}, {@code total_recomputed_tokens}, per request {@code migrations} and
 * {@code recomputed_tokens}, {@code faults} (each with its times in seconds), {@code streams_across_faults},
 * {@code recovery_gaps} (seconds), {@code {median,p90,max}_recovery_gap_ms}, and {@code verify} (null unless
 * {@code --verify}). A sweep writes an array of these, one per point.
 */
final class JsonReport {
  static final ObjectMapper JSON = new ObjectMapper();
  private static final DateTimeFormatter DATE = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneId.systemDefault());

  private JsonReport() {}

  static ObjectNode toJson(Report report) {
    Metrics m = report.metrics();
    Traffic t = report.traffic();
    List<RequestResult> results = report.outcome().results();
    ObjectNode o = JSON.createObjectNode();
    o.put("date", DATE.format(report.outcome().startedAt()));
    o.put("endpoint_type", "caravan-grpc");
    o.put("backend", "caravan-grpc");
    o.putNull("label");
    o.put("model_id", report.targetInfo().modelId());
    o.put("tokenizer_id", report.targetInfo().modelId());
    o.put("num_prompts", results.size());
    if (t.closedLoop()) {
      o.put("request_rate", "inf");
      o.put("burstiness", 1.0);
      o.put("max_concurrency", t.concurrency());
    } else {
      o.put("request_rate", t.rate());
      if (t.arrivals() == ArrivalSchedule.Kind.POISSON) {
        o.put("burstiness", 1.0);
      } else {
        o.put("burstiness", "inf");
      }
      if (t.maxConcurrency() != null) {
        o.put("max_concurrency", t.maxConcurrency());
      } else {
        o.putNull("max_concurrency");
      }
    }
    o.put("duration", m.durationSeconds());
    o.put("completed", m.completed());
    o.put("failed", m.failed());
    o.put("total_input_tokens", m.totalInput());
    o.put("total_output_tokens", m.totalOutput());
    o.put("request_throughput", m.requestThroughput());
    if (m.requestGoodput() != null) {
      o.put("request_goodput", m.requestGoodput());
    } else {
      o.putNull("request_goodput");
    }
    o.put("output_throughput", m.outputThroughput());
    o.put("total_token_throughput", m.totalTokenThroughput());
    ArrayNode inputLens = o.putArray("input_lens");
    ArrayNode outputLens = o.putArray("output_lens");
    ArrayNode ttfts = o.putArray("ttfts");
    ArrayNode itls = o.putArray("itls");
    ArrayNode latencies = o.putArray("latencies");
    ArrayNode startTimes = o.putArray("start_times");
    ArrayNode queueTimes = o.putArray("queue_times");
    ArrayNode errors = o.putArray("errors");
    for (RequestResult r : results) {
      inputLens.add(r.inputTokens());
      outputLens.add(r.outputTokens());
      ttfts.add(r.ttftSeconds());
      ArrayNode one = itls.addArray();
      for (double v : r.itlSeconds()) {
        one.add(v);
      }
      latencies.add(r.latencySeconds());
      startTimes.add(r.startSeconds());
      queueTimes.add(r.queueSeconds());
      errors.add(r.error());
    }
    o.put("max_output_tokens_per_s", m.maxOutputTokensPerSecond());
    o.put("max_concurrent_requests", m.peakConcurrency());
    latency(o, "ttft", m.ttft());
    latency(o, "tpot", m.tpot());
    latency(o, "itl", m.itl());
    latency(o, "e2el", m.e2el());

    o.put("target", report.target());
    ObjectNode traffic = o.putObject("traffic");
    traffic.put("mode", t.closedLoop() ? "closed" : "open");
    if (t.closedLoop()) {
      traffic.put("concurrency", t.concurrency());
    } else {
      traffic.put("rate", t.rate());
      traffic.put("arrivals", t.arrivals().name().toLowerCase());
    }
    if (t.requests() != null) {
      traffic.put("requests", t.requests());
    }
    if (t.duration() != null) {
      traffic.put("duration_s", t.duration().toNanos() / 1e9);
    }
    o.put("workload", report.workload());
    ObjectNode slo = o.putObject("slo");
    for (Map.Entry<String, Double> e : report.slo().asMap().entrySet()) {
      slo.put(e.getKey() + "_ms", e.getValue());
    }
    ObjectNode byStatus = o.putObject("errors_by_status");
    m.errorsByStatus().forEach(byStatus::put);
    ArrayNode statuses = o.putArray("statuses");
    for (RequestResult r : results) {
      statuses.add(r.status().name());
    }
    recovery(o, report);
    return o;
  }

  private static void recovery(ObjectNode o, Report report) {
    Metrics m = report.metrics();
    List<RequestResult> results = report.outcome().results();
    o.put("migrated_requests", m.migratedRequests());
    o.put("total_recomputed_tokens", m.recomputedTokens());
    ArrayNode migrations = o.putArray("migrations");
    ArrayNode recomputed = o.putArray("recomputed_tokens");
    for (RequestResult r : results) {
      migrations.add(r.migrations());
      recomputed.add(r.recomputedTokens());
    }
    ArrayNode faults = o.putArray("faults");
    for (FaultEvent e : report.outcome().faults()) {
      ObjectNode f = faults.addObject();
      f.put("fault", e.fault());
      f.put("action", e.action());
      f.put("worker", e.worker());
      f.put("pid", e.pid());
      f.put("planned_time", e.plannedSeconds());
      if (Double.isNaN(e.seconds())) {
        f.putNull("time");
      } else {
        f.put("time", e.seconds());
      }
      f.put("injected", e.ok());
      f.put("detail", e.detail());
    }
    RecoveryGaps g = m.recovery();
    o.put("streams_across_faults", g.streamsAcross());
    ArrayNode gaps = o.putArray("recovery_gaps");
    for (double v : g.gapsSeconds()) {
      gaps.add(v);
    }
    o.put("median_recovery_gap_ms", g.median());
    o.put("p90_recovery_gap_ms", g.p90());
    o.put("max_recovery_gap_ms", g.max());
    Verification v = report.verification();
    if (v == null) {
      o.putNull("verify");
      return;
    }
    ObjectNode verify = o.putObject("verify");
    verify.put("verified_streams", v.verified());
    verify.put("streams", v.streams());
    verify.put("passed", v.passed());
    ArrayNode mismatches = verify.putArray("mismatches");
    for (Verification.Mismatch x : v.mismatches()) {
      ObjectNode one = mismatches.addObject();
      one.put("index", x.index());
      one.put("position", x.position());
      one.put("expected", x.expected());
      one.put("actual", x.actual());
      one.put("error", x.error());
    }
  }

  private static void latency(ObjectNode o, String name, Metrics.Latency l) {
    o.put("mean_" + name + "_ms", l.mean());
    o.put("median_" + name + "_ms", l.median());
    o.put("std_" + name + "_ms", l.std());
    for (Map.Entry<Double, Double> p : l.percentiles().entrySet()) {
      o.put("p" + Report.percentileWord(p.getKey()) + "_" + name + "_ms", p.getValue());
    }
  }

  static void write(Path file, Report report) throws IOException {
    JSON.writeValue(file.toFile(), toJson(report));
  }

  /** A sweep: an array of results, each with a {@code sweep} object naming its point. */
  static void writeSweep(Path file, SweepSpec.Dimension dimension, List<Report> points) throws IOException {
    ArrayNode array = JSON.createArrayNode();
    for (Report r : points) {
      ObjectNode o = toJson(r);
      ObjectNode sweep = o.putObject("sweep");
      sweep.put("dimension", dimension.key);
      sweep.put("value", r.traffic().closedLoop() ? r.traffic().concurrency() : r.traffic().rate());
      array.add(o);
    }
    JSON.writeValue(file.toFile(), array);
  }
}
