package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.GrpcServer;
import dev.caravan.cluster.security.ApiKeyCheck;
import dev.caravan.cluster.security.ApiKeys;
import dev.caravan.cluster.security.Certificates;
import dev.caravan.cluster.security.PublicTls;
import dev.caravan.cluster.security.Role;
import dev.caravan.proto.v1.InferenceGrpc;
import dev.caravan.proto.v1.ListModelsRequest;
import dev.caravan.proto.v1.ListModelsResponse;
import dev.caravan.proto.v1.ModelInfo;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * The client options every client command shares ({@code --api-key}, {@code --api-key-file}, {@code $CARAVAN_API_KEY},
 * {@code --tls-ca}) against a real public port over loopback that requires a key (and, once, TLS).
 */
class ClientCredentialsTest {
  private static final String KEY = "client-test-key-0123456789";
  @TempDir Path dir;
  private GrpcServer server;

  @Command(name = "client")
  static final class Client {
    @Mixin TargetOptions target;
  }

  /** A public API with one model, behind an API-key check; TLS when {@code tls} is given. */
  private String serve(PublicTls tls) throws Exception {
    InferenceGrpc.InferenceImplBase api = new InferenceGrpc.InferenceImplBase() {
      @Override
      public void listModels(ListModelsRequest request, StreamObserver<ListModelsResponse> r) {
        r.onNext(ListModelsResponse.newBuilder().addModels(ModelInfo.newBuilder().setId("m")).build());
        r.onCompleted();
      }
    };
    var builder = GrpcServer.netty("127.0.0.1", 0);
    server = new GrpcServer("public", tls == null ? builder : tls.server(builder), List.of(api), List.of(new ApiKeyCheck(ApiKeys.of(KEY))), true).start();
    return "127.0.0.1:" + server.port();
  }

  @AfterEach
  void stop() {
    if (server != null) {
      server.stop();
    }
  }

  private static TargetOptions parse(Map<String, String> env, String... args) {
    Client c = new Client();
    new CommandLine(c).parseArgs(args);
    c.target.environment(env::get);
    c.target.check();
    return c.target;
  }

  private static String listModels(TargetOptions t) {
    ManagedChannel ch = t.openChannel();
    try {
      return InferenceGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS).listModels(ListModelsRequest.getDefaultInstance()).getModels(0).getId();
    } finally {
      ClientChannels.close(ch);
    }
  }

  @Test
  void theKeyComesFromTheOptionTheFileOrTheEnvironment() throws Exception {
    String target = serve(null);
    assertEquals("m", listModels(parse(Map.of(), "--target", target, "--api-key", KEY)));
    Path file = Files.writeString(dir.resolve("key"), "# ours\n\n" + KEY + "\n");
    assertEquals("m", listModels(parse(Map.of(), "--target", target, "--api-key-file", file.toString())));
    assertEquals("m", listModels(parse(Map.of(TargetOptions.KEY_ENV, KEY), "--target", target)));

    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> listModels(parse(Map.of(), "--target", target)));
    assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
    e = assertThrows(StatusRuntimeException.class, () -> listModels(parse(Map.of(), "--target", target, "--api-key", KEY + "x")));
    assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
    assertEquals("invalid API key", e.getStatus().getDescription());
  }

  @Test
  void conflictingOrMissingKeySourcesAreRefused() throws Exception {
    Path file = Files.writeString(dir.resolve("key"), KEY + "\n");
    CommandLine.ParameterException e = assertThrows(CommandLine.ParameterException.class, () -> parse(Map.of(), "--api-key", KEY, "--api-key-file", file.toString()));
    assertTrue(e.getMessage().contains("exclude each other"), e.getMessage());
    Path empty = Files.writeString(dir.resolve("empty"), "# none\n");
    e = assertThrows(CommandLine.ParameterException.class, () -> parse(Map.of(), "--api-key-file", empty.toString()));
    assertTrue(e.getMessage().contains("holds no key"), e.getMessage());
    e = assertThrows(CommandLine.ParameterException.class, () -> parse(Map.of(), "--tls-ca", dir.resolve("nope.pem").toString()));
    assertTrue(e.getMessage().contains("--tls-ca: no such file"), e.getMessage());
  }

  @Test
  void tlsOnThePublicPortWithTheClientsTlsCa() throws Exception {
    Certificates.Issued ca = Certificates.authority("public CA", Duration.ofDays(1));
    Path caCert = ca.write(dir, "ca");
    Path cert = Certificates.issue(ca, "coordinator", Role.COORDINATOR, List.of("127.0.0.1", "localhost"), Duration.ofDays(1)).write(dir, "coordinator");
    String target = serve(PublicTls.load(cert, dir.resolve("coordinator.key")));
    assertEquals("m", listModels(parse(Map.of(), "--target", target, "--api-key", KEY, "--tls-ca", caCert.toString())));
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> listModels(parse(Map.of(), "--target", target, "--api-key", KEY)));
    assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), "a plaintext client gets nowhere on a TLS port");
  }
}
