package dev.caravan.cluster;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;
import java.util.ListResourceBundle;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The options by which a process takes its place in a cluster (coordinator, worker), as a picocli {@code @Mixin}:
 * {@code --cluster-name}, {@code --host}, {@code --grpc-port}, {@code --hazelcast-port}, {@code --metrics-port}.
 *
 * <p>The roles share the options but not all defaults and help (the coordinator's gRPC port is the public 7070, a
 * worker's picks a free one; workers join the coordinator's Hazelcast port 5701, a worker tries 5702 upwards). A command
 * that mixes these in names its role's texts with {@code @Command(resourceBundle = ClusterOptions.COORDINATOR)} or
 * {@link #WORKER}: {@link CoordinatorTexts} and {@link WorkerTexts} below hold each role's defaults (used through
 * {@code ${bundle:...}}) and help, so {@code --help} shows every default as before.
 *
 * <p>{@code --join} stays with each command: the worker requires it and the coordinator does not, and picocli fixes
 * {@code required} per annotation. Validation stays with the commands' {@link ProcessChecks}.
 */
public final class ClusterOptions {
  /** The resource bundle of {@code caravan coordinator}. */
  public static final String COORDINATOR = "dev.caravan.cluster.ClusterOptions$CoordinatorTexts";
  /** The resource bundle of {@code caravan worker}. */
  public static final String WORKER = "dev.caravan.cluster.ClusterOptions$WorkerTexts";

  @Option(names = "--cluster-name", defaultValue = "caravan", descriptionKey = "caravan.cluster-name", description = "Cluster name (default: ${DEFAULT-VALUE}).")
  String clusterName;

  @Option(names = "--host", defaultValue = "127.0.0.1", description = "Interface to bind and advertise (default: ${DEFAULT-VALUE}).")
  String host;

  @Option(names = "--grpc-port", defaultValue = "${bundle:caravan.grpc-port.default:-0}", descriptionKey = "caravan.grpc-port", description = "gRPC port (default: ${DEFAULT-VALUE}).")
  int grpcPort;

  @Option(names = "--hazelcast-port", defaultValue = "${bundle:caravan.hazelcast-port.default:-5701}", descriptionKey = "caravan.hazelcast-port", description = "Hazelcast port (default: ${DEFAULT-VALUE}).")
  int hazelcastPort;

  @Option(names = "--metrics-port", defaultValue = "${bundle:caravan.metrics-port.default:-0}", descriptionKey = "caravan.metrics-port", description = "Prometheus metrics port; 0 picks a free one (default: ${DEFAULT-VALUE}).")
  int metricsPort;

  @Option(names = "--join-dns", paramLabel = "NAME[:PORT]", description = "Instead of --join, in Kubernetes: join the members a headless Service's DNS name resolves to, each on PORT (Hazelcast's DNS discovery, looked up again on every join attempt), e.g. caravan-hazelcast:5701. --host must then be this pod's own IP (default: none; PORT: 5701).")
  String joinDns;

  @Spec(Spec.Target.MIXEE) CommandSpec mixee;

  /** The cluster's name; members join only their own. */
  public String clusterName() {
    return clusterName;
  }

  /** The interface to bind and advertise. */
  public String host() {
    return host;
  }

  /** This process's gRPC port (public API of the coordinator, Shard service of a worker); 0 picks a free one. */
  public int grpcPort() {
    return grpcPort;
  }

  /** The Hazelcast port: the coordinator's, or the first a worker tries. */
  public int hazelcastPort() {
    return hazelcastPort;
  }

  /** The Prometheus metrics port; 0 picks a free one. */
  public int metricsPort() {
    return metricsPort;
  }

  /**
   * The members to join, checked: the command's {@code --join} list as given, or with {@code --join-dns} the one entry
   * that asks {@link ClusterMember} for DNS discovery ({@link ClusterMember.DnsJoin}). Refuses both together, a
   * malformed name, a loopback {@code --host} with {@code --join-dns} (the others could not reach it), and, when
   * {@code required}, neither.
   */
  public List<String> members(List<String> join, boolean required) {
    List<String> given = join == null ? List.of() : join;
    if (joinDns == null) {
      if (required && given.isEmpty()) {
        throw usage("name the cluster to join: --join HOST:PORT (a member's Hazelcast address), or --join-dns NAME[:PORT] in Kubernetes");
      }
      return given;
    }
    if (!given.isEmpty()) {
      throw usage("--join and --join-dns exclude each other: give the members' addresses or the Service's DNS name, not both");
    }
    String name = joinDns;
    int port = 5701;
    int colon = joinDns.lastIndexOf(':');
    if (colon >= 0) {
      name = joinDns.substring(0, colon);
      try {
        port = Integer.parseInt(joinDns.substring(colon + 1));
      } catch (NumberFormatException e) {
        port = -1;
      }
    }
    if (!ClusterMember.DnsJoin.isDnsName(name) || port < 1 || port > 65535) {
      throw usage("--join-dns: '" + joinDns + "' is not NAME[:PORT] (a DNS name such as caravan-hazelcast or caravan-hazelcast.caravan.svc.cluster.local, a port from 1 to 65535)");
    }
    if (isLoopback(host)) {
      throw usage("--join-dns needs --host set to this pod's own IP (e.g. from the downward API's status.podIP): members advertise --host, and " + host + " is loopback");
    }
    return List.of(new ClusterMember.DnsJoin(name, port).entry());
  }

  private static boolean isLoopback(String host) {
    if (host.equalsIgnoreCase("localhost")) {
      return true;
    }
    try {
      // an IP literal is parsed, never looked up; a host name is not resolved here (no DNS at option-checking time)
      return host.matches("[0-9.]+|.*:.*") && InetAddress.getByName(host).isLoopbackAddress();
    } catch (UnknownHostException e) {
      return false;
    }
  }

  private ParameterException usage(String message) {
    return new ParameterException(mixee.commandLine(), message);
  }

  /** Defaults and help of {@code caravan coordinator}'s cluster options. */
  public static final class CoordinatorTexts extends ListResourceBundle {
    @Override
    protected Object[][] getContents() {
      return new Object[][] {
          {"caravan.cluster-name", "Cluster name; members join only their own (default: ${DEFAULT-VALUE})."},
          {"caravan.grpc-port.default", "7070"},
          {"caravan.grpc-port", "Public gRPC port (default: ${DEFAULT-VALUE})."},
          {"caravan.hazelcast-port.default", "5701"},
          {"caravan.hazelcast-port", "Hazelcast port workers join (default: ${DEFAULT-VALUE})."},
          {"caravan.metrics-port.default", "9400"},
          {"caravan.metrics-port", "Prometheus metrics port; 0 picks a free one (default: ${DEFAULT-VALUE})."},
      };
    }
  }

  /** Defaults and help of {@code caravan worker}'s cluster options. */
  public static final class WorkerTexts extends ListResourceBundle {
    @Override
    protected Object[][] getContents() {
      return new Object[][] {
          {"caravan.cluster-name", "Cluster to join (default: ${DEFAULT-VALUE})."},
          {"caravan.grpc-port.default", "0"},
          {"caravan.grpc-port", "gRPC port; 0 picks a free one (default: ${DEFAULT-VALUE})."},
          {"caravan.hazelcast-port.default", "5702"},
          {"caravan.hazelcast-port", "First Hazelcast port to try (default: ${DEFAULT-VALUE})."},
          {"caravan.metrics-port.default", "0"},
          {"caravan.metrics-port", "Prometheus metrics port; 0 picks a free one (default: ${DEFAULT-VALUE})."},
      };
    }
  }
}
