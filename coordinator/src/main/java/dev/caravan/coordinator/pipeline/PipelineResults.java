package dev.caravan.coordinator.pipeline;

import dev.caravan.cluster.Activations;
import dev.caravan.cluster.Plan;
import dev.caravan.coordinator.core.GenerationError;
import dev.caravan.coordinator.core.GenerationException;
import dev.caravan.coordinator.scheduler.ScheduledBatch;
import dev.caravan.proto.v1.ActivationFrame;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The batches on their way through the pipeline, and the end of their way: the coordinator's {@code PipelineSink}
 * hands every frame from a last stage (logits) or from a failed stage (an error) to {@link #deliver}, which completes
 * the batch's future. A batch with no answer within the step timeout fails as UNAVAILABLE.
 *
 * <p>Built before the executor and the sink's server, so both can be constructed complete (one-phase start-up).
 * Thread-safe: the sink, the executor, the timer and the plan owner call it from their own threads.
 */
public final class PipelineResults implements AutoCloseable {

  /** A batch on its way. */
  record Pending(ScheduledBatch batch, Plan plan, CompletableFuture<float[]> result, ScheduledFuture<?> timeout) {}

  private final int vocabSize;
  private final Duration stepTimeout;
  private final ScheduledExecutorService timers;
  private final Map<Long, Pending> pending = new ConcurrentHashMap<>();

  /** @param stepTimeout how long a batch may take end to end before it fails as UNAVAILABLE */
  public PipelineResults(int vocabSize, Duration stepTimeout, ScheduledExecutorService timers) {
    this.vocabSize = vocabSize;
    this.stepTimeout = stepTimeout;
    this.timers = timers;
  }

  /** Starts waiting for {@code batch}, sent on {@code plan}; {@code describe} names the plan's stages for a timeout. */
  CompletableFuture<float[]> expect(ScheduledBatch batch, Plan plan, String describe) {
    CompletableFuture<float[]> result = new CompletableFuture<>();
    ScheduledFuture<?> timeout = timers.schedule(
        () -> fail(batch.id(), new GenerationException(GenerationError.Kind.UNAVAILABLE, "no answer from the pipeline within " + stepTimeout.toSeconds() + " s (" + describe + ")")),
        stepTimeout.toMillis(), TimeUnit.MILLISECONDS);
    pending.put(batch.id(), new Pending(batch, plan, result, timeout));
    return result;
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
    p.timeout().cancel(false);
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
      p.timeout().cancel(false);
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
