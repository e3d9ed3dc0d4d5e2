package dev.caravan.coordinator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnknownFieldSet;
import dev.caravan.cluster.GrpcServer;
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
import dev.caravan.proto.v1.ClusterStatusRequest;
import dev.caravan.proto.v1.ClusterStatusResponse;
import dev.caravan.proto.v1.GenerateRequest;
import dev.caravan.proto.v1.GenerateResponse;
import dev.caravan.proto.v1.InferenceGrpc;
import dev.caravan.proto.v1.ListModelsRequest;
import dev.caravan.proto.v1.ListModelsResponse;
import dev.caravan.proto.v1.ModelInfo;
import dev.caravan.proto.v1.SamplingParams;
import dev.caravan.proto.v1.TokenIds;
import dev.caravan.proto.v1.TokenizeRequest;
import dev.caravan.proto.v1.TokenizeResponse;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.AfterProperty;
import net.jqwik.api.lifecycle.BeforeContainer;
import net.jqwik.api.statistics.Statistics;

/**
 * Fuzzes the public gRPC API ({@code caravan.v1.Inference}) through the real server stack: the coordinator's
 * {@link GrpcServer} (its marshaller guard, message size limit, health and reflection) on loopback Netty, in front of
 * the real {@link EngineCore} with the in-process executor on stories260K. Every call carries a short deadline.
 *
 * <ul>
 *   <li>{@link #rawBytesGetAClearAnswer}: random bytes, and valid requests' encodings mutated (bits, bytes, varints,
 *       lengths, truncation, splices), sent as the request message of every method (a byte[] marshaller, so invalid
 *       protobuf reaches the server), sometimes gzip-compressed, sometimes with a 17 MiB message;
 *   <li>{@link #hostileRequestsGetAClearAnswer}: well-formed messages with hostile values — every oneof case, edge and
 *       huge numbers, NaN and infinities, huge strings and repeated fields, invalid UTF-8, unknown fields (the guard's own
 *       marker field too), odd metadata — some cancelled by the client mid-stream.
 * </ul>
 *
 * <p>Each call must end (no hang) with OK and a well-formed answer, or a status from the expected set whose description
 * names the problem and holds no stack trace or Java class name; never UNKNOWN, INTERNAL or UNAVAILABLE. After each
 * property the server answers health SERVING, a greedy request still gives llama.cpp's tokens, and the core holds no
 * request and no KV cache. Tries: {@code -Dcaravan.fuzz.tries=N}.
 */
class GrpcApiFuzzTest {
  private static final String SERVICE = "caravan.v1.Inference";
  private static final List<String> METHODS = List.of("Generate", "Tokenize", "ListModels", "ClusterStatus");
  /** The coordinator's default --max-request-bytes. */
  private static final int MAX_REQUEST_BYTES = 16 << 20;
  private static final long DEADLINE_MILLIS = 3_000;
  /** Longer than any deadline: a call still open after this is a hang. */
  private static final long HANG_MILLIS = 30_000;
  private static final Set<Status.Code> EXPECTED = Set.of(Status.Code.OK, Status.Code.INVALID_ARGUMENT, Status.Code.NOT_FOUND, Status.Code.RESOURCE_EXHAUSTED,
      Status.Code.OUT_OF_RANGE, Status.Code.FAILED_PRECONDITION, Status.Code.DEADLINE_EXCEEDED);

  private static Parallel parallel;
  private static LlamaModel model;
  private static Tokenizer tokenizer;
  private static InProcessExecutor executor;
  private static EngineLoop loop;
  private static GrpcServer server;
  private static ManagedChannel channel;
  /** Per method and status: cases, and their total milliseconds. */
  private static final Map<String, long[]> counts = new ConcurrentHashMap<>();

  @BeforeContainer
  static void start() throws IOException {
    parallel = new Parallel(1);
    model = LlamaModel.open(Oracle.load("stories260K").modelPath(), parallel);
    tokenizer = Tokenizer.fromGguf(model.file().metadata());
    CoordinatorMetrics metrics = new CoordinatorMetrics();
    executor = new InProcessExecutor(model.layers());
    // sessions idle for a second are freed, so the cache is empty again soon after the last case
    EngineCore core = new EngineCore(new Scheduler(new SchedulerConfig(4, 8, 64, 1), System::nanoTime), executor, new OutputProcessor(tokenizer, metrics),
        new SessionRegistry(KvPlacementSink.NONE, Duration.ofSeconds(1).toNanos(), Duration.ofMillis(100).toNanos()), metrics, System::nanoTime,
        new EngineCore.Settings(model.config().contextLength(), Duration.ofSeconds(1), Duration.ofSeconds(5), Duration.ofMillis(100), 3));
    core.setServingPlan(0, 1, null);
    loop = new EngineLoop(core).start();
    InferenceService.ClusterView view = new InferenceService.ClusterView() {
      @Override
      public ListModelsResponse models() {
        return ListModelsResponse.newBuilder().addModels(ModelInfo.newBuilder().setId("stories260K").setArchitecture("llama").setReady(true)).build();
      }

      @Override
      public ClusterStatusResponse status() {
        return ClusterStatusResponse.getDefaultInstance();
      }
    };
    RequestValidator validator = new RequestValidator("stories260K", tokenizer, model.config().contextLength(), new ChatPrompt(tokenizer));
    // what Coordinator.start builds for the public port
    server = new GrpcServer("coordinator", GrpcServer.netty("127.0.0.1", 0, MAX_REQUEST_BYTES), List.of(new InferenceService(validator, tokenizer, core, view, metrics)), List.of(), true).start();
    channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().maxInboundMessageSize(64 << 20).build();
  }

  @AfterContainer
  static void stop() throws InterruptedException {
    System.out.println("gRPC fuzz outcomes:");
    counts.entrySet().stream().sorted(Map.Entry.comparingByKey())
        .forEach(e -> System.out.printf("  %-36s %7d calls, %7.1f ms each%n", e.getKey(), e.getValue()[0], (double) e.getValue()[1] / e.getValue()[0]));
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.stop();
    loop.close();
    model.close();
    parallel.close();
  }

  // ---- the properties --------------------------------------------------------------------------------------------

  @Property(shrinking = ShrinkingMode.BOUNDED)
  void rawBytesGetAClearAnswer(@ForAll("methods") String method, @ForAll("rawBodies") byte[] body, @ForAll boolean gzip) throws Exception {
    Outcome o = call(method, body, gzip, new Metadata(), -1);
    check(method, o, false);
  }

  @Property(shrinking = ShrinkingMode.BOUNDED)
  void hostileRequestsGetAClearAnswer(@ForAll("hostileCalls") HostileCall c) throws Exception {
    Outcome o = call(c.method, c.body, false, c.metadata, c.cancelAfter);
    check(c.method, o, c.cancelAfter >= 0);
  }

  /** After every property: the server is healthy, generates llama.cpp's greedy tokens, and holds nothing. */
  @AfterProperty
  void theServerIsStillWell() throws Exception {
    HealthCheckResponse health = HealthGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS).check(HealthCheckRequest.getDefaultInstance());
    assertEquals(HealthCheckResponse.ServingStatus.SERVING, health.getStatus());
    Oracle o = Oracle.load("stories260K");
    TokenIds.Builder ids = TokenIds.newBuilder();
    Arrays.stream(o.greedyPrompt).forEach(ids::addIds);
    GenerateRequest greedy = GenerateRequest.newBuilder().setPromptIds(ids).setMaxTokens(o.greedyIds.length).setIgnoreEos(true).setSampling(SamplingParams.newBuilder().setTemperature(0)).build();
    List<Integer> got = new ArrayList<>();
    InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS).generate(greedy).forEachRemaining(r -> got.addAll(r.getDelta().getTokenIdsList()));
    assertArrayEquals(o.greedyIds, got.stream().mapToInt(Integer::intValue).toArray(), "greedy tokens after the fuzzing");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (true) {
      EngineCore.Load load = loop.core().load().get(10, TimeUnit.SECONDS);
      int cached = executor.cachedSequences();
      if (load.running() == 0 && load.waiting() == 0 && cached == 0) {
        break;
      }
      assertTrue(System.nanoTime() < deadline, "the core still holds " + load + " and " + cached + " cached sequences a minute after the last case");
      Thread.sleep(50);
    }
  }

  // ---- one call, and what its answer must look like -----------------------------------------------------------------

  private static final MethodDescriptor.Marshaller<byte[]> BYTES = dev.caravan.cluster.testing.RawBytes.MARSHALLER;

  /** How a call ended: its status and the messages it got. */
  record Outcome(Status status, List<byte[]> messages, long millis) {}

  /**
   * Calls {@code method} with {@code body} as its request message (server-streaming on the client side for every
   * method: one unary answer is one message); cancels after {@code cancelAfter} messages when that is not negative.
   */
  private static Outcome call(String method, byte[] body, boolean gzip, Metadata headers, int cancelAfter) throws Exception {
    MethodDescriptor<byte[], byte[]> md = MethodDescriptor.<byte[], byte[]>newBuilder()
        .setType(MethodDescriptor.MethodType.SERVER_STREAMING)
        .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, method))
        .setRequestMarshaller(BYTES)
        .setResponseMarshaller(BYTES)
        .build();
    CallOptions options = CallOptions.DEFAULT.withDeadlineAfter(DEADLINE_MILLIS, TimeUnit.MILLISECONDS);
    if (gzip) {
      options = options.withCompression("gzip");
    }
    Channel ch = headers.keys().isEmpty() ? channel : ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(headers));
    ClientCall<byte[], byte[]> call = ch.newCall(md, options);
    List<byte[]> messages = new ArrayList<>();
    CompletableFuture<Status> ended = new CompletableFuture<>();
    ClientCalls.asyncServerStreamingCall(call, body, new ClientResponseObserver<byte[], byte[]>() {
      private ClientCallStreamObserver<byte[]> stream;

      @Override
      public void beforeStart(ClientCallStreamObserver<byte[]> requestStream) {
        stream = requestStream;
      }

      @Override
      public void onNext(byte[] value) {
        messages.add(value);
        if (cancelAfter >= 0 && messages.size() >= cancelAfter) {
          stream.cancel("the fuzzer cancels", null);
        }
      }

      @Override
      public void onError(Throwable t) {
        ended.complete(Status.fromThrowable(t));
      }

      @Override
      public void onCompleted() {
        ended.complete(Status.OK);
      }
    });
    if (cancelAfter == 0) {
      call.cancel("the fuzzer cancels at once", null);
    }
    long t0 = System.nanoTime();
    Status status;
    try {
      status = ended.get(HANG_MILLIS, TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      call.cancel("hung", null);
      throw new AssertionError(method + ": the call did not end within " + HANG_MILLIS + " ms of a " + DEADLINE_MILLIS + " ms deadline");
    }
    return new Outcome(status, messages, (System.nanoTime() - t0) / 1_000_000);
  }

  /** The call's answer is OK and well-formed, or an expected error naming the problem. */
  private static void check(String method, Outcome o, boolean cancelled) throws InvalidProtocolBufferException {
    Status s = o.status;
    String label = method + " " + s.getCode();
    long[] count = counts.computeIfAbsent(label, k -> new long[2]);
    synchronized (count) {
      count[0]++;
      count[1] += o.millis;
    }
    Statistics.collect(label);
    String d = s.getDescription();
    if (cancelled && s.getCode() == Status.Code.CANCELLED) {
      return; // the client's own cancellation; the server's cleanup is checked after the property
    }
    if (!METHODS.contains(method)) {
      assertEquals(Status.Code.UNIMPLEMENTED, s.getCode(), "unknown method " + method + ": " + s);
      return;
    }
    assertTrue(EXPECTED.contains(s.getCode()), method + " ended " + s + (s.getCause() != null ? " caused by " + s.getCause() : ""));
    if (s.getCode() != Status.Code.OK) {
      assertNotNull(d, method + " " + s.getCode() + " without a description");
      assertTrue(d.length() > 10, method + ": the description names the problem: " + d);
      String java = FuzzChecks.javaIn(d);
      assertTrue(java == null, () -> method + ": the description gives away Java ('" + java + "'): " + d);
      if (method.equals("Generate") && s.getCode() != Status.Code.DEADLINE_EXCEEDED) {
        for (byte[] m : o.messages) {
          assertTrue(GenerateResponse.parseFrom(m).hasDelta(), "only deltas before an error");
        }
      }
      return;
    }
    switch (method) {
      case "Generate" -> {
        assertFalse(o.messages.isEmpty(), "an OK stream ends with its done message");
        for (int i = 0; i < o.messages.size(); i++) {
          GenerateResponse r = GenerateResponse.parseFrom(o.messages.get(i));
          if (i < o.messages.size() - 1) {
            assertTrue(r.hasDelta(), "deltas, then one done");
          } else {
            assertTrue(r.hasDone() && r.getDone().getUsage().getPromptTokens() > 0, "the last message is the done with its usage: " + r);
          }
        }
      }
      case "Tokenize" -> {
        assertEquals(1, o.messages.size());
        TokenizeResponse t = TokenizeResponse.parseFrom(o.messages.getFirst());
        assertEquals(t.getIdsCount(), t.getPiecesCount());
      }
      case "ListModels" -> assertEquals("stories260K", ListModelsResponse.parseFrom(o.messages.getFirst()).getModels(0).getId());
      case "ClusterStatus" -> ClusterStatusResponse.parseFrom(o.messages.getFirst());
      default -> throw new AssertionError(method);
    }
  }

  // ---- raw bodies -----------------------------------------------------------------------------------------------

  @Provide
  Arbitrary<String> methods() {
    return Arbitraries.frequency(Tuple.of(10, "Generate"), Tuple.of(4, "Tokenize"), Tuple.of(2, "ListModels"), Tuple.of(2, "ClusterStatus"), Tuple.of(1, "Generat"),
        Tuple.of(1, "generate"), Tuple.of(1, "Shard/Run"));
  }

  @Provide
  Arbitrary<byte[]> rawBodies() {
    return Arbitraries.frequencyOf(
        Tuple.of(18, Arbitraries.bytes().array(byte[].class).ofMaxSize(64)),
        Tuple.of(6, Arbitraries.bytes().array(byte[].class).ofMinSize(64).ofMaxSize(4096)),
        Tuple.of(30, Combinators.combine(validRequests(), rawMutation().list().ofMinSize(1).ofMaxSize(5)).as(GrpcApiFuzzTest::mutate)),
        Tuple.of(30, Combinators.combine(validRequests(), rawMutation().list().ofMinSize(1).ofMaxSize(2)).as(GrpcApiFuzzTest::mutate)),
        Tuple.of(1, Arbitraries.of(MAX_REQUEST_BYTES + 1, MAX_REQUEST_BYTES - 1).map(n -> {
          byte[] b = new byte[n]; // a prompt field as long as the limit allows, or one byte too long
          int header = 1 + CodedOutputStream.computeUInt32SizeNoTag(n - 6);
          b[0] = 0x12; // field 2 (prompt), length-delimited
          ByteArrayOutputStream len = new ByteArrayOutputStream();
          try {
            CodedOutputStream c = CodedOutputStream.newInstance(len);
            c.writeUInt32NoTag(n - header);
            c.flush();
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
          System.arraycopy(len.toByteArray(), 0, b, 1, len.size());
          Arrays.fill(b, header, n, (byte) 'a');
          return b;
        })));
  }

  /** Encodings of valid requests of every method, small enough to mutate. */
  private static Arbitrary<byte[]> validRequests() {
    return Arbitraries.of(
        greedyRequest(new int[] {1, 403, 407}, 4).toByteArray(),
        GenerateRequest.newBuilder().setPrompt("Once upon a time").setMaxTokens(3).setSampling(SamplingParams.newBuilder().setTemperature(0.7f).setTopK(40).setTopP(0.9f).setMinP(0.05f).setRepeatPenalty(1.1f).setRepeatLastN(64).setSeed(7))
            .addStop("Lily").setSessionId("fuzz-1").setChat(true).build().toByteArray(),
        GenerateRequest.newBuilder().setModel("stories260K").setPrompt("The cat").setMaxTokens(2).setIgnoreEos(true).build().toByteArray(),
        TokenizeRequest.newBuilder().setText("Once upon a time <s>").setAddSpecial(true).setParseSpecial(true).build().toByteArray(),
        ListModelsRequest.getDefaultInstance().toByteArray(),
        ClusterStatusRequest.getDefaultInstance().toByteArray());
  }

  sealed interface RawMutation {
    byte[] apply(byte[] b);
  }

  record FlipBit(double at, int bit) implements RawMutation {
    @Override
    public byte[] apply(byte[] b) {
      if (b.length > 0) {
        b[(int) (at * b.length)] ^= (byte) (1 << bit);
      }
      return b;
    }
  }

  record SetByte(double at, byte value) implements RawMutation {
    @Override
    public byte[] apply(byte[] b) {
      if (b.length > 0) {
        b[(int) (at * b.length)] = value;
      }
      return b;
    }
  }

  /** Inserts bytes: random ones, an overlong varint, a huge length prefix, a field with invalid UTF-8, an end-group tag. */
  record InsertBytes(double at, byte[] bytes) implements RawMutation {
    @Override
    public byte[] apply(byte[] b) {
      int p = (int) (at * (b.length + 1)) % (b.length + 1);
      byte[] out = new byte[b.length + bytes.length];
      System.arraycopy(b, 0, out, 0, p);
      System.arraycopy(bytes, 0, out, p, bytes.length);
      System.arraycopy(b, p, out, p + bytes.length, b.length - p);
      return out;
    }

    @Override
    public String toString() {
      return "insert at " + at + " " + Arrays.toString(bytes);
    }
  }

  record DeleteBytes(double at, int count) implements RawMutation {
    @Override
    public byte[] apply(byte[] b) {
      int p = (int) (at * b.length);
      int n = Math.min(count, b.length - p);
      byte[] out = new byte[b.length - n];
      System.arraycopy(b, 0, out, 0, p);
      System.arraycopy(b, p + n, out, p, b.length - p - n);
      return out;
    }
  }

  record Truncate(double fraction) implements RawMutation {
    @Override
    public byte[] apply(byte[] b) {
      return Arrays.copyOf(b, (int) (fraction * b.length));
    }
  }

  /** The message twice, or its tail again: fields repeat (last one wins, repeated ones add up). */
  record Repeat(double from) implements RawMutation {
    @Override
    public byte[] apply(byte[] b) {
      int p = (int) (from * b.length);
      byte[] out = Arrays.copyOf(b, b.length + b.length - p);
      System.arraycopy(b, p, out, b.length, b.length - p);
      return out;
    }
  }

  private static Arbitrary<RawMutation> rawMutation() {
    Arbitrary<Double> at = Arbitraries.doubles().between(0, 1).ofScale(3).filter(d -> d < 1);
    Arbitrary<byte[]> inserted = Arbitraries.oneOf(
        Arbitraries.bytes().array(byte[].class).ofMinSize(1).ofMaxSize(8),
        Arbitraries.of(
            new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x01}, // an 11-byte varint
            new byte[] {0x12, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f}, // prompt of 4 GiB
            new byte[] {0x12, (byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, 0x08}, // prompt of 2 GiB
            new byte[] {0x0a, 0x02, (byte) 0xc3, 0x28}, // model: invalid UTF-8
            new byte[] {0x12, 0x03, (byte) 0xed, (byte) 0xa0, (byte) 0x80}, // prompt: a UTF-8 encoded surrogate
            new byte[] {0x32, 0x01, (byte) 0xff}, // stop: invalid UTF-8
            new byte[] {0x3a, 0x01, (byte) 0xfe}, // session_id: invalid UTF-8
            new byte[] {0x0c}, // end group without start
            new byte[] {0x0b, 0x0b, 0x0b}, // start group, nested, never ended
            new byte[] {0x1a, 0x05, 0x0a, 0x03, (byte) 0xff, (byte) 0xff, 0x7f}, // prompt_ids: a negative packed varint
            new byte[] {0x1a, 0x02, 0x08, 0x7f}, // prompt_ids: one id 127
            new byte[] {0x28, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x07}, // max_tokens: 2^31 - 1
            new byte[] {0x28, (byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0xf8, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x01}, // max_tokens: -2^31
            new byte[] {0x22, 0x05, 0x0d, 0x00, 0x00, (byte) 0xc0, 0x7f}, // sampling.temperature NaN
            new byte[] {0x22, 0x05, 0x0d, 0x00, 0x00, (byte) 0x80, (byte) 0xff}, // sampling.temperature -inf
            new byte[] {0x22, 0x02, 0x10, 0x7f}, // sampling.top_k 127
            new byte[] {0x22, 0x0b, 0x30, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x01}, // repeat_last_n -1
            new byte[] {(byte) 0xfa, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f, 0x01, 0x41}, // the guard's marker field (2^29 - 1), length-delimited
            new byte[] {(byte) 0xf8, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f, 0x01}, // the guard's marker field as a varint
            new byte[] {(byte) 0xfd, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f, 0x01, 0x02, 0x03, 0x04}, // ... as a fixed32
            new byte[] {0x42, 0x00}, // ignore_eos with the wrong wire type
            new byte[] {0x4f})); // field 9, wire type 7 (invalid)
    return Arbitraries.frequencyOf(
        Tuple.of(3, Combinators.combine(at, Arbitraries.integers().between(0, 7)).as(FlipBit::new)),
        Tuple.of(2, Combinators.combine(at, Arbitraries.bytes()).as(SetByte::new)),
        Tuple.of(4, Combinators.combine(at, inserted).as(InsertBytes::new)),
        Tuple.of(1, Combinators.combine(at, Arbitraries.integers().between(1, 16)).as(DeleteBytes::new)),
        Tuple.of(1, at.map(Truncate::new)),
        Tuple.of(1, at.map(Repeat::new)));
  }

  private static byte[] mutate(byte[] valid, List<RawMutation> mutations) {
    byte[] b = valid.clone();
    for (RawMutation m : mutations) {
      b = m.apply(b);
    }
    return b;
  }

  // ---- hostile but well-formed requests ---------------------------------------------------------------------------

  /** A call: the method, its request's bytes, metadata, and when the client cancels (-1: never). */
  record HostileCall(String method, byte[] body, Metadata metadata, int cancelAfter, java.util.function.Supplier<String> description) {
    @Override
    public String toString() {
      return method + " " + description.get() + (cancelAfter >= 0 ? ", cancelled after " + cancelAfter + " messages" : "") + " " + metadata;
    }
  }

  @Provide
  Arbitrary<HostileCall> hostileCalls() {
    Arbitrary<HostileCall> generate = Combinators.combine(generateRequests(), unknownFields(), invalidUtf8(), metadata(), Arbitraries.integers().between(-1, 3).map(i -> i == 3 ? -1 : i))
        .as((r, unknown, utf8, md, cancel) -> {
          GenerateRequest withUnknown = unknown.isEmpty() ? r : r.toBuilder().setUnknownFields(unknown.get()).build();
          return new HostileCall("Generate", concat(withUnknown.toByteArray(), utf8), md, cancel, () -> describe(withUnknown) + (utf8.length > 0 ? " + " + Arrays.toString(utf8) : ""));
        });
    Arbitrary<HostileCall> tokenize = Combinators.combine(text(), Arbitraries.of("", "stories260K", "llama-70b"), Arbitraries.of(true, false), Arbitraries.of(true, false), unknownFields(), metadata())
        .as((t, m, add, parse, unknown, md) -> {
          TokenizeRequest.Builder b = TokenizeRequest.newBuilder().setText(t).setModel(m).setAddSpecial(add).setParseSpecial(parse);
          unknown.ifPresent(b::setUnknownFields);
          return new HostileCall("Tokenize", b.build().toByteArray(), md, -1, () -> "text of " + t.length() + " chars, model '" + m + "'");
        });
    Arbitrary<HostileCall> listings = Combinators.combine(Arbitraries.of("ListModels", "ClusterStatus"), unknownFields(), metadata())
        .as((m, unknown, md) -> new HostileCall(m, unknown.map(UnknownFieldSet::toByteArray).orElse(new byte[0]), md, -1, () -> unknown.map(Object::toString).orElse("")));
    return Arbitraries.frequencyOf(Tuple.of(8, generate), Tuple.of(3, tokenize), Tuple.of(1, listings));
  }

  private static String describe(GenerateRequest r) {
    if (r.getSerializedSize() > 4096) {
      return "model of " + r.getModel().length() + " chars, prompt of " + r.getPrompt().length() + " chars / " + r.getPromptIds().getIdsCount() + " ids, " + r.getStopCount()
          + " stop strings of " + r.getStopList().stream().mapToInt(String::length).sum() + " chars, session_id of " + r.getSessionId().length() + " chars, max_tokens "
          + r.getMaxTokens() + ", sampling " + r.getSampling().toString().replace('\n', ' ') + ", " + r.getUnknownFields().asMap().size() + " unknown fields (" + r.getSerializedSize() + " bytes)";
    }
    return r.toString();
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  private static Arbitrary<GenerateRequest> generateRequests() {
    Arbitrary<String> models = Arbitraries.frequencyOf(Tuple.of(16, Arbitraries.just("")), Tuple.of(8, Arbitraries.just("stories260K")), Tuple.of(1, Arbitraries.strings().ofMaxLength(40)),
        Tuple.of(1, Arbitraries.of("STORIES260K", "stories260K ", "stories260K.gguf", "../stories260K", "\u0000")), Tuple.of(1, Arbitraries.integers().between(1_000, 2_000_000).map("m"::repeat)));
    Arbitrary<List<String>> stops = Arbitraries.frequencyOf(
        Tuple.of(16, Arbitraries.just(List.of())),
        Tuple.of(4, Arbitraries.oneOf(Arbitraries.strings().ofMaxLength(6), Arbitraries.of("", " ", ".", "Lily", "\n", "<s>", "</s>", "\uFFFD")).list().ofMaxSize(4)),
        Tuple.of(1, Arbitraries.strings().ofMinLength(250).ofMaxLength(300).list().ofMinSize(1).ofMaxSize(3)),
        Tuple.of(1, Arbitraries.strings().ofMaxLength(3).list().ofMinSize(15).ofMaxSize(20)),
        Tuple.of(1, Arbitraries.integers().between(1_000, 100_000).map(n -> java.util.Collections.nCopies(n, "x"))),
        Tuple.of(1, Arbitraries.integers().between(100_000, 1_000_000).map(n -> List.of("y".repeat(n)))));
    Arbitrary<String> sessions = Arbitraries.frequencyOf(
        Tuple.of(16, Arbitraries.just("")),
        Tuple.of(4, Arbitraries.strings().withChars("abcXYZ019._:-").ofMinLength(1).ofMaxLength(12)),
        Tuple.of(1, Arbitraries.strings().ofMinLength(1).ofMaxLength(20)),
        Tuple.of(1, Arbitraries.of("a".repeat(128), "a".repeat(129), "s p a c e", "../../etc/passwd", "fuzz-1", "\u00e9t\u00e9")),
        Tuple.of(1, Arbitraries.integers().between(1_000, 1_000_000).map("s"::repeat)));
    Arbitrary<Integer> maxTokens = Arbitraries.frequencyOf(
        Tuple.of(20, Arbitraries.integers().between(1, 8)),
        Tuple.of(2, Arbitraries.of(0, -1, Integer.MIN_VALUE, Integer.MAX_VALUE, 511, 512, 513, 100_000)),
        Tuple.of(1, Arbitraries.integers()));
    return Combinators.combine(
            Combinators.combine(models, input(), sampling(), maxTokens).as(Tuple::of),
            Combinators.combine(stops, sessions, Arbitraries.of(true, false), Arbitraries.of(true, false)).as(Tuple::of))
        .as((a, b) -> {
          GenerateRequest.Builder r = GenerateRequest.newBuilder().setModel(a.get1()).setMaxTokens(a.get4()).addAllStop(b.get1()).setSessionId(b.get2()).setIgnoreEos(b.get3()).setChat(b.get4());
          a.get2().apply(r);
          a.get3().ifPresent(r::setSampling);
          return r.build();
        });
  }

  /** Sets the request's oneof input: prompt text, prompt ids, or neither. */
  @FunctionalInterface
  interface Input {
    void apply(GenerateRequest.Builder r);
  }

  private static Arbitrary<Input> input() {
    int vocab = 512;
    Arbitrary<Integer> id = Arbitraries.frequencyOf(Tuple.of(40, Arbitraries.integers().between(0, vocab - 1)),
        Tuple.of(2, Arbitraries.of(-1, 0, 1, 2, vocab - 1, vocab, vocab + 1, Integer.MAX_VALUE, Integer.MIN_VALUE)), Tuple.of(1, Arbitraries.integers()));
    Arbitrary<List<Integer>> ids = Arbitraries.frequencyOf(
        Tuple.of(16, id.list().ofMaxSize(12)),
        Tuple.of(2, id.list().ofMinSize(500).ofMaxSize(520)),
        Tuple.of(1, Arbitraries.integers().between(1_000, 1_000_000).map(n -> java.util.Collections.nCopies(n, 5))));
    return Arbitraries.frequencyOf(
        Tuple.of(6, text().map(t -> r -> r.setPrompt(t))),
        Tuple.of(4, ids.map(list -> r -> r.setPromptIds(TokenIds.newBuilder().addAllIds(list)))),
        Tuple.of(1, Arbitraries.just(r -> r.clearInput())));
  }

  /** Prompt and tokenizer text: words, any Unicode (unpaired surrogates too), special-token text, long and huge. */
  private static Arbitrary<String> text() {
    return Arbitraries.frequencyOf(
        Tuple.of(1200, Arbitraries.of("Once upon a time", "The cat", "", " ", "\n\n", "<s>", "</s><s>", "<unk>", "<0x41>", "\u2581\u2581", "Lily", "\u0000", "\uFFFD\uFFFF",
            "\uD83D\uDE00 \u4e16\u754c", "\uD800", "\uDC00x\uD800")),
        Tuple.of(300, Arbitraries.strings().ofMaxLength(40)),
        Tuple.of(200, Arbitraries.strings().all().ofMaxLength(20)),
        Tuple.of(100, Arbitraries.integers().between(30, 3_000).map("Once upon a time. "::repeat)), // past the context once tokenized
        // the largest prompt text accepted (tokenizing 4 Mi characters takes seconds) and one character more
        Tuple.of(1, Arbitraries.just(RequestValidator.MAX_PROMPT_CHARS).map("a"::repeat)),
        Tuple.of(10, Arbitraries.just(RequestValidator.MAX_PROMPT_CHARS + 1).map("a"::repeat)));
  }

  private static Arbitrary<java.util.Optional<SamplingParams>> sampling() {
    Arbitrary<Float> floats = Arbitraries.frequencyOf(
        Tuple.of(12, Arbitraries.floats().between(0, 1)),
        Tuple.of(2, Arbitraries.of(0f, -0f, 1f, -1f, 0.5f, 1e-30f, Float.MIN_VALUE, Float.MAX_VALUE, -Float.MAX_VALUE, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1.0000001f, 100f)),
        Tuple.of(1, Arbitraries.floats()));
    Arbitrary<Integer> ints = Arbitraries.frequencyOf(Tuple.of(12, Arbitraries.integers().between(0, 100)),
        Tuple.of(2, Arbitraries.of(-1, 0, 1, 511, 512, 513, 1 << 20, Integer.MAX_VALUE, Integer.MIN_VALUE)), Tuple.of(1, Arbitraries.integers()));
    Arbitrary<Long> seeds = Arbitraries.oneOf(Arbitraries.longs(), Arbitraries.of(0L, -1L, Long.MIN_VALUE, Long.MAX_VALUE));
    Arbitrary<java.util.Optional<Float>> f = floats.optional(0.3);
    Arbitrary<java.util.Optional<Integer>> i = ints.optional(0.3);
    return Combinators.combine(f, i, f, f, f, i, seeds.optional(0.5), Arbitraries.of(true, false)).as((temp, topK, topP, minP, rep, lastN, seed, present) -> {
      if (!present) {
        return java.util.Optional.<SamplingParams>empty();
      }
      SamplingParams.Builder b = SamplingParams.newBuilder();
      temp.ifPresent(b::setTemperature);
      topK.ifPresent(b::setTopK);
      topP.ifPresent(b::setTopP);
      minP.ifPresent(b::setMinP);
      rep.ifPresent(b::setRepeatPenalty);
      lastN.ifPresent(b::setRepeatLastN);
      seed.ifPresent(b::setSeed);
      return java.util.Optional.of(b.build());
    });
  }

  /** Fields no request has: any number (the guard's marker 2^29 - 1 too), any wire type. */
  private static Arbitrary<java.util.Optional<UnknownFieldSet>> unknownFields() {
    Arbitrary<Integer> number = Arbitraries.frequencyOf(Tuple.of(4, Arbitraries.integers().between(10, 1000)), Tuple.of(2, Arbitraries.of((1 << 29) - 1, (1 << 29) - 2, 19000, 19999, 100)),
        Tuple.of(1, Arbitraries.integers().between(1, (1 << 29) - 1)));
    Arbitrary<UnknownFieldSet.Field> field = Arbitraries.oneOf(
        Arbitraries.longs().map(v -> UnknownFieldSet.Field.newBuilder().addVarint(v).build()),
        Arbitraries.integers().map(v -> UnknownFieldSet.Field.newBuilder().addFixed32(v).build()),
        Arbitraries.longs().map(v -> UnknownFieldSet.Field.newBuilder().addFixed64(v).build()),
        Arbitraries.bytes().array(byte[].class).ofMaxSize(32).map(v -> UnknownFieldSet.Field.newBuilder().addLengthDelimited(ByteString.copyFrom(v)).build()),
        Arbitraries.integers().between(1, 100_000).map(n -> UnknownFieldSet.Field.newBuilder().addLengthDelimited(ByteString.copyFrom(new byte[n])).build()));
    Arbitrary<UnknownFieldSet> set = Combinators.combine(number, field).as(Tuple::of).list().ofMinSize(1).ofMaxSize(4).map(fs -> {
      UnknownFieldSet.Builder b = UnknownFieldSet.newBuilder();
      fs.forEach(t -> b.mergeField(t.get1(), t.get2()));
      return b.build();
    });
    return set.optional(0.3);
  }

  /** A string field appended with bytes that are not UTF-8 (proto3 refuses them), or nothing. */
  private static Arbitrary<byte[]> invalidUtf8() {
    Arbitrary<byte[]> bad = Arbitraries.of(new byte[] {(byte) 0xc3, 0x28}, new byte[] {(byte) 0xff}, new byte[] {(byte) 0xed, (byte) 0xa0, (byte) 0x80}, new byte[] {(byte) 0xf8, (byte) 0x88, (byte) 0x80, (byte) 0x80, (byte) 0x80},
        new byte[] {(byte) 0xc0, (byte) 0x80}, new byte[] {(byte) 0xe2, (byte) 0x82});
    return Arbitraries.frequencyOf(
        Tuple.of(9, Arbitraries.just(new byte[0])),
        Tuple.of(1, Combinators.combine(Arbitraries.of(1, 2, 6, 7), bad).as((field, bytes) -> {
          ByteArrayOutputStream out = new ByteArrayOutputStream();
          try {
            CodedOutputStream c = CodedOutputStream.newInstance(out);
            c.writeByteArray(field, bytes);
            c.flush();
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
          return out.toByteArray();
        })));
  }

  /** Request metadata: none, odd keys and values, an API key (none is checked yet). */
  private static Arbitrary<Metadata> metadata() {
    Arbitrary<String> key = Arbitraries.oneOf(Arbitraries.strings().withChars("abcdefghijklmnopqrstuvwxyz0123456789-_.").ofMinLength(1).ofMaxLength(20).filter(k -> !k.startsWith("grpc-")),
        Arbitraries.of("authorization", "x-api-key", "user-agent", "content-type", "te", "x-caravan-session"));
    Arbitrary<String> value = Arbitraries.oneOf(Arbitraries.strings().withCharRange(' ', '~').ofMaxLength(40), Arbitraries.of("Bearer ", "Bearer x", "", " ", "application/grpc+json"),
        // long values, but under the 8 KiB of metadata the server advertises (gRPC's client refuses to send more)
        Arbitraries.integers().between(1_000, 2_400).map("v"::repeat));
    return Combinators.combine(key, value).as(Tuple::of).list().ofMaxSize(3).map(kvs -> {
      Metadata md = new Metadata();
      for (var kv : kvs) {
        if (!kv.get1().equals("content-type") && !kv.get1().equals("te")) {
          md.put(Metadata.Key.of(kv.get1(), Metadata.ASCII_STRING_MARSHALLER), kv.get2());
        }
      }
      return md;
    });
  }

  private static GenerateRequest greedyRequest(int[] prompt, int maxTokens) {
    TokenIds.Builder ids = TokenIds.newBuilder();
    Arrays.stream(prompt).forEach(ids::addIds);
    return GenerateRequest.newBuilder().setPromptIds(ids).setMaxTokens(maxTokens).setIgnoreEos(true).setSampling(SamplingParams.newBuilder().setTemperature(0)).build();
  }
}
