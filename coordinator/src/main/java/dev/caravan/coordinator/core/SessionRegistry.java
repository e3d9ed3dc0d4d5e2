package dev.caravan.coordinator.core;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The sessions whose KV caches the workers keep between turns, and the report of where every cache lives.
 *
 * <ul>
 *   <li><b>Prefix reuse</b>: a session's next turn reuses the longest common prefix of its new prompt and the tokens
 *       the workers hold for it, if they hold them under the plan serving now; at least the last prompt token is
 *       recomputed, for its logits.
 *   <li><b>Idle expiry</b>: a kept cache unused for longer than the idle time is freed.
 *   <li><b>Placement reporting</b>: changes are collected and published to the {@link KvPlacementSink} in batches, at
 *       most once per flush interval while requests run, and at once when a request ends.
 * </ul>
 *
 * <p>Cache keys: {@code "s:" + session id} for a session, {@code "r:" + request number} for a one-off request. Owned by
 * the core's thread; no locks.
 */
public final class SessionRegistry {
  /** How often idle sessions are looked for. */
  private static final long SWEEP_NANOS = 1_000_000_000L;

  /** A session between turns (or busy with one): the tokens the workers hold for it, under which plan. */
  private record Kept(long epoch, int[] tokens, long lastUsedNanos, boolean busy) {}

  /**
   * How a session's turn starts.
   *
   * @param cachedTokens  leading prompt tokens whose KV the workers already hold
   * @param boundEpoch    the plan those tokens are held under (-1: none, bind to the serving plan on admission)
   * @param staleEpoch    a plan under which an older cache of this session must be freed first (-1: none)
   */
  public record Turn(String cacheKey, int cachedTokens, long boundEpoch, long staleEpoch) {}

  /** A cache to free on the workers, and the positions it holds. */
  public record Release(String cacheKey, long epoch, int positions) {}

  private final Map<String, Kept> sessions = new HashMap<>();
  private final KvPlacementSink sink;
  private final long idleNanos;
  private final long flushIntervalNanos;
  private final Map<String, KvPlacementSink.Held> changed = new LinkedHashMap<>();
  private final Set<String> removed = new LinkedHashSet<>();
  private long nextSweepNanos;
  private long nextFlushNanos;

  public SessionRegistry(KvPlacementSink sink, long idleNanos, long flushIntervalNanos) {
    this.sink = sink;
    this.idleNanos = idleNanos;
    this.flushIntervalNanos = flushIntervalNanos;
  }

  public static String sessionKey(String sessionId) {
    return "s:" + sessionId;
  }

  public static String requestKey(long requestId) {
    return "r:" + requestId;
  }

  /**
   * Starts a turn of {@code sessionId} with {@code prompt}, marking the session busy.
   *
   * @throws GenerationException FAILED_PRECONDITION when the session is already generating
   */
  public Turn begin(String sessionId, int[] prompt, long servingEpoch, long nowNanos) {
    String key = sessionKey(sessionId);
    Kept kept = sessions.get(sessionId);
    if (kept != null && kept.busy()) {
      throw new GenerationException(GenerationError.Kind.FAILED_PRECONDITION, "session " + sessionId + " is already generating; wait for its current request to end");
    }
    int cached = 0;
    long bound = -1;
    long stale = -1;
    if (kept != null && kept.epoch() >= 0 && kept.epoch() == servingEpoch) {
      int lcp = 0;
      while (lcp < kept.tokens().length && lcp < prompt.length && kept.tokens()[lcp] == prompt[lcp]) {
        lcp++;
      }
      cached = Math.min(lcp, prompt.length - 1);
      bound = kept.epoch();
    } else if (kept != null && kept.epoch() >= 0) {
      stale = kept.epoch(); // the plan changed: the old cache is of no use
    }
    sessions.put(sessionId, new Kept(bound, new int[0], nowNanos, true));
    return new Turn(key, cached, bound, stale);
  }

  /** The turn was refused before it ran (queue full): the session is forgotten. */
  public void abandon(String sessionId) {
    sessions.remove(sessionId);
  }

  /** The turn ended well: the workers keep {@code tokens} for the session under {@code epoch}. */
  public void keep(String sessionId, long epoch, int[] tokens, long nowNanos) {
    sessions.put(sessionId, new Kept(epoch, tokens, nowNanos, false));
    held(sessionKey(sessionId), epoch, tokens.length);
  }

  /** The turn failed or was cancelled: nothing of the session is kept. */
  public void forget(String sessionId) {
    sessions.remove(sessionId);
  }

  /** Sessions kept (busy or idle). */
  public int size() {
    return sessions.size();
  }

  /** The cache of idle sessions unused for longer than the idle time (looked for at most once a second). */
  public List<Release> expireIdle(long nowNanos) {
    if (nowNanos < nextSweepNanos) {
      return List.of();
    }
    nextSweepNanos = nowNanos + SWEEP_NANOS;
    List<Release> out = new ArrayList<>();
    for (Iterator<Map.Entry<String, Kept>> it = sessions.entrySet().iterator(); it.hasNext(); ) {
      Map.Entry<String, Kept> e = it.next();
      Kept k = e.getValue();
      if (!k.busy() && nowNanos - k.lastUsedNanos() > idleNanos) {
        it.remove();
        String key = sessionKey(e.getKey());
        gone(key);
        if (k.epoch() >= 0) {
          out.add(new Release(key, k.epoch(), k.tokens().length));
        }
      }
    }
    return out;
  }

  /** KV blocks the idle sessions kept on plan {@code epoch} hold on each stage. */
  public int blocksHeld(long epoch) {
    long n = 0;
    for (Kept k : sessions.values()) {
      if (!k.busy() && k.epoch() == epoch) {
        n += dev.caravan.coordinator.scheduler.Scheduler.kvBlocks(k.tokens().length);
      }
    }
    return (int) Math.min(Integer.MAX_VALUE, n);
  }

  /** Gives up the idle session on plan {@code epoch} unused the longest (its cache is to be freed), or null when none. */
  public Release evictOldestIdle(long epoch) {
    Map.Entry<String, Kept> oldest = null;
    for (Map.Entry<String, Kept> e : sessions.entrySet()) {
      if (!e.getValue().busy() && e.getValue().epoch() == epoch && (oldest == null || e.getValue().lastUsedNanos() < oldest.getValue().lastUsedNanos())) {
        oldest = e;
      }
    }
    if (oldest == null) {
      return null;
    }
    sessions.remove(oldest.getKey());
    String key = sessionKey(oldest.getKey());
    gone(key);
    return new Release(key, oldest.getValue().epoch(), oldest.getValue().tokens().length);
  }

  /** Idle sessions kept on plan {@code epoch} are dropped (that plan lost a stage: their caches are gone). */
  public void dropEpoch(long epoch) {
    dropIf(k -> k.epoch() == epoch);
  }

  /** Idle sessions kept on plans below {@code epoch} are dropped (the plans are retired; a later turn recomputes). */
  public void retireBelow(long epoch) {
    dropIf(k -> k.epoch() >= 0 && k.epoch() < epoch);
  }

  private void dropIf(java.util.function.Predicate<Kept> which) {
    for (Iterator<Map.Entry<String, Kept>> it = sessions.entrySet().iterator(); it.hasNext(); ) {
      Map.Entry<String, Kept> e = it.next();
      if (!e.getValue().busy() && which.test(e.getValue())) {
        it.remove();
        gone(sessionKey(e.getKey()));
      }
    }
  }

  // ---- placement reporting ---------------------------------------------------------------------------------------

  /** The cache {@code key} now holds {@code tokens} positions on every stage of plan {@code epoch}. */
  public void held(String key, long epoch, int tokens) {
    if (epoch < 0) {
      return;
    }
    removed.remove(key);
    changed.put(key, new KvPlacementSink.Held(key, epoch, tokens));
  }

  /** The cache {@code key} is gone. */
  public void gone(String key) {
    changed.remove(key);
    removed.add(key);
  }

  /** Publishes the changes collected so far when the flush interval has passed, or at once with {@code now}. */
  public void flush(long nowNanos, boolean now) {
    if (changed.isEmpty() && removed.isEmpty() || !now && nowNanos < nextFlushNanos) {
      return;
    }
    nextFlushNanos = nowNanos + flushIntervalNanos;
    List<KvPlacementSink.Held> held = List.copyOf(changed.values());
    Collection<String> gone = List.copyOf(removed);
    changed.clear();
    removed.clear();
    sink.publish(held, gone);
  }

  /** Changes not yet published (for tests and metrics). */
  public int pendingChanges() {
    return changed.size() + removed.size();
  }
}
