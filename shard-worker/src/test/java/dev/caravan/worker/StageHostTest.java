package dev.caravan.worker;

import static dev.caravan.worker.Pipelines.frame;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.Plan;
import dev.caravan.engine.TestData;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.gguf.GgufTensorInfo;
import dev.caravan.engine.model.LlamaConfig;
import dev.caravan.engine.tensor.Parallel;
import dev.caravan.proto.v1.ActivationFrame;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The worker's domain on its own: frames in, frames out, over the real stories260K model split in two stages. */
class StageHostTest {
  private static final String SINK = "in-process:sink";
  private final Path model = TestData.stories260K();
  private Parallel parallel;
  private Pipelines.Reference reference;
  private StageHost first;
  private StageHost second;
  private final WorkerMetrics firstMetrics = new WorkerMetrics();
  private final WorkerMetrics secondMetrics = new WorkerMetrics();
  private Plan plan;
  private LlamaConfig config;

  @BeforeEach
  void setUp() throws Exception {
    parallel = new Parallel(1);
    reference = new Pipelines.Reference(model);
    config = reference.model.config();
    plan = Pipelines.twoStages(1, config.layers(), 2, "in-process:a", "in-process:b");
    first = new StageHost(model, parallel, firstMetrics, () -> "in-process:a");
    second = new StageHost(model, parallel, secondMetrics, () -> "in-process:b");
    assertNotNull(first.install(plan, "w0"));
    assertNotNull(second.install(plan, "w1"));
  }

  @AfterEach
  void tearDown() {
    first.close();
    second.close();
    reference.close();
    parallel.close();
  }

  /** Stage 0 then stage 1: the logits frame for the coordinator. */
  private ActivationFrame through(ActivationFrame f) {
    ActivationFrame hidden = first.process(f);
    assertFalse(hidden.hasError(), () -> hidden.getError().toString());
    assertEquals(1, hidden.getStage());
    assertEquals(List.of((long) f.getSequences(0).getTokenCount(), (long) config.dim()), hidden.getActivations().getShapeList());
    assertEquals(0, hidden.getSequences(0).getTokenIdsCount(), "stage 1 needs no token ids");
    return second.process(hidden);
  }

  @Test
  void twoStagesGiveTheLogitsOfTheWholeModelAndKeepTheirCaches() {
    assertEquals("in-process:b", first.nextHop(1));
    assertNull(second.nextHop(1));

    ActivationFrame prompt = through(frame(7, 1, SINK, "s:1", 0, 1, 45, 99, 7));
    assertFalse(prompt.hasError(), () -> prompt.getError().toString());
    assertEquals(7, prompt.getBatchId());
    assertEquals(2, prompt.getStage(), "the final result carries the stage count");
    assertEquals(SINK, prompt.getReplyTo());
    assertArrayEquals(reference.next("s:1", 1, 45, 99, 7), Pipelines.logits(prompt, config.vocabSize()));

    // a decode step continues both stages' caches
    ActivationFrame step = through(frame(8, 1, SINK, "s:1", 4, 12));
    assertArrayEquals(reference.next("s:1", 12), Pipelines.logits(step, config.vocabSize()));
    assertEquals(1, first.sessionCount());
    assertEquals(5, first.status().getFirst().getSessions(0).getTokens());
  }

  /** Each worker reports the bytes of the tensors it serves: its layers' blocks, plus the embedding or the head. */
  @Test
  void eachStageReportsTheBytesOfItsTensors() throws Exception {
    long blocks0 = 0;
    long blocks1 = 0;
    long embedding = 0;
    long head = 0;
    try (GgufFile f = GgufFile.open(model)) {
      for (GgufTensorInfo t : f.tensors()) {
        String n = t.name();
        if (n.startsWith("blk.")) {
          if (Integer.parseInt(n.split("\\.")[1]) < 2) { // the plan cuts at layer 2
            blocks0 += t.byteSize();
          } else {
            blocks1 += t.byteSize();
          }
        } else if (n.equals("token_embd.weight")) {
          embedding = t.byteSize();
        } else {
          head += t.byteSize(); // output_norm, and output.weight unless the model ties it to the embedding
        }
      }
      if (f.tensor("output.weight").isEmpty()) {
        head += embedding;
      }
    }
    assertTrue(blocks0 > 0 && blocks1 > 0 && embedding > 0 && head > 0);
    assertEquals(blocks0 + embedding, firstMetrics.weightBytes.get(), 0.0);
    assertEquals(blocks1 + head, secondMetrics.weightBytes.get(), 0.0);
  }

  @Test
  void aPlanWithoutThisWorkerInstallsNothing() throws Exception {
    assertNull(first.install(plan, "someone-else"));
    assertEquals(1, first.stageCount());
  }

  private void assertError(ActivationFrame result, String code, String messagePart) {
    assertTrue(result.hasError(), "an error frame");
    assertEquals(code, result.getError().getCode(), result.getError().getMessage());
    assertTrue(result.getError().getMessage().contains(messagePart), result.getError().getMessage());
    assertEquals("in-process:a", result.getError().getWorkerAddress());
    assertEquals(SINK, result.getReplyTo());
    assertFalse(result.hasActivations());
  }

  @Test
  void framesItCannotRunBecomeErrorFramesWithTheirCodes() {
    assertError(first.process(frame(1, 99, SINK, "s:1", 0, 1)), "UNAVAILABLE", "holds no stage of plan #99");
    assertError(first.process(frame(2, 1, SINK, "s:1", 0, 1).toBuilder().setStage(1).build()), "INVALID_ARGUMENT", "but this worker runs stage 0");

    ActivationFrame twoIdsThreeTokens = frame(3, 1, SINK, "s:1", 0, 1, 2);
    twoIdsThreeTokens = twoIdsThreeTokens.toBuilder().setSequences(0, twoIdsThreeTokens.getSequences(0).toBuilder().setTokenCount(3)).build();
    assertError(first.process(twoIdsThreeTokens), "INVALID_ARGUMENT", "has 2 ids for 3 tokens");

    assertError(first.process(frame(4, 1, SINK, "s:new", 5, 1)), "FAILED_PRECONDITION", "holds no cache for it");

    int[] tooLong = new int[config.contextLength() + 1];
    assertError(first.process(frame(5, 1, SINK, "s:long", 0, tooLong)), "RESOURCE_EXHAUSTED", "past the context length " + config.contextLength());

    ActivationFrame error = first.process(frame(6, 99, SINK, "s:1", 0, 1));
    assertEquals(6, error.getBatchId());
    assertEquals(0, error.getError().getStage());
  }

  @Test
  void releaseFreesACacheAndTheSessionCannotContinue() {
    through(frame(1, 1, SINK, "s:1", 0, 1, 2, 3));
    through(frame(2, 1, SINK, "s:2", 0, 4));
    long[] freed = first.release(List.of("s:1", "s:unknown"), 0);
    assertEquals(1, freed[0]);
    assertTrue(freed[1] > 0, "bytes freed");
    assertEquals(1, first.sessionCount());
    assertArrayEquals(new long[] {0, 0}, first.release(List.of("s:1"), 0));
    assertArrayEquals(new long[] {0, 0}, first.release(List.of("s:2"), 7), "another epoch's caches stay");
    assertEquals("FAILED_PRECONDITION", first.process(frame(3, 1, SINK, "s:1", 3, 5)).getError().getCode());
    // a new turn from position 0 starts over
    assertArrayEquals(reference.next("s:fresh", 9), Pipelines.logits(through(frame(4, 1, SINK, "s:1b", 0, 9)), config.vocabSize()));
  }

  @Test
  void retireBelowDropsOlderEpochsAndKeepsTheModelForTheNewOne() throws Exception {
    through(frame(1, 1, SINK, "s:1", 0, 1, 2));
    Plan next = Pipelines.twoStages(2, config.layers(), 2, "in-process:a", "in-process:b");
    assertNotNull(first.install(next, "w0"));
    assertNotNull(second.install(next, "w1"));
    assertEquals(2, first.stageCount());

    assertEquals(1, first.retireBelow(2), "one session dropped with plan #1");
    second.retireBelow(2);
    assertEquals(1, first.stageCount());
    assertEquals(0, first.sessionCount());
    assertEquals("UNAVAILABLE", first.process(frame(2, 1, SINK, "s:1", 2, 3)).getError().getCode());
    assertArrayEquals(reference.next("s:2", 1, 2), Pipelines.logits(through(frame(3, 2, SINK, "s:2", 0, 1, 2)), config.vocabSize()));
  }

  @Test
  void expireIdleFreesOnlySessionsIdleLongerThanTheTimeout() {
    through(frame(1, 1, SINK, "s:1", 0, 1));
    assertEquals(0, first.expireIdle(Long.MAX_VALUE));
    assertEquals(1, first.sessionCount());
    assertEquals(1, first.expireIdle(0));
    assertEquals(0, first.sessionCount());
    assertEquals("FAILED_PRECONDITION", first.process(frame(2, 1, SINK, "s:1", 1, 2)).getError().getCode());
  }

  /** A spare runs its range at least once, and over and over while its time budget lasts (the JIT's optimizing tier needs many runs). */
  @Test
  void aSpareWarmsItsRangeForItsTimeBudget() throws Exception {
    StageHost spare = new StageHost(model, parallel, new WorkerMetrics(), () -> "in-process:spare");
    try {
      dev.caravan.engine.model.LayerRange range = plan.stages().get(1).range();
      assertEquals(0, spare.warmUp(range, java.time.Duration.ofSeconds(1)), "no range opened, nothing run");
      assertTrue(spare.prepareSpare(range));
      assertEquals(1, spare.warmUp(range, java.time.Duration.ZERO), "once without a budget");
      assertTrue(spare.warmUp(range, java.time.Duration.ofMillis(300)) > 1, "again and again within the budget");
    } finally {
      spare.close();
    }
  }
}
