package dev.caravan.coordinator.pipeline;

import dev.caravan.cluster.Plan;
import java.util.concurrent.CompletableFuture;

/**
 * What the plan owner ({@link PlanManager}) tells the serving core. Calls come from PlanManager's single event
 * thread, in order. Implementations must not block (they post to their own thread).
 */
public interface PlanListener {

  /** New requests should use {@code plan} (null: none can serve, with {@code unavailableReason}). */
  void servingPlanChanged(Plan plan, String unavailableReason);

  /** A stage of plan {@code epoch} was lost: its requests fail (or, later, migrate). {@code message} names the stage and why. */
  void planLost(long epoch, String message);

  /** The oldest plan epoch a running or waiting request is bound to (Long.MAX_VALUE: none). Kept sessions do not hold a plan: retiring it drops them, and their next turn recomputes. */
  CompletableFuture<Long> oldestEpochInUse();

  /** Plans below {@code epoch} are retired: drop sessions kept on them. */
  void retireBelow(long epoch);
}
