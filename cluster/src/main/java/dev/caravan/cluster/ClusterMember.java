package dev.caravan.cluster;

import com.hazelcast.cluster.Member;
import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Starts an embedded Hazelcast member for Caravan: TCP/IP join on an explicit member list (or, in Kubernetes, DNS
 * discovery through a headless Service: {@link DnsJoin}), bound to one interface,
 * no multicast, no cloud auto-detection, no phone-home, Jet off, and heartbeats tight enough that a hung member is
 * dropped within seconds. Member attributes carry the role and the gRPC address.
 */
public final class ClusterMember {
  private ClusterMember() {}

  /**
   * @param clusterName   members join only their own cluster
   * @param host          interface to bind and advertise (e.g. 127.0.0.1)
   * @param port          Hazelcast port; with {@code autoIncrement} the next free one from there
   * @param join          host:port of members to join (each listed port by port), or one {@link DnsJoin} entry
   * @param attributes    member attributes (role, gRPC address, capacity)
   * @param lite          a lite member holds no map partitions: workers are lite, so killing one never loses cluster state
   */
  public record Options(String clusterName, String host, int port, boolean autoIncrement, List<String> join, Map<String, String> attributes, boolean lite) {}

  public static Config config(Options o) {
    Config config = new Config();
    config.setClusterName(o.clusterName());
    config.setInstanceName("caravan-" + o.attributes().getOrDefault(ClusterNames.ATTR_ROLE, "member") + "-" + o.port() + "-" + ProcessHandle.current().pid());
    config.setProperty("hazelcast.phone.home.enabled", "false");
    config.setProperty("hazelcast.logging.type", "slf4j");
    config.setProperty("hazelcast.socket.bind.any", "false");
    config.setProperty("hazelcast.local.localAddress", o.host());
    config.setProperty("hazelcast.shutdownhook.enabled", "false");
    config.setProperty("hazelcast.health.monitoring.level", "OFF");
    config.setProperty("hazelcast.heartbeat.interval.seconds", "1");
    config.setProperty("hazelcast.max.no.heartbeat.seconds", "6");
    config.setProperty("hazelcast.merge.first.run.delay.seconds", "5");
    config.setProperty("hazelcast.merge.next.run.delay.seconds", "5");
    config.getJetConfig().setEnabled(false);

    NetworkConfig net = config.getNetworkConfig();
    net.setPort(o.port()).setPortAutoIncrement(o.autoIncrement()).setPortCount(100);
    net.getInterfaces().setEnabled(true).addInterface(o.host());
    JoinConfig join = net.getJoin();
    join.getMulticastConfig().setEnabled(false);
    join.getAutoDetectionConfig().setEnabled(false);
    Optional<DnsJoin> dns = DnsJoin.of(o.join());
    if (dns.isPresent()) {
      // Kubernetes: the members are whatever a headless Service's DNS name resolves to, looked up again on every join
      // and split-brain check; no API access (no service account token needed)
      join.getTcpIpConfig().setEnabled(false);
      join.getKubernetesConfig().setEnabled(true)
          .setProperty("service-dns", dns.get().serviceDns())
          .setProperty("service-port", Integer.toString(dns.get().port()))
          .setProperty("service-dns-timeout", Integer.toString(DnsJoin.TIMEOUT_SECONDS));
    } else {
      join.getTcpIpConfig().setEnabled(true).setMembers(o.join().isEmpty() ? List.of(o.host() + ":" + o.port()) : o.join());
    }
    o.attributes().forEach((k, v) -> config.getMemberAttributeConfig().setAttribute(k, v));
    config.setLiteMember(o.lite());
    return config;
  }

  /**
   * Join by Hazelcast's Kubernetes discovery in DNS lookup mode instead of a member list: every address
   * {@code serviceDns} resolves to (the pods of a headless Service) is tried on {@code port}. It travels in
   * {@link Options#join()} as the list's one entry, {@code dns:NAME:PORT} ({@link #entry()}), so the processes' configs
   * carry it unchanged; {@code --join-dns} makes it ({@link ClusterOptions#members}).
   */
  public record DnsJoin(String serviceDns, int port) {
    /** Prefix of the join entry. */
    public static final String PREFIX = "dns:";
    /** How long one DNS lookup may take (Hazelcast's {@code service-dns-timeout}). */
    public static final int TIMEOUT_SECONDS = 5;

    public DnsJoin {
      if (!isDnsName(serviceDns) || port < 1 || port > 65535) {
        throw new IllegalArgumentException("not a DNS name and port: " + serviceDns + ":" + port);
      }
    }

    /** The join list entry that stands for this. */
    public String entry() {
      return PREFIX + serviceDns + ":" + port;
    }

    /** The DNS join a join list asks for, if it is one: exactly one {@code dns:NAME:PORT} entry. */
    public static Optional<DnsJoin> of(List<String> join) {
      if (join.stream().noneMatch(j -> j.startsWith(PREFIX))) {
        return Optional.empty();
      }
      if (join.size() != 1) {
        throw new IllegalArgumentException("a DNS join stands alone, not among other members: " + join);
      }
      String spec = join.get(0).substring(PREFIX.length());
      int colon = spec.lastIndexOf(':');
      try {
        return Optional.of(new DnsJoin(spec.substring(0, Math.max(colon, 0)), Integer.parseInt(spec.substring(colon + 1))));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("not a DNS join entry: " + join.get(0));
      }
    }

    /** Whether {@code s} is a DNS name: dot-separated labels of letters, digits and inner hyphens, at most 253 characters. */
    public static boolean isDnsName(String s) {
      return s != null && s.length() <= 253 && s.matches("(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\\.?");
    }
  }

  public static HazelcastInstance start(Options o) {
    return Hazelcast.newHazelcastInstance(config(o));
  }

  /** A member's role attribute, or empty. */
  public static Optional<String> role(Member m) {
    return Optional.ofNullable(m.getAttribute(ClusterNames.ATTR_ROLE));
  }

  /** A worker's capacity from its attributes. */
  public static WorkerCapacity capacity(Member m) {
    return new WorkerCapacity(parseLong(m.getAttribute(ClusterNames.ATTR_MEMORY)), (int) parseLong(m.getAttribute(ClusterNames.ATTR_CORES)), parseDouble(m.getAttribute(ClusterNames.ATTR_SECONDS_PER_LAYER)));
  }

  private static long parseLong(String s) {
    try {
      return s == null ? 0 : Long.parseLong(s);
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  private static double parseDouble(String s) {
    try {
      return s == null ? 0 : Double.parseDouble(s);
    } catch (NumberFormatException e) {
      return 0;
    }
  }
}
