package dev.caravan.coordinator.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.Plan;
import dev.caravan.cluster.StageAssignment;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The plan state snapshot on its own: pure, no Hazelcast. */
class PlanBookTest {

  private static Plan plan(long epoch, String... workers) {
    int n = workers.length;
    List<StageAssignment> stages = new java.util.ArrayList<>();
    for (int i = 0; i < n; i++) {
      stages.add(new StageAssignment(i, workers[i], "127.0.0.1:" + (7001 + i), i * 2, i * 2 + 2));
    }
    return new Plan(epoch, "m", n * 2, stages);
  }

  @Test
  void startsEmpty() {
    PlanBook book = new PlanBook();
    assertNull(book.latest());
    assertNull(book.serving());
    assertNull(book.plan(1));
    assertFalse(book.isDraining("w1"));
    assertEquals(Long.MAX_VALUE, book.snapshot().oldestEpoch());
  }

  @Test
  void latestIsKeptByEpochAndServingStaysUntilChanged() {
    PlanBook book = new PlanBook();
    Plan p1 = plan(1, "w1");
    Plan p2 = plan(2, "w1", "w2");
    book.update(s -> s.withLatest(p1).withServing(p1));
    book.update(s -> s.withLatest(p2));
    PlanBook.Snapshot s = book.snapshot();
    assertSame(p2, s.latest());
    assertSame(p1, s.serving(), "the loading plan does not serve until made so");
    assertEquals(List.of(1L, 2L), List.copyOf(s.byEpoch().keySet()), "in epoch order");
    assertSame(p1, book.plan(1));
    book.update(x -> x.withServing(p2));
    assertSame(p2, book.serving());
  }

  @Test
  void servingMustBeAKnownPlan() {
    PlanBook book = new PlanBook();
    assertThrows(IllegalArgumentException.class, () -> book.update(s -> s.withServing(plan(3, "w1"))));
    assertNull(book.serving(), "a refused change leaves the state as it was");
  }

  @Test
  void retiringDropsOlderEpochsButNeverTheLatestOrServing() {
    PlanBook book = new PlanBook();
    Plan p1 = plan(1, "w1");
    Plan p2 = plan(2, "w1", "w2");
    Plan p3 = plan(3, "w2");
    book.update(s -> s.withLatest(p1).withLatest(p2).withServing(p2).withLatest(p3));
    book.update(s -> s.retireBelow(2));
    assertNull(book.plan(1));
    assertSame(p2, book.plan(2));
    book.update(s -> s.retireBelow(10));
    assertEquals(Set.of(2L, 3L), book.snapshot().byEpoch().keySet(), "serving #2 and latest #3 stay");
    assertEquals(2, book.snapshot().oldestEpoch());
  }

  @Test
  void snapshotsAreImmutableCopies() {
    Map<Long, Plan> plans = new HashMap<>(Map.of(1L, plan(1, "w1")));
    Set<String> draining = new HashSet<>(Set.of("w1"));
    PlanBook.Snapshot s = new PlanBook.Snapshot(null, null, plans, draining);
    plans.put(2L, plan(2, "w2"));
    draining.add("w2");
    assertEquals(Set.of(1L), s.byEpoch().keySet());
    assertEquals(Set.of("w1"), s.drainingWorkers());
    assertThrows(UnsupportedOperationException.class, () -> s.byEpoch().put(3L, plan(3, "w3")));
    assertThrows(UnsupportedOperationException.class, () -> s.drainingWorkers().add("w3"));
  }

  @Test
  void drainingWorkers() {
    PlanBook book = new PlanBook();
    book.update(s -> s.withDraining(Set.of("w2")));
    assertTrue(book.isDraining("w2"));
    assertFalse(book.isDraining("w1"));
  }

  @Test
  void concurrentUpdatesAreNotLost() throws Exception {
    PlanBook book = new PlanBook();
    int threads = 4;
    int each = 250;
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    CountDownLatch start = new CountDownLatch(1);
    try {
      for (int t = 0; t < threads; t++) {
        int base = t * each;
        pool.execute(() -> {
          try {
            start.await();
          } catch (InterruptedException e) {
            return;
          }
          for (int i = 1; i <= each; i++) {
            long epoch = base + i;
            book.update(s -> s.withDraining(union(s.drainingWorkers(), "w" + epoch)));
          }
        });
      }
      start.countDown();
      pool.shutdown();
      assertTrue(pool.awaitTermination(30, TimeUnit.SECONDS));
    } finally {
      pool.shutdownNow();
    }
    assertEquals(threads * each, book.snapshot().drainingWorkers().size());
  }

  private static Set<String> union(Set<String> a, String b) {
    Set<String> s = new HashSet<>(a);
    s.add(b);
    return s;
  }
}
