package dev.caravan.coordinator.core;

import java.util.Collection;
import java.util.List;

/**
 * Where the core reports which KV caches the workers hold (Hazelcast in a cluster, nothing in one process). Reports come
 * in batches — every few milliseconds while requests run, and at once when one ends — never one per token. Calls must
 * not block.
 */
public interface KvPlacementSink {

  /** A cache key holding {@code tokens} positions on every stage of plan {@code epoch}. */
  record Held(String cacheKey, long epoch, int tokens) {}

  /** One batch of changes: caches that grew (or were bound to a plan), and caches that are gone. */
  void publish(List<Held> held, Collection<String> removed);

  KvPlacementSink NONE = (held, removed) -> {};
}
