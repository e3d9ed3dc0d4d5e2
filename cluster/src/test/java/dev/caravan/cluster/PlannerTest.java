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
}
