package dev.caravan.coordinator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.testing.LocalCluster;
import dev.caravan.engine.TestData;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.tokenizer.Tokenizer;
import dev.caravan.proto.v1.ClusterStatusResponse;
import dev.caravan.proto.v1.GenerateRequest;
import dev.caravan.proto.v1.GenerateResponse;
import dev.caravan.proto.v1.InferenceGrpc;
import dev.caravan.proto.v1.SamplingParams;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A worker that dies mid-request costs the client a pause, not the request: real worker processes are killed (SIGKILL)
 * or frozen (SIGSTOP) while streams run, and every stream ends normally with exactly the tokens of a fault-free run —
 * greedy and seeded sampling, one stream and eight at once, the first, a middle and the last stage, mid-decode and
 * mid-prefill, two losses in a row. With every worker gone requests fail with UNAVAILABLE after the grace period, and
 * the cluster serves again once a worker returns.
 */
class FailoverIT {
  private static final Path MODEL = TestData.stories260K();
  private static final String PROMPT = "Once upon a time";

  private static GenerateRequest seeded(String prompt, int maxTokens, long seed) {
    return GenerateRequest.newBuilder().setPrompt(prompt).setMaxTokens(maxTokens).setIgnoreEos(true)
        .setSampling(SamplingParams.newBuilder().setTemperature(0.9f).setTopK(40).setTopP(0.95f).setMinP(0.05f).setRepeatPenalty(1.1f).setSeed(seed)).build();
  }

  /** The worker process serving stage {@code index} of the current plan. */
  private static LocalCluster.Node stage(LocalCluster cluster, List<LocalCluster.Node> workers, int index) {
    String address = cluster.status().getPlan().getStages(index).getGrpcAddress();
    return workers.stream().filter(w -> w.alive() && w.logText().contains(") at " + address + ",")).findFirst().orElseThrow(() -> new AssertionError("no worker at " + address));
  }

  /** Starts a stream and reads {@code first} tokens of it, so the fault lands mid-decode. */
  private static Iterator<GenerateResponse> started(LocalCluster cluster, GenerateRequest r, int first) {
    Iterator<GenerateResponse> it = InferenceGrpc.newBlockingStub(cluster.channel()).withDeadlineAfter(120, TimeUnit.SECONDS).generate(r);
    for (int i = 0; i < first; i++) {
      assertTrue(it.next().hasDelta());
    }
    return it;
  }

  /** The rest of a stream: its token ids after the first {@code first}, and its final usage. */
  private static GenerationClient.Result rest(Iterator<GenerateResponse> it, List<Integer> ids) {
    GenerateResponse last = null;
    while (it.hasNext()) {
      last = it.next();
      ids.addAll(last.getDelta().getTokenIdsList());
    }
    return new GenerationClient.Result("", ids, last.getDone());
  }

  @Test
  void streamsSurviveLostWorkersWithTheTokensOfAFaultFreeRun() throws Exception {
    int[] prompt;
    try (GgufFile f = GgufFile.open(MODEL)) {
      prompt = Tokenizer.fromGguf(f.metadata()).encode(PROMPT, true, false);
    }
    int[] greedy = TwoWorkerClusterIT.engineGreedy(prompt, 300);

    try (LocalCluster cluster = LocalCluster.start(MODEL, "failover", "--no-plan-wait", "PT8S", "--max-batch-tokens", "16")) {
      List<LocalCluster.Node> workers = new ArrayList<>(List.of(cluster.addWorker(), cluster.addWorker(), cluster.addWorker()));
      cluster.awaitServing(3, Duration.ofSeconds(90));

      // fault-free references for seeded sampling, computed by this cluster
      List<int[]> reference = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        reference.add(GenerationClient.generate(cluster.channel(), seeded(PROMPT, 120, 100 + i), 60).idArray());
      }

      // 1. SIGKILL the middle stage mid-decode: the stream goes on, on two stages
      List<Integer> ids = new ArrayList<>();
      Iterator<GenerateResponse> it = InferenceGrpc.newBlockingStub(cluster.channel()).withDeadlineAfter(120, TimeUnit.SECONDS).generate(GenerationClient.greedy(PROMPT, 300).build());
      for (int i = 0; i < 5; i++) {
        ids.addAll(it.next().getDelta().getTokenIdsList());
      }
      stage(cluster, workers, 1).kill();
      GenerationClient.Result r = rest(it, ids);
      assertArrayEquals(greedy, r.idArray(), "greedy tokens after losing the middle stage");
      assertTrue(r.done().getUsage().getMigrations() >= 1, "the request moved: " + r.done().getUsage());
      assertEquals(2, cluster.awaitServing(2, Duration.ofSeconds(60)).getPlan().getStagesCount());

      // 2. eight seeded streams at once; SIGKILL the last stage while they run
      List<CompletableFuture<GenerationClient.Result>> eight = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        GenerateRequest req = seeded(PROMPT, 120, 100 + i);
        eight.add(CompletableFuture.supplyAsync(() -> GenerationClient.generate(cluster.channel(), req, 120)));
      }
      cluster.await("eight streams running", s -> s.getRunningRequests() >= 4, Duration.ofSeconds(30));
      stage(cluster, workers, 1).kill();
      for (int i = 0; i < 8; i++) {
        assertArrayEquals(reference.get(i), eight.get(i).get(120, TimeUnit.SECONDS).idArray(), "seeded stream " + i + " after losing the last stage");
      }
      cluster.awaitServing(1, Duration.ofSeconds(60));

      // 3. scale back to three while a stream runs (a planned change moves it), then SIGSTOP the first stage mid-decode
      ids = new ArrayList<>();
      it = InferenceGrpc.newBlockingStub(cluster.channel()).withDeadlineAfter(120, TimeUnit.SECONDS).generate(GenerationClient.greedy(PROMPT, 300).build());
      ids.addAll(it.next().getDelta().getTokenIdsList());
      workers.add(cluster.addWorker());
      workers.add(cluster.addWorker());
      assertArrayEquals(greedy, rest(it, ids).idArray(), "greedy tokens across a planned plan change");
      cluster.awaitServing(3, Duration.ofSeconds(90));
      ids = new ArrayList<>();
      it = InferenceGrpc.newBlockingStub(cluster.channel()).withDeadlineAfter(120, TimeUnit.SECONDS).generate(GenerationClient.greedy(PROMPT, 300).build());
      for (int i = 0; i < 5; i++) {
        ids.addAll(it.next().getDelta().getTokenIdsList());
      }
      LocalCluster.Node frozen = stage(cluster, workers, 0);
      frozen.pause();
      try {
        r = rest(it, ids);
      } finally {
        frozen.kill();
      }
      assertArrayEquals(greedy, r.idArray(), "greedy tokens after the first stage hung");
      cluster.awaitServing(2, Duration.ofSeconds(60));

      // 4. two kills in a row, mid-prefill: a long prompt in 16-token chunks
      String longPrompt = (PROMPT + ", there was a little girl named Lily. She liked to play outside. ").repeat(6);
      int[] longIds;
      try (GgufFile f = GgufFile.open(MODEL)) {
        longIds = Tokenizer.fromGguf(f.metadata()).encode(longPrompt, true, false);
      }
      int[] longGreedy = TwoWorkerClusterIT.engineGreedy(longIds, 40);
      workers.add(cluster.addWorker());
      cluster.awaitServing(3, Duration.ofSeconds(90));
      CompletableFuture<GenerationClient.Result> prefilling = CompletableFuture.supplyAsync(() -> GenerationClient.generate(cluster.channel(), GenerationClient.greedy(longPrompt, 40).build(), 120));
      cluster.await("the long prompt running", s -> s.getRunningRequests() == 1, Duration.ofSeconds(30));
      stage(cluster, workers, 2).kill();
      cluster.await("a plan without the lost worker", s -> s.getPlan().getStagesCount() == 2 && s.getPlan().getReady(), Duration.ofSeconds(60));
      stage(cluster, workers, 0).kill();
      GenerationClient.Result twice = prefilling.get(120, TimeUnit.SECONDS);
      assertArrayEquals(longGreedy, twice.idArray(), "greedy tokens after two losses");
      assertTrue(twice.done().getUsage().getMigrations() >= 1);

      // 5. every worker gone: UNAVAILABLE after the grace period, naming what was lost; then a worker returns
      cluster.awaitServing(1, Duration.ofSeconds(60));
      Iterator<GenerateResponse> doomed = started(cluster, GenerationClient.greedy(PROMPT, 300).build(), 3);
      workers.stream().filter(LocalCluster.Node::alive).forEach(LocalCluster.Node::kill);
      long t0 = System.nanoTime();
      StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> {
        while (doomed.hasNext()) {
          doomed.next();
        }
      });
      assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.getStatus().toString());
      assertTrue(e.getStatus().getDescription().contains("stage 0"), e.getStatus().getDescription());
      assertTrue((System.nanoTime() - t0) / 1e9 < 40, "failed within the grace period, not hanging");
      workers.add(cluster.addWorker());
      cluster.awaitServing(1, Duration.ofSeconds(90));
      assertArrayEquals(greedy, GenerationClient.generate(cluster.channel(), GenerationClient.greedy(PROMPT, 300).build(), 60).idArray(), "serving again");
      ClusterStatusResponse end = cluster.await("no request left running", s -> s.getRunningRequests() == 0 && s.getKvPlacementCount() == 0, Duration.ofSeconds(15));
      assertEquals(0, end.getWaitingRequests());
    }
  }
}
