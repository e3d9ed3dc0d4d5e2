package dev.caravan.coordinator.core;

import dev.caravan.coordinator.scheduler.ScheduledBatch;
import dev.caravan.engine.model.Batch;
import dev.caravan.engine.model.KvCache;
import dev.caravan.engine.model.LayerStack;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * Runs batches in this process through layer stacks held here — one stack for a whole model, or several in a row
 * (the stages of a pipeline without the network). {@code caravan run} serves through it, and tests compare the pipeline
 * against it. It computes on the calling thread, so {@link #execute} returns a completed future.
 */
public final class InProcessExecutor implements BatchExecutor {
  private final LayerStack[] stacks;
  private final Map<String, KvCache[]> caches = new HashMap<>(); // cache key -> one KV cache per stack
  private final int maxCachePositions;

  /** @param maxCachePositions positions each new KV cache is sized for (at most the model's context length) */
  public InProcessExecutor(int maxCachePositions, LayerStack... stacks) {
    if (stacks.length == 0) {
      throw new IllegalArgumentException("an in-process executor needs at least one layer stack");
    }
    this.stacks = stacks.clone();
    this.maxCachePositions = maxCachePositions;
  }

  /** Caches sized for the model's whole context. */
  public InProcessExecutor(LayerStack... stacks) {
    this(stacks[0].config().contextLength(), stacks);
  }

  @Override
  public synchronized CompletableFuture<float[]> execute(ScheduledBatch sb) {
    try {
      float[] hidden = null; // (tokens, dim) between stacks; (logits rows, vocab) after the last
      for (int s = 0; s < stacks.length; s++) {
        Batch batch = new Batch(sb.tokens());
        for (ScheduledBatch.Chunk c : sb.chunks()) {
          KvCache cache = caches.computeIfAbsent(c.sequence().cacheKey(), k -> newCaches())[s];
          if (c.start() < cache.length()) {
            cache.truncate(c.start()); // a new turn reusing only part of the previous one
          }
          for (int i = 0; i < c.count(); i++) {
            batch.add(c.sequence().token(c.start() + i), c.start() + i, cache, c.logits() && i == c.count() - 1);
          }
        }
        float[] out = new float[stacks[s].outputSize(batch)];
        stacks[s].forward(batch, hidden, out);
        hidden = out;
      }
      return CompletableFuture.completedFuture(hidden);
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(new GenerationException(GenerationError.Kind.INTERNAL, "batch " + sb.id() + " failed in process: " + e));
    }
  }

  private KvCache[] newCaches() {
    KvCache[] kv = new KvCache[stacks.length];
    for (int s = 0; s < stacks.length; s++) {
      kv[s] = stacks[s].newCache(maxCachePositions);
    }
    return kv;
  }

  @Override
  public synchronized CompletableFuture<Void> release(long epoch, Collection<String> cacheKeys) {
    cacheKeys.forEach(caches::remove);
    return CompletableFuture.completedFuture(null);
  }

  /** Sequences whose KV caches are held here. */
  public synchronized int cachedSequences() {
    return caches.size();
  }
}
