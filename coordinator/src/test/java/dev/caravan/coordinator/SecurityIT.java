package dev.caravan.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.Channels;
import dev.caravan.cluster.security.Certificates;
import dev.caravan.cluster.security.ClusterTls;
import dev.caravan.cluster.security.Role;
import dev.caravan.cluster.security.SecretFiles;
import dev.caravan.cluster.testing.LocalCluster;
import dev.caravan.engine.TestData;
import dev.caravan.proto.v1.ActivationFrame;
import dev.caravan.proto.v1.ClusterStatusResponse;
import dev.caravan.proto.v1.FrameAck;
import dev.caravan.proto.v1.GenerateResponse;
import dev.caravan.proto.v1.InferenceGrpc;
import dev.caravan.proto.v1.ListModelsRequest;
import dev.caravan.proto.v1.PipelineSinkGrpc;
import dev.caravan.proto.v1.ReleaseRequest;
import dev.caravan.proto.v1.SequenceChunk;
import dev.caravan.proto.v1.ShardGrpc;
import dev.caravan.proto.v1.StageError;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The probe of issue 11 against a real, secured cluster (a coordinator and two workers, each its own JVM; mutual TLS
 * with a CA made for the run, a join secret, API keys on the public API): every call that got through before is refused
 * now — no key, a wrong key, no certificate, another CA's certificate, a worker's certificate where only the
 * coordinator's may call, a forged frame to the sink, a retirement "from the future" — and the cluster keeps serving.
 */
class SecurityIT {
  private static final String KEY = "it-key-" + java.util.UUID.randomUUID();
  private static LocalCluster cluster;
  private static ClusterTls coordinatorCert; // issued by the cluster's CA: what a stolen coordinator certificate could do
  private static ClusterTls workerCert;
  @TempDir static Path dir;

  @BeforeAll
  static void start() throws Exception {
    Path keys = dir.resolve("api-keys");
    Files.writeString(keys, "# the team's key\n" + KEY + "\n");
    SecretFiles.ownerOnly(keys);
    cluster = LocalCluster.start(TestData.stories260K(), "security", "--api-keys", keys.toString());
    cluster.addWorker();
    cluster.addWorker();
    cluster.awaitServing(2, Duration.ofSeconds(120));
    coordinatorCert = ClusterTls.load(cluster.issue("probe-coordinator", Role.COORDINATOR), cluster.tlsDir().resolve("probe-coordinator.key"), cluster.caCert());
    workerCert = ClusterTls.load(cluster.issue("probe-worker", Role.WORKER), cluster.tlsDir().resolve("probe-worker.key"), cluster.caCert());
    // an impostor: a certificate from another CA (it may well have our public ca.pem to trust our servers)
    Certificates.Issued other = Certificates.authority("impostor CA", Duration.ofDays(1));
    Certificates.issue(other, "impostor", Role.COORDINATOR, List.of("127.0.0.1"), Duration.ofDays(1)).write(dir, "impostor");
  }

  @AfterAll
  static void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  private static int generate(InferenceGrpc.InferenceBlockingStub stub) {
    Iterator<GenerateResponse> it = stub.withDeadlineAfter(60, TimeUnit.SECONDS).generate(GenerationClient.greedy("Once upon a time", 8).build());
    int tokens = 0;
    while (it.hasNext()) {
      GenerateResponse r = it.next();
      if (r.hasDone()) {
        tokens = r.getDone().getUsage().getCompletionTokens();
      }
    }
    return tokens;
  }

  private static InferenceGrpc.InferenceBlockingStub withAuthorization(String value) {
    Metadata md = new Metadata();
    md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), value);
    return InferenceGrpc.newBlockingStub(cluster.channel()).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md));
  }

  private static List<String> workerAddresses() {
    ClusterStatusResponse s = cluster.status();
    List<String> out = new ArrayList<>();
    s.getPlan().getStagesList().forEach(st -> out.add(st.getGrpcAddress()));
    return out;
  }

  private static <T> T with(String address, ClusterTls as, Function<ManagedChannel, T> f) {
    ManagedChannel ch = Channels.forAddress(address, as);
    try {
      return f.apply(ch);
    } finally {
      Channels.close(ch);
    }
  }

  private static ManagedChannel impostor(String address) throws Exception {
    return NettyChannelBuilder.forTarget(address).sslContext(GrpcSslContexts.forClient()
        .keyManager(dir.resolve("impostor.pem").toFile(), dir.resolve("impostor.key").toFile())
        .trustManager(cluster.caCert().toFile()).build()).build();
  }

  private static Status retireEverything(ManagedChannel ch) {
    try {
      ShardGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS).release(ReleaseRequest.newBuilder().setRetireBelowEpoch(1L << 62).build());
      return Status.OK;
    } catch (StatusRuntimeException e) {
      return e.getStatus();
    }
  }

  @Test
  void theClusterServesOverMutualTlsAndTheKeyedPublicApi() {
    assertEquals(8, generate(cluster.withKey(InferenceGrpc.newBlockingStub(cluster.channel()))));
    assertTrue(cluster.coordinator().logText().contains("internal port " + cluster.internalPort() + " with mutual TLS as"), "the coordinator says how it is secured");
    assertFalse(cluster.coordinator().logText().contains(KEY), "the key is never logged");
  }

  @Test
  void thePublicApiRefusesAMissingOrWrongKeyButHealthAndReflectionStayOpen() {
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> generate(InferenceGrpc.newBlockingStub(cluster.channel())));
    assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
    assertTrue(e.getStatus().getDescription().contains("missing API key"), e.getStatus().toString());

    String wrong = KEY + "-wrong";
    e = assertThrows(StatusRuntimeException.class, () -> withAuthorization("Bearer " + wrong).listModels(ListModelsRequest.getDefaultInstance()));
    assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
    assertEquals("invalid API key", e.getStatus().getDescription(), "names the problem, never the key");

    assertEquals(1, withAuthorization("Bearer " + KEY).listModels(ListModelsRequest.getDefaultInstance()).getModelsCount());
    assertEquals(HealthCheckResponse.ServingStatus.SERVING, HealthGrpc.newBlockingStub(cluster.channel()).withDeadlineAfter(10, TimeUnit.SECONDS).check(HealthCheckRequest.getDefaultInstance()).getStatus());
    assertTrue(listServices(cluster.channel()).contains("caravan.v1.Inference"), "reflection on the public port");
    assertFalse(cluster.coordinator().logText().contains(wrong), "nor is a wrong key logged");
  }

  @Test
  void theHttpApiTakesTheSameKeysAndKeepsHealthOpen() throws Exception {
    try (java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient()) {
      java.util.function.BiFunction<String, String, java.net.http.HttpResponse<String>> post = (authorization, body) -> {
        var b = java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + cluster.httpPort() + "/v1/completions"))
            .header("Content-Type", "application/json").timeout(Duration.ofSeconds(60)).POST(java.net.http.HttpRequest.BodyPublishers.ofString(body));
        if (authorization != null) {
          b.header("Authorization", authorization);
        }
        try {
          return http.send(b.build(), java.net.http.HttpResponse.BodyHandlers.ofString());
        } catch (java.io.IOException | InterruptedException e) {
          throw new AssertionError(e);
        }
      };
      String body = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 8, \"temperature\": 0}";
      var none = post.apply(null, body);
      assertEquals(401, none.statusCode(), none.body());
      assertTrue(none.body().contains("invalid_api_key"), none.body());
      var wrong = post.apply("Bearer " + KEY + "-wrong", body);
      assertEquals(401, wrong.statusCode(), wrong.body());
      assertFalse(wrong.body().contains(KEY), "the refusal never echoes the key");
      var right = post.apply("Bearer " + KEY, body);
      assertEquals(200, right.statusCode(), right.body());
      assertTrue(right.body().contains("\"completion_tokens\":8"), right.body());
      var health = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + cluster.httpPort() + "/health")).timeout(Duration.ofSeconds(10)).build(),
          java.net.http.HttpResponse.BodyHandlers.ofString());
      assertEquals(200, health.statusCode(), "health needs no key: " + health.body());
    }
  }

  @Test
  void aWorkersPortRefusesEveryoneButTheClustersCoordinatorForControl() throws Exception {
    for (String worker : workerAddresses()) {
      // no TLS at all (what the probe did)
      assertEquals(Status.Code.UNAVAILABLE, with(worker, ClusterTls.insecure(), SecurityIT::retireEverything).getCode());
      // a certificate from another CA
      ManagedChannel ch = impostor(worker);
      try {
        assertEquals(Status.Code.UNAVAILABLE, retireEverything(ch).getCode());
      } finally {
        Channels.close(ch);
      }
      // the cluster's CA, but a worker's certificate: only the coordinator controls workers
      Status s = with(worker, workerCert, SecurityIT::retireEverything);
      assertEquals(Status.Code.PERMISSION_DENIED, s.getCode(), s.toString());
      // reflection is off on an internal port, even for a member
      assertEquals(List.of("UNIMPLEMENTED"), with(worker, coordinatorCert, ch2 -> List.of(listServicesStatus(ch2).getCode().name())));
    }
  }

  @Test
  void anEpochFromTheFutureIsRefusedAndThePlanStaysReady() {
    long epoch = cluster.status().getPlan().getEpoch();
    for (String worker : workerAddresses()) {
      Status s = with(worker, coordinatorCert, SecurityIT::retireEverything);
      assertEquals(Status.Code.FAILED_PRECONDITION, s.getCode(), s.toString());
      assertTrue(s.getDescription().contains("later than the newest plan this worker knows"), s.toString());
    }
    ClusterStatusResponse after = cluster.status();
    assertTrue(after.getPlan().getReady());
    assertEquals(epoch, after.getPlan().getEpoch());
    assertEquals(8, generate(cluster.withKey(InferenceGrpc.newBlockingStub(cluster.channel()))), "the cluster keeps serving");
  }

  @Test
  void theCoordinatorsSinkTakesFramesOnlyFromWorkers() throws Exception {
    String sink = "127.0.0.1:" + cluster.internalPort();
    assertEquals(Status.Code.UNAVAILABLE, with(sink, ClusterTls.insecure(), SecurityIT::forge).getCode());
    ManagedChannel ch = impostor(sink);
    try {
      assertEquals(Status.Code.UNAVAILABLE, forge(ch).getCode());
    } finally {
      Channels.close(ch);
    }
    Status s = with(sink, coordinatorCert, SecurityIT::forge);
    assertEquals(Status.Code.PERMISSION_DENIED, s.getCode(), "a coordinator's certificate does not deliver results: " + s);
    assertEquals(8, generate(cluster.withKey(InferenceGrpc.newBlockingStub(cluster.channel()))));
  }

  /** Sends a forged error frame to a PipelineSink; the status its stream ends with. */
  private static Status forge(ManagedChannel ch) {
    CompletableFuture<Status> end = new CompletableFuture<>();
    StreamObserver<ActivationFrame> frames = PipelineSinkGrpc.newStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS).deliver(new StreamObserver<>() {
      @Override
      public void onNext(FrameAck ack) {}

      @Override
      public void onError(Throwable t) {
        end.complete(Status.fromThrowable(t));
      }

      @Override
      public void onCompleted() {
        end.complete(Status.OK);
      }
    });
    frames.onNext(ActivationFrame.newBuilder().setBatchId(1).setPlanEpoch(1).setStage(2)
        .addSequences(SequenceChunk.newBuilder().setCacheKey("r:1").setTokenCount(1))
        .setError(StageError.newBuilder().setCode("UNAVAILABLE").setMessage("forged")).build());
    frames.onCompleted();
    return end.join();
  }

  private static String listServices(ManagedChannel ch) {
    CompletableFuture<String> names = new CompletableFuture<>();
    StreamObserver<ServerReflectionRequest> req = ServerReflectionGrpc.newStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS).serverReflectionInfo(new StreamObserver<>() {
      @Override
      public void onNext(ServerReflectionResponse r) {
        names.complete(r.getListServicesResponse().toString());
      }

      @Override
      public void onError(Throwable t) {
        names.complete(Status.fromThrowable(t).toString());
      }

      @Override
      public void onCompleted() {
        names.complete("");
      }
    });
    req.onNext(ServerReflectionRequest.newBuilder().setListServices("").build());
    req.onCompleted();
    return names.join();
  }

  private static Status listServicesStatus(ManagedChannel ch) {
    String s = listServices(ch);
    return s.startsWith("Status{") ? Status.fromCode(Status.Code.valueOf(s.substring(s.indexOf("code=") + 5, s.indexOf(',', s.indexOf("code="))))) : Status.OK;
  }
}
