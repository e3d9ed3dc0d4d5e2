package dev.caravan.coordinator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.coordinator.core.EngineCore;
import dev.caravan.coordinator.core.EngineLoop;
import dev.caravan.coordinator.core.InProcessExecutor;
import dev.caravan.coordinator.core.KvPlacementSink;
import dev.caravan.coordinator.core.OutputProcessor;
import dev.caravan.coordinator.core.SessionRegistry;
import dev.caravan.coordinator.scheduler.Scheduler;
import dev.caravan.coordinator.scheduler.SchedulerConfig;
import dev.caravan.engine.Oracle;
import dev.caravan.engine.model.LlamaModel;
import dev.caravan.engine.tensor.Parallel;
import dev.caravan.engine.tokenizer.ChatPrompt;
import dev.caravan.engine.tokenizer.Tokenizer;
import dev.caravan.proto.v1.ClusterStatusResponse;
import dev.caravan.proto.v1.GenerateRequest;
import dev.caravan.proto.v1.GenerateResponse;
import dev.caravan.proto.v1.InferenceGrpc;
import dev.caravan.proto.v1.ListModelsResponse;
import dev.caravan.proto.v1.SamplingParams;
import dev.caravan.proto.v1.TokenIds;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The public Inference service over in-process gRPC, in front of the real core and the in-process executor on
 * stories260K: the stream carries what the engine generates, a slow reader is served with flow control, a cancelled
 * call frees its cache, and bad requests get the right status.
 */
class InferenceServiceTest {
  private static Parallel parallel;
  private static LlamaModel model;
  private static Tokenizer tokenizer;
  private InProcessExecutor executor;
  private CoordinatorMetrics metrics;
  private EngineLoop loop;
  private Server server;
  private ManagedChannel channel;

  @BeforeAll
  static void open() throws Exception {
    parallel = new Parallel(2);
    model = LlamaModel.open(Oracle.load("stories260K").modelPath(), parallel);
    tokenizer = Tokenizer.fromGguf(model.file().metadata());
  }

  @AfterAll
  static void close() {
    model.close();
    parallel.close();
  }

  @BeforeEach
  void setUp() throws Exception {
    metrics = new CoordinatorMetrics();
    executor = new InProcessExecutor(model.layers());
    EngineCore core = new EngineCore(new Scheduler(new SchedulerConfig(4, 4, 64, 1), System::nanoTime), executor, new OutputProcessor(tokenizer, metrics),
        new SessionRegistry(KvPlacementSink.NONE, Duration.ofMinutes(5).toNanos(), Duration.ofMillis(100).toNanos()), metrics, System::nanoTime,
        new EngineCore.Settings(model.config().contextLength(), Duration.ofMinutes(5), Duration.ofSeconds(5), Duration.ofMillis(100), 3));
    core.setServingPlan(0, 1, null);
    loop = new EngineLoop(core).start();
    InferenceService.ClusterView view = new InferenceService.ClusterView() {
      @Override
      public ListModelsResponse models() {
        return ListModelsResponse.getDefaultInstance();
      }

      @Override
      public ClusterStatusResponse status() {
        return ClusterStatusResponse.getDefaultInstance();
      }
    };
    String name = "inference-" + UUID.randomUUID();
    server = InProcessServerBuilder.forName(name).addService(new InferenceService(new RequestValidator("stories260K", tokenizer, model.config().contextLength(), new ChatPrompt(tokenizer)), tokenizer, core, view, metrics)).build().start();
    channel = InProcessChannelBuilder.forName(name).build();
  }

  @AfterEach
  void tearDown() throws Exception {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    loop.close();
  }

  private static GenerateRequest greedy(int[] prompt, int maxTokens) {
    TokenIds.Builder ids = TokenIds.newBuilder();
    Arrays.stream(prompt).forEach(ids::addIds);
    return GenerateRequest.newBuilder().setPromptIds(ids).setMaxTokens(maxTokens).setIgnoreEos(true).setSampling(SamplingParams.newBuilder().setTemperature(0)).build();
  }

  @Test
  void theStreamCarriesLlamaCppsGreedyTokens() throws Exception {
    Oracle o = Oracle.load("stories260K");
    Iterator<GenerateResponse> it = InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS).generate(greedy(o.greedyPrompt, o.greedyIds.length));
    List<Integer> ids = new ArrayList<>();
    GenerateResponse last = null;
    while (it.hasNext()) {
      last = it.next();
      ids.addAll(last.getDelta().getTokenIdsList());
    }
    assertArrayEquals(o.greedyIds, ids.stream().mapToInt(Integer::intValue).toArray());
    assertEquals(o.greedyIds.length, last.getDone().getUsage().getCompletionTokens());
  }

  @Test
  void aReaderThatIsNotReadyGetsTheTextCoalescedAndNothingLost() throws Exception {
    Oracle o = Oracle.load("stories260K");
    int n = o.greedyIds.length;
    // ask for no message until the whole generation is over, then for all of them
    CompletableFuture<Void> ended = new CompletableFuture<>();
    List<GenerateResponse> got = new ArrayList<>();
    ClientCallStreamObserver<?>[] call = new ClientCallStreamObserver<?>[1];
    InferenceGrpc.newStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS).generate(greedy(o.greedyPrompt, n), new ClientResponseObserver<GenerateRequest, GenerateResponse>() {
      @Override
      public void beforeStart(ClientCallStreamObserver<GenerateRequest> requestStream) {
        call[0] = requestStream;
        requestStream.disableAutoRequestWithInitial(1);
      }

      @Override
      public synchronized void onNext(GenerateResponse r) {
        got.add(r);
      }

      @Override
      public void onError(Throwable t) {
        ended.completeExceptionally(t);
      }

      @Override
      public void onCompleted() {
        ended.complete(null);
      }
    });
    // the core finishes the request while the client holds back (the in-process executor is fast); then read all
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (metrics.requestSuccess.labelValues("length").get() < 1) {
      assertTrue(System.nanoTime() < deadline, "the generation ends while the client reads nothing");
      Thread.onSpinWait();
    }
    call[0].request(1_000); // (Integer.MAX_VALUE overflows a counter inside gRPC's in-process transport)
    ended.get(30, TimeUnit.SECONDS);
    List<Integer> ids = new ArrayList<>();
    StringBuilder text = new StringBuilder();
    synchronized (this) {
      for (GenerateResponse r : got) {
        ids.addAll(r.getDelta().getTokenIdsList());
        text.append(r.getDelta().getText());
      }
    }
    assertArrayEquals(o.greedyIds, ids.stream().mapToInt(Integer::intValue).toArray(), "every token arrived, in order");
    assertTrue(got.size() < n, got.size() + " messages for " + n + " tokens: deltas waiting for the reader were coalesced");
    assertTrue(got.getLast().hasDone());
    assertTrue(text.toString().startsWith(" time, there was a little girl named Lily."), text.toString());
  }

  @Test
  void aCancelledCallFreesItsCache() throws Exception {
    Iterator<GenerateResponse> it = InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS).generate(greedy(tokenizer.encode("Once upon a", true, false), 10_000));
    it.next(); // generating
    assertEquals(1, executor.cachedSequences());
    channel.shutdownNow(); // the client goes away mid-stream
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (executor.cachedSequences() > 0) {
      assertTrue(System.nanoTime() < deadline, "the cancelled request's cache is freed");
      Thread.onSpinWait();
    }
    assertEquals(0, loop.core().load().get().running());
  }

  @Test
  void badRequestsGetTheRightStatusNamingTheProblem() {
    var stub = InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> stub.generate(greedy(new int[] {1, 5}, 0)).next());
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
    assertEquals("max_tokens must be positive, not 0", e.getStatus().getDescription());
    e = assertThrows(StatusRuntimeException.class, () -> stub.generate(greedy(new int[] {1, 5}, 4).toBuilder().setModel("llama-70b").build()).next());
    assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
    e = assertThrows(StatusRuntimeException.class, () -> stub.generate(greedy(new int[] {1, 99_999}, 4)).next());
    assertTrue(e.getStatus().getDescription().contains("prompt_ids[1] = 99999 is outside the vocabulary"), e.getStatus().getDescription());
  }
}
