package dev.caravan.coordinator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.testing.LocalCluster;
import dev.caravan.engine.TestData;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.gguf.GgufTensorInfo;
import dev.caravan.engine.tokenizer.Tokenizer;
import dev.caravan.proto.v1.ClusterStatusResponse;
import dev.caravan.proto.v1.PlanStage;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Three workers with an uneven split, a fourth joining a running cluster, then one draining away. */
class ThreeWorkersIT {
  private static final Path MODEL = TestData.stories260K();
  private static final String PROMPT = "Lily and Ben went to the park. They saw a big";

  @Test
  void unevenSplitThenAWorkerJoins() throws Exception {
    long bytes = 0;
    int[] prompt;
    try (GgufFile f = GgufFile.open(MODEL)) {
      for (GgufTensorInfo t : f.tensors()) {
        bytes += t.name().startsWith("blk.0.") ? t.byteSize() : 0;
      }
      prompt = Tokenizer.fromGguf(f.metadata()).encode(PROMPT, true, false);
    }
    long layerBytes = bytes;
    int[] expected = TwoWorkerClusterIT.engineGreedy(prompt, 40);

    try (LocalCluster cluster = LocalCluster.start(MODEL, "three-workers")) {
      // the first worker has room for one layer only: the plan must be uneven, not 5/3 each
      LocalCluster.Node small = cluster.addWorker("--memory-limit", Long.toString(layerBytes + layerBytes / 2));
      cluster.await("the small worker", s -> s.getMembersCount() == 2, Duration.ofSeconds(60));
      cluster.addWorker();
      cluster.addWorker();
      ClusterStatusResponse s3 = cluster.awaitServing(3, Duration.ofSeconds(90));
      String smallUuid = s3.getMembersList().stream().filter(m -> m.getRole().equals("worker") && m.getFreeMemoryBytes() < 10 * layerBytes).findFirst().orElseThrow().getUuid();
      PlanStage smallStage = s3.getPlan().getStagesList().stream().filter(st -> st.getWorkerUuid().equals(smallUuid)).findFirst().orElseThrow();
      assertEquals(1, smallStage.getLayerEnd() - smallStage.getLayerStart(), "memory-capped worker runs one layer: " + s3.getPlan());
      assertTrue(small.alive());

      GenerationClient.Result r3 = GenerationClient.generate(cluster.channel(), GenerationClient.greedy(PROMPT, 40).build(), 60);
      assertArrayEquals(expected, r3.idArray(), "three stages vs the single-process engine");

      // a fourth worker joins while a request is running: that request finishes on its plan, the next uses a new epoch
      long epoch3 = s3.getPlan().getEpoch();
      CompletableFuture<GenerationClient.Result> running = CompletableFuture.supplyAsync(() -> GenerationClient.generate(cluster.channel(), GenerationClient.greedy(PROMPT, 200).build(), 120));
      cluster.addWorker();
      ClusterStatusResponse s4 = cluster.awaitServing(4, Duration.ofSeconds(90));
      assertTrue(s4.getPlan().getEpoch() > epoch3, "a new plan epoch");
      assertEquals(200, running.get(120, TimeUnit.SECONDS).done().getUsage().getCompletionTokens(), "the request running during the change completed");

      CompletableFuture<GenerationClient.Result> next = CompletableFuture.supplyAsync(() -> GenerationClient.generate(cluster.channel(), GenerationClient.greedy(PROMPT, 300).build(), 120));
      ClusterStatusResponse during = cluster.await("the next request on the new plan", s -> s.getKvPlacementList().stream().anyMatch(p -> p.getHoldingsCount() == 4), Duration.ofSeconds(30));
      assertEquals(s4.getPlan().getEpoch(), during.getKvPlacementList().stream().filter(p -> p.getHoldingsCount() == 4).findFirst().orElseThrow().getPlanEpoch());
      int[] first40 = java.util.Arrays.copyOf(next.get(120, TimeUnit.SECONDS).idArray(), 40);
      assertArrayEquals(expected, first40, "output unchanged on four stages");

      // scale down while serving: SIGTERM a worker mid-request; it drains (the request completes), then leaves
      long epoch4 = cluster.status().getPlan().getEpoch();
      CompletableFuture<GenerationClient.Result> draining = CompletableFuture.supplyAsync(() -> GenerationClient.generate(cluster.channel(), GenerationClient.greedy(PROMPT, 200).build(), 120));
      cluster.await("the request running on four stages", s -> s.getRunningRequests() == 1, Duration.ofSeconds(30));
      small.terminate();
      ClusterStatusResponse s3b = cluster.awaitServing(3, Duration.ofSeconds(90));
      assertTrue(s3b.getPlan().getEpoch() > epoch4);
      assertEquals(200, draining.get(120, TimeUnit.SECONDS).done().getUsage().getCompletionTokens(), "the request on the draining worker completed");
      assertTrue(small.awaitExit(Duration.ofSeconds(40)), "the drained worker exits");
      assertTrue(small.logText().contains("drained"), "it drained rather than timed out");
      assertArrayEquals(expected, GenerationClient.generate(cluster.channel(), GenerationClient.greedy(PROMPT, 40).build(), 60).idArray(), "output unchanged after scaling down");
    }
  }
}
