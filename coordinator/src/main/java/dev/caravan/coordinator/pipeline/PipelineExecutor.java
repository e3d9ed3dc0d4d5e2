package dev.caravan.coordinator.pipeline;

import dev.caravan.cluster.Activations;
import dev.caravan.cluster.Channels;
import dev.caravan.cluster.Plan;
import dev.caravan.cluster.StageAssignment;
import dev.caravan.coordinator.core.BatchExecutor;
import dev.caravan.coordinator.core.GenerationError;
import dev.caravan.coordinator.core.GenerationException;
import dev.caravan.coordinator.scheduler.ScheduledBatch;
import dev.caravan.proto.v1.ActivationFrame;
import dev.caravan.proto.v1.FrameAck;
import dev.caravan.proto.v1.ReleaseRequest;
import dev.caravan.proto.v1.ReleaseResponse;
import dev.caravan.proto.v1.SequenceChunk;
import dev.caravan.proto.v1.ShardGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs batches through the shard workers of a plan: one frame per batch goes to stage 0 over a long-lived stream; the
 * stages pass it on worker to worker; the last stage delivers the logits to this coordinator's {@code PipelineSink},
 * which hands them to {@link #deliver}. A batch fails, naming the stage, when a stage reports an error, when a worker
 * of its plan leaves the cluster ({@link #workerLost}), or when no answer comes within the step timeout.
 */
public final class PipelineExecutor implements BatchExecutor, PipelineControl {
  private static final Logger LOG = LoggerFactory.getLogger(PipelineExecutor.class);

  /** A batch on its way. */
  private record Pending(ScheduledBatch batch, Plan plan, CompletableFuture<float[]> result, ScheduledFuture<?> timeout) {}

  private volatile String replyTo;
  private final int vocabSize;
  private final Duration stepTimeout;
  private final ScheduledExecutorService timers;
  private final PlanBook plans;
  private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
  private final Map<String, ManagedChannel> channels = new ConcurrentHashMap<>();
  private final Map<Long, StageZeroLink> links = new ConcurrentHashMap<>();

  /**
   * @param replyTo     this coordinator's gRPC address, where last stages deliver
   * @param stepTimeout how long a batch may take end to end before it fails as UNAVAILABLE
   */
  public PipelineExecutor(String replyTo, int vocabSize, Duration stepTimeout, ScheduledExecutorService timers, PlanBook plans) {
    this.replyTo = replyTo;
    this.plans = plans;
    this.vocabSize = vocabSize;
    this.stepTimeout = stepTimeout;
    this.timers = timers;
  }

  /** This coordinator's address for results (known once its gRPC server listens). */
  public void setReplyTo(String address) {
    this.replyTo = address;
  }

  @Override
  public CompletableFuture<float[]> execute(ScheduledBatch batch) {
    Plan plan = plans.plan(batch.epoch());
    if (plan == null || plan.isEmpty()) {
      return CompletableFuture.failedFuture(new GenerationException(GenerationError.Kind.UNAVAILABLE, "plan #" + batch.epoch() + " is no longer available"));
    }
    ActivationFrame.Builder frame = ActivationFrame.newBuilder().setBatchId(batch.id()).setPlanEpoch(plan.epoch()).setStage(0).setReplyTo(replyTo);
    for (ScheduledBatch.Chunk c : batch.chunks()) {
      SequenceChunk.Builder sc = SequenceChunk.newBuilder().setCacheKey(c.sequence().cacheKey()).setStartPosition(c.start()).setTokenCount(c.count()).setLogits(c.logits());
      for (int i = 0; i < c.count(); i++) {
        sc.addTokenIds(c.sequence().token(c.start() + i));
      }
      frame.addSequences(sc);
    }
    CompletableFuture<float[]> result = new CompletableFuture<>();
    ScheduledFuture<?> timeout = timers.schedule(() -> fail(batch.id(), new GenerationException(GenerationError.Kind.UNAVAILABLE, "no answer from the pipeline within " + stepTimeout.toSeconds() + " s (" + describe(plan) + ")")), stepTimeout.toMillis(), TimeUnit.MILLISECONDS);
    pending.put(batch.id(), new Pending(batch, plan, result, timeout));
    links.computeIfAbsent(plan.epoch(), e -> new StageZeroLink(plan)).send(frame.build());
    return result;
  }

  /** A frame from the PipelineSink: the logits of a batch, or a stage's error. */
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
    float[] logits = new float[rows * vocabSize];
    try {
      Activations.fromTensor(frame.getActivations(), rows, vocabSize, logits);
      p.result().complete(logits);
    } catch (IllegalArgumentException ex) {
      p.result().completeExceptionally(new GenerationException(GenerationError.Kind.INTERNAL, "bad logits from the last stage: " + ex.getMessage()));
    }
  }

  private void fail(long batchId, GenerationException failure) {
    Pending p = pending.remove(batchId);
    if (p != null) {
      p.timeout().cancel(false);
      p.result().completeExceptionally(failure);
    }
  }

  /** A worker left the cluster: every batch on a plan that used it fails as UNAVAILABLE naming the lost stage. */
  @Override
  public void workerLost(String workerUuid, String why) {
    List<Long> epochs = plans.snapshot().byEpoch().values().stream().filter(p -> p.involves(workerUuid)).map(Plan::epoch).toList();
    for (Pending p : List.copyOf(pending.values())) {
      p.plan().stageOf(workerUuid).ifPresent(s -> fail(p.batch().id(), new GenerationException(GenerationError.Kind.UNAVAILABLE, lostMessage(s, why))));
    }
    for (Long e : epochs) {
      StageZeroLink link = links.remove(e);
      if (link != null) {
        link.close();
      }
    }
  }

  /** "stage 1 (worker 127.0.0.1:7002, layers [3, 5)) was lost: ..." */
  public static String lostMessage(StageAssignment s, String why) {
    return PlanManager.lostMessage(s, why);
  }

  private static String describe(Plan plan) {
    StringBuilder sb = new StringBuilder();
    for (StageAssignment s : plan.stages()) {
      sb.append(sb.isEmpty() ? "" : ", ").append("stage ").append(s.index()).append(" at ").append(s.grpcAddress());
    }
    return sb.toString();
  }

  @Override
  public void release(long epoch, Collection<String> cacheKeys) {
    Plan plan = plans.plan(epoch);
    if (plan == null || cacheKeys.isEmpty()) {
      return;
    }
    ReleaseRequest req = ReleaseRequest.newBuilder().addAllCacheKeys(cacheKeys).setPlanEpoch(epoch).build();
    for (StageAssignment s : plan.stages()) {
      sendRelease(s.grpcAddress(), req);
    }
  }

  /** Drops plans below {@code epoch} here and on their workers (stages and caches). */
  @Override
  public void retireBelow(long epoch) {
    var old = plans.snapshot().byEpoch().values().stream().filter(p -> p.epoch() < epoch).toList();
    if (old.isEmpty()) {
      return;
    }
    ReleaseRequest req = ReleaseRequest.newBuilder().setRetireBelowEpoch(epoch).build();
    old.stream().flatMap(p -> p.stages().stream()).map(StageAssignment::grpcAddress).distinct().forEach(a -> sendRelease(a, req));
    for (Plan p : old) {
      StageZeroLink link = links.remove(p.epoch());
      if (link != null) {
        link.close();
      }
      LOG.info("retired plan #{}", p.epoch());
    }
  }

  private void sendRelease(String address, ReleaseRequest req) {
    ShardGrpc.newStub(channel(address)).withDeadlineAfter(5, TimeUnit.SECONDS).release(req, new StreamObserver<>() {
      @Override
      public void onNext(ReleaseResponse r) {}

      @Override
      public void onError(Throwable t) {
        LOG.debug("release on {} failed: {}", address, Status.fromThrowable(t));
      }

      @Override
      public void onCompleted() {}
    });
  }

  private ManagedChannel channel(String address) {
    return channels.computeIfAbsent(address, Channels::forAddress);
  }

  @Override
  public void close() {
    for (Pending p : List.copyOf(pending.values())) {
      fail(p.batch().id(), new GenerationException(GenerationError.Kind.UNAVAILABLE, "the coordinator is shutting down"));
    }
    links.values().forEach(StageZeroLink::close);
    channels.values().forEach(Channels::close);
  }

  /** The long-lived stream to stage 0 of one plan. */
  private final class StageZeroLink implements StreamObserver<FrameAck> {
    private final Plan plan;
    private StreamObserver<ActivationFrame> out;
    private boolean broken;

    StageZeroLink(Plan plan) {
      this.plan = plan;
    }

    synchronized void send(ActivationFrame frame) {
      if (out == null || broken) {
        broken = false;
        out = ShardGrpc.newStub(channel(plan.stages().get(0).grpcAddress())).forward(this);
      }
      try {
        out.onNext(frame);
      } catch (RuntimeException e) {
        broken = true;
        fail(frame.getBatchId(), new GenerationException(GenerationError.Kind.UNAVAILABLE, lostMessage(plan.stages().get(0), e.getMessage())));
      }
    }

    @Override
    public void onNext(FrameAck ack) {
      // errors arrive as error frames through the sink, with the stage that failed
    }

    @Override
    public void onError(Throwable t) {
      synchronized (this) {
        broken = true;
      }
      Status s = Status.fromThrowable(t);
      if (s.getCode() == Status.Code.CANCELLED && s.getDescription() != null && s.getDescription().contains("closed")) {
        return;
      }
      String why = "stream to stage 0 failed: " + s.getCode() + (s.getDescription() == null ? "" : " " + s.getDescription());
      for (Pending p : List.copyOf(pending.values())) {
        if (p.plan().epoch() == plan.epoch()) {
          fail(p.batch().id(), new GenerationException(GenerationError.Kind.UNAVAILABLE, lostMessage(plan.stages().get(0), why)));
        }
      }
    }

    @Override
    public void onCompleted() {
      synchronized (this) {
        broken = true;
      }
    }

    synchronized void close() {
      if (out != null && !broken) {
        try {
          out.onCompleted();
        } catch (RuntimeException ignored) {
          // already gone
        }
      }
      broken = true;
    }
  }
}
