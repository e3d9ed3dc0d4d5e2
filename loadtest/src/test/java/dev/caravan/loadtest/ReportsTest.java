package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The three reports of the hand-made run of {@link MetricsTest}. */
class ReportsTest {
  static final TargetInfo INFO = new TargetInfo("stories260K", 512, 512, true, 1, Set.of(0, 1, 2), List.of());
  static final Workload WORKLOAD = new RandomWorkload(TokenPool.of(512, Set.of(0, 1, 2)), 1, 16, 16, 0, new Workload.Options("stories260K", null, 0, true));

  static Report report(Slo slo) {
    return Report.of("127.0.0.1:7070", INFO, WORKLOAD, MetricsTest.run(), slo, List.of(90.0, 99.0));
  }

  /** Every field vLLM's serving benchmark writes for a generation run with --save-detailed (less its text-only ones). */
  static final List<String> VLLM_FIELDS = List.of("date", "endpoint_type", "backend", "label", "model_id", "tokenizer_id", "num_prompts", "request_rate", "burstiness",
      "max_concurrency", "duration", "completed", "failed", "total_input_tokens", "total_output_tokens", "request_throughput", "request_goodput", "output_throughput",
      "total_token_throughput", "input_lens", "output_lens", "ttfts", "itls", "latencies", "start_times", "queue_times", "errors", "max_output_tokens_per_s",
      "max_concurrent_requests", "mean_ttft_ms", "median_ttft_ms", "std_ttft_ms", "p90_ttft_ms", "p99_ttft_ms", "mean_tpot_ms", "median_tpot_ms", "std_tpot_ms",
      "p90_tpot_ms", "p99_tpot_ms", "mean_itl_ms", "median_itl_ms", "std_itl_ms", "p90_itl_ms", "p99_itl_ms", "mean_e2el_ms", "median_e2el_ms", "std_e2el_ms",
      "p90_e2el_ms", "p99_e2el_ms");

  @Test
  void jsonHasVllmFieldNamesInVllmOrder() {
    JsonNode j = JsonReport.toJson(report(Slo.parse("ttft=200ms,tpot=150ms")));
    List<String> names = new ArrayList<>();
    j.fieldNames().forEachRemaining(names::add);
    assertEquals(VLLM_FIELDS, names.subList(0, VLLM_FIELDS.size()));
    assertEquals(3, j.get("completed").asInt());
    assertEquals(3, j.get("failed").asInt());
    assertEquals(60, j.get("total_input_tokens").asInt());
    assertEquals(8, j.get("total_output_tokens").asInt());
    assertEquals("inf", j.get("request_rate").asText(), "a closed loop has no rate, as vLLM writes it");
    assertEquals(2, j.get("max_concurrency").asInt());
    assertEquals(0.5, j.get("request_goodput").asDouble(), 1e-9);
    assertEquals(200, j.get("mean_ttft_ms").asDouble(), 1e-9);
    assertEquals(280, j.get("p90_ttft_ms").asDouble(), 1e-9);
    assertEquals(6, j.get("ttfts").size(), "one entry per request, failures included");
    assertEquals(3, j.get("itls").get(0).size());
    assertEquals(0.1, j.get("itls").get(0).get(0).asDouble(), 1e-12);
    assertEquals("", j.get("errors").get(0).asText());
    assertEquals("UNAVAILABLE: no workers", j.get("errors").get(3).asText());
    assertEquals(2, j.get("errors_by_status").get("UNAVAILABLE").asInt());
    assertEquals(200.0, j.get("slo").get("ttft_ms").asDouble());
    assertEquals("closed", j.get("traffic").get("mode").asText());
  }

  @Test
  void jsonWithoutSloHasNullGoodputAndOpenLoopHasItsRate() {
    RunOutcome open = new RunOutcome(Traffic.open(2.5, ArrivalSchedule.Kind.CONSTANT, null, 6L, null, 1), MetricsTest.run().results(), 2.0, 3, MetricsTest.run().startedAt());
    JsonNode j = JsonReport.toJson(Report.of("t:1", INFO, WORKLOAD, open, Slo.NONE, List.of(99.0)));
    assertTrue(j.get("request_goodput").isNull());
    assertEquals(2.5, j.get("request_rate").asDouble());
    assertEquals("inf", j.get("burstiness").asText(), "constant arrivals are vLLM's infinite burstiness");
    assertTrue(j.get("max_concurrency").isNull());
    assertTrue(j.has("p99_ttft_ms"));
    assertFalse(j.has("p90_ttft_ms"), "only the percentiles asked for");
  }

  @Test
  void consoleBlockHasVllmShape() {
    String text = ConsoleReport.render(report(Slo.parse("e2el=400")));
    List<String> lines = text.lines().toList();
    assertEquals("============ Serving Benchmark Result ============", lines.get(0));
    assertEquals("Successful requests:                     3         ", lines.get(1));
    assertEquals("Failed requests:                         3         ", lines.get(2));
    assertEquals("Maximum request concurrency:             2         ", lines.get(3));
    assertEquals("Benchmark duration (s):                  2.00      ", lines.get(4));
    assertEquals("Total input tokens:                      60        ", lines.get(5));
    assertEquals("Total generated tokens:                  8         ", lines.get(6));
    assertEquals("Request throughput (req/s):              1.50      ", lines.get(7));
    assertEquals("Request goodput (req/s):                 1.00      ", lines.get(8));
    assertEquals("Output token throughput (tok/s):         4.00      ", lines.get(9));
    assertTrue(text.contains("---------------Time to First Token----------------\n"));
    assertTrue(text.contains("-----Time per Output Token (excl. 1st token)------\n"));
    assertTrue(text.contains("---------------Inter-token Latency----------------\n"));
    assertTrue(text.contains("----------------End-to-end Latency----------------\n"));
    assertTrue(text.contains("Mean TTFT (ms):                          200.00    \n"));
    assertTrue(text.contains("P90 ITL (ms):                            320.00    \n"));
    assertTrue(text.contains("UNAVAILABLE:                             2         \n"));
    assertTrue(text.contains("DEADLINE_EXCEEDED:                       1         \n"));
    assertEquals("==================================================", lines.getLast());
  }

  @Test
  void htmlIsSelfContainedWithCharts(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("r.html");
    HtmlReport.write(file, HtmlReport.render(report(Slo.parse("ttft=1s"))));
    String html = Files.readString(file);
    assertTrue(html.startsWith("<!DOCTYPE html>"));
    assertTrue(html.contains("<style>"));
    // charts: throughput and latency percentiles over time, TTFT and ITL distributions
    for (String title : List.of("Output token throughput", "TTFT percentiles", "ITL percentiles", "TTFT histogram", "TTFT cumulative distribution", "ITL histogram",
        "ITL cumulative distribution", "Request goodput (req/s)", "UNAVAILABLE")) {
      assertTrue(html.contains(title), "missing " + title);
    }
    assertTrue(html.split("<svg ", -1).length - 1 >= 10, "one SVG per chart");
    // nothing fetched from elsewhere: the only URL is the SVG namespace
    assertFalse(html.contains("<script src"));
    assertFalse(html.contains("<link"));
    assertFalse(html.contains("https://"));
    assertEquals(html.split("http://", -1).length - 1, html.split("http://www.w3.org/2000/svg", -1).length - 1);
  }

  @Test
  void sweepReports(@TempDir Path dir) throws Exception {
    List<Report> points = List.of(report(Slo.NONE), report(Slo.NONE));
    String table = ConsoleReport.renderSweep(SweepSpec.Dimension.CONCURRENCY, points);
    assertTrue(table.contains("TTFT p99"), table);
    assertEquals(points.size() + 4, table.lines().count());
    Path json = dir.resolve("s.json");
    JsonReport.writeSweep(json, SweepSpec.Dimension.CONCURRENCY, points);
    JsonNode array = JsonReport.JSON.readTree(json.toFile());
    assertTrue(array.isArray());
    assertEquals(2, array.size());
    assertEquals("concurrency", array.get(0).get("sweep").get("dimension").asText());
    assertTrue(array.get(1).has("mean_tpot_ms"));
    String html = HtmlReport.renderSweep(SweepSpec.Dimension.CONCURRENCY, points);
    assertTrue(html.contains("TTFT against output throughput"));
    assertTrue(html.contains("<details>"));
  }

  /** The streams of {@link RecoveryGapsTest} with a kill at 1.0 s, a stop that was not injected, and request 0 migrated once. */
  static Report faultyReport() {
    List<RequestResult> streams = new ArrayList<>(RecoveryGapsTest.streams());
    RequestResult a = streams.getFirst();
    streams.set(0, new RequestResult(a.index(), a.startSeconds(), a.queueSeconds(), a.ttftSeconds(), a.latencySeconds(), a.itlSeconds(), a.inputTokens(), a.outputTokens(), a.status(),
        a.error(), 1, 11, a.tokenIds(), a.chunkSeconds()));
    List<FaultEvent> faults = List.of(new FaultEvent("kill:worker-2@1s", "kill", "worker-2", 4242, 1.0, 1.0, true, "SIGKILL; the process is gone"),
        new FaultEvent("stop:worker-9@1.5s+1s", "stop", "", 0, 1.5, Double.NaN, false, "no run/worker-9.pid"));
    RunOutcome run = new RunOutcome(Traffic.closed(2, 5L, null), streams, 2.1, 3, MetricsTest.run().startedAt(), faults);
    Report r = Report.of("127.0.0.1:7070", INFO, WORKLOAD, run, Slo.NONE, List.of(90.0, 99.0));
    java.util.Map<Long, int[]> reference = new java.util.HashMap<>();
    for (RequestResult x : streams) {
      reference.put(x.index(), x.tokenIds());
    }
    reference.put(1L, new int[] {0, 5});
    return r.withVerification(Verification.compare(reference, streams));
  }

  @Test
  void consoleBlockShowsFaultsMigrationsRecoveryGapsAndVerification() {
    String text = ConsoleReport.render(faultyReport());
    List<String> lines = text.lines().toList();
    assertEquals("Successful requests:                     4         ", lines.get(1));
    assertEquals("Failed requests:                         1         ", lines.get(2));
    assertEquals("Migrated requests:                       1         ", lines.get(3));
    assertEquals("Recomputed tokens:                       11        ", lines.get(4));
    String faults = String.join("\n",
        "----------------------Faults----------------------",
        "Faults injected:                         1         ",
        "Faults not injected:                     1         ",
        "kill worker-2 (pid 4242) at (s):         1.00      ",
        "stop:worker-9@1.5s+1s:                   not injected: no run/worker-9.pid",
        "Streams alive across a fault:            4         ",
        "-------------------Recovery Gap-------------------",
        "Gaps measured:                           3         ",
        "Median recovery gap (ms):                800.00    ",
        "P90 recovery gap (ms):                   960.00    ",
        "Max recovery gap (ms):                   1000.00   ",
        "-------------------Verification-------------------",
        "Verified streams:                        3/5       ",
        "  request 1: token 1 differs (expected 5, got 0)",
        "  request 3: failed (UNAVAILABLE: stage lost)",
        "-----------------Errors by Status-----------------");
    assertTrue(text.contains(faults + "\n"), text);
    assertEquals("==================================================", lines.getLast());
  }

  @Test
  void consoleBlockWithoutFaultsHasNoFaultLines() {
    String text = ConsoleReport.render(report(Slo.NONE));
    assertFalse(text.contains("Migrated requests"));
    assertFalse(text.contains("Faults"));
    assertFalse(text.contains("Verified streams"));
  }

  @Test
  void jsonHasFaultsMigrationsRecoveryGapsAndVerification() {
    JsonNode j = JsonReport.toJson(faultyReport());
    List<String> names = new ArrayList<>();
    j.fieldNames().forEachRemaining(names::add);
    assertEquals(VLLM_FIELDS, names.subList(0, VLLM_FIELDS.size()), "vLLM's fields still come first");
    assertEquals(1, j.get("migrated_requests").asInt());
    assertEquals(11, j.get("total_recomputed_tokens").asInt());
    assertEquals(5, j.get("migrations").size());
    assertEquals(1, j.get("migrations").get(0).asInt());
    assertEquals(11, j.get("recomputed_tokens").get(0).asInt());
    JsonNode kill = j.get("faults").get(0);
    assertEquals("kill:worker-2@1s", kill.get("fault").asText());
    assertEquals("kill", kill.get("action").asText());
    assertEquals("worker-2", kill.get("worker").asText());
    assertEquals(4242, kill.get("pid").asLong());
    assertEquals(1.0, kill.get("time").asDouble());
    assertTrue(kill.get("injected").asBoolean());
    JsonNode stop = j.get("faults").get(1);
    assertTrue(stop.get("time").isNull(), "never injected");
    assertFalse(stop.get("injected").asBoolean());
    assertEquals("no run/worker-9.pid", stop.get("detail").asText());
    assertEquals(4, j.get("streams_across_faults").asInt());
    assertEquals(3, j.get("recovery_gaps").size());
    assertEquals(0.7, j.get("recovery_gaps").get(0).asDouble(), 1e-9);
    assertEquals(800, j.get("median_recovery_gap_ms").asDouble(), 1e-9);
    assertEquals(960, j.get("p90_recovery_gap_ms").asDouble(), 1e-9);
    assertEquals(1000, j.get("max_recovery_gap_ms").asDouble(), 1e-9);
    JsonNode v = j.get("verify");
    assertEquals(3, v.get("verified_streams").asInt());
    assertEquals(5, v.get("streams").asInt());
    assertFalse(v.get("passed").asBoolean());
    assertEquals(1, v.get("mismatches").get(0).get("index").asInt());
    assertEquals(1, v.get("mismatches").get(0).get("position").asInt());
    assertEquals(-1, v.get("mismatches").get(1).get("position").asInt());
    assertTrue(JsonReport.toJson(report(Slo.NONE)).get("verify").isNull(), "null without --verify");
  }

  @Test
  void htmlHasAFaultsAndRecoverySection() {
    String html = HtmlReport.render(faultyReport());
    for (String s : List.of("Faults and recovery", "kill:worker-2@1s", "kill worker-2 (pid 4242)", "not injected", "Migrated requests", "Median recovery gap (ms)", "800.00",
        "Verified streams", "3/5", "request 1: token 1 differs (expected 5, got 0)")) {
      assertTrue(html.contains(s), "missing " + s);
    }
    assertFalse(HtmlReport.render(report(Slo.NONE)).contains("Faults and recovery"));
  }
}
