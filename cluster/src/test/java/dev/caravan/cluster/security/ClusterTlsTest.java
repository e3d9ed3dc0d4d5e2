package dev.caravan.cluster.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.Channels;
import dev.caravan.cluster.GrpcServer;
import dev.caravan.proto.v1.ReleaseRequest;
import dev.caravan.proto.v1.ReleaseResponse;
import dev.caravan.proto.v1.ShardGrpc;
import dev.caravan.proto.v1.ShardStatusRequest;
import dev.caravan.proto.v1.ShardStatusResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mutual TLS and roles on a real internal port (Netty over loopback), with certificates from {@link Certificates}: the
 * cluster's CA issues a coordinator's and a worker's; another CA issues an impostor's. Every refusal the issue lists for
 * an internal port is tried here: no TLS, no certificate, another CA's certificate, the wrong role.
 */
class ClusterTlsTest {
  @TempDir static Path dir;
  static ClusterTls coordinator;
  static ClusterTls worker;
  static ClusterTls impostor;
  static ClusterTls noSanCoordinator;

  private GrpcServer server;

  @BeforeAll
  static void certificates() throws Exception {
    Certificates.Issued ca = Certificates.authority("test CA", Duration.ofDays(1));
    ca.write(dir, "ca");
    Certificates.issue(ca, "coordinator", Role.COORDINATOR, List.of("localhost", "127.0.0.1"), Duration.ofDays(1)).write(dir, "coordinator");
    Certificates.issue(ca, "worker-1", Role.WORKER, List.of("localhost", "127.0.0.1"), Duration.ofDays(1)).write(dir, "worker-1");
    // no alternative names at all: nodes verify the chain and the role, not host names
    Certificates.issue(ca, "far-away", Role.COORDINATOR, List.of(), Duration.ofDays(1)).write(dir, "far-away");
    Path other = dir.resolve("other");
    Certificates.Issued otherCa = Certificates.authority("another CA", Duration.ofDays(1));
    otherCa.write(other, "ca");
    Certificates.issue(otherCa, "coordinator", Role.COORDINATOR, List.of("localhost", "127.0.0.1"), Duration.ofDays(1)).write(other, "coordinator");

    coordinator = ClusterTls.load(dir.resolve("coordinator.pem"), dir.resolve("coordinator.key"), dir.resolve("ca.pem"));
    worker = ClusterTls.load(dir.resolve("worker-1.pem"), dir.resolve("worker-1.key"), dir.resolve("ca.pem"));
    noSanCoordinator = ClusterTls.load(dir.resolve("far-away.pem"), dir.resolve("far-away.key"), dir.resolve("ca.pem"));
    impostor = ClusterTls.load(other.resolve("coordinator.pem"), other.resolve("coordinator.key"), other.resolve("ca.pem"));
  }

  /** A Shard service that answers every Release with 1 session and every Status with its name. */
  static final class Shard extends ShardGrpc.ShardImplBase {
    @Override
    public void release(ReleaseRequest request, StreamObserver<ReleaseResponse> r) {
      r.onNext(ReleaseResponse.newBuilder().setSessionsReleased(1).build());
      r.onCompleted();
    }

    @Override
    public void status(ShardStatusRequest request, StreamObserver<ShardStatusResponse> r) {
      r.onNext(ShardStatusResponse.newBuilder().setWorkerUuid("w").build());
      r.onCompleted();
    }
  }

  /** A worker-like port: Release only for the coordinator, Status for both roles; no reflection. */
  private String serve(ClusterTls tls) throws Exception {
    RoleCheck roles = new RoleCheck(tls, Map.of(ShardGrpc.getReleaseMethod().getFullMethodName(), EnumSet.of(Role.COORDINATOR)), EnumSet.allOf(Role.class));
    server = new GrpcServer("test", tls.server(GrpcServer.netty("127.0.0.1", 0)), List.of(new Shard()), List.of(roles), false).start();
    return "127.0.0.1:" + server.port();
  }

  @AfterEach
  void stop() {
    if (server != null) {
      server.stop();
    }
  }

  private static <T> T call(String address, ClusterTls as, java.util.function.Function<ManagedChannel, T> f) {
    ManagedChannel ch = Channels.forAddress(address, as);
    try {
      return f.apply(ch);
    } finally {
      Channels.close(ch);
    }
  }

  private static ReleaseResponse release(ManagedChannel ch) {
    return ShardGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS).release(ReleaseRequest.newBuilder().setRetireBelowEpoch(1L << 62).build());
  }

  @Test
  void theCoordinatorsCertificateMayCallRelease() throws Exception {
    String a = serve(worker);
    assertEquals(1, call(a, coordinator, ClusterTlsTest::release).getSessionsReleased());
    assertEquals(1, call(a, noSanCoordinator, ClusterTlsTest::release).getSessionsReleased(), "host names are not checked between nodes");
  }

  @Test
  void aWorkersCertificateMayNotCallRelease() throws Exception {
    String a = serve(worker);
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> call(a, worker, ClusterTlsTest::release));
    assertEquals(Status.Code.PERMISSION_DENIED, e.getStatus().getCode());
    assertTrue(e.getStatus().getDescription().contains("worker certificate may not call caravan.v1.Shard/Release"), e.getStatus().toString());
    // what its role allows still works
    assertEquals("w", call(a, worker, ch -> ShardGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS).status(ShardStatusRequest.getDefaultInstance())).getWorkerUuid());
  }

  @Test
  void plaintextIsRefused() throws Exception {
    String a = serve(worker);
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> call(a, ClusterTls.insecure(), ClusterTlsTest::release));
    assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.getStatus().toString());
  }

  @Test
  void tlsWithoutAClientCertificateIsRefused() throws Exception {
    String a = serve(worker);
    // trusts the server properly, but presents no certificate of its own
    ManagedChannel ch = NettyChannelBuilder.forTarget(a).sslContext(GrpcSslContexts.forClient().trustManager(dir.resolve("ca.pem").toFile()).build()).build();
    try {
      StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> release(ch));
      assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.getStatus().toString());
    } finally {
      Channels.close(ch);
    }
  }

  @Test
  void aCertificateFromAnotherCaIsRefused() throws Exception {
    String a = serve(worker);
    // the impostor trusts our CA (our ca.pem is no secret), so it is our server that refuses its certificate
    ManagedChannel ch = NettyChannelBuilder.forTarget(a).sslContext(GrpcSslContexts.forClient()
        .keyManager(dir.resolve("other/coordinator.pem").toFile(), dir.resolve("other/coordinator.key").toFile())
        .trustManager(dir.resolve("ca.pem").toFile()).build()).build();
    try {
      StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> release(ch));
      assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.getStatus().toString());
    } finally {
      Channels.close(ch);
    }
    // and the same certificate with its own CA's trust gets nowhere either
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> call(a, impostor, ClusterTlsTest::release));
    assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.getStatus().toString());
  }

  @Test
  void aServerFromAnotherCaIsNotTrusted() throws Exception {
    // a forged address in a plan or frame leads to a server the cluster's CA did not issue: our node refuses to talk
    String a = serve(impostor);
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> call(a, coordinator, ClusterTlsTest::release));
    assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.getStatus().toString());
  }

  @Test
  void healthAnswersAMemberAndReflectionIsOffOnAnInternalPort() throws Exception {
    String a = serve(worker);
    assertEquals(io.grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING,
        call(a, coordinator, ch -> HealthGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS).check(HealthCheckRequest.getDefaultInstance())).getStatus());
    Status reflection = call(a, coordinator, ClusterTlsTest::listServices);
    assertEquals(Status.Code.UNIMPLEMENTED, reflection.getCode(), reflection.toString());
  }

  /** Asks server reflection to list the services; the call's status (OK when it answered). */
  static Status listServices(ManagedChannel ch) {
    CompletableFuture<Status> done = new CompletableFuture<>();
    StreamObserver<ServerReflectionRequest> req = ServerReflectionGrpc.newStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS).serverReflectionInfo(new StreamObserver<>() {
      @Override
      public void onNext(ServerReflectionResponse r) {
        done.complete(Status.OK);
      }

      @Override
      public void onError(Throwable t) {
        done.complete(Status.fromThrowable(t));
      }

      @Override
      public void onCompleted() {
        done.complete(Status.OK);
      }
    });
    req.onNext(ServerReflectionRequest.newBuilder().setListServices("").build());
    req.onCompleted();
    return done.join();
  }

  @Test
  void insecureLetsEveryCallThrough() throws Exception {
    String a = serve(ClusterTls.insecure());
    assertEquals(1, call(a, ClusterTls.insecure(), ClusterTlsTest::release).getSessionsReleased());
  }

  @Test
  void loadingRefusesMismatchedFilesWithAClearMessage() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClusterTls.load(dir.resolve("other/coordinator.pem"), dir.resolve("other/coordinator.key"), dir.resolve("ca.pem")));
    assertTrue(e.getMessage().contains("was not issued by the CA in --tls-ca"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> ClusterTls.load(dir.resolve("coordinator.pem"), dir.resolve("worker-1.key"), dir.resolve("ca.pem")));
    assertTrue(e.getMessage().contains("is not the private key of the certificate"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> ClusterTls.load(dir.resolve("nope.pem"), dir.resolve("coordinator.key"), dir.resolve("ca.pem")));
    assertTrue(e.getMessage().startsWith("--tls-cert: no such file"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> ClusterTls.load(dir.resolve("ca.pem"), dir.resolve("ca.key"), dir.resolve("ca.pem")));
    assertTrue(e.getMessage().contains("names no Caravan role"), e.getMessage());
  }
}
