package dev.caravan.worker;

import dev.caravan.cluster.Activations;
import dev.caravan.cluster.FrameLink;
import dev.caravan.cluster.GrpcServer;
import dev.caravan.cluster.Plan;
import dev.caravan.cluster.StageAssignment;
import dev.caravan.engine.tensor.Parallel;
import dev.caravan.proto.v1.ActivationFrame;
import dev.caravan.proto.v1.FrameAck;
import dev.caravan.proto.v1.PipelineSinkGrpc;
import dev.caravan.proto.v1.SequenceChunk;
import dev.caravan.proto.v1.ReleaseRequest;
import dev.caravan.proto.v1.ReleaseResponse;
import dev.caravan.proto.v1.ShardStatusResponse;
import io.grpc.ServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * A shard worker without the cluster: the {@code Shard} gRPC service over this worker's stages, its compute thread and
 * its frame links, on a server built from the {@link ServerBuilder} handed in. {@link ShardWorker} adds Hazelcast
 * membership, metrics and drain; tests (this module's and the coordinator's) run it alone, in one JVM:
 *
 * <pre>{@code
 * try (ShardNode w = new ShardNode(model, 1, "in-process:w1", InProcessServerBuilder.forName("w1"), 4)) {
 *   w.install(plan, "w1-uuid"); // the plan names this worker "w1-uuid" at address "in-process:w1"
 *   // frames sent to "in-process:w1" now run through its stage and go on to the next one or the plan's sink
 * }
 * }</pre>
 */
public final class ShardNode implements AutoCloseable {
  private final int window;
  private final WorkerMetrics metrics = new WorkerMetrics();
  private final Parallel parallel;
  private final StageHost host;
  private final FrameRouter router;
  private final GrpcServer grpc;
  private volatile String address; // final once the server is bound
  private volatile String uuid = "";
  private final AtomicBoolean closed = new AtomicBoolean();
  /** Warm-up frames on their way through this node's own frame path, by batch id (see {@link #warmAsSpare}). */
  private final Map<Long, CompletableFuture<ActivationFrame>> warmUps = new ConcurrentHashMap<>();
  private final AtomicLong warmUpIds = new AtomicLong();

  /**
   * Starts the gRPC server; no stage is served until {@link #install}.
   *
   * @param model       the GGUF file the stages' layers are loaded from
   * @param threads     compute threads of one forward pass
   * @param selfAddress the address other nodes reach this one at, as plans name it ({@code host:port} or
   *                    {@code in-process:NAME}); a port of 0 is replaced by the port the server bound
   * @param builder     the server's transport, e.g. {@code GrpcServer.netty(host, port)} or
   *                    {@code InProcessServerBuilder.forName(NAME)}
   * @param window      frames in flight per hop (see {@link FrameRouter}), at least 1
   */
  public ShardNode(Path model, int threads, String selfAddress, ServerBuilder<?> builder, int window) throws IOException {
    if (window < 1) {
      throw new IllegalArgumentException("a frame window holds at least 1 frame, not " + window);
    }
    this.window = window;
    this.address = selfAddress;
    this.parallel = new Parallel(threads);
    this.host = new StageHost(model, parallel, metrics, this::address);
    this.router = new FrameRouter(host, metrics, window);
    this.grpc = new GrpcServer("shard-worker", builder, List.of(new ShardService(this), new WarmUpSink()), List.of());
    try {
      grpc.start();
    } catch (IOException | RuntimeException e) {
      router.close();
      parallel.close();
      throw e;
    }
    this.address = selfAddress.endsWith(":0") ? selfAddress.substring(0, selfAddress.length() - 1) + grpc.port() : selfAddress;
  }

  /**
   * Loads this node's layers of {@code plan}, where it is the stage assigned to {@code selfUuid}; frames of that epoch
   * are served from then on. Blocks while the layers load; frames of other epochs go on meanwhile.
   *
   * @return false when the plan does not involve {@code selfUuid}
   */
  public boolean install(Plan plan, String selfUuid) throws IOException {
    uuid = selfUuid;
    return host.install(plan, selfUuid) != null;
  }

  /**
   * Keeps the layers of every stage of {@code plan} loaded and warm, for a spare that may take any of them over: opens
   * what is not open yet (on the calling thread, as {@link #install} does) and runs each newly opened range once on the
   * compute thread; ranges of older plans are closed. Blocks until done.
   *
   * @return how many ranges were opened now
   */
  public int warmAsSpare(Plan plan) throws IOException {
    java.util.Set<dev.caravan.engine.model.LayerRange> ranges = new java.util.HashSet<>();
    int opened = 0;
    for (StageAssignment s : plan.stages()) {
      ranges.add(s.range());
      if (host.prepareSpare(s.range())) {
        opened++;
        router.onCompute(() -> {
          host.warmUp(s.range());
          return null;
        }).join();
        warmFramePath(s, plan.stages().size());
      }
    }
    host.keepSpareRanges(ranges);
    return opened;
  }

  /**
   * Sends one frame through this node's own gRPC frame path — a stream to itself, the compute thread, the stage, a
   * result stream back to itself ({@link WarmUpSink}) — under a warm-up epoch served by the spare range of {@code s}.
   * The first real frame after a takeover then finds that code loaded and compiled rather than paying for it (about a
   * second on a small machine). A failure here only costs the warm-up.
   */
  private void warmFramePath(StageAssignment s, int stageCount) {
    long epoch = -1 - s.index(); // real plans count from 1
    long batchId = -warmUpIds.incrementAndGet();
    int tokens = 4;
    FrameLink link = null;
    try {
      int dim = host.hostWarmUp(epoch, s, stageCount);
      SequenceChunk.Builder chunk = SequenceChunk.newBuilder().setCacheKey("warm-up").setStartPosition(0).setTokenCount(tokens).setLogits(true);
      ActivationFrame.Builder frame = ActivationFrame.newBuilder().setBatchId(batchId).setPlanEpoch(epoch).setStage(s.index()).setReplyTo(address);
      if (s.layerStart() == 0) {
        for (int i = 0; i < tokens; i++) {
          chunk.addTokenIds(1);
        }
      } else {
        frame.setActivations(Activations.toTensor(new float[tokens * dim], tokens, dim));
      }
      frame.addSequences(chunk);
      CompletableFuture<ActivationFrame> back = new CompletableFuture<>();
      warmUps.put(batchId, back);
      link = new FrameLink(FrameLink.Kind.STAGE, address, window, new FrameLink.Listener() {
        @Override
        public void onAck(long id, String error) {}

        @Override
        public void onLost(ActivationFrame f, String reason) {
          back.completeExceptionally(new IllegalStateException(reason));
        }
      });
      link.send(frame.build(), null);
      ActivationFrame result = back.get(60, TimeUnit.SECONDS);
      if (result.hasError()) {
        throw new IllegalStateException(result.getError().getMessage());
      }
    } catch (Exception e) {
      org.slf4j.LoggerFactory.getLogger(ShardNode.class).warn("warming the frame path of layers {} failed: {}", s.range(), e.toString());
    } finally {
      warmUps.remove(batchId);
      if (link != null) {
        link.close();
      }
      host.dropWarmUp(epoch); // its one session goes with it
    }
  }

  /** No longer a spare: closes the ranges kept for it. */
  public void stopSpare() {
    host.keepSpareRanges(java.util.Set.of());
  }

  /** Takes the results of this node's own warm-up frames; anything else sent here is acknowledged and dropped. */
  private final class WarmUpSink extends PipelineSinkGrpc.PipelineSinkImplBase {
    @Override
    public StreamObserver<ActivationFrame> deliver(StreamObserver<FrameAck> acks) {
      return new FrameLink.Receiver(acks, window, (frame, from) -> {
        CompletableFuture<ActivationFrame> waiting = warmUps.get(frame.getBatchId());
        if (waiting != null) {
          waiting.complete(frame);
        }
        from.ack(frame.getBatchId(), "");
      }).requests();
    }
  }

  /** Where other nodes reach this one. */
  /** The most KV-cache bytes this worker holds over all sessions (0: no limit); beyond it frames fail RESOURCE_EXHAUSTED. */
  public void setKvBudget(long bytes) {
    host.setKvBudget(bytes);
  }

  public String address() {
    return address;
  }

  /** Frames in flight per hop. */
  public int window() {
    return window;
  }

  /** Stops at once: cancels open streams, reports what the links still held, frees the models. */
  @Override
  public void close() {
    if (closed.compareAndSet(false, true)) {
      grpc.stop();
      shutDown();
    }
  }

  /** Lets running calls finish within {@code grace} (long-lived frame streams end when it runs out), then closes. */
  void close(Duration grace) {
    if (closed.compareAndSet(false, true)) {
      grpc.drain(grace);
      shutDown();
    }
  }

  private void shutDown() {
    router.close();
    host.close();
    parallel.close();
  }

  WorkerMetrics metrics() {
    return metrics;
  }

  Parallel parallel() {
    return parallel;
  }

  GrpcServer grpc() {
    return grpc;
  }

  FrameRouter router() {
    return router;
  }

  /** For tests: see {@link FrameRouter#beforeEachFrame}. */
  void beforeEachFrame(Consumer<ActivationFrame> hook) {
    router.beforeEachFrame(hook);
  }

  CompletableFuture<ReleaseResponse> release(ReleaseRequest r) {
    return router.onCompute(() -> {
      long[] freed = host.release(r.getCacheKeysList(), r.getPlanEpoch());
      int retired = r.getRetireBelowEpoch() > 0 ? host.retireBelow(r.getRetireBelowEpoch()) : 0;
      return ReleaseResponse.newBuilder().setSessionsReleased((int) freed[0] + retired).setKvBytesFreed(freed[1]).build();
    });
  }

  CompletableFuture<ShardStatusResponse> status() {
    return router.onCompute(() -> ShardStatusResponse.newBuilder().setWorkerUuid(uuid).addAllStages(host.status()).build());
  }

  /** Frees sessions idle for longer than {@code idle}; completes with how many. */
  CompletableFuture<Integer> expireIdle(Duration idle) {
    return router.onCompute(() -> host.expireIdle(idle.toNanos()));
  }

  /** Plan epochs this node still serves. */
  CompletableFuture<Integer> stageCount() {
    return router.onCompute(host::stageCount);
  }
}
