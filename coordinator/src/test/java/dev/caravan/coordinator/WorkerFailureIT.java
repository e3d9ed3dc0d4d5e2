package dev.caravan.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.testing.LocalCluster;
import dev.caravan.engine.SharedFiles;
import dev.caravan.proto.v1.ClusterStatusResponse;
import dev.caravan.proto.v1.GenerateResponse;
import dev.caravan.proto.v1.InferenceGrpc;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** SIGKILL a worker mid-generation: the client hears UNAVAILABLE naming the lost stage within seconds; then it recovers. */
class WorkerFailureIT {

  @Test
  void killedWorkerFailsTheRequestFastAndTheClusterRecovers() throws Exception {
    try (LocalCluster cluster = LocalCluster.start(SharedFiles.stories260K(), "worker-failure")) {
      List<LocalCluster.Node> workers = List.of(cluster.addWorker(), cluster.addWorker());
      ClusterStatusResponse serving = cluster.awaitServing(2, Duration.ofSeconds(90));

      // a long generation; kill the worker holding stage 1 once tokens flow
      Iterator<GenerateResponse> it = InferenceGrpc.newBlockingStub(cluster.channel()).withDeadlineAfter(120, TimeUnit.SECONDS).generate(GenerationClient.greedy("Once upon a time", 480).build());
      for (int i = 0; i < 5; i++) {
        it.next();
      }
      String stage1Address = serving.getPlan().getStages(1).getGrpcAddress();
      LocalCluster.Node victim = workers.stream().filter(w -> w.logText().contains(") at " + stage1Address + ",")).findFirst().orElseThrow();
      long killedAt = System.nanoTime();
      victim.kill();
      StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> {
        while (it.hasNext()) {
          it.next();
        }
      });
      double seconds = (System.nanoTime() - killedAt) / 1e9;
      assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.getStatus().toString());
      assertTrue(e.getStatus().getDescription().contains("stage 1"), "names the lost stage: " + e.getStatus().getDescription());
      assertTrue(seconds < 20, "failed after " + seconds + " s instead of hanging");

      // its KV records are cleaned up, and the survivor takes every layer
      cluster.await("KV records of the failed request removed", s -> s.getKvPlacementCount() == 0 && s.getRunningRequests() == 0, Duration.ofSeconds(15));
      cluster.awaitServing(1, Duration.ofSeconds(60));
      assertEquals(16, GenerationClient.generate(cluster.channel(), GenerationClient.greedy("Once upon a time", 16).build(), 60).done().getUsage().getCompletionTokens());

      // a replacement worker joins: two stages again, requests succeed
      cluster.addWorker();
      cluster.awaitServing(2, Duration.ofSeconds(90));
      assertEquals(16, GenerationClient.generate(cluster.channel(), GenerationClient.greedy("Once upon a time", 16).build(), 60).done().getUsage().getCompletionTokens());
    }
  }
}
