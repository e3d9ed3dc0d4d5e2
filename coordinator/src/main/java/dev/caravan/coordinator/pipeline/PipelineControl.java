package dev.caravan.coordinator.pipeline;

/**
 * What the plan owner ({@link PlanManager}) tells the transport to the workers. Calls come from PlanManager's single
 * event thread, in order. The plans themselves are read from {@link PlanBook}: when {@link #retireBelow} is called the
 * retired plans are still there, and PlanManager drops them from the book right after.
 */
public interface PipelineControl {

  /** A worker left: fail every batch in flight on a plan that used it. */
  void workerLost(String workerUuid, String why);

  /** Release plans below {@code epoch} on their workers and close their links. */
  void retireBelow(long epoch);
}
