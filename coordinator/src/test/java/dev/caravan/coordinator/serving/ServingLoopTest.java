package dev.caravan.coordinator.serving;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.coordinator.CoordinatorMetrics;
import dev.caravan.coordinator.pipeline.LocalExecutor;
import dev.caravan.coordinator.scheduler.Scheduler;
import dev.caravan.coordinator.scheduler.SchedulerConfig;
import dev.caravan.coordinator.scheduler.Sequence;
import dev.caravan.engine.Oracle;
import dev.caravan.engine.model.LlamaModel;
import dev.caravan.engine.sampling.SamplingParams;
import dev.caravan.engine.tensor.Parallel;
import dev.caravan.engine.tokenizer.Tokenizer;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The serving loop over a single-process executor on the real stories260K model. */
class ServingLoopTest {
  private Parallel parallel;
  private LlamaModel model;
  private Tokenizer tokenizer;
  private LocalExecutor executor;
  private ServingLoop loop;
  private final Map<String, Integer> placements = new ConcurrentHashMap<>();

  @BeforeEach
  void setUp() throws Exception {
    parallel = new Parallel(2);
    Oracle oracle = Oracle.load("stories260K");
    model = LlamaModel.open(oracle.modelPath(), parallel);
    tokenizer = Tokenizer.fromGguf(model.file().metadata());
    executor = new LocalExecutor(model.layers());
    start(new SchedulerConfig(4, 2, 64, 1), Duration.ofSeconds(1));
  }

  private void start(SchedulerConfig config, Duration noPlanGrace) {
    Scheduler scheduler = new Scheduler(config, System::nanoTime);
    KvPlacementSink sink = new KvPlacementSink() {
      @Override
      public void update(String key, long epoch, int tokens) {
        placements.put(key, tokens);
      }

      @Override
      public void remove(String key) {
        placements.remove(key);
      }
    };
    loop = new ServingLoop(tokenizer, scheduler, executor, sink, new CoordinatorMetrics(), System::nanoTime, new ServingLoop.Settings(model.config().contextLength(), Duration.ofMinutes(5), noPlanGrace)).start();
    loop.setServingPlan(0, 1, null);
  }

  @AfterEach
  void tearDown() {
    loop.close();
    model.close();
    parallel.close();
  }

  /** Collects a generation's output. */
  static final class Collector implements GenerationListener {
    final StringBuilder text = new StringBuilder();
    final List<Integer> ids = new ArrayList<>();
    final CompletableFuture<Usage> done = new CompletableFuture<>();
    Sequence.Finish reason;
    String matched;

    @Override
    public void onDelta(String t, int[] tokenIds) {
      text.append(t);
      for (int id : tokenIds) {
        ids.add(id);
      }
    }

    @Override
    public void onDone(Sequence.Finish r, String matchedStop, Usage usage) {
      reason = r;
      matched = matchedStop;
      done.complete(usage);
    }

    @Override
    public void onError(Status status) {
      done.completeExceptionally(status.asRuntimeException());
    }

    Usage await() throws Exception {
      return done.get(60, TimeUnit.SECONDS);
    }

    int[] idArray() {
      return ids.stream().mapToInt(Integer::intValue).toArray();
    }
  }

  private static GenerationRequest greedy(int[] prompt, int maxTokens, String session) {
    return new GenerationRequest(prompt, SamplingParams.greedy(), maxTokens, List.of(), session, true, Long.MAX_VALUE);
  }

  @Test
  void greedyGenerationMatchesLlamaCpp() throws Exception {
    Oracle o = Oracle.load("stories260K");
    Collector c = new Collector();
    loop.submit(greedy(o.greedyPrompt, o.greedyIds.length, null), c);
    GenerationListener.Usage u = c.await();
    assertArrayEquals(o.greedyIds, c.idArray());
    assertEquals(Sequence.Finish.LENGTH, c.reason);
    assertEquals(o.greedyIds.length, u.completionTokens());
    assertEquals(4, u.promptTokens());
    assertTrue(c.text.toString().startsWith(" time, there was a little girl named Lily."), c.text.toString());
    assertTrue(placements.isEmpty(), "a one-off request leaves no KV placement: " + placements);
    assertEquals(0, executor.cachedSequences(), "its KV cache was released");
  }

  @Test
  void concurrentRequestsGiveTheSameTokensAsAlone() throws Exception {
    int[][] prompts = {tokenizer.encode("Once upon a time", true, false), tokenizer.encode("The cat sat", true, false), tokenizer.encode("Lily and Ben went to the park", true, false)};
    int[][] alone = new int[prompts.length][];
    for (int i = 0; i < prompts.length; i++) {
      Collector c = new Collector();
      loop.submit(greedy(prompts[i], 20, null), c);
      c.await();
      alone[i] = c.idArray();
    }
    List<Collector> together = new ArrayList<>();
    for (int[] p : prompts) {
      Collector c = new Collector();
      loop.submit(greedy(p, 20, null), c);
      together.add(c);
    }
    for (int i = 0; i < prompts.length; i++) {
      together.get(i).await();
      assertArrayEquals(alone[i], together.get(i).idArray(), "prompt " + i);
    }
  }

  @Test
  void secondTurnOfASessionReusesItsCache() throws Exception {
    int[] turn1 = tokenizer.encode("Once upon a time, there was a little dog", true, false);
    Collector c1 = new Collector();
    loop.submit(greedy(turn1, 8, "chat-1"), c1);
    GenerationListener.Usage u1 = c1.await();
    assertEquals(0, u1.cachedPromptTokens());
    // the workers hold the prompt and all generated tokens but the last
    assertEquals(turn1.length + 7, placements.get("s:chat-1"));

    int[] turn2 = new int[turn1.length + 8 + 3];
    System.arraycopy(turn1, 0, turn2, 0, turn1.length);
    System.arraycopy(c1.idArray(), 0, turn2, turn1.length, 8);
    System.arraycopy(tokenizer.encode(" He", false, false), 0, turn2, turn1.length + 8, 1);
    turn2 = Arrays.copyOf(turn2, turn1.length + 9);
    Collector c2 = new Collector();
    loop.submit(greedy(turn2, 8, "chat-1"), c2);
    GenerationListener.Usage u2 = c2.await();
    assertEquals(turn1.length + 7, u2.cachedPromptTokens(), "reused the whole cached prefix");

    // same result as computing the second turn from scratch
    Collector fresh = new Collector();
    loop.submit(greedy(turn2, 8, null), fresh);
    fresh.await();
    assertArrayEquals(fresh.idArray(), c2.idArray());
  }

  @Test
  void stopStringEndsGenerationAndIsNotReturned() throws Exception {
    Collector c = new Collector();
    loop.submit(new GenerationRequest(tokenizer.encode("Once upon a", true, false), SamplingParams.greedy(), 48, List.of("Lily"), null, true, Long.MAX_VALUE), c);
    c.await();
    assertEquals(Sequence.Finish.STOP_STRING, c.reason);
    assertEquals("Lily", c.matched);
    assertEquals(" time, there was a little girl named ", c.text.toString());
  }

  @Test
  void cancelledRequestEndsWithItsStatusAndFreesItsCache() throws Exception {
    Collector c = new Collector();
    ServingLoop.Handle h = loop.submit(greedy(tokenizer.encode("Once upon a", true, false), 400, null), c);
    h.cancel(Status.CANCELLED.withDescription("client went away"));
    Exception e = org.junit.jupiter.api.Assertions.assertThrows(Exception.class, c::await);
    assertTrue(e.getCause().getMessage().contains("client went away"), e.toString());
    Thread.sleep(100);
    assertEquals(0, executor.cachedSequences());
  }

  @Test
  void fullQueueRefusesWithResourceExhausted() throws Exception {
    loop.close();
    start(new SchedulerConfig(1, 1, 64, 1), Duration.ofSeconds(1));
    List<Collector> cs = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      Collector c = new Collector();
      loop.submit(greedy(tokenizer.encode("Once upon a", true, false), 30, null), c);
      cs.add(c);
    }
    int refused = 0;
    for (Collector c : cs) {
      try {
        c.await();
      } catch (Exception e) {
        assertTrue(e.getCause().getMessage().startsWith("RESOURCE_EXHAUSTED"), e.toString());
        refused++;
      }
    }
    assertTrue(refused >= 1, "some requests must be refused when 1 runs and 1 waits");
  }

  @Test
  void withoutAPlanRequestsFailUnavailableAfterTheGrace() throws Exception {
    loop.setServingPlan(-1, 0, "no workers: 0 of 1 stages");
    Collector c = new Collector();
    loop.submit(greedy(tokenizer.encode("Once", true, false), 4, null), c);
    Exception e = org.junit.jupiter.api.Assertions.assertThrows(Exception.class, c::await);
    assertTrue(e.getCause().getMessage().contains("UNAVAILABLE: no workers"), e.toString());
    assertNull(c.reason);
    assertFalse(c.done.isCompletedExceptionally() == false);
  }
}
