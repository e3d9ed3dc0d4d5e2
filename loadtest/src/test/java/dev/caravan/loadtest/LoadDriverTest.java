package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The driver against an in-process fake server: counts, concurrency caps, errors and deadlines. No wall-clock bounds. */
class LoadDriverTest {
  private static final Workload.Options OPTIONS = new Workload.Options("", null, 0, true);
  private static final Duration TIMEOUT = Duration.ofSeconds(30);

  private static Workload random(int in, int out) {
    return new RandomWorkload(TokenPool.of(512, Set.of(0, 1, 2)), 1, in, out, 0, OPTIONS);
  }

  private static Workload dataset(int... maxTokens) {
    List<JsonlDataset.Entry> entries = new java.util.ArrayList<>();
    for (int i = 0; i < maxTokens.length; i++) {
      entries.add(new JsonlDataset.Entry("prompt " + i, maxTokens[i], i + 1));
    }
    return new DatasetWorkload(Path.of("test.jsonl"), entries, 4, OPTIONS);
  }

  @Test
  void closedLoopRunsEveryRequestOnceWithinItsConcurrency() throws Exception {
    try (FakeInference fake = new FakeInference(1, false)) {
      LiveCounters live = new LiveCounters();
      RunOutcome run = new LoadDriver(fake.stub(), random(8, 5), TIMEOUT).run(Traffic.closed(3, 20L, null), live);
      assertEquals(20, run.results().size());
      for (int i = 0; i < 20; i++) {
        RequestResult r = run.results().get(i);
        assertEquals(i, r.index());
        assertTrue(r.success(), r.error());
        assertEquals(8, r.inputTokens());
        assertEquals(5, r.outputTokens());
        assertEquals(4, r.itlSeconds().length);
        assertTrue(r.ttftSeconds() > 0 && r.latencySeconds() >= r.ttftSeconds());
        assertEquals(0.0, r.queueSeconds(), "a closed-loop request is sent when it starts");
      }
      assertEquals(20, fake.calls.get());
      assertTrue(fake.maxActive.get() <= 3, "server saw " + fake.maxActive.get() + " at once");
      assertTrue(run.peakConcurrency() <= 3 && run.peakConcurrency() >= 1);
      assertEquals(20, live.completed());
      assertEquals(100, live.outputTokens());
      assertEquals(0, live.inFlight());
      Metrics m = Metrics.of(run, Slo.NONE, List.of(99.0));
      assertEquals(100, m.totalOutput());
      assertEquals(160, m.totalInput());
    }
  }

  @Test
  void multiTokenChunksStillGiveOneLatencyPerToken() throws Exception {
    try (FakeInference fake = new FakeInference(1, true)) {
      RunOutcome run = new LoadDriver(fake.stub(), random(4, 7), TIMEOUT).run(Traffic.closed(1, 3L, null), new LiveCounters());
      for (RequestResult r : run.results()) {
        assertEquals(7, r.outputTokens());
        assertEquals(6, r.itlSeconds().length);
      }
    }
  }

  @Test
  void openLoopCapsRequestsInFlightAndCountsTheWaitInLatency() throws Exception {
    try (FakeInference fake = new FakeInference(10, false)) {
      // arrivals every 5 ms, each request takes at least 2 x 10 ms, two slots: later requests must wait
      Traffic traffic = Traffic.open(200, ArrivalSchedule.Kind.CONSTANT, 2, 12L, null, 1);
      RunOutcome run = new LoadDriver(fake.stub(), random(4, 2), TIMEOUT).run(traffic, new LiveCounters());
      assertEquals(12, run.results().size());
      assertTrue(run.results().stream().allMatch(RequestResult::success));
      assertTrue(fake.maxActive.get() <= 2, "server saw " + fake.maxActive.get() + " at once");
      assertTrue(run.peakConcurrency() <= 2);
      RequestResult last = run.results().getLast();
      assertEquals(11 * 0.005, last.startSeconds(), 1e-6, "counted from its scheduled time");
      assertTrue(last.queueSeconds() > 0, "waited for a slot");
      assertTrue(last.ttftSeconds() > last.queueSeconds(), "the wait is part of TTFT");
    }
  }

  @Test
  void failuresAreCountedByStatus() throws Exception {
    try (FakeInference fake = new FakeInference(1, false)) {
      RunOutcome run = new LoadDriver(fake.stub(), dataset(3, FakeInference.FAIL), TIMEOUT).run(Traffic.closed(2, 10L, null), new LiveCounters());
      Metrics m = Metrics.of(run, Slo.NONE, List.of(99.0));
      assertEquals(5, m.completed());
      assertEquals(5, m.failed());
      assertEquals(Map.of("RESOURCE_EXHAUSTED", 5L), m.errorsByStatus());
      assertEquals("RESOURCE_EXHAUSTED: queue full", run.results().get(1).error());
      assertEquals(15, m.totalOutput());
    }
  }

  @Test
  void aServerThatNeverAnswersEndsInDeadlineExceeded() throws Exception {
    try (FakeInference fake = new FakeInference(1, false)) {
      RunOutcome run = new LoadDriver(fake.stub(), dataset(FakeInference.HANG, 2), Duration.ofMillis(200)).run(Traffic.open(100, ArrivalSchedule.Kind.POISSON, null, 4L, null, 3),
          new LiveCounters());
      assertEquals(4, run.results().size());
      assertEquals(Status.Code.DEADLINE_EXCEEDED, run.results().get(0).status());
      assertEquals(Status.Code.OK, run.results().get(1).status());
      assertEquals(Status.Code.DEADLINE_EXCEEDED, run.results().get(2).status());
    }
  }

  @Test
  void aDurationStopsStartingRequests() throws Exception {
    try (FakeInference fake = new FakeInference(2, false)) {
      RunOutcome run = new LoadDriver(fake.stub(), random(4, 3), TIMEOUT).run(Traffic.closed(2, null, Duration.ofMillis(300)), new LiveCounters());
      assertTrue(run.results().size() >= 2);
      assertTrue(run.results().stream().allMatch(r -> r.startSeconds() < 0.3), "nothing starts after the duration");
      assertEquals(run.results().size(), fake.calls.get());
    }
  }

  @Test
  void recordedStreamsKeepTokenIdsChunkTimesMigrationsAndTheFaultsOfTheRun() throws Exception {
    try (FakeInference fake = new FakeInference(1, true)) {
      FaultInjectorTest.RecordingTarget target = new FaultInjectorTest.RecordingTarget();
      FaultInjector faults = new FaultInjector(List.of(FaultSpec.parse("kill:worker-1@0s"), FaultSpec.parse("kill:worker-2@1h")), target, null, Duration.ofSeconds(10));
      RunOutcome run = new LoadDriver(fake.stub(), dataset(FakeInference.MIGRATED, 3), TIMEOUT, true).run(Traffic.closed(1, 2L, null), new LiveCounters(), faults);
      RequestResult migrated = run.results().get(0);
      assertTrue(migrated.success(), migrated.error());
      assertEquals(1, migrated.migrations());
      assertEquals(migrated.inputTokens() + 3, migrated.recomputedTokens());
      assertEquals(List.of(100, 101, 102, 103, 104, 105, 106), java.util.Arrays.stream(migrated.tokenIds()).boxed().toList(), "every streamed id, in order");
      assertEquals(4, migrated.chunkSeconds().length, "one token, then pairs: 1 + 2 + 2 + 2");
      for (int i = 1; i < migrated.chunkSeconds().length; i++) {
        assertTrue(migrated.chunkSeconds()[i] >= migrated.chunkSeconds()[i - 1]);
      }
      assertTrue(migrated.chunkSeconds()[0] >= migrated.sendSeconds() && migrated.chunkSeconds()[3] <= migrated.endSeconds());
      assertEquals(0, run.results().get(1).migrations());
      assertEquals(List.of("kill", "kill"), run.faults().stream().map(FaultEvent::action).toList());
      assertTrue(run.faults().get(0).ok());
      assertTrue(run.faults().get(1).detail().startsWith("not reached"), run.faults().get(1).detail());
      Metrics m = Metrics.of(run, Slo.NONE, List.of(99.0));
      assertEquals(1, m.migratedRequests());
      assertEquals(migrated.inputTokens() + 3, m.recomputedTokens());
    }
  }

  @Test
  void streamsAreNotRecordedUnlessAsked() throws Exception {
    try (FakeInference fake = new FakeInference(1, false)) {
      RunOutcome run = new LoadDriver(fake.stub(), random(4, 3), TIMEOUT).run(Traffic.closed(1, 1L, null), new LiveCounters());
      assertEquals(null, run.results().getFirst().tokenIds());
      assertEquals(null, run.results().getFirst().chunkSeconds());
      assertEquals(List.of(), run.faults());
    }
  }
}
