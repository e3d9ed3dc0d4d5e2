package dev.caravan.coordinator.scheduler;

/**
 * Limits of the continuous-batching scheduler.
 *
 * @param maxRunning     sequences generating at once (each holds a KV cache on every stage)
 * @param maxWaiting     sequences queued for a slot; beyond this new requests are refused
 * @param maxBatchTokens tokens in one batch: decode tokens first, then prompt chunks (chunked prefill)
 * @param maxInFlight    batches in the pipeline at once (as many as stages fills the pipeline)
 */
public record SchedulerConfig(int maxRunning, int maxWaiting, int maxBatchTokens, int maxInFlight) {

  public SchedulerConfig {
    if (maxRunning < 1 || maxWaiting < 0 || maxBatchTokens < 1 || maxInFlight < 1) {
      throw new IllegalArgumentException("scheduler limits must be positive: " + maxRunning + "/" + maxWaiting + "/" + maxBatchTokens + "/" + maxInFlight);
    }
  }

  public SchedulerConfig withMaxInFlight(int n) {
    return new SchedulerConfig(maxRunning, maxWaiting, maxBatchTokens, Math.max(1, n));
  }
}
