package dev.caravan.cluster;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Splits a model's layers into contiguous ranges over workers, in proportion to each worker's speed and never past
 * what its memory holds. Pure: same inputs, same plan.
 */
public final class Planner {

  /** A worker the planner may use. {@code order} fixes the pipeline order (e.g. join order). */
  public record Candidate(String uuid, String grpcAddress, WorkerCapacity capacity, long order) {}

  private Planner() {}

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
