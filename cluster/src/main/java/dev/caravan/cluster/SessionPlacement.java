package dev.caravan.cluster;

import com.hazelcast.map.EntryProcessor;
import com.hazelcast.query.Predicate;
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
   * Sets the record of every key it is sent to (with {@code submitToKeys}) to that key's entry in {@code placements},
   * unless a newer plan's record is already there: one call carries a whole batch of updates, and each key still
   * changes atomically. Keys it has no placement for are left alone.
   */
  public record Apply(Map<String, SessionPlacement> placements) implements EntryProcessor<String, SessionPlacement, Boolean>, Serializable {
    public Apply {
      placements = Map.copyOf(placements);
    }

    @Override
    public Boolean process(Map.Entry<String, SessionPlacement> entry) {
      SessionPlacement next = placements.get(entry.getKey());
      SessionPlacement old = entry.getValue();
      if (next == null || old != null && old.planEpoch() > next.planEpoch()) {
        return false;
      }
      entry.setValue(next);
      return true;
    }
  }

  /** Deletes the records of the keys it is sent to: the removals of a batch, in one call. */
  public record Delete() implements EntryProcessor<String, SessionPlacement, Boolean>, Serializable {
    @Override
    public Boolean process(Map.Entry<String, SessionPlacement> entry) {
      boolean had = entry.getValue() != null;
      entry.setValue(null);
      return had;
    }
  }

  /** The records that hold cache on {@code workerUuid} (a named class: it travels to the members that evaluate it). */
  public record Involving(String workerUuid) implements Predicate<String, SessionPlacement>, Serializable {
    @Override
    public boolean apply(Map.Entry<String, SessionPlacement> entry) {
      return entry.getValue() != null && entry.getValue().involves(workerUuid);
    }
  }
}
