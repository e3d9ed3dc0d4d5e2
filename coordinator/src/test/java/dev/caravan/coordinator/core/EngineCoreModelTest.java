package dev.caravan.coordinator.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.coordinator.CoordinatorMetrics;
import dev.caravan.coordinator.scheduler.Scheduler;
import dev.caravan.coordinator.scheduler.SchedulerConfig;
import dev.caravan.coordinator.scheduler.Sequence;
import dev.caravan.engine.Oracle;
import dev.caravan.engine.model.LlamaModel;
import dev.caravan.engine.sampling.SamplingParams;
import dev.caravan.engine.tensor.Parallel;
import dev.caravan.engine.tokenizer.Tokenizer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The core over the in-process executor on the real stories260K model, stepped on the test's thread. */
class EngineCoreModelTest {
  private static Parallel parallel;
  private static LlamaModel model;
  private static Tokenizer tokenizer;
  private final AtomicLong clock = new AtomicLong(1);
  private final RecordingPlacements placements = new RecordingPlacements();
  private InProcessExecutor executor;
  private EngineCore core;

  @BeforeAll
  static void open() throws Exception {
    parallel = new Parallel(2);
    model = LlamaModel.open(Oracle.load("stories260K").modelPath(), parallel);
    tokenizer = Tokenizer.fromGguf(model.file().metadata());
  }

  @AfterAll
  static void close() {
    model.close();
    parallel.close();
  }

  @BeforeEach
  void setUp() {
    executor = new InProcessExecutor(model.layers());
    CoordinatorMetrics metrics = new CoordinatorMetrics();
    core = new EngineCore(new Scheduler(new SchedulerConfig(4, 4, 64, 1), clock::get), executor, new OutputProcessor(tokenizer, metrics),
        new SessionRegistry(placements, Duration.ofMinutes(5).toNanos(), Duration.ofMillis(100).toNanos()), metrics, clock::get,
        new EngineCore.Settings(model.config().contextLength(), Duration.ofMinutes(5), Duration.ofSeconds(5), Duration.ofMillis(100), 3));
    core.setServingPlan(0, 1, null);
  }

  /** Steps the core until every collector has ended (the in-process executor answers within the step). */
  private void run(Collector... cs) {
    for (int steps = 0; Arrays.stream(cs).anyMatch(c -> !c.ended()); steps++) {
      if (steps > 100_000) {
        throw new AssertionError("the core made no progress");
      }
      core.step();
      clock.addAndGet(1_000_000);
    }
  }

  private static GenerationRequest greedy(int[] prompt, int maxTokens, String session) {
    return new GenerationRequest(prompt, SamplingParams.greedy(), maxTokens, List.of(), session, true, Long.MAX_VALUE);
  }

  @Test
  void greedyGenerationMatchesLlamaCpp() throws Exception {
    Oracle o = Oracle.load("stories260K");
    Collector c = new Collector();
    core.submit(greedy(o.greedyPrompt, o.greedyIds.length, null), c);
    run(c);
    assertArrayEquals(o.greedyIds, c.idArray());
    assertEquals(Sequence.Finish.LENGTH, c.reason);
    assertEquals(o.greedyIds.length, c.usage.completionTokens());
    assertTrue(c.text.toString().startsWith(" time, there was a little girl named Lily."), c.text.toString());
    assertTrue(placements.state.isEmpty(), "a one-off request leaves no KV placement: " + placements.state);
    assertEquals(0, executor.cachedSequences(), "its KV cache was released");
  }

  @Test
  void concurrentRequestsGiveTheSameTokensAsAlone() {
    int[][] prompts = {tokenizer.encode("Once upon a time", true, false), tokenizer.encode("The cat sat", true, false), tokenizer.encode("Lily and Ben went to the park", true, false)};
    SamplingParams seeded = new SamplingParams(0.9f, 40, 0.95f, 0.05f, 1.3f, 64, 0f, 0f, 1234);
    int[][] alone = new int[prompts.length][];
    for (int i = 0; i < prompts.length; i++) {
      Collector c = new Collector();
      core.submit(new GenerationRequest(prompts[i], seeded, 24, List.of(), null, true, Long.MAX_VALUE), c);
      run(c);
      alone[i] = c.idArray();
    }
    List<Collector> together = new ArrayList<>();
    for (int[] p : prompts) {
      Collector c = new Collector();
      core.submit(new GenerationRequest(p, seeded, 24, List.of(), null, true, Long.MAX_VALUE), c);
      together.add(c);
    }
    run(together.toArray(Collector[]::new));
    for (int i = 0; i < prompts.length; i++) {
      assertArrayEquals(alone[i], together.get(i).idArray(), "prompt " + i + ", batched with the others");
    }
  }

  @Test
  void secondTurnOfASessionReusesItsCacheAndMatchesAFreshRun() {
    int[] turn1 = tokenizer.encode("Once upon a time, there was a little dog", true, false);
    Collector c1 = new Collector();
    core.submit(greedy(turn1, 8, "chat-1"), c1);
    run(c1);
    assertEquals(0, c1.usage.cachedPromptTokens());
    assertEquals(turn1.length + 7, placements.state.get("s:chat-1").tokens(), "the workers hold the prompt and all generated tokens but the last");

    int[] turn2 = Arrays.copyOf(turn1, turn1.length + 9);
    System.arraycopy(c1.idArray(), 0, turn2, turn1.length, 8);
    turn2[turn1.length + 8] = tokenizer.encode(" He", false, false)[0];
    Collector c2 = new Collector();
    core.submit(greedy(turn2, 8, "chat-1"), c2);
    run(c2);
    assertEquals(turn1.length + 7, c2.usage.cachedPromptTokens(), "reused the whole cached prefix");

    Collector fresh = new Collector();
    core.submit(greedy(turn2, 8, null), fresh);
    run(fresh);
    assertArrayEquals(fresh.idArray(), c2.idArray());
  }

  @Test
  void stopStringEndsGenerationAndIsNotReturned() {
    Collector c = new Collector();
    core.submit(new GenerationRequest(tokenizer.encode("Once upon a", true, false), SamplingParams.greedy(), 48, List.of("Lily"), null, true, Long.MAX_VALUE), c);
    run(c);
    assertEquals(Sequence.Finish.STOP_STRING, c.reason);
    assertEquals("Lily", c.matched);
    assertEquals(" time, there was a little girl named ", c.text.toString());
  }

  @Test
  void cancelledRequestEndsWithItsReasonAndFreesItsCache() {
    Collector c = new Collector();
    EngineCore.Handle h = core.submit(greedy(tokenizer.encode("Once upon a", true, false), 400, null), c);
    core.step();
    core.step();
    h.cancel(GenerationError.of(GenerationError.Kind.CANCELLED, "client went away"));
    run(c);
    assertEquals("client went away", c.error.message());
    assertEquals(0, executor.cachedSequences());
  }
}
