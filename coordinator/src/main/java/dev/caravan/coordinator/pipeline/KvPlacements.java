package dev.caravan.coordinator.pipeline;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import com.hazelcast.query.Predicate;
import dev.caravan.cluster.ClusterNames;
import dev.caravan.cluster.Plan;
import dev.caravan.cluster.SessionPlacement;
import dev.caravan.coordinator.core.KvPlacementSink;
import java.util.Collection;
import java.util.Map;
import java.util.function.LongFunction;

/**
 * KV-cache placement in Hazelcast ({@link ClusterNames#KV}): for every live sequence, which worker holds its cache for
 * which layers and how many positions. Updates are asynchronous entry processors — atomic per key, never blocking the
 * serving loop; removal is asynchronous too (same key, same caller thread: applied in order).
 */
public final class KvPlacements implements KvPlacementSink {
  private final IMap<String, SessionPlacement> map;
  private final LongFunction<Plan> plans;

  /** @param plans the plan of an epoch, or null when it is unknown */
  public KvPlacements(HazelcastInstance hz, LongFunction<Plan> plans) {
    this.map = hz.getMap(ClusterNames.KV);
    this.plans = plans;
  }

  @Override
  public void publish(java.util.List<Held> held, Collection<String> removed) {
    long now = System.currentTimeMillis();
    for (Held h : held) {
      Plan plan = plans.apply(h.epoch());
      if (plan != null) {
        map.submitToKey(h.cacheKey(), new SessionPlacement.Update(SessionPlacement.on(h.cacheKey(), plan, h.tokens(), now)));
      }
    }
    removed.forEach(map::removeAsync);
  }

  /** Removes every record that involves {@code workerUuid} (it left the cluster; those caches are gone). */
  public void removeWorker(String workerUuid) {
    map.removeAll(involving(workerUuid));
  }

  private static Predicate<String, SessionPlacement> involving(String workerUuid) {
    return (Predicate<String, SessionPlacement>) entry -> entry.getValue() != null && entry.getValue().involves(workerUuid);
  }

  public Collection<SessionPlacement> snapshot() {
    return map.values();
  }

  public Map<String, SessionPlacement> asMap() {
    return Map.copyOf(map);
  }
}
