package dev.caravan.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class PlannerTest {

  private static Planner.Candidate worker(int order, long memory, double secondsPerLayer) {
    return new Planner.Candidate("w" + order, "127.0.0.1:" + (7000 + order), new WorkerCapacity(memory, 2, secondsPerLayer), order);
  }

  private static int[] counts(Plan p) {
    return p.stages().stream().mapToInt(s -> s.layerEnd() - s.layerStart()).toArray();
  }

  @Test
  void equalWorkersSplitEvenly() {
    Plan p = Planner.plan(1, "m", 22, 100, List.of(worker(0, 1L << 40, 0.01), worker(1, 1L << 40, 0.01)));
    assertArrayEquals(new int[] {11, 11}, counts(p));
    assertEquals(0, p.stages().get(0).layerStart());
    assertEquals(22, p.stages().get(1).layerEnd());
  }

  @Test
  void fasterWorkerGetsMoreLayers() {
    // worker 1 is three times as fast: 22 layers split about 5.5 / 16.5
    Plan p = Planner.plan(1, "m", 22, 100, List.of(worker(0, 1L << 40, 0.03), worker(1, 1L << 40, 0.01)));
    int[] c = counts(p);
    assertEquals(22, c[0] + c[1]);
    assertTrue(c[1] >= 16 && c[1] <= 17, "faster worker got " + c[1]);
  }

  @Test
  void memoryCapsAShareAndTheRestMovesOn() {
    // worker 0 is fastest but holds only 3 layers
    Plan p = Planner.plan(1, "m", 10, 100, List.of(worker(0, 300, 0.001), worker(1, 1L << 40, 0.01), worker(2, 1L << 40, 0.01)));
    assertArrayEquals(new int[] {3, 4, 3}, counts(p));
  }

  @Test
  void tooLittleMemoryMeansNoPlan() {
    Plan p = Planner.plan(1, "m", 10, 100, List.of(worker(0, 300, 0.01), worker(1, 400, 0.01)));
    assertTrue(p.isEmpty());
  }

  @Test
  void moreWorkersThanLayersUsesTheFastest() {
    Plan p = Planner.plan(1, "m", 2, 100, List.of(worker(0, 1L << 40, 0.05), worker(1, 1L << 40, 0.01), worker(2, 1L << 40, 0.02)));
    assertEquals(2, p.stages().size());
    assertEquals(List.of("w1", "w2"), p.stages().stream().map(StageAssignment::workerUuid).toList());
  }

  @Test
  void noWorkersNoPlan() {
    assertTrue(Planner.plan(3, "m", 5, 100, List.of()).isEmpty());
  }

  @Test
  void randomCapacitiesAlwaysGiveAValidContiguousPlan() {
    Random r = new Random(42);
    for (int trial = 0; trial < 2000; trial++) {
      int layers = 1 + r.nextInt(80);
      List<Planner.Candidate> ws = new ArrayList<>();
      int n = 1 + r.nextInt(6);
      for (int i = 0; i < n; i++) {
        ws.add(worker(i, (1 + r.nextInt(layers)) * 100L, 0.001 + r.nextDouble()));
      }
      Plan p = Planner.plan(trial, "m", layers, 100, ws);
      long capacity = ws.stream().mapToLong(w -> Math.min(layers, w.capacity().freeMemoryBytes() / 100)).sum();
      if (capacity < layers) {
        assertTrue(p.isEmpty());
        continue;
      }
      // the Plan constructor checks contiguity and coverage; here: every stage within its worker's memory
      for (StageAssignment s : p.stages()) {
        Planner.Candidate w = ws.stream().filter(c -> c.uuid().equals(s.workerUuid())).findFirst().orElseThrow();
        assertTrue((s.layerEnd() - s.layerStart()) * 100L <= w.capacity().freeMemoryBytes(), "stage over memory in trial " + trial);
      }
      assertEquals(layers, p.stages().get(p.stages().size() - 1).layerEnd());
    }
  }

  @Test
  void planRejectsGapsAndOverlaps() {
    assertThrows(IllegalArgumentException.class, () -> new Plan(1, "m", 5, List.of(new StageAssignment(0, "a", "x", 0, 2), new StageAssignment(1, "b", "y", 3, 5))));
    assertThrows(IllegalArgumentException.class, () -> new Plan(1, "m", 5, List.of(new StageAssignment(0, "a", "x", 0, 3))));
  }

  // ---- spares ----------------------------------------------------------------------------------------------------

  private static final long BIG = 1L << 40;

  private static List<String> workersOf(Plan p) {
    return p.stages().stream().map(StageAssignment::workerUuid).toList();
  }

  @Test
  void theNewestWorkersAreHeldBackAsSpares() {
    Planner.Layout l = Planner.plan(1, "m", 10, 100, List.of(worker(2, BIG, 0.01), worker(0, BIG, 0.01), worker(1, BIG, 0.01)), 1, null);
    assertEquals(List.of("w0", "w1"), workersOf(l.plan()));
    assertEquals(List.of("w2"), l.spareUuids());
    assertArrayEquals(new int[] {5, 5}, counts(l.plan()));
  }

  @Test
  void atLeastOneWorkerServesAndNoSpareIsHeldBackThatTheModelNeeds() {
    Planner.Layout alone = Planner.plan(1, "m", 10, 100, List.of(worker(0, BIG, 0.01)), 2, null);
    assertEquals(List.of("w0"), workersOf(alone.plan()));
    assertEquals(List.of(), alone.spareUuids());
    // each holds 6 of 10 layers: two must serve, so only one of three is a spare
    Planner.Layout tight = Planner.plan(1, "m", 10, 100, List.of(worker(0, 600, 0.01), worker(1, 600, 0.01), worker(2, 600, 0.01)), 2, null);
    assertEquals(List.of("w0", "w1"), workersOf(tight.plan()));
    assertEquals(List.of("w2"), tight.spareUuids());
  }

  @Test
  void aJoiningWorkerBecomesASpareAndNoStageMoves() {
    Plan before = Planner.plan(1, "m", 10, 100, List.of(worker(0, BIG, 0.01), worker(1, BIG, 0.03)));
    Planner.Layout l = Planner.plan(2, "m", 10, 100, List.of(worker(0, BIG, 0.01), worker(1, BIG, 0.03), worker(2, BIG, 0.001)), 1, before);
    assertTrue(l.plan().sameLayoutAs(before), "stages unchanged: " + l.plan());
    assertEquals(List.of("w2"), l.spareUuids());
  }

  @Test
  void aLostStageGoesToTheSpareWithEveryOtherStageUnchanged() {
    List<Planner.Candidate> all = List.of(worker(0, BIG, 0.01), worker(1, BIG, 0.01), worker(2, BIG, 0.01), worker(3, BIG, 0.01));
    Planner.Layout first = Planner.plan(1, "m", 12, 100, all, 1, null);
    assertEquals(List.of("w0", "w1", "w2"), workersOf(first.plan()));
    assertEquals(List.of("w3"), first.spareUuids());

    Planner.Layout after = Planner.plan(2, "m", 12, 100, List.of(all.get(0), all.get(2), all.get(3)), 1, first.plan().withEpoch(1));
    assertEquals(List.of("w0", "w3", "w2"), workersOf(after.plan()));
    for (int i = 0; i < 3; i++) {
      StageAssignment was = first.plan().stages().get(i);
      StageAssignment now = after.plan().stages().get(i);
      assertEquals(was.range(), now.range(), "stage " + i + " keeps its layers");
      if (i != 1) {
        assertEquals(was, now, "stage " + i + " unchanged");
      }
    }
    assertEquals("127.0.0.1:7003", after.plan().stages().get(1).grpcAddress());
    assertEquals(List.of(), after.spareUuids());
  }

  @Test
  void theOldestSpareThatHoldsTheLayersTakesOver() {
    // w2 (older) cannot hold the lost stage's 5 layers; w3 can
    Plan plan = new Plan(1, "m", 10, List.of(new StageAssignment(0, "w0", "127.0.0.1:7000", 0, 5), new StageAssignment(1, "w1", "127.0.0.1:7001", 5, 10)));
    Planner.Layout l = Planner.plan(2, "m", 10, 100, List.of(worker(0, BIG, 0.01), worker(2, 300, 0.01), worker(3, BIG, 0.01), worker(4, BIG, 0.01)), 2, plan);
    assertEquals(List.of("w0", "w3"), workersOf(l.plan()));
    assertEquals(List.of("w2", "w4"), l.spareUuids());
  }

  @Test
  void withNoSpareLeftTheSurvivorsShareTheLayersAfresh() {
    Plan plan = Planner.plan(1, "m", 10, 100, List.of(worker(0, BIG, 0.01), worker(1, BIG, 0.01)));
    Planner.Layout l = Planner.plan(2, "m", 10, 100, List.of(worker(0, BIG, 0.01)), 1, plan);
    assertEquals(List.of("w0"), workersOf(l.plan()));
    assertEquals(10, l.plan().stages().get(0).layerEnd());
    assertEquals(List.of(), l.spareUuids());
  }

  @Test
  void moreWorkersThanStagesAndSparesSplitAfresh() {
    Plan plan = Planner.plan(1, "m", 12, 100, List.of(worker(0, BIG, 0.01), worker(1, BIG, 0.01)));
    Planner.Layout l = Planner.plan(2, "m", 12, 100, List.of(worker(0, BIG, 0.01), worker(1, BIG, 0.01), worker(2, BIG, 0.01), worker(3, BIG, 0.01)), 1, plan);
    assertEquals(List.of("w0", "w1", "w2"), workersOf(l.plan()));
    assertEquals(List.of("w3"), l.spareUuids());
  }

  @Test
  void noSparesMeansThePlainPlan() {
    List<Planner.Candidate> ws = List.of(worker(0, BIG, 0.01), worker(1, BIG, 0.02), worker(2, BIG, 0.01));
    Plan previous = Planner.plan(1, "m", 9, 100, ws.subList(0, 2));
    Planner.Layout l = Planner.plan(2, "m", 9, 100, ws, 0, previous);
    assertEquals(Planner.plan(2, "m", 9, 100, ws), l.plan());
    assertEquals(List.of(), l.spareUuids());
  }
}
