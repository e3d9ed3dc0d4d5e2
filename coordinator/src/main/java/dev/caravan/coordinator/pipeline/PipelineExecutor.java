package dev.caravan.coordinator.pipeline;

import dev.caravan.cluster.Channels;
import dev.caravan.cluster.FrameLink;
import dev.caravan.cluster.Plan;
import dev.caravan.cluster.StageAssignment;
import dev.caravan.cluster.security.ClusterTls;
import dev.caravan.coordinator.core.BatchExecutor;
import dev.caravan.coordinator.core.GenerationError;
import dev.caravan.coordinator.core.GenerationException;
import dev.caravan.coordinator.scheduler.ScheduledBatch;
import dev.caravan.proto.v1.ActivationFrame;
import dev.caravan.proto.v1.ReleaseRequest;
import dev.caravan.proto.v1.ReleaseResponse;
import dev.caravan.proto.v1.SequenceChunk;
import dev.caravan.proto.v1.ShardGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs batches through the shard workers of a plan: one frame per batch goes to stage 0 over a long-lived, flow
 * controlled stream ({@link FrameLink}: at most {@code window} frames unacknowledged); the stages pass it on worker to
 * worker; the last stage delivers the logits to this coordinator's {@code PipelineSink}, which completes the batch in
 * {@link PipelineResults}. A batch fails, naming the stage, when a stage reports an error, when the stream to stage 0
 * breaks, when a worker of its plan leaves the cluster ({@link #workerLost}), or when no answer comes within the step
 * timeout.
 *
 * <p>Frames waiting for credit on the link to stage 0 are bounded by the scheduler: it keeps at most as many batches in
 * flight as the plan has stages.
 */
public final class PipelineExecutor implements BatchExecutor, PipelineControl {
  private static final Logger LOG = LoggerFactory.getLogger(PipelineExecutor.class);

  private final String replyTo;
  private final PipelineResults results;
  private final PlanBook plans;
  private final int window;
  private final ClusterTls tls;
  private final Map<String, ManagedChannel> channels = new ConcurrentHashMap<>(); // for Release calls
  private final Map<Long, FrameLink> links = new ConcurrentHashMap<>(); // plan epoch -> stream to its stage 0

  /**
   * @param replyTo this coordinator's PipelineSink address, where last stages deliver
   * @param window  frames in flight on the stream to stage 0
   */
  public PipelineExecutor(String replyTo, PipelineResults results, PlanBook plans, int window) {
    this(replyTo, results, plans, window, ClusterTls.insecure());
  }

  /** @param tls the coordinator's identity on its streams to stage 0 and its Release calls */
  public PipelineExecutor(String replyTo, PipelineResults results, PlanBook plans, int window, ClusterTls tls) {
    this.tls = tls;
    this.replyTo = replyTo;
    this.results = results;
    this.plans = plans;
    this.window = window;
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
    CompletableFuture<float[]> result = results.expect(batch, plan, describe(plan));
    links.computeIfAbsent(plan.epoch(), e -> link(plan)).send(frame.build(), null);
    return result;
  }

  /** The stream to stage 0 of {@code plan}: a frame it loses fails its batch, naming stage 0. */
  private FrameLink link(Plan plan) {
    StageAssignment first = plan.stages().get(0);
    return new FrameLink(FrameLink.Kind.STAGE, first.grpcAddress(), window, new FrameLink.Listener() {
      @Override
      public void onAck(long batchId, String error) {
        // a stage's failure comes as an error frame through the sink, naming the stage that failed
      }

      @Override
      public void onLost(ActivationFrame frame, String reason) {
        results.fail(frame.getBatchId(), new GenerationException(GenerationError.Kind.UNAVAILABLE, lostMessage(first, "stream to stage 0 failed: " + reason)));
      }
    }, tls);
  }

  /** A worker left the cluster: every batch on a plan that used it fails as UNAVAILABLE naming the lost stage. */
  @Override
  public void workerLost(String workerUuid, String why) {
    results.failWhere(p -> p.plan().stageOf(workerUuid).map(s -> new GenerationException(GenerationError.Kind.UNAVAILABLE, lostMessage(s, why))).orElse(null));
    for (Plan p : plans.snapshot().byEpoch().values()) {
      if (p.involves(workerUuid)) {
        closeLink(p.epoch());
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
  public CompletableFuture<Void> release(long epoch, Collection<String> cacheKeys) {
    Plan plan = plans.plan(epoch);
    if (plan == null || cacheKeys.isEmpty()) {
      return CompletableFuture.completedFuture(null);
    }
    ReleaseRequest req = ReleaseRequest.newBuilder().addAllCacheKeys(cacheKeys).setPlanEpoch(epoch).build();
    return CompletableFuture.allOf(plan.stages().stream().map(s -> sendRelease(s.grpcAddress(), req)).toArray(CompletableFuture[]::new));
  }

  /** Drops plans below {@code epoch} on their workers (stages and caches) and closes their streams. */
  @Override
  public void retireBelow(long epoch) {
    List<Plan> old = plans.snapshot().byEpoch().values().stream().filter(p -> p.epoch() < epoch).toList();
    if (old.isEmpty()) {
      return;
    }
    ReleaseRequest req = ReleaseRequest.newBuilder().setRetireBelowEpoch(epoch).build();
    old.stream().flatMap(p -> p.stages().stream()).map(StageAssignment::grpcAddress).distinct().forEach(a -> sendRelease(a, req));
    for (Plan p : old) {
      closeLink(p.epoch());
      LOG.info("retired plan #{}", p.epoch());
    }
  }

  private void closeLink(long epoch) {
    FrameLink link = links.remove(epoch);
    if (link != null) {
      link.close();
    }
  }

  /** One Release call; completes when the worker answered, or failed to (a worker gone holds no cache). */
  private CompletableFuture<Void> sendRelease(String address, ReleaseRequest req) {
    CompletableFuture<Void> done = new CompletableFuture<>();
    ShardGrpc.newStub(channels.computeIfAbsent(address, a -> Channels.forAddress(a, tls))).withDeadlineAfter(5, TimeUnit.SECONDS).release(req, new StreamObserver<>() {
      @Override
      public void onNext(ReleaseResponse r) {}

      @Override
      public void onError(Throwable t) {
        LOG.debug("release on {} failed: {}", address, Status.fromThrowable(t));
        done.complete(null);
      }

      @Override
      public void onCompleted() {
        done.complete(null);
      }
    });
    return done;
  }

  /** Frames waiting for credit or unacknowledged on the stream to stage 0 of {@code epoch} (for tests). */
  int inFlight(long epoch) {
    FrameLink l = links.get(epoch);
    return l == null ? 0 : l.inFlight() + l.queued();
  }

  @Override
  public void close() {
    results.close();
    links.values().forEach(FrameLink::close);
    links.clear();
    channels.values().forEach(Channels::close);
  }
}
