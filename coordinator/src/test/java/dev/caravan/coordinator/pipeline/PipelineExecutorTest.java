package dev.caravan.coordinator.pipeline;

import static org.junit.jupiter.api.Assertions.assertFalse;
import dev.caravan.cluster.Activations;
import java.util.concurrent.atomic.AtomicInteger;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.Channels;
import dev.caravan.cluster.Plan;
import dev.caravan.cluster.StageAssignment;
import dev.caravan.coordinator.SinkService;
import dev.caravan.coordinator.core.GenerationError;
import dev.caravan.coordinator.core.GenerationException;
import dev.caravan.coordinator.core.InProcessExecutor;
import dev.caravan.coordinator.scheduler.ScheduledBatch;
import dev.caravan.coordinator.scheduler.Scheduler;
import dev.caravan.coordinator.scheduler.SchedulerConfig;
import dev.caravan.coordinator.scheduler.Sequence;
import dev.caravan.engine.TestData;
import dev.caravan.engine.model.LlamaModel;
import dev.caravan.engine.tensor.Parallel;
import dev.caravan.proto.v1.ActivationFrame;
import dev.caravan.proto.v1.FrameAck;
import dev.caravan.proto.v1.ReleaseRequest;
import dev.caravan.proto.v1.ReleaseResponse;
import dev.caravan.proto.v1.ShardGrpc;
import dev.caravan.worker.ShardNode;
import io.grpc.Server;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The coordinator's pipeline executor and its result sink over in-process gRPC, against two real shard nodes (the
 * worker's own classes, stories260K split in two): logits equal the in-process executor's bit for bit, and every way
 * a batch can fail ends it with an error naming where.
 */
class PipelineExecutorTest {
  private static final long EPOCH = 3;
  private final List<AutoCloseable> open = new ArrayList<>();
  private final ScheduledExecutorService timers = Executors.newSingleThreadScheduledExecutor();
  private final PlanBook book = new PlanBook();
  private Parallel parallel;
  private LlamaModel whole;
  private String sinkAddress;

  @BeforeEach
  void setUp() throws Exception {
    parallel = new Parallel(1);
    whole = LlamaModel.open(TestData.stories260K(), parallel);
  }

  @AfterEach
  void tearDown() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) {
      open.get(i).close();
    }
    timers.shutdownNow();
    whole.close();
    parallel.close();
  }

  private static String name(String prefix) {
    return prefix + "-" + UUID.randomUUID();
  }

  /** The sink server delivering into {@code results}. */
  private void sink(PipelineResults results) throws Exception {
    String name = name("sink");
    Server server = InProcessServerBuilder.forName(name).directExecutor().addService(new SinkService(results::deliver, 4)).build().start();
    open.add(() -> server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
    sinkAddress = Channels.IN_PROCESS + name;
  }

  private ShardNode node(String name) throws Exception {
    ShardNode n = new ShardNode(TestData.stories260K(), 1, Channels.IN_PROCESS + name, InProcessServerBuilder.forName(name), 4);
    open.add(n);
    return n;
  }

  /** Two nodes serving a two-stage plan of epoch EPOCH, published as the serving plan. */
  private Plan twoStages() throws Exception {
    String n0 = name("w0");
    String n1 = name("w1");
    ShardNode s0 = node(n0);
    ShardNode s1 = node(n1);
    int layers = whole.config().layers();
    Plan plan = new Plan(EPOCH, "stories260K", layers, List.of(new StageAssignment(0, "w0", s0.address(), 0, 2), new StageAssignment(1, "w1", s1.address(), 2, layers)));
    assertTrue(s0.install(plan, "w0"));
    assertTrue(s1.install(plan, "w1"));
    book.update(s -> s.withLatest(plan).withServing(plan));
    return plan;
  }

  private PipelineExecutor executor(Duration stepTimeout) throws Exception {
    return executor(new PipelineResults(whole.config().vocabSize(), stepTimeout, timers));
  }

  private PipelineExecutor executor(PipelineResults results) throws Exception {
    sink(results);
    PipelineExecutor e = new PipelineExecutor(sinkAddress, results, book, 2);
    open.add(e);
    return e;
  }

  /** The scheduler's batches for two sequences: the prompts together, then one decode step each. */
  private static List<ScheduledBatch> batches(Scheduler s, Sequence a, Sequence b) {
    s.add(a);
    s.add(b);
    s.admit();
    return List.of(s.schedule());
  }

  @Test
  void logitsThroughTwoStagesEqualTheInProcessExecutorsBitForBit() throws Exception {
    twoStages();
    PipelineExecutor pipeline = executor(Duration.ofSeconds(30));
    InProcessExecutor local = new InProcessExecutor(whole.layers());
    Scheduler scheduler = new Scheduler(new SchedulerConfig(4, 4, 64, 1), System::nanoTime);
    scheduler.setServingEpoch(EPOCH);
    Sequence a = new Sequence(1, "r:1", new int[] {1, 400, 401, 402}, 0, 4, 512, true, 0);
    Sequence b = new Sequence(2, "r:2", new int[] {1, 300}, 0, 4, 512, true, 0);
    for (int step = 0; step < 3; step++) {
      ScheduledBatch batch = step == 0 ? batches(scheduler, a, b).get(0) : scheduler.schedule();
      float[] expected = local.execute(batch).get();
      float[] got = pipeline.execute(batch).get(30, TimeUnit.SECONDS);
      assertArrayEquals(expected, got, "step " + step);
      int vocab = whole.config().vocabSize();
      int[] next = new int[batch.logitsRows()];
      for (int r = 0; r < next.length; r++) {
        next[r] = argmax(got, r * vocab, vocab);
      }
      scheduler.update(batch, next, new boolean[next.length]);
    }
  }

  @Test
  void aFrameForACacheAStageNoLongerHoldsFailsNamingThatStage() throws Exception {
    Plan plan = twoStages();
    PipelineExecutor pipeline = executor(Duration.ofSeconds(30));
    Scheduler scheduler = new Scheduler(new SchedulerConfig(4, 4, 64, 1), System::nanoTime);
    scheduler.setServingEpoch(EPOCH);
    Sequence a = new Sequence(1, "r:1", new int[] {1, 400, 401}, 0, 4, 512, true, 0);
    scheduler.add(a);
    scheduler.admit();
    ScheduledBatch prefill = scheduler.schedule();
    pipeline.execute(prefill).get(30, TimeUnit.SECONDS);
    scheduler.update(prefill, new int[] {402}, new boolean[1]);
    // stage 1 drops the cache behind the coordinator's back
    var channel = Channels.forAddress(plan.stages().get(1).grpcAddress());
    ReleaseResponse released = ShardGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS).release(ReleaseRequest.newBuilder().addCacheKeys("r:1").build());
    Channels.close(channel);
    assertEquals(1, released.getSessionsReleased());
    ExecutionException e = assertThrows(ExecutionException.class, () -> pipeline.execute(scheduler.schedule()).get(30, TimeUnit.SECONDS));
    GenerationException ge = (GenerationException) e.getCause();
    assertEquals(GenerationError.Kind.FAILED_PRECONDITION, ge.kind());
    assertTrue(ge.getMessage().startsWith("stage 1 (" + plan.stages().get(1).grpcAddress() + ")"), ge.getMessage());
  }

  @Test
  void aLostWorkerFailsTheBatchesOnItsPlanNamingTheStage() throws Exception {
    // a stage 0 that takes frames and never answers: the batch stays on its way until the worker is declared lost
    String name = silentPlan();
    int layers = whole.config().layers();
    PipelineExecutor pipeline = executor(Duration.ofSeconds(60));
    CompletableFuture<float[]> result = pipeline.execute(oneSequence());
    pipeline.workerLost("w-silent", "worker in-process:silent left the cluster");
    ExecutionException e = assertThrows(ExecutionException.class, () -> result.get(10, TimeUnit.SECONDS));
    assertEquals("stage 0 (worker " + Channels.IN_PROCESS + name + ", layers [0, " + layers + ")) was lost: worker in-process:silent left the cluster", e.getCause().getMessage());
    assertEquals(GenerationError.Kind.UNAVAILABLE, ((GenerationException) e.getCause()).kind());
  }

  @Test
  void noAnswerWithinTheStepTimeoutFailsUnavailable() throws Exception {
    String name = silentPlan();
    PipelineExecutor pipeline = executor(Duration.ofMillis(300));
    ExecutionException e = assertThrows(ExecutionException.class, () -> pipeline.execute(oneSequence()).get(10, TimeUnit.SECONDS));
    assertTrue(e.getCause().getMessage().startsWith("no answer from the pipeline within 0 s (stage 0 at " + Channels.IN_PROCESS + name), e.getCause().getMessage());
  }

  @Test
  void aSlowBatchWhoseStagesAnswerIsWaitedForUntilItsAnswerComes() throws Exception {
    // a stage that is busy (here: silent) but answers health checks: each step timeout probes it and waits again
    silentPlan();
    AtomicInteger probes = new AtomicInteger();
    PipelineResults results = new PipelineResults(whole.config().vocabSize(), Duration.ofMillis(50), timers, address -> {
      probes.incrementAndGet();
      return CompletableFuture.completedFuture(true);
    });
    PipelineExecutor pipeline = executor(results);
    ScheduledBatch batch = oneSequence();
    CompletableFuture<float[]> result = pipeline.execute(batch);
    while (probes.get() < 3) {
      assertFalse(result.isDone(), "the batch failed while its stage answered");
      Thread.sleep(10);
    }
    int vocab = whole.config().vocabSize();
    float[] logits = new float[batch.logitsRows() * vocab];
    logits[7] = 1.5f;
    results.deliver(ActivationFrame.newBuilder().setBatchId(batch.id()).setPlanEpoch(EPOCH).setActivations(Activations.toTensor(logits, batch.logitsRows(), vocab)).build());
    assertArrayEquals(logits, result.get(10, TimeUnit.SECONDS));
    assertEquals(0, results.size());
  }

  @Test
  void aSlowBatchFailsAfterTheMostStepTimeoutsEvenIfItsStagesAnswer() throws Exception {
    String name = silentPlan();
    AtomicInteger probes = new AtomicInteger();
    PipelineResults results = new PipelineResults(whole.config().vocabSize(), Duration.ofMillis(100), timers, address -> {
      probes.incrementAndGet();
      return CompletableFuture.completedFuture(true);
    });
    PipelineExecutor pipeline = executor(results);
    ExecutionException e = assertThrows(ExecutionException.class, () -> pipeline.execute(oneSequence()).get(30, TimeUnit.SECONDS));
    // 20 step timeouts of 0.1 s: probed after each of the first 19
    assertTrue(e.getCause().getMessage().startsWith("no answer from the pipeline within 2 s (stage 0 at " + Channels.IN_PROCESS + name), e.getCause().getMessage());
    assertEquals(PipelineResults.MAX_WAIT_STEPS - 1, probes.get());
    assertEquals(GenerationError.Kind.UNAVAILABLE, ((GenerationException) e.getCause()).kind());
  }

  @Test
  void aBatchPastItsStepTimeoutFailsWhenAStageDoesNotAnswer() throws Exception {
    String name = silentPlan();
    PipelineResults results = new PipelineResults(whole.config().vocabSize(), Duration.ofMillis(100), timers, address -> CompletableFuture.completedFuture(false));
    PipelineExecutor pipeline = executor(results);
    ExecutionException e = assertThrows(ExecutionException.class, () -> pipeline.execute(oneSequence()).get(10, TimeUnit.SECONDS));
    assertEquals("no answer from the pipeline within 0 s, and stage 0 at " + Channels.IN_PROCESS + name + " does not answer a health check (stage 0 at " + Channels.IN_PROCESS + name + ")", e.getCause().getMessage());
  }

  @Test
  void aBatchOfAnUnknownPlanFailsAtOnce() throws Exception {
    PipelineExecutor pipeline = executor(Duration.ofSeconds(30));
    ExecutionException e = assertThrows(ExecutionException.class, () -> pipeline.execute(oneSequence()).get(1, TimeUnit.SECONDS));
    assertEquals("plan #" + EPOCH + " is no longer available", e.getCause().getMessage());
  }

  /** A one-stage serving plan whose worker ("w-silent") is a {@link SilentShard}; returns its in-process name. */
  private String silentPlan() throws Exception {
    String name = name("silent");
    Server silent = InProcessServerBuilder.forName(name).directExecutor().addService(new SilentShard()).build().start();
    open.add(() -> silent.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
    int layers = whole.config().layers();
    Plan plan = new Plan(EPOCH, "stories260K", layers, List.of(new StageAssignment(0, "w-silent", Channels.IN_PROCESS + name, 0, layers)));
    book.update(s -> s.withLatest(plan).withServing(plan));
    return name;
  }

  private static ScheduledBatch oneSequence() {
    Scheduler scheduler = new Scheduler(new SchedulerConfig(4, 4, 64, 1), System::nanoTime);
    scheduler.setServingEpoch(EPOCH);
    scheduler.add(new Sequence(1, "r:1", new int[] {1, 400}, 0, 4, 512, true, 0));
    scheduler.admit();
    return scheduler.schedule();
  }

  private static int argmax(float[] v, int off, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) {
      if (v[off + i] > v[off + best]) {
        best = i;
      }
    }
    return best;
  }

  /** A Shard service that takes frames and never acknowledges or answers them (a hung worker). */
  private static final class SilentShard extends ShardGrpc.ShardImplBase {
    @Override
    public StreamObserver<ActivationFrame> forward(StreamObserver<FrameAck> acks) {
      return new StreamObserver<>() {
        @Override
        public void onNext(ActivationFrame frame) {}

        @Override
        public void onError(Throwable t) {}

        @Override
        public void onCompleted() {
          acks.onCompleted();
        }
      };
    }
  }
}
