package dev.caravan.cluster;

import java.io.Serializable;
import java.util.List;
import java.util.Optional;

/**
 * The layer plan of one model: contiguous layer ranges over live workers, in pipeline order, versioned by an epoch
 * that grows with every change. Stored in Hazelcast ({@link ClusterNames#PLANS}) so every member sees the same plan.
 *
 * @param epoch   grows by one with every new plan of this model
 * @param model   model id
 * @param layers  layers of the model
 * @param stages  stages in pipeline order; together they cover [0, layers) exactly
 */
public record Plan(long epoch, String model, int layers, List<StageAssignment> stages) implements Serializable {

  public Plan {
    stages = List.copyOf(stages);
    int next = 0;
    for (int i = 0; i < stages.size(); i++) {
      StageAssignment s = stages.get(i);
      if (s.index() != i || s.layerStart() != next || s.layerEnd() <= s.layerStart()) {
        throw new IllegalArgumentException("plan stages must be contiguous and in order: " + stages);
      }
      next = s.layerEnd();
    }
    if (!stages.isEmpty() && next != layers) {
      throw new IllegalArgumentException("plan covers layers [0, " + next + ") of " + layers);
    }
  }

  /** A plan with no workers: nothing can run. */
  public static Plan empty(long epoch, String model, int layers) {
    return new Plan(epoch, model, layers, List.of());
  }

  /** The same stages under another epoch (a plan is computed first and numbered when it is stored). */
  public Plan withEpoch(long newEpoch) {
    return new Plan(newEpoch, model, layers, stages);
  }

  public boolean isEmpty() {
    return stages.isEmpty();
  }

  public Optional<StageAssignment> stageOf(String workerUuid) {
    return stages.stream().filter(s -> s.workerUuid().equals(workerUuid)).findFirst();
  }

  public boolean involves(String workerUuid) {
    return stageOf(workerUuid).isPresent();
  }

  /** Same workers with the same ranges, ignoring the epoch. */
  public boolean sameLayoutAs(Plan other) {
    return other != null && other.model.equals(model) && other.stages.equals(stages);
  }

  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder("plan #" + epoch + " of " + model + ":");
    for (StageAssignment s : stages) {
      sb.append(" [").append(s.layerStart()).append(',').append(s.layerEnd()).append(")@").append(s.grpcAddress());
    }
    return stages.isEmpty() ? sb.append(" no workers").toString() : sb.toString();
  }
}
