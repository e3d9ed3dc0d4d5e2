package dev.caravan.coordinator.pipeline;

import dev.caravan.cluster.Plan;
import java.util.Collections;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.UnaryOperator;

/**
 * The one owner of plan state in the coordinator process: which plan is newest, which one new requests use, every plan
 * still in use by epoch, and which workers are draining. The state is one immutable {@link Snapshot} behind an
 * {@link AtomicReference}, so readers on any thread (gRPC, the serving core, the pipeline transport) see a consistent
 * whole without locks, and a change is published all at once.
 *
 * <p>Only {@link PlanManager} changes it ({@link #update}, package-private); everyone else reads. No Hazelcast in here:
 * the cluster side of plans is PlanManager's business.
 */
public final class PlanBook {

  /**
   * One consistent state of the plans.
   *
   * @param latest           the newest plan (possibly still loading, possibly empty), or null before the first one
   * @param serving          the plan new requests use, or null when none can serve
   * @param byEpoch          every plan not yet retired, by epoch, in epoch order (unmodifiable); holds latest and serving
   * @param drainingWorkers  uuids of the workers asked to leave (unmodifiable)
   */
  public record Snapshot(Plan latest, Plan serving, Map<Long, Plan> byEpoch, Set<String> drainingWorkers) {
    /** No plans yet. */
    public static final Snapshot EMPTY = new Snapshot(null, null, Map.of(), Set.of());

    public Snapshot {
      byEpoch = Collections.unmodifiableNavigableMap(new TreeMap<>(byEpoch));
      drainingWorkers = Set.copyOf(drainingWorkers);
      if (latest != null && !latest.equals(byEpoch.get(latest.epoch()))) {
        throw new IllegalArgumentException("the latest plan #" + latest.epoch() + " is not among the plans by epoch");
      }
      if (serving != null && !serving.equals(byEpoch.get(serving.epoch()))) {
        throw new IllegalArgumentException("the serving plan #" + serving.epoch() + " is not among the plans by epoch");
      }
    }

    /** {@code plan} is the newest plan and is kept by its epoch; the serving plan stays. */
    public Snapshot withLatest(Plan plan) {
      NavigableMap<Long, Plan> plans = new TreeMap<>(byEpoch);
      plans.put(plan.epoch(), plan);
      // a serving plan replaced under its own epoch (cannot happen with growing epochs) would otherwise dangle
      Plan s = serving != null && plans.get(serving.epoch()).equals(serving) ? serving : null;
      return new Snapshot(plan, s, plans, drainingWorkers);
    }

    /** New requests use {@code plan} (one of {@link #byEpoch}), or none when null. */
    public Snapshot withServing(Plan plan) {
      return new Snapshot(latest, plan, byEpoch, drainingWorkers);
    }

    public Snapshot withDraining(Set<String> workers) {
      return new Snapshot(latest, serving, byEpoch, workers);
    }

    /** Drops the plans below {@code epoch}; the latest and the serving plan are kept whatever their epoch. */
    public Snapshot retireBelow(long epoch) {
      NavigableMap<Long, Plan> plans = new TreeMap<>(byEpoch);
      plans.headMap(epoch, false).keySet().removeIf(e -> (latest == null || e != latest.epoch()) && (serving == null || e != serving.epoch()));
      return new Snapshot(latest, serving, plans, drainingWorkers);
    }

    /** The smallest epoch kept, or Long.MAX_VALUE when there is none. */
    public long oldestEpoch() {
      return byEpoch.isEmpty() ? Long.MAX_VALUE : ((NavigableMap<Long, Plan>) byEpoch).firstKey();
    }
  }

  private final AtomicReference<Snapshot> state = new AtomicReference<>(Snapshot.EMPTY);

  /** The whole state at one instant: read it once when several fields must agree (e.g. latest == serving). */
  public Snapshot snapshot() {
    return state.get();
  }

  /** The plan of {@code epoch}, or null when it is unknown or retired. */
  public Plan plan(long epoch) {
    return state.get().byEpoch().get(epoch);
  }

  /** The plan new requests use, or null. */
  public Plan serving() {
    return state.get().serving();
  }

  /** The newest plan (possibly still loading), or null. */
  public Plan latest() {
    return state.get().latest();
  }

  public boolean isDraining(String workerUuid) {
    return state.get().drainingWorkers().contains(workerUuid);
  }

  /**
   * Replaces the state with {@code change} applied to it, atomically, and returns the new state. {@code change} may run
   * more than once (compare-and-set), so it must be a pure function of its argument. Only {@link PlanManager} calls this.
   */
  Snapshot update(UnaryOperator<Snapshot> change) {
    return state.updateAndGet(change);
  }
}
