package dev.caravan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.caravan.cluster.testing.LocalCluster;
import dev.caravan.engine.TestData;
import dev.caravan.proto.v1.GenerateRequest;
import dev.caravan.proto.v1.GenerateResponse;
import dev.caravan.proto.v1.InferenceGrpc;
import dev.caravan.proto.v1.SamplingParams;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Debian's Prometheus scrapes a real 2-worker cluster with {@code ops/prometheus/prometheus.yml} (file-based targets, as
 * {@code ops/cluster} writes them) and its recording rules: every target is up, every rule evaluates to series and
 * every query of the Grafana dashboard returns series ({@link PrometheusCheckCommand}, what {@code ops/metrics check}
 * runs). Prometheus must be installed ({@code apt-get install prometheus}; {@code .ci/run} installs it): without it
 * the test fails, it never skips.
 */
class PrometheusIT {
  private static final Path ROOT = TestData.root();

  @Test
  void prometheusScrapesTheClusterAndEveryDashboardQueryHasSeries(@TempDir Path dir) throws Exception {
    Path binary = prometheusBinary();
    Files.createDirectories(dir.resolve("targets"));
    Files.copy(ROOT.resolve("ops/prometheus/prometheus.yml"), dir.resolve("prometheus.yml"));
    Files.copy(ROOT.resolve("ops/prometheus/caravan-rules.yml"), dir.resolve("caravan-rules.yml"));
    try (LocalCluster cluster = LocalCluster.start(TestData.stories260K(), "prometheus")) {
      LocalCluster.Node w1 = cluster.addWorker();
      LocalCluster.Node w2 = cluster.addWorker();
      cluster.awaitServing(2, Duration.ofSeconds(90));
      Files.writeString(dir.resolve("targets/coordinator.json"), "[{\"targets\": [\"127.0.0.1:" + cluster.metricsPort() + "\"], \"labels\": {\"role\": \"coordinator\"}}]\n");
      Files.writeString(dir.resolve("targets/workers.json"), "[{\"targets\": [\"127.0.0.1:" + w1.metricsPort() + "\", \"127.0.0.1:" + w2.metricsPort() + "\"], \"labels\": {\"role\": \"worker\"}}]\n");

      int port = LocalCluster.freePort();
      Process prometheus = new ProcessBuilder(binary.toString(), "--config.file=" + dir.resolve("prometheus.yml"), "--storage.tsdb.path=" + dir.resolve("data"),
          "--web.listen-address=127.0.0.1:" + port)
          .redirectErrorStream(true).redirectOutput(dir.resolve("prometheus.log").toFile()).start();
      try {
        var stub = InferenceGrpc.newBlockingStub(cluster.channel());
        for (int seed = 1; seed <= 3; seed++) {
          GenerateRequest r = GenerateRequest.newBuilder().setPrompt("Once upon a time").setMaxTokens(24)
              .setSampling(SamplingParams.newBuilder().setSeed(seed)).build();
          Iterator<GenerateResponse> it = stub.withDeadlineAfter(60, TimeUnit.SECONDS).generate(r);
          it.forEachRemaining(x -> {});
        }
        // one refused request, so the errors-by-code panel has a series
        assertThrows(StatusRuntimeException.class, () -> stub.withDeadlineAfter(10, TimeUnit.SECONDS)
            .generate(GenerateRequest.newBuilder().setPrompt("x").setModel("no-such-model").setMaxTokens(1).build()).forEachRemaining(x -> {}));

        PrometheusCheckCommand.Result result = PrometheusCheckCommand.check(URI.create("http://127.0.0.1:" + port), ROOT.resolve("ops/prometheus/caravan-rules.yml"),
            ROOT.resolve("ops/grafana/caravan-dashboard.json"), 3, Duration.ofSeconds(120));
        String report = String.join("\n", result.lines());
        assertTrue(result.ok(), report + "\nPrometheus log:\n" + Files.readString(dir.resolve("prometheus.log")));
        assertTrue(report.contains("ok   3 of 3 targets up"), report);
        assertEquals(PrometheusCheckCommand.recordingRules(Files.readString(ROOT.resolve("ops/prometheus/caravan-rules.yml"))).size(),
            result.lines().stream().filter(l -> l.startsWith("ok   rule ")).count(), report);
      } finally {
        prometheus.destroy();
        if (!prometheus.waitFor(20, TimeUnit.SECONDS)) {
          prometheus.destroyForcibly().waitFor();
        }
      }
    }
  }

  /** Debian's prometheus on the PATH, or a failure that says how to install it. */
  private static Path prometheusBinary() throws IOException {
    for (String d : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
      Path p = Path.of(d, "prometheus");
      if (Files.isExecutable(p)) {
        return p;
      }
    }
    fail("no prometheus on the PATH: install Debian's package (apt-get install prometheus; .ci/run does)");
    throw new AssertionError();
  }
}
