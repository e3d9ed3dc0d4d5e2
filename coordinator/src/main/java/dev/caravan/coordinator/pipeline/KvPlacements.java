package dev.caravan.coordinator.pipeline;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import dev.caravan.cluster.ClusterNames;
import dev.caravan.cluster.Plan;
import dev.caravan.cluster.SessionPlacement;
import dev.caravan.coordinator.core.KvPlacementSink;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * KV-cache placement in Hazelcast ({@link ClusterNames#KV}): for every live sequence, which worker holds its cache for
 * which layers and how many positions. The serving core reports changes in batches ({@link #publish}, once per step);
 * each batch becomes one asynchronous entry-processor call for its updates and one for its removals, never one call
 * per token.
 *
 * <p>Batches are sent one after another: while one is on its way, later ones are merged into the next (newest state per
 * key), so a removal can never overtake the update before it and a busy loop causes fewer calls, not more.
 * {@link #snapshot} waits for everything published before it was called, so ClusterStatus is exact once a request has
 * ended.
 */
public final class KvPlacements implements KvPlacementSink {
  private static final Logger LOG = LoggerFactory.getLogger(KvPlacements.class);
  /** How long {@link #snapshot} and {@link #removeWorker} wait for batches on their way. */
  private static final Duration LANDING_WAIT = Duration.ofSeconds(10);


  /** Changes taken together, and what completes when Hazelcast has applied them. */
  private record Batch(List<Held> held, Set<String> removed, CompletableFuture<Void> landed) {}

  private final IMap<String, SessionPlacement> map;
  private final PlanBook plans;
  /** Workers that left: a batch written after their records were removed must not bring them back. */
  private final Set<String> goneWorkers = ConcurrentHashMap.newKeySet();

  private final Object lock = new Object();
  // ---- guarded by lock ----
  /** Changes published while a batch is on its way; a key is in at most one of the two. */
  private Map<String, Held> waitingHeld = new LinkedHashMap<>();
  private Set<String> waitingRemoved = new LinkedHashSet<>();
  /** Completes when the waiting changes have landed. */
  private CompletableFuture<Void> waitingLanded = new CompletableFuture<>();
  /** Completes when the batch on its way has landed; null when none is. */
  private CompletableFuture<Void> inFlight;

  /** @param plans resolves a batch's epochs to their stages (unknown or retired epochs are not recorded) */
  public KvPlacements(HazelcastInstance hz, PlanBook plans) {
    this.map = hz.getMap(ClusterNames.KV);
    this.plans = plans;
  }

  /**
   * Publishes one batch of placement changes: every {@code held} entry is a cache key holding {@code tokens} positions
   * on every stage of plan {@code epoch}; every {@code removed} key is gone (a key in both is removed). Must not block.
   */
  @Override
  public void publish(List<Held> held, Collection<String> removed) {
    Batch batch;
    synchronized (lock) {
      for (Held h : held) {
        waitingRemoved.remove(h.cacheKey());
        // an older plan's report never replaces a newer one's, here as in Hazelcast
        waitingHeld.merge(h.cacheKey(), h, (old, now) -> old.epoch() > now.epoch() ? old : now);
      }
      for (String key : removed) {
        waitingHeld.remove(key);
        waitingRemoved.add(key);
      }
      if (inFlight != null) {
        return; // goes out when the batch on its way lands
      }
      batch = takeWaiting();
    }
    if (batch != null) {
      send(batch);
    }
  }

  /** The waiting changes as the next batch to send (it becomes the one in flight), or null when there are none. */
  private Batch takeWaiting() {
    if (waitingHeld.isEmpty() && waitingRemoved.isEmpty()) {
      inFlight = null;
      return null;
    }
    Batch b = new Batch(List.copyOf(waitingHeld.values()), Set.copyOf(waitingRemoved), waitingLanded);
    waitingHeld = new LinkedHashMap<>();
    waitingRemoved = new LinkedHashSet<>();
    waitingLanded = new CompletableFuture<>();
    inFlight = b.landed();
    return b;
  }

  private void send(Batch batch) {
    List<CompletableFuture<?>> calls = new ArrayList<>(2);
    try {
      long now = System.currentTimeMillis();
      PlanBook.Snapshot book = plans.snapshot();
      Map<String, SessionPlacement> puts = new HashMap<>();
      for (Held h : batch.held()) {
        Plan plan = book.byEpoch().get(h.epoch());
        if (plan != null && !plan.isEmpty() && plan.stages().stream().noneMatch(s -> goneWorkers.contains(s.workerUuid()))) {
          puts.put(h.cacheKey(), SessionPlacement.on(h.cacheKey(), plan, h.tokens(), now));
        }
      }
      if (!puts.isEmpty()) {
        calls.add(landing(map.submitToKeys(puts.keySet(), new SessionPlacement.Apply(puts))));
      }
      if (!batch.removed().isEmpty()) {
        calls.add(landing(map.submitToKeys(batch.removed(), new SessionPlacement.Delete())));
      }
    } catch (RuntimeException e) {
      calls.add(CompletableFuture.failedFuture(e));
    }
    CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new)).whenComplete((ok, error) -> {
      if (error != null) {
        // placement is a view for ClusterStatus; a lost batch is logged, the next report of a key corrects it
        LOG.warn("KV placement batch ({} updates, {} removals) failed: {}", batch.held().size(), batch.removed().size(), error.toString());
      }
      Batch next;
      synchronized (lock) {
        next = takeWaiting();
      }
      batch.landed().complete(null);
      if (next != null) {
        send(next);
      }
    });
  }

  /**
   * A plain future that completes with {@code call}. The callback is registered through Hazelcast's own stage, which
   * runs it off Hazelcast's partition threads; what follows (the next batch) may then call Hazelcast again.
   */
  private static CompletableFuture<Void> landing(CompletionStage<?> call) {
    CompletableFuture<Void> f = new CompletableFuture<>();
    call.whenComplete((r, e) -> {
      if (e != null) {
        f.completeExceptionally(e);
      } else {
        f.complete(null);
      }
    });
    return f;
  }

  /** Waits (bounded) until every change published before this call has landed. */
  private void awaitPublished() {
    CompletableFuture<Void> target;
    synchronized (lock) {
      target = !waitingHeld.isEmpty() || !waitingRemoved.isEmpty() ? waitingLanded : inFlight;
    }
    if (target == null) {
      return;
    }
    try {
      target.get(LANDING_WAIT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException e) {
      LOG.warn("KV placement batches still on their way after {} ms: {}", LANDING_WAIT.toMillis(), e.toString());
    }
  }

  /**
   * Removes every record that involves {@code workerUuid} (it left the cluster; those caches are gone), including any
   * a batch on its way would write. Blocks: call it from a thread that may wait for Hazelcast.
   */
  public void removeWorker(String workerUuid) {
    goneWorkers.add(workerUuid);
    awaitPublished();
    map.removeAll(new SessionPlacement.Involving(workerUuid));
  }

  /** Every record, including every change published before this call. */
  public Collection<SessionPlacement> snapshot() {
    awaitPublished();
    return List.copyOf(map.values());
  }
}
