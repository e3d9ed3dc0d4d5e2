package dev.caravan.coordinator.core;

import dev.caravan.coordinator.scheduler.ScheduledBatch;
import java.util.Collection;
import java.util.concurrent.CompletableFuture;

/**
 * Runs scheduled batches through every layer of the model: in this process ({@link InProcessExecutor}) or through the
 * pipeline of shard workers ({@code PipelineExecutor}). Swappable: the core and the scheduler do not know which.
 */
public interface BatchExecutor extends AutoCloseable {

  /**
   * Runs {@code batch}. Completes with the logits rows of the chunks that want them, in batch order ({@code
   * batch.logitsRows()} x vocab), or exceptionally with a {@link GenerationException} naming what went wrong. The
   * future may complete on any thread, or before this method returns.
   */
  CompletableFuture<float[]> execute(ScheduledBatch batch);

  /**
   * Frees the KV caches of these sequences (cache keys) held under {@code epoch}. Never blocks; the future completes
   * once every stage has freed them (or could not be reached), so KV budgets count them as held until then.
   */
  CompletableFuture<Void> release(long epoch, Collection<String> cacheKeys);

  @Override
  default void close() {}
}
