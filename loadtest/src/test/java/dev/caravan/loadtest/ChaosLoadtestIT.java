package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.caravan.cluster.testing.LocalCluster;
import dev.caravan.engine.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --fault} against a real cluster: a coordinator and two workers (each its own JVM, stories260K), their pids in
 * a run directory of {@code worker-N.pid} files as {@code ops/cluster} writes them. First a worker is stopped and
 * continued under {@code --verify}, then one is killed. Whether in-flight requests survive a lost worker depends on
 * the coordinator; either way every request must end, as a success or a counted failure, and no successful stream may
 * differ from its fault-free reference. Reports are left in {@code target/it-reports/}.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ChaosLoadtestIT {
  private static final Path MODEL = TestData.stories260K();
  private static final Path REPORTS = Path.of("target", "it-reports");
  /** Far more than a run of these sizes takes; a run that does not end by then hung. */
  private static final Duration RUN_BOUND = Duration.ofMinutes(3);
  private static LocalCluster cluster;
  private static final List<LocalCluster.Node> workers = new ArrayList<>();
  @TempDir static Path runDir;

  @BeforeAll
  static void startCluster() throws Exception {
    Files.createDirectories(REPORTS);
    cluster = LocalCluster.start(MODEL, "chaos");
    workers.add(cluster.addWorker());
    workers.add(cluster.addWorker());
    cluster.awaitServing(2, Duration.ofSeconds(120));
    for (int i = 0; i < workers.size(); i++) {
      Files.writeString(runDir.resolve("worker-" + (i + 1) + ".pid"), workers.get(i).pid() + "\n");
    }
  }

  @AfterAll
  static void stopCluster() {
    if (cluster != null) {
      cluster.close();
    }
  }

  private static CommandRunner run(String... args) {
    return assertTimeoutPreemptively(RUN_BOUND, () -> CommandRunner.run(args), "the load test did not end");
  }

  /** Every request ended as a success or a counted failure, and the reports agree on it. */
  private static void everyRequestAccountedFor(JsonNode j, int requests) {
    int completed = j.get("completed").asInt();
    int failed = j.get("failed").asInt();
    assertEquals(requests, completed + failed);
    assertEquals(requests, j.get("statuses").size());
    long byStatus = 0;
    for (JsonNode n : j.get("errors_by_status")) {
      byStatus += n.asLong();
    }
    assertEquals(failed, byStatus, "every failure is counted under its status");
  }

  @Test
  @Order(1)
  void aStoppedWorkerStallsStreamsAndVerifyChecksEveryOne() throws Exception {
    Path json = REPORTS.resolve("chaos-stop-verify.json");
    Files.deleteIfExists(json);
    CommandRunner r = run("--target", cluster.target(), "--run-dir", runDir.toString(), "--fault", "stop:worker-1@300ms+1500ms", "--verify", "--concurrency", "4",
        "--requests", "16", "--input-len", "8", "--output-len", "48", "--request-timeout", "60s", "--output-json", json.toString(), "--no-progress");
    System.out.println(r.out());
    System.out.println(r.err());
    JsonNode j = JsonReport.JSON.readTree(json.toFile());
    everyRequestAccountedFor(j, 16);

    JsonNode stop = j.get("faults").get(0);
    assertEquals("stop", stop.get("action").asText());
    assertTrue(stop.get("injected").asBoolean(), stop.toString());
    assertEquals(workers.get(0).pid(), stop.get("pid").asLong());
    JsonNode cont = j.get("faults").get(1);
    assertEquals("cont", cont.get("action").asText());
    assertTrue(cont.get("injected").asBoolean(), cont.toString());
    assertTrue(workers.get(0).alive(), "a stopped and continued worker lives on");
    assertTrue(j.get("streams_across_faults").asInt() > 0, "streams were in flight when the worker stopped");
    assertTrue(j.get("max_recovery_gap_ms").asDouble() >= 1000, "a stream across a 1.5 s stop stalls for about that long: " + j.get("recovery_gaps"));

    JsonNode v = j.get("verify");
    int failed = j.get("failed").asInt();
    assertEquals(16, v.get("streams").asInt());
    assertEquals(16 - failed, v.get("verified_streams").asInt(), "every stream that completed has its reference's tokens: " + v.get("mismatches"));
    assertTrue(r.out().contains("Verified streams:                        " + (16 - failed) + "/16"), r.out());
    assertEquals(failed == 0 ? 0 : 3, r.exitCode(), "--verify fails the run exactly when a request failed\n" + r.err());
  }

  @Test
  @Order(2)
  void aKilledWorkerIsDeadAndTheRequestsItHeldEndedAsSuccessesOrCountedFailures() throws Exception {
    Path json = REPORTS.resolve("chaos-kill.json");
    Path html = REPORTS.resolve("chaos-kill.html");
    Files.deleteIfExists(json);
    LocalCluster.Node victim = workers.get(1);
    CommandRunner r = run("--target", cluster.target(), "--run-dir", runDir.toString(), "--fault", "kill:worker-2@500ms", "--concurrency", "4", "--requests", "32",
        "--duration", "20s", "--input-len", "8", "--output-len", "64", "--request-timeout", "30s", "--output-json", json.toString(), "--output-html", html.toString(),
        "--no-progress");
    System.out.println(r.out());
    System.out.println(r.err());
    assertEquals(0, r.exitCode(), "failed requests are part of the report, not a failure of the tool\n" + r.err());
    assertTrue(victim.awaitExit(Duration.ofSeconds(10)), "the fault killed worker-2");
    assertFalse(victim.alive());
    assertTrue(workers.get(0).alive(), "and only worker-2");

    assertTrue(r.out().contains("kill worker-2 (pid " + victim.pid() + ") at (s):"), r.out());
    assertTrue(r.err().contains("loadtest: fault at "), r.err());
    JsonNode j = JsonReport.JSON.readTree(json.toFile());
    JsonNode kill = j.get("faults").get(0);
    assertTrue(kill.get("injected").asBoolean(), kill.toString());
    assertEquals(victim.pid(), kill.get("pid").asLong());
    assertTrue(kill.get("time").asDouble() >= 0.5);
    assertTrue(j.get("streams_across_faults").asInt() > 0, "requests were in flight when the worker died");
    int sent = j.get("num_prompts").asInt();
    assertTrue(sent > 0 && sent <= 32);
    everyRequestAccountedFor(j, sent);
    assertTrue(r.out().contains("Failed requests:                         " + j.get("failed").asInt() + " "), r.out());
    assertTrue(r.out().contains("Migrated requests:                       " + j.get("migrated_requests").asInt() + " "), r.out());
    assertTrue(Files.readString(html).contains("Faults and recovery"));
  }
}
