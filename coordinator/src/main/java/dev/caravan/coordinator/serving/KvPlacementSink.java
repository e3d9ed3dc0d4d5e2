package dev.caravan.coordinator.serving;

/** Where the serving loop reports KV-cache placement (Hazelcast in a cluster). Calls must not block. */
public interface KvPlacementSink {

  /** The sequence with cache key {@code key} (shown as {@code sessionId}) holds {@code tokens} positions on every stage of plan {@code epoch}. */
  void update(String key, long epoch, int tokens);

  /** The cache is gone. */
  void remove(String key);

  KvPlacementSink NONE = new KvPlacementSink() {
    @Override
    public void update(String key, long epoch, int tokens) {}

    @Override
    public void remove(String key) {}
  };
}
