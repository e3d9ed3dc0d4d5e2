package dev.caravan.cluster.testing;

import dev.caravan.cluster.Channels;
import dev.caravan.cluster.security.Certificates;
import dev.caravan.cluster.security.Role;
import dev.caravan.cluster.security.SecretFiles;
import dev.caravan.proto.v1.ClusterStatusRequest;
import dev.caravan.proto.v1.ClusterStatusResponse;
import dev.caravan.proto.v1.InferenceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A real Caravan cluster for integration tests: a coordinator and shard workers, each its own JVM started from the test
 * classpath, on loopback ports, in a cluster of its own. Every process is stopped by {@link #close()} (SIGTERM, then
 * SIGKILL) and also dies with the test JVM (its stdin closes). Logs go to {@code target/it-logs/<name>/}.
 *
 * <p>Secure like a real deployment: a CA made for this cluster issues the coordinator's and each worker's certificate
 * (in {@code <logs>/tls/}), every internal connection is mutual TLS, and the members share a random join secret (a file,
 * never on a command line). {@link #startInsecure} runs the same cluster with {@code --insecure} instead.
 */
public final class LocalCluster implements AutoCloseable {
  private static final String COORDINATOR_MAIN = "dev.caravan.coordinator.CoordinatorCommand";
  private static final String WORKER_MAIN = "dev.caravan.worker.WorkerCommand";

  /** One child JVM. */
  public static final class Node {
    final String name;
    final Process process;
    final Path log;
    final int metricsPort;

    Node(String name, Process process, Path log, int metricsPort) {
      this.name = name;
      this.process = process;
      this.log = log;
      this.metricsPort = metricsPort;
    }

    /** Port of the process's Prometheus endpoint. */
    public int metricsPort() {
      return metricsPort;
    }

    public String name() {
      return name;
    }

    public long pid() {
      return process.pid();
    }

    public boolean alive() {
      return process.isAlive();
    }

    public Path log() {
      return log;
    }

    public String logText() {
      try {
        return Files.readString(log);
      } catch (IOException e) {
        return "";
      }
    }

    /** SIGKILL: the worker vanishes without a word. */
    public void kill() {
      process.destroyForcibly();
      waitFor(process, 10);
    }

    /** SIGTERM: the process drains and leaves. (Through the handle: Process.destroy would also close its stdin, which makes the child exit at once.) */
    public void terminate() {
      process.toHandle().destroy();
    }

    /** SIGSTOP: the process hangs (every thread frozen, sockets open) until {@link #resume}. */
    public void pause() {
      signal("STOP");
    }

    /** SIGCONT after {@link #pause}. */
    public void resume() {
      signal("CONT");
    }

    private void signal(String name) {
      try {
        Process k = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).inheritIO().start();
        if (!k.waitFor(10, TimeUnit.SECONDS) || k.exitValue() != 0) {
          throw new IllegalStateException("kill -" + name + " " + process.pid() + " failed");
        }
      } catch (IOException e) {
        throw new IllegalStateException(e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    }

    public boolean awaitExit(Duration d) throws InterruptedException {
      return process.waitFor(d.toMillis(), TimeUnit.MILLISECONDS);
    }
  }

  private final Path model;
  private final Path logDir;
  private final boolean secure;
  private final Path tlsDir;
  private final Path secretFile;
  private final int internalPort;
  private Certificates.Issued ca;
  private String apiKey;
  private final String clusterName = "it-" + UUID.randomUUID();
  private final int grpcPort;
  private final int metricsPort;
  private final int hazelcastPort;
  private final int httpPort;
  private final List<Node> nodes = new ArrayList<>();
  private Node coordinator;
  private ManagedChannel channel;
  private int workerCount;

  private LocalCluster(Path model, String name, boolean secure) throws IOException {
    this.model = model;
    this.secure = secure;
    this.logDir = Path.of("target", "it-logs", name + "-" + System.currentTimeMillis()).toAbsolutePath();
    Files.createDirectories(logDir);
    this.tlsDir = logDir.resolve("tls");
    this.secretFile = tlsDir.resolve("cluster-secret");
    this.grpcPort = freePort();
    this.metricsPort = freePort();
    this.hazelcastPort = freePort();
    this.httpPort = freePort(); // never the default 8080: clusters of parallel builds would collide on it
    this.internalPort = freePort();
    if (secure) {
      ca = Certificates.authority("it " + name, Duration.ofDays(1));
      ca.write(tlsDir, "ca");
      Files.writeString(secretFile, UUID.randomUUID() + "-" + UUID.randomUUID());
      SecretFiles.ownerOnly(secretFile);
    }
  }

  /** A coordinator (with extra arguments) and no workers yet, secured with mutual TLS and a join secret. */
  public static LocalCluster start(Path model, String name, String... coordinatorArgs) throws IOException {
    return start(new LocalCluster(model, name, true), coordinatorArgs);
  }

  /** As {@link #start}, but every process runs with {@code --insecure}: plaintext, no join secret. */
  public static LocalCluster startInsecure(Path model, String name, String... coordinatorArgs) throws IOException {
    return start(new LocalCluster(model, name, false), coordinatorArgs);
  }

  private static LocalCluster start(LocalCluster c, String... coordinatorArgs) throws IOException {
    try {
      List<String> args = new ArrayList<>(List.of("--model", c.model.toString(), "--cluster-name", c.clusterName, "--grpc-port", Integer.toString(c.grpcPort), "--internal-port", Integer.toString(c.internalPort), "--metrics-port", Integer.toString(c.metricsPort), "--hazelcast-port", Integer.toString(c.hazelcastPort), "--http-port", Integer.toString(c.httpPort), "--drain-timeout", "PT5S"));
      args.addAll(c.securityArgs("coordinator", Role.COORDINATOR));
      args.addAll(List.of(coordinatorArgs));
      int keys = args.indexOf("--api-keys");
      if (keys >= 0) {
        // the cluster's own status calls carry the first key of the file
        c.apiKey = Files.readAllLines(Path.of(args.get(keys + 1))).stream().map(String::strip).filter(l -> !l.isEmpty() && !l.startsWith("#")).findFirst().orElseThrow();
      }
      c.coordinator = c.launch("coordinator", COORDINATOR_MAIN, args, c.metricsPort);
      c.channel = Channels.forAddress(c.target());
      c.awaitPublicPort(Duration.ofMinutes(3));
      return c;
    } catch (IOException | RuntimeException e) {
      c.close();
      throw e;
    }
  }

  /** Starts a worker (with extra arguments, e.g. --memory-limit). */
  public Node addWorker(String... workerArgs) throws IOException {
    int metrics = freePort();
    String name = "worker-" + (++workerCount);
    List<String> args = new ArrayList<>(List.of("--model", model.toString(), "--cluster-name", clusterName, "--join", "127.0.0.1:" + hazelcastPort, "--hazelcast-port", Integer.toString(freePort()), "--metrics-port", Integer.toString(metrics), "--threads", "1", "--drain-timeout", "PT10S"));
    args.addAll(securityArgs(name, Role.WORKER));
    args.addAll(List.of(workerArgs));
    return launch(name, WORKER_MAIN, args, metrics);
  }

  /** The TLS and join-secret options of a node (its certificate issued now), or {@code --insecure}. */
  private List<String> securityArgs(String name, Role role) throws IOException {
    if (!secure) {
      return List.of("--insecure");
    }
    Path cert = issue(name, role);
    return List.of("--tls-cert", cert.toString(), "--tls-key", tlsDir.resolve(name + ".key").toString(), "--tls-ca", caCert().toString(), "--cluster-secret-file", secretFile.toString());
  }

  /** Issues a certificate from this cluster's CA into {@link #tlsDir()} ({@code NAME.pem}, {@code NAME.key}); returns the certificate. */
  public Path issue(String name, Role role) throws IOException {
    if (ca == null) {
      throw new IllegalStateException("an insecure cluster has no CA");
    }
    return Certificates.issue(ca, name, role, List.of("localhost", "127.0.0.1"), Duration.ofDays(1)).write(tlsDir, name);
  }

  /** Whether the cluster runs with mutual TLS and a join secret. */
  public boolean secure() {
    return secure;
  }

  /** Where the CA, the nodes' certificates and the join secret are. */
  public Path tlsDir() {
    return tlsDir;
  }

  /** The CA's certificate. */
  public Path caCert() {
    return tlsDir.resolve("ca.pem");
  }

  /** The file with the join secret. */
  public Path secretFile() {
    return secretFile;
  }

  /** The coordinator's internal port (PipelineSink). */
  public int internalPort() {
    return internalPort;
  }

  private Node launch(String name, String main, List<String> args, int metricsPort) throws IOException {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    List<String> cmd = new ArrayList<>(List.of(java.toString(),
        "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
        "--add-modules", "java.se", "--add-exports", "java.base/jdk.internal.ref=ALL-UNNAMED",
        "--add-opens", "java.base/java.lang=ALL-UNNAMED", "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
        "--add-opens", "java.management/sun.management=ALL-UNNAMED", "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED",
        "-Xmx384m", "-XX:+UseSerialGC", "-Xss2m", "-XX:CICompilerCount=2",
        "-Dhazelcast.phone.home.enabled=false", "-Dhazelcast.logging.type=slf4j",
        "-Djava.io.tmpdir=" + logDir,
        "-cp", System.getProperty("java.class.path"), main, "--exit-with-parent"));
    cmd.addAll(args);
    Path log = logDir.resolve(name + ".log");
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    Node n = new Node(name, p, log, metricsPort);
    nodes.add(n);
    return n;
  }

  public String target() {
    return "127.0.0.1:" + grpcPort;
  }

  public int metricsPort() {
    return metricsPort;
  }

  /** The coordinator's OpenAI-compatible HTTP API: {@code http://127.0.0.1:<port>}. */
  public int httpPort() {
    return httpPort;
  }

  public String clusterName() {
    return clusterName;
  }

  public Node coordinator() {
    return coordinator;
  }

  public ManagedChannel channel() {
    return channel;
  }

  public Path logDir() {
    return logDir;
  }

  public ClusterStatusResponse status() {
    return withKey(InferenceGrpc.newBlockingStub(channel)).withDeadlineAfter(5, TimeUnit.SECONDS).clusterStatus(ClusterStatusRequest.getDefaultInstance());
  }

  /** The API key the coordinator was started with (the first of its {@code --api-keys} file), or null. */
  public String apiKey() {
    return apiKey;
  }

  /** {@code stub} sending this cluster's API key, if it has one. */
  public <S extends io.grpc.stub.AbstractStub<S>> S withKey(S stub) {
    if (apiKey == null) {
      return stub;
    }
    io.grpc.Metadata md = new io.grpc.Metadata();
    md.put(io.grpc.Metadata.Key.of("authorization", io.grpc.Metadata.ASCII_STRING_MARSHALLER), "Bearer " + apiKey);
    return stub.withInterceptors(io.grpc.stub.MetadataUtils.newAttachHeadersInterceptor(md));
  }

  /** Polls ClusterStatus until {@code condition} holds; fails with the last status and the logs' tails on timeout. */
  public ClusterStatusResponse await(String what, Predicate<ClusterStatusResponse> condition, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    ClusterStatusResponse last = null;
    String lastError = null;
    while (System.nanoTime() < deadline) {
      if (!coordinator.alive()) {
        throw new AssertionError("the coordinator died while waiting for " + what + ":\n" + tail(coordinator));
      }
      try {
        last = status();
        if (condition.test(last)) {
          return last;
        }
      } catch (StatusRuntimeException e) {
        lastError = e.getStatus().toString();
        // a coordinator slow to open its port (a loaded machine) leaves the channel backing off for longer and longer:
        // try again now rather than at the end of a backoff that may outlast the wait
        channel.resetConnectBackoff();
      }
      Thread.sleep(100);
    }
    StringBuilder sb = new StringBuilder("timed out after " + timeout + " waiting for " + what + "; last status: " + last + (lastError == null ? "" : ", last error " + lastError));
    for (Node n : nodes) {
      sb.append("\n--- ").append(n.name).append(n.alive() ? "" : " (dead)").append(":\n").append(tail(n));
    }
    throw new AssertionError(sb.toString());
  }

  /**
   * Waits until the coordinator answers health checks on its public port, so that the waits a test starts next count
   * from a running coordinator, not from a JVM still starting on a loaded machine. Fails when it dies or never answers.
   */
  private void awaitPublicPort(Duration timeout) throws IOException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (!coordinator.alive()) {
        throw new IOException("the coordinator died while starting:\n" + tail(coordinator));
      }
      try {
        io.grpc.health.v1.HealthGrpc.newBlockingStub(channel).withDeadlineAfter(2, TimeUnit.SECONDS).check(io.grpc.health.v1.HealthCheckRequest.getDefaultInstance());
        return;
      } catch (StatusRuntimeException e) {
        channel.resetConnectBackoff();
      }
      try {
        Thread.sleep(200);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while the coordinator started", e);
      }
    }
    throw new IOException("the coordinator did not open its public port " + grpcPort + " within " + timeout + ":\n" + tail(coordinator));
  }

  /** Waits until the serving plan has {@code stages} stages, all ready. */
  public ClusterStatusResponse awaitServing(int stages, Duration timeout) throws InterruptedException {
    return await("a serving plan of " + stages + " stages", s -> s.hasPlan() && s.getPlan().getReady() && s.getPlan().getStagesCount() == stages, timeout);
  }

  private static String tail(Node n) {
    String[] lines = n.logText().split("\n");
    return String.join("\n", java.util.Arrays.copyOfRange(lines, Math.max(0, lines.length - 30), lines.length));
  }

  @Override
  public void close() {
    if (channel != null) {
      Channels.close(channel);
    }
    for (Node n : nodes) {
      if (n.process.isAlive()) {
        try {
          n.resume(); // a paused process would never act on SIGTERM
        } catch (RuntimeException ignored) {
          // gone meanwhile
        }
      }
      n.process.toHandle().destroy();
    }
    for (Node n : nodes) {
      waitFor(n.process, 8);
    }
  }

  private static void waitFor(Process p, int seconds) {
    try {
      if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        p.waitFor(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }

  public static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      s.setReuseAddress(true);
      return s.getLocalPort();
    }
  }
}
