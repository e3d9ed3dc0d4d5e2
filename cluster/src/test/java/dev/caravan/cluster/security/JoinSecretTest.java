package dev.caravan.cluster.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.hazelcast.core.HazelcastInstance;
import dev.caravan.cluster.ClusterMember;
import dev.caravan.cluster.ClusterNames;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The join secret with real Hazelcast members in this JVM: a member with another secret or another cluster label is
 * refused (it stays alone in a cluster of its own), one with the same joins; members bind only the interface given.
 */
class JoinSecretTest {
  private static final String SECRET = "the-cluster-secret-" + UUID.randomUUID();
  private final List<HazelcastInstance> started = new ArrayList<>();
  private final String label = "join-test-" + UUID.randomUUID();

  @AfterEach
  void stop() {
    for (int i = started.size() - 1; i >= 0; i--) {
      started.get(i).shutdown();
    }
  }

  private HazelcastInstance member(JoinSecret secret, String label, String host, int port, String join) {
    HazelcastInstance hz = ClusterMember.start(new ClusterMember.Options(secret.hazelcastClusterName(label), host, port, false, List.of(join), Map.of(ClusterNames.ATTR_ROLE, "test"), false));
    started.add(hz);
    return hz;
  }

  private static int port(HazelcastInstance hz) {
    return hz.getCluster().getLocalMember().getAddress().getPort();
  }

  @Test
  void aMemberWithAnotherSecretOrLabelIsRefusedAndOneWithTheSameJoins() throws Exception {
    int p = freePort();
    HazelcastInstance first = member(JoinSecret.of(SECRET, "test"), label, "127.0.0.1", p, "127.0.0.1:" + p);
    String join = "127.0.0.1:" + port(first);

    // start returns once the member has given up joining and formed a cluster of its own
    HazelcastInstance wrongSecret = member(JoinSecret.of("another-secret-" + UUID.randomUUID(), "test"), label, "127.0.0.1", freePort(), join);
    HazelcastInstance wrongLabel = member(JoinSecret.of(SECRET, "test"), label + "-x", "127.0.0.1", freePort(), join);
    HazelcastInstance noSecret = member(JoinSecret.none(), label, "127.0.0.1", freePort(), join);
    for (HazelcastInstance foreign : List.of(wrongSecret, wrongLabel, noSecret)) {
      assertEquals(1, foreign.getCluster().getMembers().size(), "a foreign member stays alone");
    }
    assertEquals(1, first.getCluster().getMembers().size(), "and the cluster did not take it in");

    HazelcastInstance same = member(JoinSecret.of(SECRET, "test"), label, "127.0.0.1", freePort(), join);
    assertEquals(2, same.getCluster().getMembers().size());
    assertEquals(2, first.getCluster().getMembers().size());
  }

  @Test
  void theClusterNameHidesTheSecretAndTheProofBindsRoleAndAddress() {
    JoinSecret s = JoinSecret.of(SECRET, "test");
    String name = s.hazelcastClusterName("prod");
    assertTrue(name.startsWith("prod-"), name);
    assertFalse(name.contains(SECRET));
    assertNotEquals(name, JoinSecret.of(SECRET + "x", "test").hazelcastClusterName("prod"));
    assertNotEquals(name, s.hazelcastClusterName("prod2"));
    assertEquals("prod", JoinSecret.none().hazelcastClusterName("prod"));

    String proof = s.memberProof("worker", "10.0.0.5:7001");
    assertTrue(s.verify("worker", "10.0.0.5:7001", proof));
    assertFalse(s.verify("worker", "10.0.0.6:7001", proof), "a proof copied to another address fails");
    assertFalse(s.verify("coordinator", "10.0.0.5:7001", proof));
    assertFalse(JoinSecret.of(SECRET + "x", "test").verify("worker", "10.0.0.5:7001", proof));
    assertFalse(s.verify("worker", "10.0.0.5:7001", null));
    assertTrue(JoinSecret.none().verify("worker", "x", null), "without a secret (--insecure) there is nothing to prove");
    assertFalse(s.toString().contains(SECRET));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> JoinSecret.of("short", "$CARAVAN_CLUSTER_SECRET"));
    assertTrue(e.getMessage().contains("at least 16 bytes"), e.getMessage());
    assertFalse(e.getMessage().contains("short"), e.getMessage());
  }

  @Test
  void aMemberListensOnlyOnItsInterface() throws Exception {
    // 127.0.0.2 is loopback too on Linux: a member bound there must not answer on 127.0.0.1
    int p = freePort();
    HazelcastInstance hz = member(JoinSecret.of(SECRET, "test"), label, "127.0.0.2", p, "127.0.0.2:" + p);
    int port = port(hz);
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.2", port), 5000);
      assertTrue(s.isConnected());
    }
    try (Socket s = new Socket()) {
      assertThrows(ConnectException.class, () -> s.connect(new InetSocketAddress("127.0.0.1", port), 5000));
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
