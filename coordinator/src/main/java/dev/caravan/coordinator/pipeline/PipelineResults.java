package dev.caravan.coordinator.pipeline;

import dev.caravan.cluster.Activations;
import dev.caravan.cluster.Plan;
import dev.caravan.cluster.StageAssignment;
import dev.caravan.coordinator.core.GenerationError;
import dev.caravan.coordinator.core.GenerationException;
import dev.caravan.coordinator.scheduler.ScheduledBatch;
import dev.caravan.proto.v1.ActivationFrame;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The batches on their way through the pipeline, and the end of their way: the coordinator's {@code PipelineSink}
 * hands every frame from a last stage (logits) or from a failed stage (an error) to {@link #deliver}, which completes
 * the batch's future. A batch with no answer within the step timeout fails as UNAVAILABLE — unless a liveness probe is
 * given and every stage of its plan answers it: then the batch is slow, not lost (a 256-token prompt chunk of a 7B model
 * on a two-core machine takes longer than the default 30 s), and the wait is extended by another step timeout, up to
 * {@link #MAX_WAIT_STEPS} of them. Without that, such a batch failed, its plan was replaced by the same stages under a
 * new epoch, the prompt was sent again, and it failed again: no request ever finished.
 *
 * <p>Built before the executor and the sink's server, so both can be constructed complete (one-phase start-up).
 * Thread-safe: the sink, the executor, the timer and the plan owner call it from their own threads.
 */
public final class PipelineResults implements AutoCloseable {

  /** The most step timeouts a batch whose stages all answer is waited for, in all (10 minutes at the default 30 s). */
  static final int MAX_WAIT_STEPS = 20;
  private static final Logger LOG = LoggerFactory.getLogger(PipelineResults.class);

  /** A batch on its way; its timer is replaced each time the wait is extended. */
  static final class Pending {
    private final ScheduledBatch batch;
    private final Plan plan;
    private final String describe;
    private final CompletableFuture<float[]> result;
    private volatile ScheduledFuture<?> timer;
    private int steps; // step timeouts waited so far; only the timer thread and the probes' callbacks, one at a time

    Pending(ScheduledBatch batch, Plan plan, String describe, CompletableFuture<float[]> result) {
      this.batch = batch;
      this.plan = plan;
      this.describe = describe;
      this.result = result;
    }

    ScheduledBatch batch() {
      return batch;
    }

    Plan plan() {
      return plan;
    }

    CompletableFuture<float[]> result() {
      return result;
    }

    void cancelTimer() {
      ScheduledFuture<?> t = timer;
      if (t != null) {
        t.cancel(false);
      }
    }
  }

  private final int vocabSize;
  private final Duration stepTimeout;
  private final ScheduledExecutorService timers;
  private final PlanManager.Probe alive;
  private final Map<Long, Pending> pending = new ConcurrentHashMap<>();

  /** @param stepTimeout how long a batch may take end to end before it fails as UNAVAILABLE */
  public PipelineResults(int vocabSize, Duration stepTimeout, ScheduledExecutorService timers) {
    this(vocabSize, stepTimeout, timers, null);
  }

  /**
   * @param stepTimeout how long a batch may go without an answer before its stages are probed
   * @param alive       asks a stage's worker whether it is there (see {@link PlanManager.Recovery}); null: a batch fails
   *                    at its first step timeout
   */
  public PipelineResults(int vocabSize, Duration stepTimeout, ScheduledExecutorService timers, PlanManager.Probe alive) {
    this.vocabSize = vocabSize;
    this.stepTimeout = stepTimeout;
    this.timers = timers;
    this.alive = alive;
  }

  /** Starts waiting for {@code batch}, sent on {@code plan}; {@code describe} names the plan's stages for a timeout. */
  CompletableFuture<float[]> expect(ScheduledBatch batch, Plan plan, String describe) {
    CompletableFuture<float[]> result = new CompletableFuture<>();
    Pending p = new Pending(batch, plan, describe, result);
    pending.put(batch.id(), p);
    schedule(p);
    return result;
  }

  private void schedule(Pending p) {
    try {
      p.timer = timers.schedule(() -> stepTimedOut(p), stepTimeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      fail(p.batch.id(), new GenerationException(GenerationError.Kind.UNAVAILABLE, "the coordinator is shutting down"));
    }
  }

  /** A step timeout passed with no answer: fail the batch, or probe its stages and wait once more if all answer. */
  private void stepTimedOut(Pending p) {
    if (pending.get(p.batch.id()) != p) {
      return; // answered or failed meanwhile
    }
    p.steps++;
    long waited = stepTimeout.multipliedBy(p.steps).toSeconds();
    if (alive == null || p.steps >= MAX_WAIT_STEPS) {
      fail(p.batch.id(), new GenerationException(GenerationError.Kind.UNAVAILABLE, "no answer from the pipeline within " + waited + " s (" + p.describe + ")"));
      return;
    }
    List<StageAssignment> stages = p.plan.stages();
    List<CompletableFuture<Boolean>> answers = new ArrayList<>();
    for (StageAssignment s : stages) {
      CompletableFuture<Boolean> a;
      try {
        a = alive.answers(s.grpcAddress()).exceptionally(e -> false);
      } catch (RuntimeException e) {
        a = CompletableFuture.completedFuture(false);
      }
      answers.add(a);
    }
    CompletableFuture.allOf(answers.toArray(CompletableFuture[]::new)).whenComplete((v, e) -> {
      for (int i = 0; i < stages.size(); i++) {
        if (!answers.get(i).getNow(false)) {
          StageAssignment s = stages.get(i);
          fail(p.batch.id(), new GenerationException(GenerationError.Kind.UNAVAILABLE, "no answer from the pipeline within " + waited + " s, and stage " + s.index() + " at " + s.grpcAddress() + " does not answer a health check (" + p.describe + ")"));
          return;
        }
      }
      if (pending.get(p.batch.id()) == p) {
        LOG.info("batch {} ({} tokens) has no answer after {} s, but every stage of plan #{} answers: waiting up to {} s more", p.batch.id(), p.batch.tokens(), waited, p.plan.epoch(), stepTimeout.toSeconds());
        schedule(p);
      }
    });
  }

  /** A frame from the PipelineSink: the logits of a batch, or a stage's error. Late or unknown frames are dropped. */
  public void deliver(ActivationFrame frame) {
    if (frame.hasError()) {
      var e = frame.getError();
      GenerationError.Kind kind;
      try {
        kind = GenerationError.Kind.valueOf(e.getCode());
      } catch (IllegalArgumentException ex) {
        kind = GenerationError.Kind.INTERNAL;
      }
      fail(frame.getBatchId(), new GenerationException(kind, "stage " + e.getStage() + " (" + e.getWorkerAddress() + "): " + e.getMessage()));
      return;
    }
    Pending p = pending.remove(frame.getBatchId());
    if (p == null) {
      return; // failed or timed out already
    }
    p.cancelTimer();
    int rows = p.batch().logitsRows();
    float[] logits = new float[rows * vocabSize]; // (rows, vocab)
    try {
      if (frame.getPlanEpoch() != p.plan().epoch()) {
        throw new IllegalArgumentException("result of plan #" + frame.getPlanEpoch() + " for a batch sent on plan #" + p.plan().epoch());
      }
      Activations.fromTensor(frame.getActivations(), rows, vocabSize, logits);
      p.result().complete(logits);
    } catch (IllegalArgumentException ex) {
      p.result().completeExceptionally(new GenerationException(GenerationError.Kind.INTERNAL, "bad logits from the last stage: " + ex.getMessage()));
    }
  }

  /** Fails one batch, if it is still on its way. */
  void fail(long batchId, GenerationException failure) {
    Pending p = pending.remove(batchId);
    if (p != null) {
      p.cancelTimer();
      p.result().completeExceptionally(failure);
    }
  }

  /** Fails every batch on its way for which {@code why} gives a failure (null: not affected). */
  void failWhere(Function<Pending, GenerationException> why) {
    for (Pending p : List.copyOf(pending.values())) {
      GenerationException e = why.apply(p);
      if (e != null) {
        fail(p.batch().id(), e);
      }
    }
  }

  /** Batches on their way. */
  public int size() {
    return pending.size();
  }

  @Override
  public void close() {
    failWhere(p -> new GenerationException(GenerationError.Kind.UNAVAILABLE, "the coordinator is shutting down"));
  }
}
