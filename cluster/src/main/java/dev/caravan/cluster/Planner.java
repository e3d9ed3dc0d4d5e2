package dev.caravan.cluster;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Splits a model's layers into contiguous ranges over workers, in proportion to each worker's speed and never past
 * what its memory holds. Pure: same inputs, same plan.
 */
public final class Planner {

  /** A worker the planner may use. {@code order} fixes the pipeline order (e.g. join order). */
  public record Candidate(String uuid, String grpcAddress, WorkerCapacity capacity, long order) {}

  /**
   * A plan and the workers held back from it as spares, in pipeline order. A spare serves no layers; it keeps the ranges
   * it could take over loaded, so that when a stage is lost it takes that stage's place and nobody else moves.
   */
  public record Layout(Plan plan, List<Candidate> spares) {
    public Layout {
      spares = List.copyOf(spares);
    }

    public List<String> spareUuids() {
      return spares.stream().map(Candidate::uuid).toList();
    }
  }

  private Planner() {}

  /**
   * Plans like {@link #plan(long, String, int, long, List)} but holds back up to {@code spares} workers, and keeps the
   * stages of {@code previous} where it can:
   *
   * <ul>
   *   <li>When every stage of {@code previous} is still among {@code workers} and at most {@code spares} others are left
   *       over, the stages stay as they are and the others are the spares (a worker that joins becomes a spare without
   *       moving anyone).
   *   <li>When stages of {@code previous} lost their worker, each lost stage goes — same index, same layers — to a
   *       left-over worker that can hold its layers, the oldest first (the one that has been a spare longest, so it has
   *       its layers loaded); the other stages stay. What is left over after that must fit in {@code spares} again.
   *   <li>Otherwise (no spare can take a lost stage, or more workers are left over than spares are wanted) the layers are
   *       split afresh over all but the {@code spares} newest workers (fewer are held back if the rest could not hold
   *       the model, and at least one worker serves).
   * </ul>
   *
   * With {@code spares == 0} this is {@link #plan(long, String, int, long, List)}: every worker serves, and a lost
   * stage's layers are split afresh over the survivors.
   *
   * @param previous the plan in use (null or empty: none)
   */
  public static Layout plan(long epoch, String model, int layers, long bytesPerLayer, List<Candidate> workers, int spares, Plan previous) {
    if (spares <= 0) {
      return new Layout(plan(epoch, model, layers, bytesPerLayer, workers), List.of());
    }
    List<Candidate> sorted = new ArrayList<>(workers);
    sorted.sort(Comparator.comparingLong(Candidate::order).thenComparing(Candidate::uuid));
    Layout kept = keep(epoch, model, layers, bytesPerLayer, sorted, spares, previous);
    if (kept != null) {
      return kept;
    }
    for (int held = Math.min(spares, sorted.size() - 1); held >= 0; held--) {
      List<Candidate> serving = sorted.subList(0, sorted.size() - held);
      Plan p = plan(epoch, model, layers, bytesPerLayer, serving);
      if (!p.isEmpty() || held == 0) {
        return new Layout(p, p.isEmpty() ? List.of() : sorted.subList(sorted.size() - held, sorted.size()));
      }
    }
    throw new AssertionError("unreachable");
  }

  /** {@code previous}'s stages with lost workers replaced by left-over ones, or null when that does not work out. */
  private static Layout keep(long epoch, String model, int layers, long bytesPerLayer, List<Candidate> sorted, int spares, Plan previous) {
    if (previous == null || previous.isEmpty() || !previous.model().equals(model) || previous.layers() != layers) {
      return null;
    }
    Map<String, Candidate> byUuid = new HashMap<>();
    sorted.forEach(c -> byUuid.put(c.uuid(), c));
    List<Candidate> free = new ArrayList<>(sorted);
    free.removeIf(c -> previous.involves(c.uuid()));
    List<StageAssignment> stages = new ArrayList<>();
    for (StageAssignment s : previous.stages()) {
      Candidate alive = byUuid.get(s.workerUuid());
      if (alive != null) {
        stages.add(new StageAssignment(s.index(), alive.uuid(), alive.grpcAddress(), s.layerStart(), s.layerEnd()));
        continue;
      }
      Candidate spare = free.stream().filter(c -> fits(c, s.layerEnd() - s.layerStart(), bytesPerLayer)).findFirst().orElse(null);
      if (spare == null) {
        return null;
      }
      free.remove(spare);
      stages.add(new StageAssignment(s.index(), spare.uuid(), spare.grpcAddress(), s.layerStart(), s.layerEnd()));
    }
    if (free.size() > spares) {
      return null; // more workers than the plan and its spares want: split afresh
    }
    return new Layout(new Plan(epoch, model, layers, stages), free);
  }

  private static boolean fits(Candidate c, int stageLayers, long bytesPerLayer) {
    return bytesPerLayer <= 0 || c.capacity().freeMemoryBytes() / bytesPerLayer >= stageLayers;
  }

  /**
   * Plans {@code layers} layers of {@code bytesPerLayer} bytes each over {@code workers}.
   *
   * <p>Each worker gets a share proportional to its layers-per-second (largest-remainder rounding, at least one layer),
   * capped by {@code freeMemory / bytesPerLayer}; what a capped worker cannot take goes to the others. With more
   * workers than layers, the fastest are used. Returns an empty plan when the workers cannot hold the model together.
   */
  public static Plan plan(long epoch, String model, int layers, long bytesPerLayer, List<Candidate> workers) {
    List<Candidate> sorted = new ArrayList<>(workers);
    sorted.sort(Comparator.comparingLong(Candidate::order).thenComparing(Candidate::uuid));
    if (sorted.size() > layers) {
      // keep the fastest `layers` workers, in pipeline order
      List<Candidate> fastest = new ArrayList<>(sorted);
      fastest.sort(Comparator.comparingDouble((Candidate c) -> -c.capacity().layersPerSecond()).thenComparingLong(Candidate::order));
      List<Candidate> keep = fastest.subList(0, layers);
      sorted.removeIf(c -> !keep.contains(c));
    }
    int n = sorted.size();
    if (n == 0) {
      return Plan.empty(epoch, model, layers);
    }
    int[] cap = new int[n];
    double[] speed = new double[n];
    long capSum = 0;
    for (int i = 0; i < n; i++) {
      WorkerCapacity c = sorted.get(i).capacity();
      cap[i] = bytesPerLayer <= 0 ? layers : (int) Math.min(layers, c.freeMemoryBytes() / bytesPerLayer);
      speed[i] = c.layersPerSecond();
      capSum += cap[i];
    }
    if (capSum < layers) {
      return Plan.empty(epoch, model, layers);
    }
    int[] counts = distribute(layers, speed, cap);
    List<StageAssignment> stages = new ArrayList<>();
    int start = 0;
    for (int i = 0; i < n; i++) {
      if (counts[i] == 0) {
        continue;
      }
      Candidate c = sorted.get(i);
      stages.add(new StageAssignment(stages.size(), c.uuid(), c.grpcAddress(), start, start + counts[i]));
      start += counts[i];
    }
    return new Plan(epoch, model, layers, stages);
  }

  /** Layer counts proportional to speed, each within its cap, at least one each where possible, summing to {@code layers}. */
  static int[] distribute(int layers, double[] speed, int[] cap) {
    int n = speed.length;
    // water-filling: share the layers by speed; a worker whose share passes its cap gets its cap, the rest is reshared
    double[] ideal = new double[n];
    boolean[] fixed = new boolean[n];
    double left = layers;
    boolean capped = true;
    while (capped) {
      capped = false;
      double total = 0;
      for (int i = 0; i < n; i++) {
        total += fixed[i] ? 0 : speed[i];
      }
      for (int i = 0; i < n && !capped; i++) {
        if (!fixed[i] && left * speed[i] / total > cap[i]) {
          ideal[i] = cap[i];
          fixed[i] = true;
          left -= cap[i];
          capped = true;
        }
      }
      if (!capped) {
        for (int i = 0; i < n; i++) {
          if (!fixed[i]) {
            ideal[i] = left * speed[i] / total;
          }
        }
      }
    }
    // whole layers: floors, then the largest remainders
    int[] counts = new int[n];
    int assigned = 0;
    for (int i = 0; i < n; i++) {
      counts[i] = (int) Math.floor(ideal[i] + 1e-9);
      assigned += counts[i];
    }
    while (assigned < layers) {
      int best = -1;
      for (int i = 0; i < n; i++) {
        if (counts[i] < cap[i] && (best < 0 || ideal[i] - counts[i] > ideal[best] - counts[best])) {
          best = i;
        }
      }
      counts[best]++;
      assigned++;
    }
    // every worker that can hold a layer runs at least one, taken from the largest share
    for (int i = 0; i < n; i++) {
      if (counts[i] == 0 && cap[i] > 0) {
        int donor = -1;
        for (int j = 0; j < n; j++) {
          if (counts[j] > 1 && (donor < 0 || counts[j] > counts[donor])) {
            donor = j;
          }
        }
        if (donor >= 0) {
          counts[donor]--;
          counts[i]++;
        }
      }
    }
    return counts;
  }
}
