package dev.caravan.coordinator.core;

import dev.caravan.coordinator.CoordinatorMetrics;
import dev.caravan.coordinator.scheduler.ScheduledBatch;
import dev.caravan.coordinator.scheduler.Scheduler;
import dev.caravan.coordinator.scheduler.Sequence;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * The serving core, in the shape of vLLM v1's engine core: one thread runs <b>schedule → execute → update</b> over
 * every request, whichever entry point it came from (gRPC, HTTP, {@code caravan run}).
 *
 * <ol>
 *   <li><b>schedule</b>: the {@link Scheduler} (a pure state machine) admits waiting requests and picks the next batch
 *       — as many batches in flight as the pipeline has stages;
 *   <li><b>execute</b>: the {@link BatchExecutor} runs it, in this process or through the shard workers; its answer
 *       comes back through the mailbox;
 *   <li><b>update</b>: the scheduler records the computed positions, the {@link OutputProcessor} samples each token and
 *       streams its text, and the {@link SessionRegistry} keeps or frees KV caches and reports where they live.
 * </ol>
 *
 * <p>Everything here belongs to the thread that calls {@link #step}: other threads talk to the core only through its
 * mailbox ({@link #submit}, {@link Handle#cancel}, the plan calls), so nothing is shared and nothing is locked. Time
 * comes from the injected clock, so a test drives the core with a fake clock and a fake executor, step by step.
 * {@link EngineLoop} runs it on a thread of its own; {@code caravan run} steps it on the caller's thread.
 */
public final class EngineCore {

  /**
   * @param contextLength     the model's context: a sequence ends when it is full
   * @param sessionIdle       a session's KV cache is freed after this long unused
   * @param noPlanGrace       requests wait this long for a plan before failing with UNAVAILABLE
   * @param placementInterval KV placement changes are published at most this often while requests run
   * @param maxFailovers      times a request may lose its plan to a failure and start over on the next one; once
   *                          more and it fails with UNAVAILABLE (planned plan changes do not count)
   */
  public record Settings(int contextLength, Duration sessionIdle, Duration noPlanGrace, Duration placementInterval, int maxFailovers) {}

  /** Running and waiting requests. */
  public record Load(int running, int waiting) {}

  /** A submitted request: cancelling it ends it with that error and frees its resources. */
  public final class Handle {
    private final long id;

    private Handle(long id) {
      this.id = id;
    }

    public long id() {
      return id;
    }

    /** Ends the request with {@code reason} (CANCELLED, DEADLINE_EXCEEDED): safe from any thread, at any time. */
    public void cancel(GenerationError reason) {
      post(() -> EngineCore.this.cancel(id, reason));
    }
  }

  /** One request in progress. */
  private static final class Generation {
    final GenerationRequest request;
    final Sequence sequence;
    final OutputProcessor.Output output;
    GenerationError failure;
    int failovers; // plan losses survived
    String lastLoss; // what the last of them was
    boolean started; // admitted to run at least once (its queue time is recorded)

    Generation(GenerationRequest request, Sequence sequence, OutputProcessor.Output output) {
      this.request = request;
      this.sequence = sequence;
      this.output = output;
    }
  }

  private final Scheduler scheduler;
  private final BatchExecutor executor;
  private final OutputProcessor outputs;
  private final SessionRegistry sessions;
  private final CoordinatorMetrics metrics;
  private final LongSupplier clock;
  private final Settings settings;
  private final LinkedBlockingQueue<Runnable> mailbox = new LinkedBlockingQueue<>();
  private final Map<Long, Generation> generations = new HashMap<>();
  private final Set<Long> cancelledEarly = new HashSet<>(); // cancel() overtook its submit(): refuse it on arrival
  private final Set<Long> brokenEpochs = new HashSet<>(); // plans that lost a stage: nothing runs on them again
  private int kvBlockLimit = Integer.MAX_VALUE; // the serving plan's KV budget, in blocks per stage
  private int releasingBlocks; // KV blocks whose release the workers have not confirmed yet: still held there
  private final AtomicLong ids = new AtomicLong();
  private boolean accepting = true;
  private String unavailableReason = "no plan yet: waiting for workers";
  private long unavailableSinceNanos;

  public EngineCore(Scheduler scheduler, BatchExecutor executor, OutputProcessor outputs, SessionRegistry sessions, CoordinatorMetrics metrics, LongSupplier clock, Settings settings) {
    this.scheduler = scheduler;
    this.executor = executor;
    this.outputs = outputs;
    this.sessions = sessions;
    this.metrics = metrics;
    this.clock = clock;
    this.settings = settings;
    this.unavailableSinceNanos = clock.getAsLong();
  }

  // ---- the mailbox: what other threads may call ------------------------------------------------------------------

  /**
   * A handle for a request not yet submitted: an entry point registers its cancel hook with it first, then calls
   * {@link #submit(Handle, GenerationRequest, GenerationListener)}, so no callback of the request can race the hook.
   */
  public Handle newHandle() {
    return new Handle(ids.incrementAndGet());
  }

  /** Queues a request. Its listener hears everything that follows, on the core's thread. */
  public void submit(Handle handle, GenerationRequest request, GenerationListener listener) {
    post(() -> accept(handle.id, request, listener));
  }

  public Handle submit(GenerationRequest request, GenerationListener listener) {
    Handle h = newHandle();
    submit(h, request, listener);
    return h;
  }

  /** The plan serving new requests changed: its epoch and stage count; -1 with a reason when none can serve. No KV limit. */
  public void setServingPlan(long epoch, int stages, String reason) {
    setServingPlan(epoch, stages, Integer.MAX_VALUE, reason);
  }

  /**
   * The plan serving new requests changed: its epoch, stage count and KV budget ({@code kvBlocks}: the KV blocks the
   * smallest budget among its workers holds; {@code Integer.MAX_VALUE}: none); -1 with a reason when none can serve.
   */
  public void setServingPlan(long epoch, int stages, int kvBlocks, String reason) {
    post(() -> {
      if (epoch >= 0 && !brokenEpochs.contains(epoch)) {
        kvBlockLimit = kvBlocks;
      }
      if (epoch >= 0 && brokenEpochs.contains(epoch)) {
        return; // a plan already known to have lost a stage: keep waiting for the next one
      }
      scheduler.setServingEpoch(epoch);
      if (epoch >= 0) {
        scheduler.setMaxInFlight(stages);
        unavailableReason = null;
      } else {
        if (unavailableReason == null) {
          unavailableSinceNanos = clock.getAsLong();
        }
        unavailableReason = reason;
      }
      metrics.planEpoch.set(epoch);
      metrics.stages.set(epoch >= 0 ? stages : 0);
    });
  }

  /**
   * A stage of plan {@code epoch} was lost (the plan owner saw its worker leave): nothing runs on that plan again. Its
   * requests move to the next plan and start over there (batches still in flight on it move when they fail); its idle
   * sessions go. {@code error} is what a request hears if no plan comes in time.
   */
  public void planLost(long epoch, GenerationError error) {
    post(() -> markBroken(epoch, error));
  }

  /** The oldest plan epoch a running or waiting request is bound to (Long.MAX_VALUE: none); older plans can be retired. */
  public CompletableFuture<Long> oldestEpochInUse() {
    CompletableFuture<Long> f = new CompletableFuture<>();
    post(() -> f.complete(generations.values().stream().mapToLong(g -> g.sequence.epoch()).filter(e -> e >= 0).min().orElse(Long.MAX_VALUE)));
    return f;
  }

  /** Plans below {@code epoch} are retired: idle sessions kept on them are dropped (a later turn recomputes its prompt). */
  public void retireBelow(long epoch) {
    post(() -> sessions.retireBelow(epoch));
  }

  public CompletableFuture<Load> load() {
    CompletableFuture<Load> f = new CompletableFuture<>();
    post(() -> f.complete(new Load(scheduler.runningCount(), scheduler.waitingCount())));
    return f;
  }

  /** New requests are refused with UNAVAILABLE from now on (the coordinator is draining). */
  public void stopAccepting() {
    post(() -> accepting = false);
  }

  private void post(Runnable command) {
    mailbox.add(command);
  }

  // ---- the owner thread ------------------------------------------------------------------------------------------

  /** Waits up to {@code maxWait} for a mailbox command and runs it (an idle core's way to sleep until there is work). */
  public void awaitWork(Duration maxWait) throws InterruptedException {
    Runnable r = mailbox.poll(maxWait.toNanos(), TimeUnit.NANOSECONDS);
    if (r != null) {
      r.run();
    }
  }

  /** Whether requests are open (accepted and not ended). */
  public boolean busy() {
    return !generations.isEmpty() || !mailbox.isEmpty();
  }

  /** One turn of the core: the mailbox, then timers, then schedule → execute. Results arrive through the mailbox. */
  public void step() {
    for (Runnable r; (r = mailbox.poll()) != null; ) {
      r.run();
    }
    long now = clock.getAsLong();
    for (Generation g : generations.values()) {
      if (!g.output.ended() && now > g.request.deadlineNanos() && !g.sequence.finished()) {
        g.failure = GenerationError.of(GenerationError.Kind.DEADLINE_EXCEEDED, "deadline exceeded after " + g.sequence.generated() + " generated tokens");
        g.sequence.finish(Sequence.Finish.CANCELLED);
      }
    }
    if (scheduler.servingEpoch() < 0 && unavailableReason != null && now - unavailableSinceNanos > settings.noPlanGrace().toNanos()) {
      for (Sequence s : scheduler.waiting()) {
        Generation g = generations.get(s.id());
        if (g != null && s.epoch() < 0) {
          String why = g.lastLoss == null || g.lastLoss.equals(unavailableReason) ? unavailableReason : unavailableReason + "; the request had lost its plan: " + g.lastLoss;
          fail(g, GenerationError.of(GenerationError.Kind.UNAVAILABLE, why));
        }
      }
    }
    moveOffOldPlans();
    scheduler.setKvBudget(kvBlockLimit, sessions.blocksHeld(scheduler.servingEpoch()) + releasingBlocks);
    for (SessionRegistry.Release r; scheduler.blockedByKv() && (r = sessions.evictOldestIdle(scheduler.servingEpoch())) != null; ) {
      release(r.epoch(), r.cacheKey(), r.positions()); // a kept session makes room for a request waiting to run
      scheduler.setKvBudget(kvBlockLimit, sessions.blocksHeld(scheduler.servingEpoch()) + releasingBlocks);
    }
    for (Sequence s : scheduler.admit()) {
      sessions.held(s.cacheKey(), s.epoch(), s.computed());
      Generation g = generations.get(s.id());
      if (g != null && !g.started) {
        g.started = true;
        metrics.queueTime.observe((now - s.arrivalNanos()) / 1e9);
      }
    }
    for (ScheduledBatch batch; (batch = scheduler.schedule()) != null; ) {
      execute(batch);
    }
    settleKv();
    end(scheduler.removeFinished());
    for (SessionRegistry.Release r : sessions.expireIdle(now)) {
      release(r.epoch(), r.cacheKey(), r.positions());
    }
    sessions.flush(now, false);
    metrics.requestsRunning.set(scheduler.runningCount());
    metrics.requestsWaiting.set(scheduler.waitingCount());
  }

  /** Ends every open request with {@code error} (the core is stopping). */
  public void shutdown(GenerationError error) {
    for (Runnable r; (r = mailbox.poll()) != null; ) {
      r.run();
    }
    for (Generation g : new ArrayList<>(generations.values())) {
      g.failure = g.failure != null ? g.failure : error;
      end(g);
    }
  }

  private void execute(ScheduledBatch batch) {
    metrics.batchTokens.observe(batch.tokens());
    CompletableFuture<float[]> result;
    try {
      result = executor.execute(batch);
    } catch (RuntimeException e) {
      result = CompletableFuture.failedFuture(e);
    }
    result.whenComplete((logits, error) -> post(() -> completed(batch, logits, error)));
  }

  private void accept(long id, GenerationRequest r, GenerationListener listener) {
    try {
      admitRequest(id, r, listener);
    } catch (Throwable t) { // a request that cannot even be taken in must not stop the core
      refuse(listener, GenerationError.of(GenerationError.Kind.INTERNAL, "the request could not be accepted: " + t));
    }
  }

  private void admitRequest(long id, GenerationRequest r, GenerationListener listener) {
    long now = clock.getAsLong();
    if (cancelledEarly.remove(id)) {
      refuse(listener, GenerationError.of(GenerationError.Kind.CANCELLED, "the request was cancelled before it started"));
      return;
    }
    if (!accepting) {
      refuse(listener, GenerationError.of(GenerationError.Kind.UNAVAILABLE, "the coordinator is draining and takes no new requests"));
      return;
    }
    String key = SessionRegistry.requestKey(id);
    int cached = 0;
    long bound = -1;
    if (r.sessionId() != null) {
      SessionRegistry.Turn turn;
      try {
        turn = sessions.begin(r.sessionId(), r.prompt(), scheduler.servingEpoch(), now);
      } catch (GenerationException e) {
        refuse(listener, e.error());
        return;
      }
      if (turn.staleEpoch() >= 0) {
        executor.release(turn.staleEpoch(), List.of(turn.cacheKey()));
      }
      key = turn.cacheKey();
      cached = turn.cachedTokens();
      bound = turn.boundEpoch();
    }
    Sequence seq = new Sequence(id, key, r.prompt(), cached, r.maxTokens(), settings.contextLength(), r.ignoreEos(), now);
    if (bound >= 0) {
      seq.bind(bound);
    }
    if (!scheduler.add(seq)) {
      if (r.sessionId() != null) {
        sessions.abandon(r.sessionId());
      }
      refuse(listener, GenerationError.of(GenerationError.Kind.RESOURCE_EXHAUSTED, "the queue is full (" + scheduler.waitingCount() + " requests waiting); retry later"));
      return;
    }
    generations.put(id, new Generation(r, seq, outputs.open(r, listener, now)));
    metrics.promptTokens.inc(r.prompt().length);
    metrics.promptTokensCached.inc(cached);
    metrics.promptTokensComputed.inc(r.prompt().length - cached);
  }

  private void refuse(GenerationListener listener, GenerationError error) {
    metrics.requestErrors.labelValues(error.kind().name()).inc();
    listener.onError(error);
  }

  private void cancel(long id, GenerationError reason) {
    Generation g = generations.get(id);
    if (g == null) {
      if (id > 0 && id <= ids.get() && cancelledEarly.size() < 10_000) {
        cancelledEarly.add(id); // not accepted yet (or already ended: then the entry is never looked up again)
      }
      return;
    }
    if (!g.output.ended() && !g.sequence.finished()) {
      g.failure = reason;
      g.sequence.finish(Sequence.Finish.CANCELLED);
    }
  }

  private void fail(Generation g, GenerationError error) {
    if (g.failure == null) {
      g.failure = error;
    }
    g.sequence.finish(Sequence.Finish.FAILED);
  }

  /** A batch came back: sample, stream, record, end what finished. */
  private void completed(ScheduledBatch batch, float[] logits, Throwable error) {
    if (error != null) {
      Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
      GenerationError e = cause instanceof GenerationException ge ? ge.error() : GenerationError.of(GenerationError.Kind.INTERNAL, "batch " + batch.id() + " failed: " + cause);
      List<Sequence> idle = scheduler.abandon(batch);
      if (e.kind() == GenerationError.Kind.UNAVAILABLE) {
        markBroken(batch.epoch(), e); // a stage is gone or hung: its sequences move to the next plan (moveOffOldPlans)
      } else if (e.kind() == GenerationError.Kind.FAILED_PRECONDITION || e.kind() == GenerationError.Kind.RESOURCE_EXHAUSTED) {
        // a stage no longer holds a cache it should, or its KV budget is full for now (caches still being freed):
        // recomputing the sequence from position 0, later, mends it
        List<Sequence> again = new ArrayList<>();
        for (Sequence s : idle) {
          Generation g = generations.get(s.id());
          if (g != null && !s.finished() && failover(g, e)) {
            again.add(s);
          }
        }
        migrate(again, "failure");
      } else {
        for (Sequence s : idle) {
          Generation g = generations.get(s.id());
          if (g != null) {
            fail(g, e);
          }
        }
      }
      end(scheduler.removeFinished());
      return;
    }
    int vocab = outputs.vocabSize();
    int[] sampled = new int[batch.logitsRows()]; // (logits rows) the token drawn for each chunk that wanted logits
    boolean[] endOfGeneration = new boolean[sampled.length];
    int row = 0;
    for (ScheduledBatch.Chunk c : batch.chunks()) {
      if (c.logits()) {
        Generation g = generations.get(c.sequence().id());
        try {
          sampled[row] = g.output.sample(logits, row * vocab);
          endOfGeneration[row] = outputs.isEndOfGeneration(sampled[row]);
        } catch (Throwable t) { // one request's failure (even an Error) must not stop the others
          fail(g, GenerationError.of(GenerationError.Kind.INTERNAL, "sampling failed: " + t));
        }
        row++;
      }
    }
    List<Sequence> done = new ArrayList<>(scheduler.update(batch, sampled, endOfGeneration));
    long now = clock.getAsLong();
    row = 0;
    for (ScheduledBatch.Chunk c : batch.chunks()) {
      Generation g = generations.get(c.sequence().id());
      if (c.logits()) {
        try {
          if (g.failure == null && c.sequence().finish() != Sequence.Finish.CANCELLED && g.output.emit(sampled[row], endOfGeneration[row], now)) {
            c.sequence().finish(Sequence.Finish.STOP_STRING);
          }
        } catch (Throwable t) {
          fail(g, GenerationError.of(GenerationError.Kind.INTERNAL, "streaming the output failed: " + t));
        }
        row++;
      }
      sessions.held(c.sequence().cacheKey(), c.sequence().epoch(), c.sequence().computed());
    }
    done.addAll(scheduler.removeFinished());
    end(done);
  }

  /**
   * Plan {@code epoch} lost a stage: no new batch goes to it, it no longer serves new requests (until the plan owner
   * names another), and its idle sessions are dropped. Its running sequences move in {@link #moveOffOldPlans}.
   */
  private void markBroken(long epoch, GenerationError error) {
    if (epoch < 0 || !brokenEpochs.add(epoch)) {
      return;
    }
    if (scheduler.servingEpoch() == epoch) {
      scheduler.setServingEpoch(-1);
      unavailableReason = error.message();
      unavailableSinceNanos = clock.getAsLong();
      metrics.planEpoch.set(-1);
    }
    sessions.dropEpoch(epoch);
  }

  /**
   * Sequences on a plan that lost a stage, or on a plan older than the serving one (a planned change: a worker joined,
   * left or drains), move to the head of the queue and start over on the serving plan: the client hears nothing but a
   * pause, and the tokens stay those of an undisturbed run (the sampler's state never leaves the core).
   */
  private void moveOffOldPlans() {
    long serving = scheduler.servingEpoch();
    List<Sequence> lost = new ArrayList<>();
    List<Sequence> planned = new ArrayList<>();
    for (Sequence s : scheduler.running()) {
      if (s.inFlight() || s.finished() || s.epoch() < 0) {
        continue;
      }
      Generation g = generations.get(s.id());
      if (brokenEpochs.contains(s.epoch())) {
        if (g != null && failover(g, GenerationError.of(GenerationError.Kind.UNAVAILABLE, unavailableReason != null ? unavailableReason : "plan #" + s.epoch() + " lost a stage"))) {
          lost.add(s);
        }
      } else if (serving >= 0 && s.epoch() < serving) {
        planned.add(s);
      }
    }
    migrate(lost, "failure");
    migrate(planned, "plan_change");
  }

  /** Frees a cache on the workers; its blocks count as held until they confirm. */
  private void release(long epoch, String cacheKey, int positions) {
    int blocks = Scheduler.kvBlocks(positions);
    releasingBlocks += blocks;
    CompletableFuture<Void> done;
    try {
      done = executor.release(epoch, List.of(cacheKey));
    } catch (RuntimeException e) {
      done = CompletableFuture.completedFuture(null);
    }
    done.whenComplete((v, e) -> post(() -> releasingBlocks -= blocks));
  }

  /** Requests preempted for KV room are moved like a migration; those too large for the budget fail. */
  private void settleKv() {
    for (Scheduler.Preemption p : scheduler.takePreempted()) {
      if (p.epoch() >= 0 && !brokenEpochs.contains(p.epoch())) {
        release(p.epoch(), p.sequence().cacheKey(), p.positions());
      }
      sessions.gone(p.sequence().cacheKey());
      metrics.migrations.labelValues("preempted").inc();
      metrics.recomputedTokens.inc(p.positions());
    }
    for (Sequence s : scheduler.takeTooLarge()) {
      Generation g = generations.get(s.id());
      if (g != null) {
        fail(g, GenerationError.of(GenerationError.Kind.RESOURCE_EXHAUSTED, "the request needs " + Scheduler.kvBlocks(s.length()) + " KV blocks of " + Scheduler.KV_BLOCK_TOKENS
            + " positions on every stage, more than the serving plan's KV budget of " + kvBlockLimit + " blocks (the smallest --kv-budget among its workers)"));
        end(g); // no longer in the scheduler: end it here
      }
    }
  }

  /** Counts a plan loss against the request's limit; false (and the request failed) once it is used up. */
  private boolean failover(Generation g, GenerationError cause) {
    if (g.failovers >= settings.maxFailovers()) {
      fail(g, GenerationError.of(GenerationError.Kind.UNAVAILABLE, "lost its plan " + (g.failovers + 1) + " times (at most " + settings.maxFailovers() + " are survived); last: " + cause.message()));
      return false;
    }
    g.failovers++;
    g.lastLoss = cause.message();
    return true;
  }

  private void migrate(List<Sequence> moving, String reason) {
    if (moving.isEmpty()) {
      return;
    }
    for (Sequence s : moving) {
      if (s.epoch() >= 0 && !brokenEpochs.contains(s.epoch())) {
        release(s.epoch(), s.cacheKey(), s.computed()); // the plan lives on: free what it holds for the sequence
      }
      sessions.gone(s.cacheKey());
      metrics.migrations.labelValues(reason).inc();
      metrics.recomputedTokens.inc(s.computed());
    }
    scheduler.migrate(moving);
  }

  private void end(List<Sequence> done) {
    for (Sequence s : done) {
      Generation g = generations.get(s.id());
      if (g != null) {
        end(g);
      }
    }
  }

  /** Ends a generation: its KV cache kept for the session or freed, the placement published, the final output. */
  private void end(Generation g) {
    if (generations.remove(g.sequence.id()) == null) {
      return;
    }
    Sequence s = g.sequence;
    long now = clock.getAsLong();
    boolean ok = g.failure == null && s.finish() != Sequence.Finish.FAILED && s.finish() != Sequence.Finish.CANCELLED;
    String sessionId = g.request.sessionId();
    if (ok && sessionId != null && s.epoch() >= 0) {
      sessions.keep(sessionId, s.epoch(), s.computedTokens(), now);
    } else {
      if (sessionId != null) {
        sessions.forget(sessionId);
      }
      if (s.epoch() >= 0) {
        release(s.epoch(), s.cacheKey(), s.computed());
      }
      sessions.gone(s.cacheKey());
    }
    sessions.flush(now, true); // so ClusterStatus is exact once the client has heard the end
    if (ok) {
      g.output.complete(s, now);
    } else {
      g.output.fail(g.failure != null ? g.failure : GenerationError.of(GenerationError.Kind.CANCELLED, "request cancelled"), now);
    }
  }
}
