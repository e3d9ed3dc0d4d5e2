package dev.caravan.coordinator.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.coordinator.CoordinatorMetrics;
import dev.caravan.coordinator.scheduler.ScheduledBatch;
import dev.caravan.coordinator.scheduler.Scheduler;
import dev.caravan.coordinator.scheduler.SchedulerConfig;
import dev.caravan.coordinator.scheduler.Sequence;
import dev.caravan.engine.TestData;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.sampling.SamplingParams;
import dev.caravan.engine.tokenizer.Tokenizer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The core's schedule → execute → update cycle, stepped by hand with a fake clock and an executor whose answers the
 * test writes: no threads, no sleeps, every batch visible.
 */
class EngineCoreTest {
  private static final long SECOND = 1_000_000_000L;
  private static Tokenizer tokenizer;
  private static final int A = 300;
  private static final int B = 301;
  private static final int C = 302;

  private final AtomicLong clock = new AtomicLong(100 * SECOND);
  private final RecordingPlacements placements = new RecordingPlacements();
  private final CoordinatorMetrics metrics = new CoordinatorMetrics();
  private FakeExecutor executor;
  private EngineCore core;

  @BeforeAll
  static void loadTokenizer() throws Exception {
    try (GgufFile f = GgufFile.open(TestData.stories260K())) {
      tokenizer = Tokenizer.fromGguf(f.metadata());
    }
  }

  private EngineCore core(SchedulerConfig config, int stages) {
    executor = new FakeExecutor(tokenizer.vocabSize());
    SessionRegistry sessions = new SessionRegistry(placements, 60 * SECOND, Duration.ofMillis(100).toNanos());
    core = new EngineCore(new Scheduler(config, clock::get), executor, new OutputProcessor(tokenizer, metrics), sessions, metrics, clock::get,
        new EngineCore.Settings(512, Duration.ofSeconds(60), Duration.ofSeconds(5), Duration.ofMillis(100), 3));
    core.setServingPlan(1, stages, null);
    return core;
  }

  private EngineCore core() {
    return core(new SchedulerConfig(4, 4, 64, 1), 1);
  }

  private static String piece(int token) {
    return new String(tokenizer.tokenBytes(token), java.nio.charset.StandardCharsets.UTF_8);
  }

  private static GenerationRequest greedy(int maxTokens, String session, int... prompt) {
    return new GenerationRequest(prompt, SamplingParams.greedy(), maxTokens, List.of(), session, false, Long.MAX_VALUE);
  }

  @Test
  void scheduleExecuteUpdateUntilTheLengthLimit() {
    core();
    Collector c = new Collector();
    core.submit(greedy(3, null, 1, 50, 60), c);
    core.step();
    ScheduledBatch prefill = executor.inFlight.get(0).batch();
    assertEquals(1, prefill.epoch());
    assertEquals(List.of(0, 3, 1), List.of(prefill.chunks().get(0).start(), prefill.chunks().get(0).count(), prefill.logitsRows()), "the whole prompt in one chunk, logits for its last token");

    executor.answer(A);
    core.step();
    assertEquals(List.of(A), c.ids, "the first token streams as soon as its batch is back");
    ScheduledBatch decode = executor.inFlight.get(0).batch();
    assertEquals(3, decode.chunks().get(0).start());
    assertEquals(1, decode.chunks().get(0).count());
    assertEquals(A, decode.chunks().get(0).sequence().token(3), "the sampled token is the next input");

    executor.answer(B);
    core.step();
    executor.answer(C);
    core.step();
    assertTrue(c.ended());
    assertNull(c.error);
    assertArrayEquals(new int[] {A, B, C}, c.idArray());
    assertEquals(Sequence.Finish.LENGTH, c.reason);
    assertEquals(3, c.usage.completionTokens());
    assertEquals(3, c.usage.promptTokens());
    assertEquals(piece(A) + piece(B) + piece(C), c.text.toString(), "the tokens' pieces, leading space kept: the text continues the prompt");
    assertEquals(List.of(new FakeExecutor.Release(1, List.of("r:1"))), executor.released, "a one-off request's cache is freed");
    assertTrue(placements.state.isEmpty(), "and its placement record removed: " + placements.state);
    assertTrue(executor.inFlight.isEmpty());
  }

  @Test
  void queueTimeIsFromAcceptanceToTheFirstRunOnly() {
    core(new SchedulerConfig(1, 4, 64, 1), 1);
    Collector first = new Collector();
    Collector second = new Collector();
    core.submit(greedy(1, null, 1, 50), first);
    core.submit(greedy(1, null, 1, 60), second);
    core.step(); // the first runs at once, the second waits for the only slot
    clock.addAndGet(3 * SECOND);
    executor.answer(A);
    core.step(); // the first ends, the second is admitted 3 s after it arrived
    executor.answer(B);
    core.step();
    assertTrue(first.ended() && second.ended());
    assertEquals(2, metrics.queueTime.collect().getDataPoints().get(0).getCount());
    assertEquals(3.0, metrics.queueTime.collect().getDataPoints().get(0).getSum(), 1e-9, "0 s for the first, 3 s for the second");
  }

  @Test
  void endOfGenerationEndsWithoutItsText() {
    core();
    Collector c = new Collector();
    core.submit(greedy(8, null, 1, 50), c);
    core.step();
    executor.answer(A);
    core.step();
    executor.answer(tokenizer.eos());
    core.step();
    assertEquals(Sequence.Finish.EOS, c.reason);
    assertEquals(List.of(A), c.ids);
    assertEquals(1, c.usage.completionTokens(), "the end-of-generation token is not counted");
  }

  @Test
  void aPipelineOfTwoStagesGetsTwoBatchesInFlight() {
    core(new SchedulerConfig(4, 4, 64, 1), 2);
    Collector c1 = new Collector();
    Collector c2 = new Collector();
    core.submit(greedy(4, null, 1, 50), c1);
    core.submit(greedy(4, null, 1, 60), c2);
    core.step();
    assertEquals(2, executor.inFlight.size(), "one batch per stage, so both stages work");
    core.step();
    assertEquals(2, executor.inFlight.size(), "no third batch while two are in flight");
    executor.answer(A);
    core.step();
    assertEquals(2, executor.inFlight.size(), "the answered sequence goes straight back in");
  }

  @Test
  void aDeadlineOnTheFakeClockEndsTheRequest() {
    core();
    Collector c = new Collector();
    core.submit(new GenerationRequest(new int[] {1, 50}, SamplingParams.greedy(), 100, List.of(), null, false, clock.get() + SECOND), c);
    core.step();
    executor.answer(A);
    core.step();
    clock.addAndGet(2 * SECOND);
    core.step();
    assertFalse(c.ended(), "its batch is still in flight");
    executor.answer(B);
    core.step();
    assertEquals(GenerationError.Kind.DEADLINE_EXCEEDED, c.error.kind());
    assertTrue(c.error.message().contains("after 1 generated tokens"), c.error.message());
    assertEquals(List.of(A), c.ids, "nothing streams after the deadline");
    assertEquals(1, executor.released.size());
  }

  @Test
  void withoutAPlanARequestWaitsTheGraceThenFailsUnavailable() {
    core();
    core.setServingPlan(-1, 0, "no workers: the cluster has no worker serving model m");
    Collector c = new Collector();
    core.submit(greedy(4, null, 1, 50), c);
    core.step();
    clock.addAndGet(4 * SECOND);
    core.step();
    assertFalse(c.ended(), "still inside the grace");
    clock.addAndGet(2 * SECOND);
    core.step();
    assertEquals(GenerationError.of(GenerationError.Kind.UNAVAILABLE, "no workers: the cluster has no worker serving model m"), c.error);
    assertTrue(executor.executed.isEmpty());
  }

  @Test
  void aPlanArrivingInsideTheGraceServesTheRequest() {
    core();
    core.setServingPlan(-1, 0, "no plan yet");
    Collector c = new Collector();
    core.submit(greedy(1, null, 1, 50), c);
    core.step();
    clock.addAndGet(3 * SECOND);
    core.setServingPlan(7, 1, null);
    core.step();
    assertEquals(7, executor.inFlight.get(0).batch().epoch(), "bound to the plan that arrived");
    executor.answer(A);
    core.step();
    assertEquals(Sequence.Finish.LENGTH, c.reason);
  }

  @Test
  void cancellingInFlightEndsWithTheReasonOnceTheBatchIsBack() {
    core();
    Collector c = new Collector();
    EngineCore.Handle h = core.submit(greedy(100, null, 1, 50), c);
    core.step();
    h.cancel(GenerationError.of(GenerationError.Kind.CANCELLED, "the client went away"));
    core.step();
    assertFalse(c.ended());
    executor.answer(A);
    core.step();
    assertEquals(GenerationError.of(GenerationError.Kind.CANCELLED, "the client went away"), c.error);
    assertTrue(c.ids.isEmpty());
    assertEquals(List.of(new FakeExecutor.Release(1, List.of("r:1"))), executor.released);
    assertTrue(executor.inFlight.isEmpty(), "nothing more is scheduled for it");
  }

  @Test
  void aCancelThatOvertakesItsSubmitStillCancels() {
    core();
    Collector c = new Collector();
    EngineCore.Handle h = core.newHandle();
    h.cancel(GenerationError.of(GenerationError.Kind.CANCELLED, "gone"));
    core.submit(h, greedy(4, null, 1, 50), c);
    core.step();
    assertEquals(GenerationError.Kind.CANCELLED, c.error.kind());
    assertTrue(executor.executed.isEmpty());
  }

  @Test
  void aBatchFailingForAnotherReasonEndsItsRequestsWithTheExecutorsError() {
    core();
    Collector c = new Collector();
    core.submit(greedy(4, null, 1, 50), c);
    core.step();
    executor.fail(GenerationError.of(GenerationError.Kind.INVALID_ARGUMENT, "stage 0 (w): frame 1 carries 0 tokens"));
    core.step();
    assertEquals(GenerationError.of(GenerationError.Kind.INVALID_ARGUMENT, "stage 0 (w): frame 1 carries 0 tokens"), c.error);
    assertEquals(1, executor.released.size());
  }

  @Test
  void aLostStageMovesTheRequestToTheNextPlanAndItsTokensGoOn() {
    core();
    Collector c = new Collector();
    core.submit(greedy(3, null, 1, 50), c);
    core.step();
    executor.answer(A);
    core.step();
    executor.fail(GenerationError.of(GenerationError.Kind.UNAVAILABLE, "stage 1 (worker w1, layers [2, 4)) was lost: w1 is unreachable"));
    core.step();
    assertFalse(c.ended(), "the client hears nothing of the loss");
    assertTrue(executor.inFlight.isEmpty(), "nothing runs on the broken plan");
    core.setServingPlan(1, 1, null);
    core.step();
    assertTrue(executor.inFlight.isEmpty(), "a plan that lost a stage is not served again");

    core.setServingPlan(2, 1, null);
    core.step();
    ScheduledBatch again = executor.inFlight.get(0).batch();
    assertEquals(2, again.epoch());
    ScheduledBatch.Chunk chunk = again.chunks().get(0);
    assertEquals(List.of(0, 3, true), List.of(chunk.start(), chunk.count(), chunk.logits()), "the prompt and the generated token are computed again, then the next token is sampled");
    executor.answer(B);
    core.step();
    executor.answer(C);
    core.step();
    assertArrayEquals(new int[] {A, B, C}, c.idArray(), "no token sampled twice or skipped");
    assertEquals(Sequence.Finish.LENGTH, c.reason);
    assertEquals(1, c.usage.migrations());
    assertEquals(2, c.usage.recomputedTokens(), "the 2 prompt positions the lost plan held");
    assertEquals(1, metrics.migrations.labelValues("failure").get());
  }

  @Test
  void theLossOfAPlanMovesItsIdleRequestsToo() {
    core();
    Collector c = new Collector();
    core.submit(greedy(3, null, 1, 50), c);
    core.step();
    executor.answer(A);
    core.step();
    executor.answer(B); // this batch's answer raced the loss and is taken
    core.planLost(1, GenerationError.of(GenerationError.Kind.UNAVAILABLE, "stage 0 was lost: worker w0 left the cluster"));
    core.step();
    assertTrue(executor.inFlight.isEmpty());
    assertEquals(List.of(A, B), c.ids);
    core.setServingPlan(2, 1, null);
    core.step();
    assertEquals(List.of(0, 4), List.of(executor.inFlight.get(0).batch().chunks().get(0).start(), executor.inFlight.get(0).batch().chunks().get(0).count()));
    executor.answer(C);
    core.step();
    assertArrayEquals(new int[] {A, B, C}, c.idArray());
  }

  @Test
  void withoutANewPlanWithinTheGraceAMovedRequestFailsNamingWhatWasLost() {
    core();
    Collector c = new Collector();
    core.submit(greedy(8, null, 1, 50), c);
    core.step();
    executor.fail(GenerationError.of(GenerationError.Kind.UNAVAILABLE, "stage 1 (worker w1, layers [2, 4)) was lost: w1 is unreachable"));
    core.step();
    clock.addAndGet(6 * SECOND);
    core.step();
    assertEquals(GenerationError.of(GenerationError.Kind.UNAVAILABLE, "stage 1 (worker w1, layers [2, 4)) was lost: w1 is unreachable"), c.error);
  }

  @Test
  void failoversAreBoundedPerRequest() {
    core();
    Collector c = new Collector();
    core.submit(greedy(8, null, 1, 50), c);
    for (int epoch = 1; epoch <= 4; epoch++) {
      core.setServingPlan(epoch, 1, null);
      core.step();
      executor.fail(GenerationError.of(GenerationError.Kind.UNAVAILABLE, "stage 0 of plan #" + epoch + " was lost"));
      core.step();
    }
    assertEquals(GenerationError.Kind.UNAVAILABLE, c.error.kind());
    assertEquals("lost its plan 4 times (at most 3 are survived); last: stage 0 of plan #4 was lost", c.error.message());
  }

  @Test
  void aPlannedChangeMovesRunningRequestsToTheNewPlanWithoutCountingAsAFailure() {
    core();
    Collector c = new Collector();
    core.submit(greedy(3, "story", 1, 50), c);
    core.step();
    core.setServingPlan(2, 1, null); // a worker joined: plan #2 serves now
    executor.answer(A);
    core.step();
    ScheduledBatch moved = executor.inFlight.get(0).batch();
    assertEquals(2, moved.epoch(), "moved at once instead of finishing on the old plan");
    assertEquals(0, moved.chunks().get(0).start());
    assertTrue(executor.released.contains(new FakeExecutor.Release(1, List.of("s:story"))), "the old plan's cache is freed: " + executor.released);
    executor.answer(B);
    core.step();
    executor.answer(C);
    core.step();
    assertArrayEquals(new int[] {A, B, C}, c.idArray());
    assertEquals(1, metrics.migrations.labelValues("plan_change").get());
    assertEquals(new KvPlacementSink.Held("s:story", 2, 4), placements.state.get("s:story"), "the session is kept on the new plan");
  }

  @Test
  void anErrorWhileServingOneRequestFailsOnlyThatRequest() {
    core();
    Collector healthy = new Collector();
    Collector doomed = new Collector() {
      @Override
      public boolean wantsLogits() {
        return true;
      }

      @Override
      public void onSampled(int token, float[] logits, int offset, int vocab) {
        throw new OutOfMemoryError("Requested array size exceeds VM limit");
      }
    };
    core.submit(greedy(2, null, 1, 50), doomed);
    core.submit(greedy(2, null, 1, 60), healthy);
    core.step();
    executor.answer(A, A);
    core.step();
    assertEquals(GenerationError.Kind.INTERNAL, doomed.error.kind());
    assertTrue(doomed.error.message().contains("OutOfMemoryError"), doomed.error.message());
    executor.answer(B);
    core.step();
    assertArrayEquals(new int[] {A, B}, healthy.idArray());
    assertEquals(Sequence.Finish.LENGTH, healthy.reason);
  }

  @Test
  void aKvBudgetPreemptsTheLatestArrivalAndItsTokensStillCome() {
    core(new SchedulerConfig(4, 4, 256, 1), 1);
    core.setServingPlan(1, 1, 2, null); // two KV blocks of 64 positions per stage
    int[] prompt = new int[60];
    java.util.Arrays.fill(prompt, 5);
    Collector first = new Collector();
    Collector second = new Collector();
    core.submit(greedy(10, null, prompt), first);
    clock.addAndGet(1);
    core.submit(greedy(8, null, prompt), second);
    core.step();
    assertEquals(1, executor.inFlight.size(), "both fit (one block each) and run together");
    assertEquals(2, executor.inFlight.get(0).batch().chunks().size());
    executor.answer(A, A);
    for (int i = 0; i < 4; i++) { // lengths 61 .. 64: still one block each
      core.step();
      ScheduledBatch b = executor.inFlight.get(0).batch();
      int[] answers = new int[b.logitsRows()];
      java.util.Arrays.fill(answers, A);
      executor.answer(answers);
    }
    core.step(); // the first sequence reaches 65 positions: three blocks wanted, two held
    ScheduledBatch b = executor.inFlight.get(0).batch();
    assertEquals(1, b.chunks().size(), "the later arrival was preempted: " + b.chunks());
    assertEquals(5, first.ids.size());
    assertFalse(second.ended());
    assertEquals(1, metrics.migrations.labelValues("preempted").get());
    while (!first.ended() || !second.ended()) {
      if (!executor.inFlight.isEmpty()) {
        ScheduledBatch next = executor.inFlight.get(0).batch();
        int[] answers = new int[next.logitsRows()];
        java.util.Arrays.fill(answers, B);
        executor.answer(answers);
      }
      core.step();
    }
    assertNull(first.error);
    assertNull(second.error, "preempted, not dropped");
    assertEquals(10, first.usage.completionTokens());
    assertEquals(8, second.usage.completionTokens());
    assertTrue(second.usage.migrations() >= 1, second.usage.toString());
    assertEquals(A, second.ids.get(0), "what it had generated before the preemption is kept");
  }

  @Test
  void aRequestTooLargeForTheKvBudgetFailsNamingIt() {
    core();
    core.setServingPlan(1, 1, 1, null); // one block: 64 positions
    int[] prompt = new int[70];
    java.util.Arrays.fill(prompt, 5);
    Collector c = new Collector();
    core.submit(greedy(4, null, prompt), c);
    core.step();
    assertEquals(GenerationError.Kind.RESOURCE_EXHAUSTED, c.error.kind());
    assertTrue(c.error.message().contains("needs 2 KV blocks of 64 positions") && c.error.message().contains("--kv-budget"), c.error.message());
    assertTrue(executor.executed.isEmpty());
  }

  @Test
  void idleSessionsMakeRoomForAWaitingRequest() {
    core();
    core.setServingPlan(1, 1, 1, null);
    Collector kept = new Collector();
    core.submit(greedy(1, "old-chat", 1, 50), kept);
    core.step();
    executor.answer(A);
    core.step();
    assertTrue(kept.ended());
    Collector next = new Collector();
    core.submit(greedy(1, null, 1, 60), next);
    core.step();
    assertTrue(executor.released.contains(new FakeExecutor.Release(1, List.of("s:old-chat"))), "the idle session is evicted: " + executor.released);
    assertTrue(executor.inFlight.isEmpty(), "its block counts as held until the workers confirm the release");
    core.step();
    assertEquals(1, executor.inFlight.size(), "then the block goes to the waiting request");
  }

  @Test
  void placementIsPublishedInBatchesAndExactAtTheEnd() {
    core();
    Collector c = new Collector();
    core.submit(greedy(20, "story", 1, 50, 60), c);
    for (int i = 0; !c.ended(); i++) {
      core.step();
      if (!executor.inFlight.isEmpty()) {
        executor.answer(A + i % 3);
      }
      clock.addAndGet(1_000_000); // 1 ms a step: 20 steps fit in one 100 ms flush interval
    }
    assertTrue(placements.publishes <= 3, "20 tokens, " + placements.publishes + " publishes: at admission, maybe once in between, at the end");
    KvPlacementSink.Held held = placements.state.get("s:story");
    assertEquals(new KvPlacementSink.Held("s:story", 1, 3 + 19), held, "exact once the request ended: the prompt and all generated tokens but the last");
  }

  @Test
  void aSessionsNextTurnReusesItsCachedPrefix() {
    core();
    Collector t1 = new Collector();
    core.submit(greedy(2, "chat", 1, 50, 60), t1);
    core.step();
    executor.answer(A);
    core.step();
    executor.answer(B);
    core.step();
    assertTrue(t1.ended());
    assertTrue(executor.released.isEmpty(), "a session keeps its cache");

    Collector t2 = new Collector();
    core.submit(greedy(1, "chat", 1, 50, 60, A, B, 70), t2);
    core.step();
    ScheduledBatch.Chunk chunk = executor.inFlight.get(0).batch().chunks().get(0);
    assertEquals(4, chunk.start(), "positions 0..3 (prompt and the first generated token) are on the workers");
    assertEquals(2, chunk.count());
    executor.answer(C);
    core.step();
    assertEquals(4, t2.usage.cachedPromptTokens());
  }

  @Test
  void aSessionGeneratingRefusesASecondTurn() {
    core();
    Collector t1 = new Collector();
    Collector t2 = new Collector();
    core.submit(greedy(4, "chat", 1, 50), t1);
    core.submit(greedy(4, "chat", 1, 50), t2);
    core.step();
    assertEquals(GenerationError.Kind.FAILED_PRECONDITION, t2.error.kind());
    assertFalse(t1.ended());
  }

  @Test
  void aFullQueueRefusesWithResourceExhausted() {
    core(new SchedulerConfig(1, 0, 64, 1), 1);
    Collector c1 = new Collector();
    Collector c2 = new Collector();
    core.submit(greedy(4, null, 1, 50), c1);
    core.submit(greedy(4, null, 1, 50), c2);
    core.step();
    assertEquals(GenerationError.Kind.RESOURCE_EXHAUSTED, c2.error.kind());
    assertTrue(c2.error.message().contains("queue is full"), c2.error.message());
    assertFalse(c1.ended());
  }

  @Test
  void drainingRefusesNewRequestsAndShutdownEndsOpenOnes() {
    core();
    Collector running = new Collector();
    core.submit(greedy(100, null, 1, 50), running);
    core.step();
    core.stopAccepting();
    Collector late = new Collector();
    core.submit(greedy(4, null, 1, 50), late);
    core.step();
    assertEquals(GenerationError.Kind.UNAVAILABLE, late.error.kind());
    assertFalse(running.ended());
    core.shutdown(GenerationError.of(GenerationError.Kind.UNAVAILABLE, "the coordinator is shutting down"));
    assertEquals("the coordinator is shutting down", running.error.message());
  }
}
