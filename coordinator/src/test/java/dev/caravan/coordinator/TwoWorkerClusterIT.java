package dev.caravan.coordinator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.testing.LocalCluster;
import dev.caravan.engine.Oracle;
import dev.caravan.engine.SharedFiles;
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
  private static final Path MODEL = SharedFiles.stories260K();

  @BeforeAll
  static void startCluster() throws Exception {
    cluster = LocalCluster.start(MODEL, "two-workers");
    cluster.addWorker();
    cluster.addWorker();
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
      KvCache cache = m.stage().newCache();
      Batch b = new Batch(prompt.length);
      float[] logits = new float[m.config().vocabSize()];
      b.addSequence(prompt, cache, true);
      int[] out = new int[count];
      for (int k = 0; k < count; k++) {
        m.stage().forward(b, null, logits);
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
  void planSplitsTheLayersOverBothWorkers() {
    var plan = cluster.status().getPlan();
    assertEquals(2, plan.getStagesCount());
    assertEquals(0, plan.getStages(0).getLayerStart());
    assertEquals(plan.getStages(0).getLayerEnd(), plan.getStages(1).getLayerStart());
    assertEquals(5, plan.getStages(1).getLayerEnd());
    assertTrue(!plan.getStages(0).getWorkerUuid().equals(plan.getStages(1).getWorkerUuid()));
  }
}
