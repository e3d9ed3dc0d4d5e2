package dev.caravan.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.core.HazelcastInstance;
import java.io.IOException;
import java.net.ServerSocket;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/**
 * {@code --join-dns}: Hazelcast's Kubernetes discovery in DNS lookup mode. What can be checked without a Kubernetes
 * cluster: the option's checks, the Config it builds, and a real join through a DNS name ({@code localhost}).
 */
class DnsJoinTest {

  /** A command with the cluster options and a {@code --join} like the coordinator's and the worker's. */
  @Command(name = "member", resourceBundle = ClusterOptions.WORKER)
  static final class Member implements Callable<Integer> {
    @Mixin ClusterOptions cluster;

    @Option(names = "--join", split = ",")
    List<String> join;

    @Override
    public Integer call() {
      return 0;
    }
  }

  private static ClusterOptions parse(String... args) {
    Member m = new Member();
    new CommandLine(m).parseArgs(args);
    return m.cluster;
  }

  private static List<String> members(boolean required, String... args) {
    Member m = new Member();
    new CommandLine(m).parseArgs(args);
    return m.cluster.members(m.join, required);
  }

  private static String refused(boolean required, String... args) {
    return assertThrows(ParameterException.class, () -> members(required, args)).getMessage();
  }

  @Test
  void joinDnsBecomesOneDnsEntryAndJoinStaysAsGiven() {
    assertEquals(List.of("dns:caravan-hazelcast:5701"), members(true, "--host", "10.1.2.3", "--join-dns", "caravan-hazelcast"));
    assertEquals(List.of("dns:caravan-hazelcast.caravan.svc.cluster.local:5800"), members(true, "--host", "10.1.2.3", "--join-dns", "caravan-hazelcast.caravan.svc.cluster.local:5800"));
    assertEquals(List.of("127.0.0.1:5701"), members(true, "--join", "127.0.0.1:5701"));
    assertEquals(List.of(), members(false));
    assertEquals(Optional.of(new ClusterMember.DnsJoin("caravan-hazelcast", 5701)), ClusterMember.DnsJoin.of(members(true, "--host", "10.1.2.3", "--join-dns", "caravan-hazelcast")));
    assertEquals(Optional.empty(), ClusterMember.DnsJoin.of(List.of("127.0.0.1:5701")));
  }

  @Test
  void joinDnsIsRefusedWithJoinWithoutAPodAddressOrMalformed() {
    assertTrue(refused(false, "--host", "10.1.2.3", "--join", "10.0.0.1:5701", "--join-dns", "caravan-hazelcast").contains("--join and --join-dns exclude each other"));
    assertTrue(refused(true).contains("--join HOST:PORT"));
    String loopback = refused(true, "--join-dns", "caravan-hazelcast");
    assertTrue(loopback.contains("--host") && loopback.contains("status.podIP") && loopback.contains("127.0.0.1"), loopback);
    assertTrue(refused(true, "--host", "localhost", "--join-dns", "caravan-hazelcast").contains("loopback"));
    for (String bad : new String[] {"caravan_hazelcast", "-caravan", "caravan-hazelcast:0", "caravan-hazelcast:70000", "caravan-hazelcast:x", "a..b", ""}) {
      String m = refused(true, "--host", "10.1.2.3", "--join-dns", bad);
      assertTrue(m.contains("is not NAME[:PORT]"), bad + ": " + m);
    }
    // a hand-written DNS entry in --join is checked too
    assertThrows(IllegalArgumentException.class, () -> ClusterMember.DnsJoin.of(List.of("dns:bad_name:5701")));
    assertThrows(IllegalArgumentException.class, () -> ClusterMember.DnsJoin.of(List.of("dns:caravan-hazelcast:5701", "10.0.0.1:5701")));
  }

  @Test
  void helpShowsTheOptionAndItsDefault() {
    String help = new CommandLine(new Member()).getUsageMessage(CommandLine.Help.Ansi.OFF).replaceAll("\\s+", " ");
    assertTrue(help.contains("--join-dns=NAME[:PORT]"), help);
    assertTrue(help.contains("(default: none; PORT: 5701)"), help);
  }

  @Test
  void dnsModeConfigTurnsOnKubernetesDiscoveryAndOffEverythingElse() {
    ClusterOptions o = parse("--host", "10.1.2.3", "--join-dns", "caravan-hazelcast:5701");
    Config config = ClusterMember.config(new ClusterMember.Options("c", o.host(), 5701, false, o.members(List.of(), true), Map.of(), true));
    JoinConfig join = config.getNetworkConfig().getJoin();
    assertTrue(join.getKubernetesConfig().isEnabled());
    assertEquals("caravan-hazelcast", join.getKubernetesConfig().getProperty("service-dns"));
    assertEquals("5701", join.getKubernetesConfig().getProperty("service-port"));
    assertEquals("5", join.getKubernetesConfig().getProperty("service-dns-timeout"));
    assertFalse(join.getTcpIpConfig().isEnabled());
    assertFalse(join.getMulticastConfig().isEnabled());
    assertFalse(join.getAutoDetectionConfig().isEnabled());
    // bound to, and advertising, the pod's address only
    assertEquals("10.1.2.3", config.getProperty("hazelcast.local.localAddress"));
    assertEquals("false", config.getProperty("hazelcast.socket.bind.any"));
    assertEquals(List.of("10.1.2.3"), List.copyOf(config.getNetworkConfig().getInterfaces().getInterfaces()));
    // without --join-dns nothing changes: tcp-ip on the listed members
    Config tcp = ClusterMember.config(new ClusterMember.Options("c", "127.0.0.1", 5702, true, List.of("127.0.0.1:5701"), Map.of(), true));
    assertFalse(tcp.getNetworkConfig().getJoin().getKubernetesConfig().isEnabled());
    assertEquals(List.of("127.0.0.1:5701"), tcp.getNetworkConfig().getJoin().getTcpIpConfig().getMembers());
  }

  /** Through the real discovery code: a member finds the first one by a DNS name (localhost stands for the Service). */
  @Test
  void aMemberJoinsThroughADnsName() throws IOException {
    String cluster = "dns-join-" + UUID.randomUUID();
    int port = freePort();
    HazelcastInstance first = ClusterMember.start(new ClusterMember.Options(cluster, "127.0.0.1", port, false, List.of(), Map.of(ClusterNames.ATTR_ROLE, "first"), false));
    try {
      HazelcastInstance second = ClusterMember.start(new ClusterMember.Options(cluster, "127.0.0.1", freePort(), true, List.of(new ClusterMember.DnsJoin("localhost", port).entry()), Map.of(ClusterNames.ATTR_ROLE, "second"), true));
      try {
        assertEquals(2, second.getCluster().getMembers().size());
        assertEquals(2, first.getCluster().getMembers().size());
      } finally {
        second.shutdown();
      }
    } finally {
      first.shutdown();
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
