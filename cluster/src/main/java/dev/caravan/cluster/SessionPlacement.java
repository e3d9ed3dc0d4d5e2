package dev.caravan.cluster;

import com.hazelcast.map.EntryProcessor;
import java.io.Serializable;
import java.util.List;
import java.util.Map;

/**
 * Where one sequence's KV cache lives (by cache key: "s:" + session id, or "r:" + request number): one {@link KvHolding} per stage of the plan it runs on. Kept in Hazelcast
 * ({@link ClusterNames#KV}); changed only through entry processors, so concurrent updates never interleave.
 */
public record SessionPlacement(String cacheKey, long planEpoch, List<KvHolding> holdings, long updatedAtMillis) implements Serializable {

  public SessionPlacement {
    holdings = List.copyOf(holdings);
  }

  /** Positions held (the same on every stage). */
  public int tokens() {
    return holdings.isEmpty() ? 0 : holdings.get(0).tokens();
  }

  public boolean involves(String workerUuid) {
    return holdings.stream().anyMatch(h -> h.workerUuid().equals(workerUuid));
  }

  /** Builds the placement of a session holding {@code tokens} positions on every stage of {@code plan}. */
  public static SessionPlacement on(String cacheKey, Plan plan, int tokens, long nowMillis) {
    return new SessionPlacement(cacheKey, plan.epoch(), plan.stages().stream().map(s -> new KvHolding(s.workerUuid(), s.layerStart(), s.layerEnd(), tokens)).toList(), nowMillis);
  }

  /**
   * Sets the record of a session to {@code placement} unless a newer plan's record is already there: the atomic
   * update the coordinator sends as a session grows.
   */
  public record Update(SessionPlacement placement) implements EntryProcessor<String, SessionPlacement, Boolean>, Serializable {
    @Override
    public Boolean process(Map.Entry<String, SessionPlacement> entry) {
      SessionPlacement old = entry.getValue();
      if (old != null && old.planEpoch() > placement.planEpoch()) {
        return false;
      }
      entry.setValue(placement);
      return true;
    }
  }
}
