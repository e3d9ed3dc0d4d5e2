package dev.caravan.coordinator.pipeline;

import dev.caravan.coordinator.scheduler.ScheduledBatch;
import dev.caravan.engine.model.Batch;
import dev.caravan.engine.model.KvCache;
import dev.caravan.engine.model.LayerStack;
import io.grpc.Status;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * Runs batches in this process through stages held here (one stage for a whole model, or several in a row): the
 * single-process executor, and the reference the pipeline is compared against.
 */
public final class LocalExecutor implements BatchExecutor {
  private final LayerStack[] stages;
  private final Map<String, KvCache[]> caches = new HashMap<>();

  public LocalExecutor(LayerStack... stages) {
    this.stages = stages.clone();
  }

  @Override
  public synchronized CompletableFuture<float[]> execute(ScheduledBatch sb) {
    try {
      float[] hidden = null;
      for (int s = 0; s < stages.length; s++) {
        Batch batch = new Batch(sb.tokens());
        for (ScheduledBatch.Chunk c : sb.chunks()) {
          KvCache[] kv = caches.computeIfAbsent(c.sequence().cacheKey(), k -> newCaches());
          KvCache cache = kv[s];
          if (c.start() < cache.length()) {
            cache.truncate(c.start());
          }
          for (int i = 0; i < c.count(); i++) {
            batch.add(c.sequence().token(c.start() + i), c.start() + i, cache, c.logits() && i == c.count() - 1);
          }
        }
        float[] out = new float[stages[s].outputSize(batch)];
        stages[s].forward(batch, hidden, out);
        hidden = out;
      }
      return CompletableFuture.completedFuture(hidden);
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(new StageFailure(Status.Code.INTERNAL, e.getMessage()));
    }
  }

  private KvCache[] newCaches() {
    KvCache[] kv = new KvCache[stages.length];
    for (int s = 0; s < stages.length; s++) {
      kv[s] = stages[s].newCache();
    }
    return kv;
  }

  @Override
  public synchronized void release(long epoch, Collection<String> cacheKeys) {
    cacheKeys.forEach(caches::remove);
  }

  public synchronized int cachedSequences() {
    return caches.size();
  }
}
