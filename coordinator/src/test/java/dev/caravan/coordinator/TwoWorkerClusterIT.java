package dev.caravan.coordinator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.testing.LocalCluster;
import dev.caravan.engine.Oracle;
import dev.caravan.engine.TestData;
import dev.caravan.engine.model.Batch;
import dev.caravan.engine.model.KvCache;
import dev.caravan.engine.model.LlamaModel;
import dev.caravan.engine.tensor.Parallel;
import dev.caravan.engine.tokenizer.Tokenizer;
import dev.caravan.proto.v1.FinishReason;
import dev.caravan.proto.v1.GenerateRequest;
import dev.caravan.proto.v1.TokenIds;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** A coordinator and two workers as separate JVMs on stories260K. */
class TwoWorkerClusterIT {
  private static LocalCluster cluster;
  private static java.util.List<LocalCluster.Node> workers;
  private static final Path MODEL = TestData.stories260K();

  @BeforeAll
  static void startCluster() throws Exception {
    cluster = LocalCluster.start(MODEL, "two-workers");
    workers = java.util.List.of(cluster.addWorker(), cluster.addWorker());
    cluster.awaitServing(2, Duration.ofSeconds(90));
  }

  @AfterAll
  static void stopCluster() {
    if (cluster != null) {
      cluster.close();
    }
  }

  /** Greedy ids from the single-process engine, in this JVM. */
  static int[] engineGreedy(int[] prompt, int count) throws Exception {
    try (Parallel p = new Parallel(1); LlamaModel m = LlamaModel.open(MODEL, p)) {
      KvCache cache = m.layers().newCache();
      Batch b = new Batch(prompt.length);
      float[] logits = new float[m.config().vocabSize()];
      b.addSequence(prompt, cache, true);
      int[] out = new int[count];
      for (int k = 0; k < count; k++) {
        m.layers().forward(b, null, logits);
        int best = 0;
        for (int t = 1; t < logits.length; t++) {
          best = logits[t] > logits[best] ? t : best;
        }
        out[k] = best;
        b.clear();
        b.add(best, cache.length(), cache, true);
      }
      return out;
    }
  }

  @Test
  void streamedTokensEqualTheSingleProcessEngine() throws Exception {
    Tokenizer tok;
    try (var f = dev.caravan.engine.gguf.GgufFile.open(MODEL)) {
      tok = Tokenizer.fromGguf(f.metadata());
    }
    String prompt = "Once upon a time, there was a little dog named Max.";
    int[] ids = tok.encode(prompt, true, false);
    GenerationClient.Result r = GenerationClient.generate(cluster.channel(), GenerationClient.greedy(prompt, 64).build(), 60);
    assertArrayEquals(engineGreedy(ids, 64), r.idArray(), "cluster vs single-process engine");
    assertEquals(FinishReason.FINISH_REASON_LENGTH, r.done().getFinishReason());
    assertEquals(ids.length, r.done().getUsage().getPromptTokens());
    assertEquals(64, r.done().getUsage().getCompletionTokens());

    // and llama.cpp's own greedy continuation, from token ids
    Oracle o = Oracle.load("stories260K");
    GenerateRequest.Builder byIds = GenerationClient.greedy("", o.greedyIds.length).clearPrompt().setPromptIds(TokenIds.newBuilder().addAllIds(Arrays.stream(o.greedyPrompt).boxed().toList()));
    assertArrayEquals(o.greedyIds, GenerationClient.generate(cluster.channel(), byIds.build(), 60).idArray(), "cluster vs llama.cpp");
  }

  @Test
  void kvPlacementShowsARequestWhileItRunsAndNothingAfter() throws Exception {
    // a long generation in the background
    var future = java.util.concurrent.CompletableFuture.supplyAsync(() -> GenerationClient.generate(cluster.channel(), GenerationClient.greedy("Once upon a time", 400).build(), 120));
    // one-off requests are placed under "r:<id>"; sessions (other tests) under "s:<session id>"
    java.util.function.Function<dev.caravan.proto.v1.ClusterStatusResponse, java.util.List<dev.caravan.proto.v1.SessionPlacement>> requests =
        s -> s.getKvPlacementList().stream().filter(p -> p.getCacheKey().startsWith("r:")).toList();
    var during = cluster.await("a KV placement for the running request", s -> requests.apply(s).size() == 1 && requests.apply(s).get(0).getHoldings(0).getTokens() > 5, Duration.ofSeconds(30));
    var placement = requests.apply(during).get(0);
    assertEquals(during.getPlan().getEpoch(), placement.getPlanEpoch());
    assertEquals(2, placement.getHoldingsCount(), "one holding per stage");
    assertEquals(during.getPlan().getStages(0).getWorkerUuid(), placement.getHoldings(0).getWorkerUuid());
    assertEquals(during.getPlan().getStages(1).getLayerStart(), placement.getHoldings(1).getLayerStart());
    assertEquals(placement.getHoldings(0).getTokens(), placement.getHoldings(1).getTokens());
    assertEquals(400, future.get(120, java.util.concurrent.TimeUnit.SECONDS).done().getUsage().getCompletionTokens());
    cluster.await("no KV placement once the request ended", s -> requests.apply(s).isEmpty() && s.getRunningRequests() == 0, Duration.ofSeconds(10));
  }

  @Test
  void secondTurnOfASessionReusesTheCachedPrefix() throws Exception {
    int port = cluster.metricsPort();
    double cachedBefore = Metrics.value(port, "caravan_prompt_tokens_cached_total");
    double computedBefore = Metrics.value(port, "caravan_prompt_tokens_computed_total");
    String turn1 = "Once upon a time, there was a little girl named Lily.";
    GenerationClient.Result r1 = GenerationClient.generate(cluster.channel(), GenerationClient.greedy(turn1, 16).setSessionId("story-1").build(), 60);
    int prompt1 = r1.done().getUsage().getPromptTokens();
    assertEquals(0, r1.done().getUsage().getCachedPromptTokens());
    // the session keeps its cache: prompt plus generated tokens but the last
    var kept = cluster.await("the session's KV placement", s -> s.getKvPlacementList().stream().anyMatch(p -> p.getCacheKey().equals("s:story-1")), Duration.ofSeconds(10));
    var holding = kept.getKvPlacementList().stream().filter(p -> p.getCacheKey().equals("s:story-1")).findFirst().orElseThrow();
    assertEquals(prompt1 + 15, holding.getHoldings(0).getTokens());

    String turn2 = turn1 + r1.text() + " She said";
    GenerationClient.Result r2 = GenerationClient.generate(cluster.channel(), GenerationClient.greedy(turn2, 16).setSessionId("story-1").build(), 60);
    int cached = r2.done().getUsage().getCachedPromptTokens();
    assertTrue(cached >= prompt1, "second turn reused " + cached + " of " + r2.done().getUsage().getPromptTokens() + " prompt tokens");
    assertEquals(cachedBefore + cached, Metrics.value(port, "caravan_prompt_tokens_cached_total"), "cached prompt tokens counted");
    assertEquals(computedBefore + prompt1 + r2.done().getUsage().getPromptTokens() - cached, Metrics.value(port, "caravan_prompt_tokens_computed_total"), "fewer prompt tokens computed");
    // the reused cache gives the same tokens as a fresh computation
    GenerationClient.Result fresh = GenerationClient.generate(cluster.channel(), GenerationClient.greedy(turn2, 16).build(), 60);
    assertArrayEquals(fresh.idArray(), r2.idArray());
  }

  @Test
  void everyProcessServesItsPrometheusMetrics() throws Exception {
    GenerationClient.generate(cluster.channel(), GenerationClient.greedy("Once upon a time", 8).build(), 60);
    int c = cluster.metricsPort();
    assertTrue(Metrics.value(c, "caravan_time_to_first_token_seconds_count") >= 1);
    assertTrue(Metrics.value(c, "caravan_inter_token_latency_seconds_count") >= 7);
    assertTrue(Metrics.value(c, "caravan_e2e_request_latency_seconds_count") >= 1);
    assertTrue(Metrics.value(c, "caravan_generation_tokens_total") >= 8);
    assertTrue(Metrics.value(c, "caravan_request_success_total{finished_reason=\"length\"}") >= 1);
    assertEquals(2, Metrics.value(c, "caravan_plan_stages"));
    assertTrue(Metrics.scrape(c).contains("jvm_memory_used_bytes"), "JVM metrics on the coordinator");
    double tokensIn = 0;
    for (LocalCluster.Node w : workers) {
      int p = w.metricsPort();
      String text = Metrics.scrape(p);
      assertTrue(text.contains("caravan_worker_forward_seconds_count{stage="), "forward seconds per stage on " + w.name());
      assertTrue(Metrics.value(p, "caravan_worker_activation_bytes_total{direction=\"out\"}") > 0, "activation bytes out on " + w.name());
      tokensIn += Metrics.value(p, "caravan_worker_activation_bytes_total{direction=\"in\"}");
      assertTrue(text.contains("caravan_worker_kv_tokens") && text.contains("caravan_worker_sessions"), "KV gauges on " + w.name());
      assertTrue(text.contains("jvm_memory_used_bytes"), "JVM metrics on " + w.name());
    }
    assertTrue(tokensIn > 0, "the second stage received activations");
  }

  @Test
  void tokenizeAndListModelsDescribeTheModel() throws Exception {
    var stub = dev.caravan.proto.v1.InferenceGrpc.newBlockingStub(cluster.channel()).withDeadlineAfter(10, java.util.concurrent.TimeUnit.SECONDS);
    var tok = stub.tokenize(dev.caravan.proto.v1.TokenizeRequest.newBuilder().setText("Once upon a time, there was a little dog named Max.").setAddSpecial(true).build());
    Oracle o = Oracle.load("stories260K");
    assertArrayEquals(Arrays.copyOf(o.inputIds, 17), tok.getIdsList().stream().mapToInt(Integer::intValue).toArray(), "llama.cpp's tokenization");
    assertEquals(17, tok.getPiecesCount());
    var models = stub.listModels(dev.caravan.proto.v1.ListModelsRequest.getDefaultInstance());
    assertEquals(1, models.getModelsCount());
    var m = models.getModels(0);
    assertEquals("stories260K", m.getId());
    assertEquals(5, m.getLayers());
    assertEquals(512, m.getVocabSize());
    assertEquals(512, m.getContextLength());
    assertEquals("F32", m.getWeightType());
    assertTrue(m.getReady());
  }

  @Test
  void planSplitsTheLayersOverBothWorkers() {
    var plan = cluster.status().getPlan();
    assertEquals(2, plan.getStagesCount());
    assertEquals(0, plan.getStages(0).getLayerStart());
    assertEquals(plan.getStages(0).getLayerEnd(), plan.getStages(1).getLayerStart());
    assertEquals(5, plan.getStages(1).getLayerEnd());
    assertTrue(!plan.getStages(0).getWorkerUuid().equals(plan.getStages(1).getWorkerUuid()));
  }
}
