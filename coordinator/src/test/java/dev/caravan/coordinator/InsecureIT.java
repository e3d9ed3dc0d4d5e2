package dev.caravan.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.testing.LocalCluster;
import dev.caravan.engine.TestData;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The explicit opt-out: a cluster run with {@code --insecure} serves in plaintext and every process says so at start-up. */
class InsecureIT {
  @Test
  void aClusterStartedWithInsecureServesAndWarnsOnce() throws Exception {
    try (LocalCluster cluster = LocalCluster.startInsecure(TestData.stories260K(), "insecure")) {
      LocalCluster.Node worker = cluster.addWorker();
      cluster.awaitServing(1, Duration.ofSeconds(120));
      assertEquals(8, GenerationClient.generate(cluster.channel(), GenerationClient.greedy("Once upon a time", 8).build(), 60).done().getUsage().getCompletionTokens());
      for (LocalCluster.Node n : new LocalCluster.Node[] {cluster.coordinator(), worker}) {
        String log = n.logText();
        int first = log.indexOf("--insecure: internal gRPC connections are PLAINTEXT");
        assertTrue(first >= 0, n.name() + " warns:\n" + log);
        assertEquals(-1, log.indexOf("--insecure: internal gRPC connections are PLAINTEXT", first + 1), "once");
        assertTrue(log.contains("WARN"), log);
      }
    }
  }
}
