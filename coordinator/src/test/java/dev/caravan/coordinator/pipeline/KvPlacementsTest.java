package dev.caravan.coordinator.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.hazelcast.core.HazelcastInstance;
import dev.caravan.cluster.ClusterNames;
import dev.caravan.cluster.KvHolding;
import dev.caravan.cluster.Plan;
import dev.caravan.cluster.SessionPlacement;
import dev.caravan.cluster.StageAssignment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** KV placement records in real Hazelcast: two data members in this JVM, so entry processors travel between them. */
class KvPlacementsTest {
  private static final Plan TWO_STAGES = new Plan(1, "m", 8, List.of(new StageAssignment(0, "w1", "127.0.0.1:7001", 0, 4), new StageAssignment(1, "w2", "127.0.0.1:7002", 4, 8)));
  private static final Plan ONE_STAGE = new Plan(2, "m", 8, List.of(new StageAssignment(0, "w3", "127.0.0.1:7003", 0, 8)));

  private final TestMembers members = new TestMembers();
  private final PlanBook book = new PlanBook();
  private HazelcastInstance a;
  private HazelcastInstance b;
  private KvPlacements placements;

  @BeforeEach
  void setUp() {
    a = members.coordinator();
    b = members.other(false);
    // partitions settle on both members before the test writes (Hazelcast waits; no sleeping here)
    assertTrue(a.getPartitionService().forceLocalMemberToBeSafe(30, TimeUnit.SECONDS));
    assertTrue(b.getPartitionService().forceLocalMemberToBeSafe(30, TimeUnit.SECONDS));
    book.update(s -> s.withLatest(TWO_STAGES).withLatest(ONE_STAGE));
    placements = new KvPlacements(a, book);
  }

  @AfterEach
  void tearDown() {
    members.close();
  }

  private Map<String, SessionPlacement> records() {
    return placements.snapshot().stream().collect(Collectors.toMap(SessionPlacement::cacheKey, Function.identity()));
  }

  @Test
  void oneBatchOfManyKeysLandsWhole() {
    List<KvPlacements.Held> held = new ArrayList<>();
    for (int i = 0; i < 500; i++) {
      held.add(new KvPlacements.Held("r:" + i, 1, i + 1));
    }
    placements.publish(held, List.of());

    Map<String, SessionPlacement> r = records();
    assertEquals(500, r.size());
    for (int i = 0; i < 500; i++) {
      SessionPlacement p = r.get("r:" + i);
      assertEquals(1, p.planEpoch());
      assertEquals(List.of(new KvHolding("w1", 0, 4, i + 1), new KvHolding("w2", 4, 8, i + 1)), p.holdings());
    }
    // visible to every member, not just through this coordinator's view
    assertEquals(500, b.getMap(ClusterNames.KV).size());
  }

  @Test
  void anOlderPlansRecordNeverOverwritesANewerOne() {
    placements.publish(List.of(new KvPlacements.Held("s:x", 2, 10)), List.of());
    placements.publish(List.of(new KvPlacements.Held("s:x", 1, 99)), List.of());
    SessionPlacement p = records().get("s:x");
    assertEquals(2, p.planEpoch());
    assertEquals(10, p.tokens());

    // another publisher (its own batches, its own member): the rule holds in Hazelcast too
    KvPlacements elsewhere = new KvPlacements(b, book);
    elsewhere.publish(List.of(new KvPlacements.Held("s:x", 1, 77)), List.of());
    elsewhere.snapshot();
    p = records().get("s:x");
    assertEquals(2, p.planEpoch());
    assertEquals(10, p.tokens());

    // the same plan's newer report does replace it
    elsewhere.publish(List.of(new KvPlacements.Held("s:x", 2, 11)), List.of());
    elsewhere.snapshot();
    assertEquals(11, records().get("s:x").tokens());
  }

  @Test
  void removalsLand() {
    List<KvPlacements.Held> held = new ArrayList<>();
    List<String> removed = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      held.add(new KvPlacements.Held("r:" + i, 1, 5));
      if (i % 2 == 0) {
        removed.add("r:" + i);
      }
    }
    placements.publish(held, List.of());
    placements.publish(List.of(new KvPlacements.Held("r:new", 2, 1)), removed);
    Map<String, SessionPlacement> r = records();
    assertEquals(51, r.size());
    assertNull(r.get("r:0"));
    assertEquals(5, r.get("r:1").tokens());

    // a key held and removed in one batch is removed
    placements.publish(List.of(new KvPlacements.Held("r:both", 1, 3)), List.of("r:both"));
    assertNull(records().get("r:both"));
  }

  @Test
  void reportsMergedWhileABatchIsOnItsWayKeepTheirOrder() {
    // one report per token, as fast as they come: later batches merge, the last word per key wins
    for (int t = 1; t <= 2000; t++) {
      placements.publish(List.of(new KvPlacements.Held("r:a", 1, t), new KvPlacements.Held("r:b", 1, t)), List.of());
      if (t == 1500) {
        placements.publish(List.of(), List.of("r:b"));
      }
    }
    placements.publish(List.of(), List.of("r:a"));
    placements.publish(List.of(new KvPlacements.Held("r:a", 1, 7)), List.of());
    Map<String, SessionPlacement> r = records();
    assertEquals(7, r.get("r:a").tokens(), "an update after a removal brings the key back");
    assertEquals(2000, r.get("r:b").tokens(), "reports after a removal win over it");
  }

  @Test
  void unknownEpochsAreNotRecorded() {
    placements.publish(List.of(new KvPlacements.Held("r:1", 9, 1), new KvPlacements.Held("r:2", 1, 1)), List.of());
    assertEquals(Set.of("r:2"), records().keySet());
  }

  @Test
  void removeWorkerRemovesExactlyTheRecordsInvolvingIt() {
    List<KvPlacements.Held> held = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      held.add(new KvPlacements.Held("on1:" + i, 1, 3));
      held.add(new KvPlacements.Held("on2:" + i, 2, 3));
    }
    placements.publish(held, List.of());
    placements.removeWorker("w1");

    Map<String, SessionPlacement> r = records();
    assertEquals(20, r.size());
    assertTrue(r.keySet().stream().allMatch(k -> k.startsWith("on2:")));
    assertTrue(r.values().stream().noneMatch(p -> p.involves("w1") || p.involves("w2")));

    // a late report on the lost worker's plan does not bring a record back
    placements.publish(List.of(new KvPlacements.Held("late", 1, 4), new KvPlacements.Held("on2:x", 2, 4)), List.of());
    r = records();
    assertNull(r.get("late"));
    assertEquals(4, r.get("on2:x").tokens());
  }
}
