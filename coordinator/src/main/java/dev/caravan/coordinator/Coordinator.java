package dev.caravan.coordinator;

import com.hazelcast.cluster.Member;
import com.hazelcast.core.HazelcastInstance;
import dev.caravan.cluster.ClusterMember;
import dev.caravan.cluster.ClusterNames;
import dev.caravan.cluster.GrpcServer;
import dev.caravan.cluster.MetricsServer;
import dev.caravan.cluster.ModelIdentity;
import dev.caravan.cluster.Plan;
import dev.caravan.cluster.SessionPlacement;
import dev.caravan.cluster.StageAssignment;
import dev.caravan.cluster.security.ApiKeyCheck;
import dev.caravan.cluster.security.ApiKeys;
import dev.caravan.cluster.security.ClusterTls;
import dev.caravan.cluster.security.JoinSecret;
import dev.caravan.cluster.security.PublicTls;
import dev.caravan.cluster.security.Role;
import dev.caravan.cluster.security.RoleCheck;
import dev.caravan.coordinator.pipeline.KvPlacements;
import dev.caravan.coordinator.pipeline.PipelineControl;
import dev.caravan.coordinator.pipeline.PipelineExecutor;
import dev.caravan.coordinator.pipeline.PipelineResults;
import dev.caravan.coordinator.pipeline.PlanBook;
import dev.caravan.coordinator.pipeline.PlanListener;
import dev.caravan.coordinator.pipeline.PlanManager;
import dev.caravan.coordinator.core.BatchExecutor;
import dev.caravan.coordinator.core.EngineCore;
import dev.caravan.coordinator.core.EngineLoop;
import dev.caravan.coordinator.core.GenerationError;
import dev.caravan.coordinator.core.GenerationException;
import dev.caravan.coordinator.core.OutputProcessor;
import dev.caravan.coordinator.core.SessionRegistry;
import dev.caravan.coordinator.http.HttpApi;
import dev.caravan.coordinator.http.HttpAuth;
import dev.caravan.coordinator.http.HttpServer;
import dev.caravan.coordinator.scheduler.ScheduledBatch;
import dev.caravan.coordinator.scheduler.Scheduler;
import dev.caravan.coordinator.scheduler.SchedulerConfig;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.gguf.GgufTensorInfo;
import dev.caravan.engine.model.LlamaConfig;
import dev.caravan.engine.tokenizer.ChatPrompt;
import dev.caravan.engine.tokenizer.Tokenizer;
import dev.caravan.proto.v1.ClusterStatusResponse;
import dev.caravan.proto.v1.KvHolding;
import dev.caravan.proto.v1.ListModelsResponse;
import dev.caravan.proto.v1.ModelInfo;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The coordinator process: the cluster's front door. It holds the tokenizer (no weights), serves the public Inference
 * API (gRPC, and OpenAI-compatible HTTP on its own port, both driving the same core) and the PipelineSink, is a Hazelcast member that owns the cluster's maps, plans layers over
 * the workers, and runs the serving loop that drives requests through the pipeline.
 */
public final class Coordinator implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(Coordinator.class);

  /** Validated settings (see {@code CoordinatorCommand} for meanings and defaults). */
  public record Config(
      Path model,
      String clusterName,
      String host,
      int grpcPort,
      int internalPort,
      int hazelcastPort,
      List<String> join,
      int metricsPort,
      SchedulerConfig scheduler,
      Duration stepTimeout,
      Duration sessionIdle,
      Duration noPlanWait,
      Duration drainTimeout,
      int framesInFlight,
      Duration kvReportInterval,
      int maxFailovers,
      int maxRequestBytes,
      int spares,
      int httpPort,
      Duration httpRequestTimeout,
      Duration httpIdleTimeout,
      long httpMaxBufferedBytes) {}


  /**
   * How the coordinator is secured (see {@code CoordinatorCommand}'s options).
   *
   * @param tls       identity and trust on internal connections (its internal port requires a worker's certificate)
   * @param secret    the cluster's join secret (names the Hazelcast cluster; workers must prove it)
   * @param apiKeys   keys the public API requires, or null for an open public API
   * @param publicTls TLS on the public port, or null for plaintext
   */
  public record Security(ClusterTls tls, JoinSecret secret, ApiKeys apiKeys, PublicTls publicTls) {
    /** Plaintext everywhere, no secret, no keys: in-process tests only. */
    public static Security insecure() {
      return new Security(ClusterTls.insecure(), JoinSecret.none(), null, null);
    }
  }

  private final Config config;
  private final Security security;
  private final CoordinatorMetrics metrics = new CoordinatorMetrics();
  private final ScheduledExecutorService timers = Executors.newScheduledThreadPool(1, r -> {
    Thread t = new Thread(r, "caravan-timers");
    t.setDaemon(true);
    return t;
  });
  private String modelId;
  private LlamaConfig modelConfig;
  private String weightType;
  private Tokenizer tokenizer;
  private GrpcServer grpc;
  private HttpServer http;
  private GrpcServer internal;
  private MetricsServer metricsServer;
  private HazelcastInstance hz;
  private final PlanBook book = new PlanBook();
  private PipelineResults results;
  private PipelineExecutor executor;
  private String address; // host:port of the public API
  private EngineCore core;
  private EngineLoop loop;
  private volatile PlanManager plans; // read by the executor's failure reports, which may come before it is set
  private KvPlacements placements;

  public Coordinator(Config config, Security security) {
    this.config = config;
    this.security = security;
  }

  public Coordinator start() throws IOException {
    // the model: metadata and tokenizer only; the weights stay with the workers
    String fingerprint;
    long bytesPerLayer = 0;
    try (GgufFile f = GgufFile.open(config.model())) {
      modelConfig = LlamaConfig.from(f);
      tokenizer = Tokenizer.fromGguf(f.metadata());
      fingerprint = ModelIdentity.fingerprint(f);
      for (GgufTensorInfo t : f.tensors()) {
        if (t.name().startsWith("blk.0.")) {
          bytesPerLayer += t.byteSize();
        }
      }
      weightType = f.tensor("blk.0.attn_q.weight").map(t -> t.type().name()).orElse("?");
    }
    modelId = ModelIdentity.id(config.model());
    RequestValidator validator = new RequestValidator(modelId, tokenizer, modelConfig.contextLength(), new ChatPrompt(tokenizer));

    // One phase, each part built complete from the parts before it: the workers' result sink (its port is the
    // reply-to address of every frame), the executor, the cluster member, the core, and last the public API.
    ClusterTls tls = security.tls();
    PlanManager.Recovery recovery = PlanManager.Recovery.defaults(tls).withSpares(config.spares());
    // a batch past its step timeout fails only if a stage of its plan does not answer (a slow prompt chunk is not a loss)
    results = new PipelineResults(modelConfig.vocabSize(), config.stepTimeout(), timers, recovery.probe());
    // only workers deliver results (a worker's certificate), and no reflection on an internal port
    internal = new GrpcServer("coordinator-internal", tls.server(GrpcServer.netty(config.host(), config.internalPort())), List.of(new SinkService(results::deliver, config.framesInFlight())), List.of(RoleCheck.only(tls, Role.WORKER)), false).start();
    executor = new PipelineExecutor(config.host() + ":" + internal.port(), results, book, config.framesInFlight(), tls);

    Map<String, String> attrs = new HashMap<>();
    attrs.put(ClusterNames.ATTR_ROLE, ClusterNames.ROLE_COORDINATOR);
    attrs.put(ClusterNames.ATTR_MODEL, modelId);
    attrs.put(ClusterNames.ATTR_MODEL_FINGERPRINT, fingerprint);
    hz = ClusterMember.start(new ClusterMember.Options(security.secret().hazelcastClusterName(config.clusterName()), config.host(), config.hazelcastPort(), false, config.join(), attrs, false));
    placements = new KvPlacements(hz, book);

    SessionRegistry sessions = new SessionRegistry(placements, config.sessionIdle().toNanos(), config.kvReportInterval().toNanos());
    core = new EngineCore(new Scheduler(config.scheduler(), System::nanoTime), new ReportingFailures(executor, this::stageFailed), new OutputProcessor(tokenizer, metrics), sessions, metrics, System::nanoTime,
        new EngineCore.Settings(modelConfig.contextLength(), config.sessionIdle(), config.noPlanWait(), config.kvReportInterval(), config.maxFailovers()));
    loop = new EngineLoop(core, this::fatal).start();
    plans = new PlanManager(hz, modelId, fingerprint, modelConfig.layers(), bytesPerLayer, book, new CorePlanListener(core), new Pipeline(executor, placements), metrics, timers, recovery, security.secret()).start();

    // the public API and the workers' result sink listen on separate ports: clients never reach the sink
    InferenceService inference = new InferenceService(validator, tokenizer, core, new View(), metrics);
    // an API key on every Inference call when keys are configured; health and reflection stay open
    var publicPort = GrpcServer.netty(config.host(), config.grpcPort(), config.maxRequestBytes());
    List<io.grpc.ServerInterceptor> keyCheck = security.apiKeys() == null ? List.of() : List.of(new ApiKeyCheck(security.apiKeys()));
    grpc = new GrpcServer("coordinator", security.publicTls() == null ? publicPort : security.publicTls().server(publicPort), List.of(inference), keyCheck, true).start();
    address = config.host() + ":" + grpc.port();
    // the OpenAI-compatible HTTP API: the same validator and the same core as the gRPC API
    // with the gRPC API's keys and its public TLS certificate
    ApiKeys keys = security.apiKeys();
    HttpAuth auth = keys == null ? HttpAuth.ALLOW_ALL : header -> keys.verifyAuthorization(header) == ApiKeys.Verdict.OK;
    HttpApi httpApi = new HttpApi(validator, tokenizer, core, () -> book.serving() == null ? "no serving plan: waiting for workers to join and load the model" : null, auth, metrics);
    HttpServer.Settings httpSettings = HttpServer.Settings.of(config.host(), config.httpPort(), config.maxRequestBytes(), config.httpRequestTimeout(), config.httpIdleTimeout())
        .withMaxBufferedBytes(config.httpMaxBufferedBytes());
    http = new HttpServer(httpSettings, httpApi, security.publicTls() == null ? null : security.publicTls().httpContext()).start();
    metricsServer = MetricsServer.start(config.host(), config.metricsPort(), metrics.registry);
    LOG.info("security: internal port {} with {}; public APIs (gRPC and HTTP) {} with {}{}", internal.port(), tls.describe(), security.publicTls() == null ? "in plaintext" : "over " + security.publicTls(),
        security.apiKeys() == null ? "NO API KEYS (anyone who reaches port " + grpc.port() + " may call it; pass --api-keys FILE)" : security.apiKeys() + " required", security.secret().present() ? "; Hazelcast cluster joined by secret" : "");
    LOG.info("coordinator for {} ({} layers, {}) at {}, HTTP API on port {}, Hazelcast {}:{}, metrics on port {}", modelId, modelConfig.layers(), weightType, address, http.port(), config.host(), hz.getCluster().getLocalMember().getAddress().getPort(), metricsServer.port());
    return this;
  }

  public int grpcPort() {
    return grpc.port();
  }

  /** The OpenAI-compatible HTTP API's port. */
  public int httpPort() {
    return http.port();
  }

  public int metricsPort() {
    return metricsServer.port();
  }

  public int hazelcastPort() {
    return hz.getCluster().getLocalMember().getAddress().getPort();
  }

  /**
   * The core's thread hit an error it cannot pin on one request (out of memory, say): the coordinator says so to health
   * checks and exits, so a supervisor restarts it, rather than stay up healthy but dead.
   */
  private void fatal(Throwable t) {
    LOG.error("the serving core failed; NOT_SERVING, exiting", t);
    if (grpc != null) {
      grpc.setServing(false);
    }
    if (http != null) {
      http.setServing(false);
    }
    Runtime.getRuntime().halt(70);
  }

  /** Stops taking requests, lets running ones finish (up to the drain timeout), then stops. */
  public void drain() {
    if (grpc == null) {
      return;
    }
    LOG.info("draining: up to {} for running requests", config.drainTimeout());
    grpc.setServing(false);
    if (http != null) {
      http.setServing(false);
    }
    loop.drain(config.drainTimeout());
    close();
  }

  @Override
  public void close() {
    if (http != null) {
      http.setServing(false);
    }
    if (grpc != null) {
      grpc.drain(Duration.ofSeconds(1));
    }
    if (internal != null) {
      internal.drain(Duration.ofSeconds(1));
    }
    if (plans != null) {
      plans.close();
    }
    if (loop != null) {
      loop.close();
    }
    if (http != null) {
      http.close(Duration.ofSeconds(1)); // after the core: the requests it ended on stopping hear why
    }
    if (executor != null) {
      executor.close();
    }
    if (hz != null) {
      hz.shutdown();
    }
    if (metricsServer != null) {
      metricsServer.close();
    }
    timers.shutdownNow();
  }

  public void awaitTermination() throws InterruptedException {
    grpc.awaitTermination();
  }

  /** A batch failed as UNAVAILABLE: the plan owner probes that plan's stages (a worker that is gone is planned around at once). */
  private void stageFailed(long epoch, String why) {
    PlanManager p = plans;
    if (p != null) {
      p.stageFailed(epoch, why);
    }
  }

  /** The pipeline executor as the core sees it, telling the plan owner of every batch lost to an unreachable stage. */
  private record ReportingFailures(BatchExecutor inner, java.util.function.BiConsumer<Long, String> report) implements BatchExecutor {
    @Override
    public CompletableFuture<float[]> execute(ScheduledBatch batch) {
      CompletableFuture<float[]> result = inner.execute(batch);
      result.whenComplete((logits, error) -> {
        Throwable cause = error instanceof java.util.concurrent.CompletionException && error.getCause() != null ? error.getCause() : error;
        if (cause instanceof GenerationException ge && ge.error().kind() == GenerationError.Kind.UNAVAILABLE) {
          report.accept(batch.epoch(), ge.error().message());
        }
      });
      return result;
    }

    @Override
    public CompletableFuture<Void> release(long epoch, java.util.Collection<String> cacheKeys) {
      return inner.release(epoch, cacheKeys);
    }

    @Override
    public void close() {
      inner.close();
    }
  }

  /** The engine core as the plan owner's listener: plan changes go to its mailbox. */
  private final class CorePlanListener implements PlanListener {
    private final EngineCore core;

    CorePlanListener(EngineCore core) {
      this.core = core;
    }

    @Override
    public void servingPlanChanged(Plan plan, String unavailableReason) {
      core.setServingPlan(plan == null ? -1 : plan.epoch(), plan == null ? 0 : plan.stages().size(), plan == null ? Integer.MAX_VALUE : kvBlocks(plan), unavailableReason);
    }

    /**
     * The plan's KV budget in blocks per stage: the smallest over its workers of their {@code --kv-budget} divided by
     * what a block of their layers takes (F32 keys and values).
     */
    private int kvBlocks(Plan plan) {
      long blocks = Integer.MAX_VALUE;
      int kvDim = modelConfig.kvHeads() * modelConfig.headDim();
      for (StageAssignment s : plan.stages()) {
        long budget = 0;
        for (Member m : hz.getCluster().getMembers()) {
          if (m.getUuid().toString().equals(s.workerUuid())) {
            String b = m.getAttribute(ClusterNames.ATTR_KV_BUDGET);
            budget = b == null ? 0 : Long.parseLong(b);
          }
        }
        if (budget > 0) {
          long perBlock = 2L * (s.layerEnd() - s.layerStart()) * Scheduler.KV_BLOCK_TOKENS * kvDim * Float.BYTES;
          blocks = Math.min(blocks, budget / perBlock);
        }
      }
      return (int) blocks;
    }

    @Override
    public void planLost(long epoch, String message) {
      core.planLost(epoch, GenerationError.of(GenerationError.Kind.UNAVAILABLE, message));
    }

    @Override
    public CompletableFuture<Long> oldestEpochInUse() {
      return core.oldestEpochInUse();
    }

    @Override
    public void retireBelow(long epoch) {
      core.retireBelow(epoch);
    }
  }

  /** The pipeline transport, and the KV records of a lost worker (its caches went with it). */
  private record Pipeline(PipelineExecutor executor, KvPlacements placements) implements PipelineControl {
    @Override
    public void workerLost(String workerUuid, String why) {
      executor.workerLost(workerUuid, why);
      placements.removeWorker(workerUuid);
    }

    @Override
    public void retireBelow(long epoch) {
      executor.retireBelow(epoch);
    }
  }

  /** ListModels and ClusterStatus. */
  private final class View implements InferenceService.ClusterView {
    @Override
    public ListModelsResponse models() {
      Plan serving = book.serving();
      return ListModelsResponse.newBuilder()
          .addModels(ModelInfo.newBuilder()
              .setId(modelId)
              .setArchitecture("llama")
              .setLayers(modelConfig.layers())
              .setEmbeddingLength(modelConfig.dim())
              .setVocabSize(modelConfig.vocabSize())
              .setContextLength(modelConfig.contextLength())
              .setWeightType(weightType)
              .setReady(serving != null))
          .build();
    }

    @Override
    public ClusterStatusResponse status() {
      ClusterStatusResponse.Builder b = ClusterStatusResponse.newBuilder();
      if (address == null) {
        return b.build(); // still starting
      }
      PlanBook.Snapshot now = book.snapshot();
      for (Member m : hz.getCluster().getMembers()) {
        String uuid = m.getUuid().toString();
        var capacity = ClusterMember.capacity(m);
        String role = m.getAttribute(ClusterNames.ATTR_ROLE);
        b.addMembers(dev.caravan.proto.v1.Member.newBuilder()
            .setUuid(uuid)
            .setRole(role == null ? "unknown" : role)
            .setGrpcAddress(m.localMember() ? address : String.valueOf(m.getAttribute(ClusterNames.ATTR_GRPC)))
            .setFreeMemoryBytes(capacity.freeMemoryBytes())
            .setCores(capacity.cores())
            .setSecondsPerLayer(capacity.secondsPerLayer())
            .setState(now.drainingWorkers().contains(uuid) ? "draining" : now.serving() != null && now.serving().involves(uuid) || ClusterNames.ROLE_COORDINATOR.equals(role) ? "serving" : "joining"));
      }
      Plan latest = now.latest();
      if (latest != null) {
        dev.caravan.proto.v1.Plan.Builder pb = dev.caravan.proto.v1.Plan.newBuilder().setEpoch(latest.epoch()).setModel(latest.model()).setReady(latest.equals(now.serving()));
        for (StageAssignment s : latest.stages()) {
          pb.addStages(dev.caravan.proto.v1.PlanStage.newBuilder().setIndex(s.index()).setWorkerUuid(s.workerUuid()).setGrpcAddress(s.grpcAddress()).setLayerStart(s.layerStart()).setLayerEnd(s.layerEnd()));
        }
        b.setPlan(pb);
      }
      for (SessionPlacement p : placements.snapshot()) {
        var sp = dev.caravan.proto.v1.SessionPlacement.newBuilder().setCacheKey(p.cacheKey()).setPlanEpoch(p.planEpoch());
        for (var h : p.holdings()) {
          sp.addHoldings(KvHolding.newBuilder().setWorkerUuid(h.workerUuid()).setLayerStart(h.layerStart()).setLayerEnd(h.layerEnd()).setTokens(h.tokens()));
        }
        b.addKvPlacement(sp);
      }
      try {
        EngineCore.Load load = core.load().get(2, TimeUnit.SECONDS);
        b.setRunningRequests(load.running()).setWaitingRequests(load.waiting());
      } catch (Exception e) {
        // the loop is busy or stopping: leave the counts out
      }
      return b.build();
    }
  }
}
