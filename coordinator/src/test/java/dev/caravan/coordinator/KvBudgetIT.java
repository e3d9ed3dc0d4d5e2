package dev.caravan.coordinator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.testing.LocalCluster;
import dev.caravan.engine.TestData;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.model.LlamaConfig;
import dev.caravan.engine.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A worker's KV budget is respected without dropping what was admitted: with room for four KV blocks, eight concurrent
 * requests that grow to two blocks each all complete with the engine's tokens (the coordinator preempts and recomputes
 * rather than overflow the worker), and the worker holds no KV afterwards.
 */
class KvBudgetIT {
  private static final Path MODEL = TestData.stories260K();

  @Test
  void requestsBeyondTheBudgetWaitOrArePreemptedNeverDropped() throws Exception {
    int[] prompt;
    long blockBytes;
    try (GgufFile f = GgufFile.open(MODEL)) {
      prompt = Tokenizer.fromGguf(f.metadata()).encode("Once upon a time", true, false);
      LlamaConfig c = LlamaConfig.from(f);
      blockBytes = 2L * c.layers() * 64 * c.kvHeads() * c.headDim() * Float.BYTES;
    }
    int[] expected = TwoWorkerClusterIT.engineGreedy(prompt, 100);
    try (LocalCluster cluster = LocalCluster.start(MODEL, "kv-budget")) {
      LocalCluster.Node worker = cluster.addWorker("--kv-budget", Long.toString(4 * blockBytes));
      cluster.awaitServing(1, Duration.ofSeconds(90));
      List<CompletableFuture<GenerationClient.Result>> all = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        all.add(CompletableFuture.supplyAsync(() -> GenerationClient.generate(cluster.channel(), GenerationClient.greedy("Once upon a time", 100).build(), 120)));
      }
      for (CompletableFuture<GenerationClient.Result> f : all) {
        assertArrayEquals(expected, f.get(180, TimeUnit.SECONDS).idArray());
      }
      assertTrue(Metrics.value(cluster.metricsPort(), "caravan_request_migrations_total{reason=\"preempted\"}") > 0, "some requests were preempted");
      cluster.await("no request left", s -> s.getRunningRequests() == 0 && s.getKvPlacementCount() == 0, Duration.ofSeconds(15));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
      double kv;
      while ((kv = Metrics.value(worker.metricsPort(), "caravan_worker_kv_tokens")) != 0 && System.nanoTime() < deadline) {
        Thread.sleep(100);
      }
      assertEquals(0.0, kv, "the worker's KV gauge returns to zero");
    }
  }
}
