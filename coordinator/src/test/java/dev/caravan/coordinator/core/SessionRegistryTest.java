package dev.caravan.coordinator.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Sessions, prefix reuse, idle expiry and batched placement reports, on a clock the test moves. */
class SessionRegistryTest {
  private static final long MS = 1_000_000L;
  private final RecordingPlacements sink = new RecordingPlacements();
  private final SessionRegistry sessions = new SessionRegistry(sink, 60_000 * MS, 100 * MS);

  @Test
  void aNextTurnReusesTheLongestCommonPrefixButRecomputesTheLastPromptToken() {
    sessions.begin("a", new int[] {1, 2, 3}, 5, 0);
    sessions.keep("a", 5, new int[] {1, 2, 3, 9, 8}, 0);
    assertEquals(new SessionRegistry.Turn("s:a", 4, 5, -1), sessions.begin("a", new int[] {1, 2, 3, 9, 7, 7}, 5, 1), "shares 4 tokens");
    sessions.keep("a", 5, new int[] {1, 2, 3}, 0);
    assertEquals(new SessionRegistry.Turn("s:a", 2, 5, -1), sessions.begin("a", new int[] {1, 2, 3}, 5, 1), "an identical prompt still computes its last token");
  }

  @Test
  void aCacheOfAnotherPlanIsNotReusedAndIsNamedForRelease() {
    sessions.begin("a", new int[] {1, 2}, 5, 0);
    sessions.keep("a", 5, new int[] {1, 2, 3}, 0);
    assertEquals(new SessionRegistry.Turn("s:a", 0, -1, 5), sessions.begin("a", new int[] {1, 2, 3, 4}, 6, 1));
  }

  @Test
  void aBusySessionRefusesASecondTurn() {
    sessions.begin("a", new int[] {1}, 5, 0);
    GenerationException e = assertThrows(GenerationException.class, () -> sessions.begin("a", new int[] {1}, 5, 0));
    assertEquals(GenerationError.Kind.FAILED_PRECONDITION, e.kind());
  }

  @Test
  void idleSessionsExpireOnTheClockAndBusyOnesNever() {
    sessions.begin("idle", new int[] {1}, 5, 0);
    sessions.keep("idle", 5, new int[] {1, 2}, 0);
    sessions.begin("busy", new int[] {1}, 5, 0);
    assertEquals(List.of(), sessions.expireIdle(59_900 * MS), "not idle for a minute yet");
    assertEquals(List.of(), sessions.expireIdle(60_500 * MS), "idle long enough, but swept at most once a second");
    assertEquals(List.of(new SessionRegistry.Release("s:idle", 5, 2)), sessions.expireIdle(61_000 * MS));
    assertEquals(1, sessions.size(), "the busy one stays");
  }

  @Test
  void aLostOrRetiredPlanDropsTheIdleSessionsOnIt() {
    for (String id : List.of("on4", "on5", "on6")) {
      sessions.begin(id, new int[] {1}, 5, 0);
    }
    sessions.keep("on4", 4, new int[] {1}, 0);
    sessions.keep("on5", 5, new int[] {1}, 0);
    sessions.keep("on6", 6, new int[] {1}, 0);
    sessions.dropEpoch(5);
    assertEquals(2, sessions.size());
    sessions.retireBelow(6);
    assertEquals(1, sessions.size());
    sessions.flush(0, true);
    assertEquals(List.of("s:on6"), List.copyOf(sink.state.keySet()));
  }

  @Test
  void changesArePublishedOncePerIntervalUnlessForced() {
    sessions.held("r:1", 5, 3);
    sessions.flush(0, false);
    assertEquals(1, sink.publishes);
    for (int t = 1; t < 100; t++) {
      sessions.held("r:1", 5, 3 + t);
      sessions.flush(t * MS, false);
    }
    assertEquals(1, sink.publishes, "a hundred changes inside one interval: nothing more published yet");
    assertEquals(1, sessions.pendingChanges(), "only the newest state of the key is kept");
    sessions.flush(100 * MS, false);
    assertEquals(2, sink.publishes);
    assertEquals(new KvPlacementSink.Held("r:1", 5, 102), sink.state.get("r:1"));
    sessions.gone("r:1");
    sessions.flush(101 * MS, true);
    assertTrue(sink.state.isEmpty(), "a forced flush publishes the end at once");
    sessions.flush(102 * MS, true);
    assertEquals(3, sink.publishes, "nothing to publish: no call");
  }
}
