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
import dev.caravan.cluster.security.ClusterTls;
import dev.caravan.cluster.security.Role;
import dev.caravan.cluster.security.RoleCheck;
import dev.caravan.proto.v1.ShardGrpc;
import io.grpc.ServerBuilder;
import io.grpc.Status;
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
import java.util.function.LongSupplier;
import java.util.EnumSet;
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
  private final ClusterTls tls;
  private final LongSupplier newestPlan;
  private volatile Runnable onStagesRetired = () -> {};
  private volatile String address; // final once the server is bound
  private volatile String uuid = "";
  private final AtomicBoolean closed = new AtomicBoolean();
  /** Warm-up frames on their way through this node's own frame path, by batch id (see {@link #warmAsSpare}). */
  private final Map<Long, CompletableFuture<ActivationFrame>> warmUps = new ConcurrentHashMap<>();
  /** Whether a warm-up frame has been through this node's frame path (once per process is what the JIT needs). */
  private volatile boolean framePathWarm;
  private final AtomicLong warmUpIds = new AtomicLong();

  /**
   * A node for in-process tests: no TLS, every caller allowed, the newest plan it knows is the newest it installed. See
   * {@link #ShardNode(Path, int, String, ServerBuilder, int, ClusterTls, LongSupplier)}.
   */
  public ShardNode(Path model, int threads, String selfAddress, ServerBuilder<?> builder, int window) throws IOException {
    this(model, threads, selfAddress, builder, window, ClusterTls.insecure(), null);
  }

  /**
   * Starts the gRPC server; no stage is served until {@link #install}.
   *
   * @param model       the GGUF file the stages' layers are loaded from
   * @param threads     compute threads of one forward pass
   * @param selfAddress the address other nodes reach this one at, as plans name it ({@code host:port} or
   *                    {@code in-process:NAME}); a port of 0 is replaced by the port the server bound
   * @param builder     the server's transport, e.g. {@code tls.server(GrpcServer.netty(host, port))} or
   *                    {@code InProcessServerBuilder.forName(NAME)}
   * @param window      frames in flight per hop (see {@link FrameRouter}), at least 1
   * @param tls         this node's identity on its links, and who may call what on its server: the coordinator's
   *                    certificate controls it ({@code Release}, {@code Status}), a coordinator's or worker's sends it
   *                    frames
   * @param newestPlan  the newest plan epoch the cluster has published, as far as this node can tell (control calls
   *                    naming a later epoch are refused); null: the newest this node installed
   */
  public ShardNode(Path model, int threads, String selfAddress, ServerBuilder<?> builder, int window, ClusterTls tls, LongSupplier newestPlan) throws IOException {
    if (window < 1) {
      throw new IllegalArgumentException("a frame window holds at least 1 frame, not " + window);
    }
    this.window = window;
    this.tls = tls;
    this.address = selfAddress;
    this.parallel = new Parallel(threads);
    this.host = new StageHost(model, parallel, metrics, this::address);
    this.newestPlan = newestPlan != null ? newestPlan : host::newestEpoch;
    this.router = new FrameRouter(host, metrics, window, tls);
    RoleCheck roles = new RoleCheck(tls, Map.of(
        ShardGrpc.getForwardMethod().getFullMethodName(), EnumSet.of(Role.COORDINATOR, Role.WORKER),
        ShardGrpc.getReleaseMethod().getFullMethodName(), EnumSet.of(Role.COORDINATOR),
        ShardGrpc.getStatusMethod().getFullMethodName(), EnumSet.of(Role.COORDINATOR),
        // the sink on a worker takes only the results of its own warm-up frames
        PipelineSinkGrpc.getDeliverMethod().getFullMethodName(), EnumSet.of(Role.WORKER)), EnumSet.noneOf(Role.class));
    this.grpc = new GrpcServer("shard-worker", builder, List.of(new ShardService(this), new WarmUpSink()), List.of(roles), false);
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
   * are served from then on. Blocks while the layers load (and, the first time in this process, while one warm-up frame
   * goes through its own frame path: {@link #warmFramePath}); frames of other epochs go on meanwhile.
   *
   * @return false when the plan does not involve {@code selfUuid}
   */
  public boolean install(Plan plan, String selfUuid) throws IOException {
    uuid = selfUuid;
    StageHost.HostedStage installed = host.install(plan, selfUuid);
    if (installed == null) {
      return false;
    }
    if (!framePathWarm) {
      // the first stage this process serves: one frame through its own gRPC path before it reports ready, so the first
      // real request does not pay for that code's first run (about 0.6-0.8 s on a 2-core machine)
      framePathWarm = true;
      warmFramePath(plan.stages().get(installed.index), plan.stages().size());
    }
    return true;
  }

  /**
   * Keeps the layers of every stage of {@code plan} loaded and warm, for a spare that may take any of them over: opens
   * what is not open yet (on the calling thread, as {@link #install} does) and runs each newly opened range on the
   * compute thread for its share of {@code warmUp} (at least once); ranges of older plans are closed. Blocks until done.
   *
   * @return how many ranges were opened now
   */
  public int warmAsSpare(Plan plan, java.time.Duration warmUp) throws IOException {
    java.time.Duration share = warmUp.dividedBy(Math.max(1, plan.stages().size()));
    java.util.Set<dev.caravan.engine.model.LayerRange> ranges = new java.util.HashSet<>();
    int opened = 0;
    for (StageAssignment s : plan.stages()) {
      ranges.add(s.range());
      if (host.prepareSpare(s.range())) {
        opened++;
        router.onCompute(() -> host.warmUp(s.range(), share)).join();
        warmFramePath(s, plan.stages().size());
        framePathWarm = true;
      }
    }
    host.keepSpareRanges(ranges);
    return opened;
  }

  /**
   * Sends one frame through this node's own gRPC frame path — a stream to itself, the compute thread, the stage, a
   * result stream back to itself ({@link WarmUpSink}) — under a warm-up epoch served by the range of {@code s}: a spare
   * range, or the first one this process installs. The first real frame after a takeover, or through a worker that
   * just joined, then finds that code loaded and compiled rather than paying for it (0.6-1 s on a 2-core machine). A
   * failure here only costs the warm-up.
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
      }, tls);
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

  /** Most cache keys one Release may name, and the longest key (a session id of 128 characters and its prefix). */
  static final int MAX_RELEASE_KEYS = 65_536;
  static final int MAX_CACHE_KEY_CHARS = 256;

  /**
   * Frees caches, or retires plans, once the request's control fields check out: epochs are not negative and not later
   * than the newest plan this node knows of (a retirement "below 2^62" would drop every stage of every plan), cache keys
   * are bounded. A refused request fails the future with INVALID_ARGUMENT or FAILED_PRECONDITION naming the field.
   */
  CompletableFuture<ReleaseResponse> release(ReleaseRequest r) {
    try {
      validate(r);
    } catch (io.grpc.StatusRuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
    return router.onCompute(() -> {
      long[] freed = host.release(r.getCacheKeysList(), r.getPlanEpoch());
      int before = host.stageCount();
      int retired = r.getRetireBelowEpoch() > 0 ? host.retireBelow(r.getRetireBelowEpoch()) : 0;
      if (host.stageCount() < before) {
        onStagesRetired.run();
      }
      return ReleaseResponse.newBuilder().setSessionsReleased((int) freed[0] + retired).setKvBytesFreed(freed[1]).build();
    });
  }

  private void validate(ReleaseRequest r) {
    if (r.getPlanEpoch() < 0 || r.getRetireBelowEpoch() < 0) {
      throw Status.INVALID_ARGUMENT.withDescription("plan_epoch and retire_below_epoch must not be negative").asRuntimeException();
    }
    if (r.getCacheKeysCount() > MAX_RELEASE_KEYS) {
      throw Status.INVALID_ARGUMENT.withDescription("a Release names at most " + MAX_RELEASE_KEYS + " cache keys, not " + r.getCacheKeysCount()).asRuntimeException();
    }
    for (String key : r.getCacheKeysList()) {
      if (key.isEmpty() || key.length() > MAX_CACHE_KEY_CHARS) {
        throw Status.INVALID_ARGUMENT.withDescription("a cache key has 1 to " + MAX_CACHE_KEY_CHARS + " characters, not " + key.length()).asRuntimeException();
      }
    }
    long latest = Math.max(r.getPlanEpoch(), r.getRetireBelowEpoch());
    if (latest > 0 && latest > host.newestEpoch()) {
      long known = newestPlan.getAsLong(); // may ask the cluster: only when the request names an epoch this node has not installed
      if (r.getRetireBelowEpoch() > known || r.getPlanEpoch() > known) {
        throw Status.FAILED_PRECONDITION.withDescription("epoch " + latest + " is later than the newest plan this worker knows (#" + known + "): nothing can be released or retired there").asRuntimeException();
      }
    }
  }

  /** Runs {@code action} (on the compute thread) whenever a Release retired stages, e.g. to report what is still loaded. */
  void onStagesRetired(Runnable action) {
    this.onStagesRetired = action;
  }

  /** The newest plan epoch this node holds a stage of (0: none). */
  long newestEpoch() {
    return host.newestEpoch();
  }

  /** Whether this node still holds its stage of plan {@code epoch}. */
  boolean holds(long epoch) {
    return host.holds(epoch);
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
