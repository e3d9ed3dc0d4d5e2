package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Nothing listens on the target: every request is an UNAVAILABLE error in the report, and the command ends normally. */
class UnreachableTargetTest {
  static int closedPort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Test
  void closedLoopCountsEveryRequestAsUnavailable(@TempDir Path dir) throws Exception {
    Path json = dir.resolve("r.json");
    Path html = dir.resolve("r.html");
    CommandRunner r = CommandRunner.run("--target", "127.0.0.1:" + closedPort(), "--concurrency", "2", "--requests", "6", "--input-len", "8", "--output-len", "4",
        "--request-timeout", "20s", "--output-json", json.toString(), "--output-html", html.toString(), "--no-progress");
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.err().contains("could not list the target's models (UNAVAILABLE"), r.err());
    assertTrue(r.out().contains("Successful requests:                     0 "), r.out());
    assertTrue(r.out().contains("Failed requests:                         6 "), r.out());
    assertTrue(r.out().contains("UNAVAILABLE:                             6 "), r.out());
    JsonNode j = JsonReport.JSON.readTree(json.toFile());
    assertEquals(0, j.get("completed").asInt());
    assertEquals(6, j.get("failed").asInt());
    assertEquals(6, j.get("errors_by_status").get("UNAVAILABLE").asInt());
    assertEquals(1, j.get("errors_by_status").size());
    assertTrue(j.get("errors").get(0).asText().startsWith("UNAVAILABLE"));
    assertTrue(Files.readString(html).contains("UNAVAILABLE"));
  }

  @Test
  void openLoopCountsEveryRequestAsUnavailable() throws Exception {
    CommandRunner r = CommandRunner.run("--target", "127.0.0.1:" + closedPort(), "--rate", "50", "--requests", "5", "--input-len", "4", "--output-len", "2", "--no-progress");
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().contains("Failed requests:                         5 "), r.out());
    assertTrue(r.out().contains("Request rate configured (RPS):           50.00"), r.out());
    assertTrue(r.out().contains("UNAVAILABLE:                             5 "), r.out());
  }
}
