package dev.caravan.coordinator.serving;

import dev.caravan.coordinator.CoordinatorMetrics;
import dev.caravan.coordinator.pipeline.BatchExecutor;
import dev.caravan.coordinator.pipeline.StageFailure;
import dev.caravan.coordinator.scheduler.ScheduledBatch;
import dev.caravan.coordinator.scheduler.Scheduler;
import dev.caravan.coordinator.scheduler.Sequence;
import dev.caravan.engine.sampling.Sampler;
import dev.caravan.engine.tokenizer.StreamingDetokenizer;
import dev.caravan.engine.tokenizer.Tokenizer;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The coordinator's engine loop: one thread that owns the {@link Scheduler}, every generation's sampler, detokenizer
 * and stop strings, and the sessions. It admits requests, hands batches to the {@link BatchExecutor} (several in
 * flight when the pipeline has several stages), samples from the logits that come back, streams text to each request's
 * {@link GenerationListener}, and frees KV caches when requests end.
 *
 * <p>Other threads talk to it only through its mailbox ({@link #submit}, {@link Handle#cancel}, plan changes), so no
 * state here is shared.
 */
public final class ServingLoop implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ServingLoop.class);

  /**
   * @param sessionIdle      a session's KV cache is freed after this long unused
   * @param noPlanGrace      requests wait this long for a plan before failing with UNAVAILABLE
   */
  public record Settings(int contextLength, Duration sessionIdle, Duration noPlanGrace) {}

  /** A submitted request: cancel it to free its resources. */
  public interface Handle {
    void cancel(Status status);
  }

  /** A session's KV cache between turns: the tokens the workers hold, under which plan. */
  private record SessionRecord(long epoch, int[] tokens, long lastUsedNanos, boolean busy) {}

  /** One request in progress. */
  private final class Generation implements Handle {
    final GenerationRequest request;
    final GenerationListener listener;
    final Sequence sequence;
    final Sampler sampler;
    final StreamingDetokenizer detokenizer;
    final StopMatcher stops;
    final long acceptedNanos;
    long firstTokenNanos;
    long lastTokenNanos;
    Status failure;
    boolean ended;

    Generation(GenerationRequest request, GenerationListener listener, Sequence sequence, long now) {
      this.request = request;
      this.listener = listener;
      this.sequence = sequence;
      this.sampler = new Sampler(request.sampling());
      // generated text continues the prompt: no start-of-text space stripping
      this.detokenizer = new StreamingDetokenizer(tokenizer, false, false, false);
      this.stops = new StopMatcher(request.stop());
      this.acceptedNanos = now;
    }

    @Override
    public void cancel(Status status) {
      post(() -> {
        if (!ended) {
          failure = failure != null ? failure : status;
          sequence.finish(Sequence.Finish.CANCELLED);
        }
      });
    }
  }

  private final Tokenizer tokenizer;
  private final Scheduler scheduler;
  private final BatchExecutor executor;
  private final KvPlacementSink placement;
  private final CoordinatorMetrics metrics;
  private final LongSupplier clock;
  private final Settings settings;
  private final BlockingQueue<Runnable> mailbox = new LinkedBlockingQueue<>();
  private final Map<Long, Generation> generations = new HashMap<>();
  private final Map<String, SessionRecord> sessions = new HashMap<>();
  private final AtomicLong ids = new AtomicLong();
  private final Thread thread;
  private volatile boolean running = true;
  private volatile boolean accepting = true;
  private String unavailableReason = "no plan yet: waiting for workers";
  private long unavailableSinceNanos;
  private long nextSessionSweepNanos;

  public ServingLoop(Tokenizer tokenizer, Scheduler scheduler, BatchExecutor executor, KvPlacementSink placement, CoordinatorMetrics metrics, LongSupplier clock, Settings settings) {
    this.tokenizer = tokenizer;
    this.scheduler = scheduler;
    this.executor = executor;
    this.placement = placement;
    this.metrics = metrics;
    this.clock = clock;
    this.settings = settings;
    this.unavailableSinceNanos = clock.getAsLong();
    this.thread = new Thread(this::run, "caravan-serving-loop");
    this.thread.setDaemon(true);
  }

  public ServingLoop start() {
    thread.start();
    return this;
  }

  /** Queues a request. Its listener hears everything that follows, on this loop's thread. */
  public Handle submit(GenerationRequest request, GenerationListener listener) {
    long id = ids.incrementAndGet();
    Generation[] holder = new Generation[1];
    Handle handle = status -> post(() -> {
      if (holder[0] != null) {
        holder[0].cancel(status);
      }
    });
    post(() -> holder[0] = accept(id, request, listener));
    return handle;
  }

  /** The plan serving new requests changed: its epoch and stage count; -1 with a reason when none can serve. */
  public void setServingPlan(long epoch, int stages, String unavailableReason) {
    post(() -> {
      scheduler.setServingEpoch(epoch);
      if (epoch >= 0) {
        scheduler.setMaxInFlight(stages);
        this.unavailableReason = null;
      } else if (this.unavailableReason == null) {
        this.unavailableReason = unavailableReason;
        this.unavailableSinceNanos = clock.getAsLong();
      } else {
        this.unavailableReason = unavailableReason;
      }
      metrics.planEpoch.set(epoch);
      metrics.stages.set(epoch >= 0 ? stages : 0);
    });
  }

  /** Every request bound to {@code epoch} fails with {@code status} (a stage of that plan was lost). */
  public void failEpoch(long epoch, Status status) {
    post(() -> {
      for (Generation g : generations.values()) {
        if (g.sequence.epoch() == epoch && !g.ended) {
          g.failure = status;
          g.sequence.finish(Sequence.Finish.FAILED);
        }
      }
      sessions.entrySet().removeIf(e -> {
        if (e.getValue().epoch() == epoch && !e.getValue().busy()) {
          placement.remove(sessionKey(e.getKey()));
          return true;
        }
        return false;
      });
    });
  }

  /** The oldest plan epoch a running or waiting request is bound to (Long.MAX_VALUE: none); older plans can be retired. */
  public CompletableFuture<Long> oldestEpochInUse() {
    CompletableFuture<Long> f = new CompletableFuture<>();
    post(() -> {
      long oldest = Long.MAX_VALUE;
      for (Generation g : generations.values()) {
        if (g.sequence.epoch() >= 0) {
          oldest = Math.min(oldest, g.sequence.epoch());
        }
      }
      f.complete(oldest);
    });
    return f;
  }

  /**
   * Plans below {@code epoch} are being retired: idle sessions kept on them are dropped (their caches go with the
   * plan; a later turn recomputes its prompt on the serving plan, as it would anyway).
   */
  public void retireBelow(long epoch) {
    post(() -> sessions.entrySet().removeIf(e -> {
      if (!e.getValue().busy() && e.getValue().epoch() < epoch) {
        placement.remove(sessionKey(e.getKey()));
        return true;
      }
      return false;
    }));
  }

  /** Running and waiting counts, read on the loop thread. */
  public CompletableFuture<int[]> load() {
    CompletableFuture<int[]> f = new CompletableFuture<>();
    post(() -> f.complete(new int[] {scheduler.runningCount(), scheduler.waitingCount()}));
    return f;
  }

  private void post(Runnable r) {
    mailbox.add(r);
  }

  private static String sessionKey(String sessionId) {
    return "s:" + sessionId;
  }

  // ---- the loop --------------------------------------------------------------------------------------------------

  private void run() {
    while (running) {
      try {
        Runnable cmd = mailbox.poll(20, TimeUnit.MILLISECONDS);
        while (cmd != null) {
          cmd.run();
          cmd = mailbox.poll();
        }
        step();
      } catch (InterruptedException e) {
        break;
      } catch (RuntimeException e) {
        LOG.error("serving loop error", e);
      }
    }
    // shutting down: everything still open fails
    for (Generation g : new ArrayList<>(generations.values())) {
      g.failure = Status.UNAVAILABLE.withDescription("the coordinator is shutting down");
      end(g);
    }
  }

  private void step() {
    long now = clock.getAsLong();
    // deadlines
    for (Generation g : generations.values()) {
      if (!g.ended && now > g.request.deadlineNanos()) {
        g.failure = Status.DEADLINE_EXCEEDED.withDescription("deadline exceeded after " + g.sequence.generated() + " generated tokens");
        g.sequence.finish(Sequence.Finish.CANCELLED);
      }
    }
    // no plan for a while: waiting requests fail rather than hang
    if (scheduler.servingEpoch() < 0 && unavailableReason != null && now - unavailableSinceNanos > settings.noPlanGrace().toNanos()) {
      for (Sequence s : scheduler.waiting()) {
        Generation g = generations.get(s.id());
        if (g != null && s.epoch() < 0) {
          g.failure = Status.UNAVAILABLE.withDescription(unavailableReason);
          s.finish(Sequence.Finish.FAILED);
        }
      }
    }
    for (Sequence s : scheduler.admit()) {
      placement.update(s.cacheKey(), s.epoch(), s.computed());
    }
    finish(scheduler.removeFinished());
    // batches: as many as the pipeline takes
    ScheduledBatch batch;
    while ((batch = scheduler.schedule()) != null) {
      ScheduledBatch b = batch;
      metrics.batchTokens.observe(b.tokens());
      executor.execute(b).whenComplete((logits, error) -> post(() -> completed(b, logits, error)));
    }
    // idle sessions
    if (now > nextSessionSweepNanos) {
      nextSessionSweepNanos = now + 1_000_000_000L;
      for (Iterator<Map.Entry<String, SessionRecord>> it = sessions.entrySet().iterator(); it.hasNext(); ) {
        Map.Entry<String, SessionRecord> e = it.next();
        if (!e.getValue().busy() && now - e.getValue().lastUsedNanos() > settings.sessionIdle().toNanos()) {
          it.remove();
          executor.release(e.getValue().epoch(), List.of(sessionKey(e.getKey())));
          placement.remove(sessionKey(e.getKey()));
        }
      }
    }
    metrics.requestsRunning.set(scheduler.runningCount());
    metrics.requestsWaiting.set(scheduler.waitingCount());
  }

  private Generation accept(long id, GenerationRequest r, GenerationListener listener) {
    long now = clock.getAsLong();
    if (!accepting) {
      listener.onError(Status.UNAVAILABLE.withDescription("the coordinator is draining and takes no new requests"));
      return null;
    }
    String key = "r:" + id;
    int cached = 0;
    long bound = -1;
    if (r.sessionId() != null) {
      key = sessionKey(r.sessionId());
      SessionRecord rec = sessions.get(r.sessionId());
      if (rec != null && rec.busy()) {
        listener.onError(Status.FAILED_PRECONDITION.withDescription("session " + r.sessionId() + " is already generating; wait for its current request to end"));
        return null;
      }
      if (rec != null && rec.epoch() == scheduler.servingEpoch()) {
        // reuse the longest common prefix; at least the last prompt token is recomputed for its logits
        int lcp = 0;
        while (lcp < rec.tokens().length && lcp < r.prompt().length && rec.tokens()[lcp] == r.prompt()[lcp]) {
          lcp++;
        }
        cached = Math.min(lcp, r.prompt().length - 1);
        bound = rec.epoch();
      } else if (rec != null) {
        executor.release(rec.epoch(), List.of(key)); // the plan changed: the old cache is of no use
      }
      sessions.put(r.sessionId(), new SessionRecord(bound, new int[0], now, true));
    }
    Sequence seq = new Sequence(id, key, r.prompt(), cached, r.maxTokens(), settings.contextLength(), r.ignoreEos(), now);
    if (bound >= 0) {
      seq.bind(bound);
    }
    Generation g = new Generation(r, listener, seq, now);
    if (!scheduler.add(seq)) {
      if (r.sessionId() != null) {
        sessions.remove(r.sessionId());
      }
      listener.onError(Status.RESOURCE_EXHAUSTED.withDescription("the queue is full (" + scheduler.waitingCount() + " requests waiting); retry later"));
      metrics.requestErrors.labelValues(Status.Code.RESOURCE_EXHAUSTED.name()).inc();
      return null;
    }
    generations.put(id, g);
    metrics.promptTokens.inc(r.prompt().length);
    metrics.promptTokensCached.inc(cached);
    metrics.promptTokensComputed.inc(r.prompt().length - cached);
    return g;
  }

  private void completed(ScheduledBatch batch, float[] logits, Throwable error) {
    if (error != null) {
      Throwable cause = error instanceof java.util.concurrent.CompletionException && error.getCause() != null ? error.getCause() : error;
      Status status = cause instanceof StageFailure sf ? sf.toStatus() : Status.INTERNAL.withDescription("batch failed: " + cause);
      for (ScheduledBatch.Chunk c : batch.chunks()) {
        Generation g = generations.get(c.sequence().id());
        if (g != null && g.failure == null) {
          g.failure = status;
        }
      }
      finish(scheduler.fail(batch));
      return;
    }
    int vocab = tokenizer.vocabSize();
    int rows = batch.logitsRows();
    int[] sampled = new int[rows];
    boolean[] eog = new boolean[rows];
    int row = 0;
    for (ScheduledBatch.Chunk c : batch.chunks()) {
      if (c.logits()) {
        Generation g = generations.get(c.sequence().id());
        int token = g.sampler.sample(logits, row * vocab, vocab);
        g.sampler.accept(token);
        sampled[row] = token;
        eog[row] = tokenizer.isEndOfGeneration(token);
        row++;
      }
    }
    List<Sequence> done = new ArrayList<>(scheduler.update(batch, sampled, eog));
    long now = clock.getAsLong();
    row = 0;
    for (ScheduledBatch.Chunk c : batch.chunks()) {
      Generation g = generations.get(c.sequence().id());
      if (c.logits()) {
        if (g.failure == null && c.sequence().finish() != Sequence.Finish.CANCELLED) {
          emit(g, sampled[row], eog[row], now);
        }
        row++;
      }
      placement.update(c.sequence().cacheKey(), c.sequence().epoch(), c.sequence().computed());
    }
    done.addAll(scheduler.removeFinished());
    finish(done);
  }

  /** A sampled token: timing metrics, then its text through the detokenizer and the stop strings. */
  private void emit(Generation g, int token, boolean endOfGeneration, long now) {
    if (g.firstTokenNanos == 0) {
      g.firstTokenNanos = now;
      metrics.timeToFirstToken.observe((now - g.acceptedNanos) / 1e9);
    } else {
      metrics.interTokenLatency.observe((now - g.lastTokenNanos) / 1e9);
    }
    g.lastTokenNanos = now;
    if (endOfGeneration && !g.request.ignoreEos()) {
      return; // the end-of-generation token itself is not part of the text
    }
    metrics.generationTokens.inc();
    String text = g.stops.accept(g.detokenizer.accept(token));
    if (!text.isEmpty() || g.stops.matched() == null) {
      g.listener.onDelta(text, new int[] {token});
    }
    if (g.stops.matched() != null) {
      g.sequence.finish(Sequence.Finish.STOP_STRING);
    }
  }

  private void finish(List<Sequence> done) {
    for (Sequence s : done) {
      Generation g = generations.get(s.id());
      if (g != null) {
        end(g);
      }
    }
  }

  /** Ends a generation: final text or the error, metrics, and its KV cache kept for the session or freed. */
  private void end(Generation g) {
    if (g.ended) {
      return;
    }
    g.ended = true;
    generations.remove(g.sequence.id());
    Sequence s = g.sequence;
    long now = clock.getAsLong();
    boolean ok = g.failure == null && s.finish() != Sequence.Finish.FAILED && s.finish() != Sequence.Finish.CANCELLED;
    String sessionId = g.request.sessionId();
    if (ok && sessionId != null && s.epoch() >= 0) {
      sessions.put(sessionId, new SessionRecord(s.epoch(), s.computedTokens(), now, false));
      placement.update(s.cacheKey(), s.epoch(), s.computed());
    } else {
      if (sessionId != null) {
        sessions.remove(sessionId);
      }
      if (s.epoch() >= 0) {
        executor.release(s.epoch(), List.of(s.cacheKey()));
      }
      placement.remove(s.cacheKey());
    }
    metrics.e2eLatency.observe((now - g.acceptedNanos) / 1e9);
    if (ok) {
      String tail = g.stops.accept(g.detokenizer.finish()) + g.stops.flush();
      if (!tail.isEmpty()) {
        g.listener.onDelta(tail, new int[0]);
      }
      int completion = s.generated() - (s.finish() == Sequence.Finish.EOS ? 1 : 0);
      double ttft = g.firstTokenNanos == 0 ? 0 : (g.firstTokenNanos - g.acceptedNanos) / 1e9;
      metrics.requestSuccess.labelValues(s.finish().name().toLowerCase()).inc();
      g.listener.onDone(s.finish(), g.stops.matched(), new GenerationListener.Usage(s.promptLength(), s.cachedPrompt(), completion, ttft, (now - g.acceptedNanos) / 1e9));
    } else {
      Status st = g.failure != null ? g.failure : Status.CANCELLED.withDescription("request cancelled");
      metrics.requestErrors.labelValues(st.getCode().name()).inc();
      g.listener.onError(st);
    }
  }

  /** Stops taking requests and waits up to {@code grace} for running ones to end. */
  public void drain(Duration grace) {
    accepting = false;
    long deadline = System.nanoTime() + grace.toNanos();
    try {
      while (System.nanoTime() < deadline) {
        int[] load = load().get(5, TimeUnit.SECONDS);
        if (load[0] + load[1] == 0) {
          return;
        }
        Thread.sleep(50);
      }
    } catch (Exception e) {
      LOG.warn("drain interrupted: {}", e.toString());
    }
  }

  @Override
  public void close() {
    running = false;
    try {
      thread.join(5000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
