package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.caravan.cluster.testing.LocalCluster;
import dev.caravan.engine.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The load tester against a real cluster: a coordinator and two workers, each its own JVM, serving stories260K. Reports
 * are left in {@code target/it-reports/} to look at.
 */
class LoadtestClusterIT {
  private static final Path MODEL = TestData.stories260K();
  private static final Path REPORTS = Path.of("target", "it-reports");
  private static LocalCluster cluster;

  @BeforeAll
  static void startCluster() throws Exception {
    Files.createDirectories(REPORTS);
    cluster = LocalCluster.start(MODEL, "loadtest");
    cluster.addWorker();
    cluster.addWorker();
    cluster.awaitServing(2, Duration.ofSeconds(90));
  }

  @AfterAll
  static void stopCluster() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void shortClosedLoopRunCompletesWithCorrectCounts() throws Exception {
    Path json = REPORTS.resolve("closed.json");
    Path html = REPORTS.resolve("closed.html");
    Files.deleteIfExists(json);
    Files.deleteIfExists(html);
    CommandRunner r = CommandRunner.run("--target", cluster.target(), "--concurrency", "2", "--requests", "8", "--input-len", "16", "--output-len", "16",
        "--request-timeout", "120s", "--slo", "ttft=1h,tpot=1h", "--output-json", json.toString(), "--output-html", html.toString(), "--no-progress");
    System.out.println(r.out());
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().contains("Successful requests:                     8 "), r.out());
    assertTrue(r.out().contains("Failed requests:                         0 "), r.out());
    assertTrue(r.out().contains("Total generated tokens:                  128 "), r.out());

    JsonNode j = JsonReport.JSON.readTree(json.toFile());
    assertEquals(8, j.get("completed").asInt());
    assertEquals(0, j.get("failed").asInt());
    assertEquals(128, j.get("total_input_tokens").asInt(), "16 prompt tokens each, as the server counted them");
    assertEquals(128, j.get("total_output_tokens").asInt());
    assertEquals("stories260K", j.get("model_id").asText());
    assertEquals(2, j.get("max_concurrency").asInt());
    assertTrue(j.get("max_concurrent_requests").asInt() <= 2);
    for (int i = 0; i < 8; i++) {
      assertEquals(16, j.get("input_lens").get(i).asInt());
      assertEquals(16, j.get("output_lens").get(i).asInt());
      assertEquals(15, j.get("itls").get(i).size(), "one latency per token after the first");
      assertTrue(j.get("ttfts").get(i).asDouble() > 0);
      assertTrue(j.get("latencies").get(i).asDouble() >= j.get("ttfts").get(i).asDouble());
      assertEquals("", j.get("errors").get(i).asText());
    }
    assertEquals(j.get("request_throughput").asDouble(), j.get("request_goodput").asDouble(), 1e-9, "every request meets an SLO of an hour");
    assertTrue(j.get("mean_tpot_ms").asDouble() > 0);
    assertTrue(j.get("p99_e2el_ms").asDouble() >= j.get("median_e2el_ms").asDouble());

    String page = Files.readString(html);
    assertTrue(page.contains("TTFT histogram (8 values"), "the TTFT distribution holds every request");
    assertTrue(page.contains("ITL histogram (120 values"), "and every inter-token latency");
  }

  @Test
  void openLoopAndSweepComplete() throws Exception {
    CommandRunner open = CommandRunner.run("--target", cluster.target(), "--rate", "8", "--arrivals", "constant", "--max-concurrency", "2", "--requests", "6",
        "--input-len", "8", "--output-len", "8", "--request-timeout", "120s", "--no-progress");
    assertEquals(0, open.exitCode(), open.err());
    assertTrue(open.out().contains("Successful requests:                     6 "), open.out());
    assertTrue(open.out().contains("Request rate configured (RPS):           8.00"), open.out());

    Path json = REPORTS.resolve("sweep.json");
    Path html = REPORTS.resolve("sweep.html");
    CommandRunner sweep = CommandRunner.run("--target", cluster.target(), "--sweep", "concurrency=1,3", "--requests", "6", "--input-len", "8", "--output-len", "8",
        "--request-timeout", "120s", "--output-json", json.toString(), "--output-html", html.toString(), "--no-progress");
    System.out.println(sweep.out());
    assertEquals(0, sweep.exitCode(), sweep.err());
    assertTrue(sweep.out().contains("Sweep: concurrency"), sweep.out());
    JsonNode points = JsonReport.JSON.readTree(json.toFile());
    assertEquals(2, points.size());
    assertEquals(1, points.get(0).get("max_concurrency").asInt());
    assertEquals(3, points.get(1).get("max_concurrency").asInt());
    for (JsonNode p : points) {
      assertEquals(6, p.get("completed").asInt());
      assertEquals(48, p.get("total_output_tokens").asInt());
    }
    assertTrue(Files.readString(html).contains("TTFT against output throughput"));
  }

  @Test
  void aClusterWithoutWorkersShowsUpAsCountedErrors() throws Exception {
    try (LocalCluster empty = LocalCluster.start(MODEL, "loadtest-no-workers", "--no-plan-wait", "PT1S")) {
      empty.await("the coordinator answering", s -> true, Duration.ofSeconds(60));
      CommandRunner r = CommandRunner.run("--target", empty.target(), "--concurrency", "2", "--requests", "4", "--input-len", "8", "--output-len", "4",
          "--request-timeout", "60s", "--no-progress");
      System.out.println(r.out());
      assertEquals(0, r.exitCode(), r.err());
      assertTrue(r.err().contains("no serving plan"), r.err());
      assertTrue(r.out().contains("Successful requests:                     0 "), r.out());
      assertTrue(r.out().contains("Failed requests:                         4 "), r.out());
      assertTrue(r.out().contains("UNAVAILABLE:                             4 "), r.out());
    }
  }
}
