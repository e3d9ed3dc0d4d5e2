package dev.caravan.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.testing.LocalCluster;
import dev.caravan.engine.TestData;
import dev.caravan.proto.v1.ListModelsRequest;
import dev.caravan.proto.v1.InferenceGrpc;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** A coordinator alone: requests fail with UNAVAILABLE saying there are no workers, and succeed once one joins. */
class NoWorkersIT {

  @Test
  void requestsFailUnavailableUntilAWorkerJoins() throws Exception {
    try (LocalCluster cluster = LocalCluster.start(TestData.stories260K(), "no-workers", "--no-plan-wait", "PT2S")) {
      cluster.await("the coordinator", s -> s.getMembersCount() == 1, Duration.ofSeconds(60));
      assertFalse(InferenceGrpc.newBlockingStub(cluster.channel()).listModels(ListModelsRequest.getDefaultInstance()).getModels(0).getReady());
      long t0 = System.nanoTime();
      StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> GenerationClient.generate(cluster.channel(), GenerationClient.greedy("Once upon a time", 8).build(), 30));
      assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.getStatus().toString());
      assertTrue(e.getStatus().getDescription().contains("no worker"), e.getStatus().getDescription());
      assertTrue(System.nanoTime() - t0 < 25_000_000_000L, "failed instead of hanging");

      cluster.addWorker();
      cluster.awaitServing(1, Duration.ofSeconds(60));
      assertEquals(8, GenerationClient.generate(cluster.channel(), GenerationClient.greedy("Once upon a time", 8).build(), 30).done().getUsage().getCompletionTokens());
    }
  }
}
