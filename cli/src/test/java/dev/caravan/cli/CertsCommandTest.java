package dev.caravan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.security.ClusterTls;
import dev.caravan.cluster.security.Role;
import dev.caravan.cluster.security.SecretFiles;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code caravan certs}: a CA, then node certificates that load as cluster identities with their roles. */
class CertsCommandTest {
  @TempDir Path dir;

  private static int run(StringWriter err, String... args) {
    return Caravan.commandLine().setErr(new PrintWriter(err, true)).execute(args);
  }

  @Test
  void makesACaAndNodeCertificatesNamingTheirRoles() {
    StringWriter err = new StringWriter();
    assertEquals(0, run(err, "certs", "ca", "--dir", dir.toString()), err.toString());
    assertEquals(0, run(err, "certs", "issue", "--dir", dir.toString(), "--name", "coordinator", "--role", "coordinator"), err.toString());
    assertEquals(0, run(err, "certs", "issue", "--dir", dir.toString(), "--name", "worker-1", "--role", "worker", "--san", "node-1.example", "--san", "10.0.0.7"), err.toString());
    assertFalse(SecretFiles.readableByOthers(dir.resolve("ca.key")), "keys are written for their owner only");
    assertFalse(SecretFiles.readableByOthers(dir.resolve("worker-1.key")));
    assertEquals(Role.COORDINATOR, ClusterTls.load(dir.resolve("coordinator.pem"), dir.resolve("coordinator.key"), dir.resolve("ca.pem")).role().orElseThrow());
    assertEquals(Role.WORKER, ClusterTls.load(dir.resolve("worker-1.pem"), dir.resolve("worker-1.key"), dir.resolve("ca.pem")).role().orElseThrow());
  }

  @Test
  void refusesMistakesWithAClearMessage() {
    StringWriter err = new StringWriter();
    assertEquals(2, run(err, "certs", "issue", "--dir", dir.toString(), "--name", "w", "--role", "worker"));
    assertTrue(err.toString().contains("no CA in " + dir), err.toString());
    assertEquals(0, run(err, "certs", "ca", "--dir", dir.toString()));
    err = new StringWriter();
    assertEquals(2, run(err, "certs", "ca", "--dir", dir.toString()));
    assertTrue(err.toString().contains("pass --force to replace the CA"), err.toString());
    err = new StringWriter();
    assertEquals(2, run(err, "certs", "issue", "--dir", dir.toString(), "--name", "../evil", "--role", "worker"));
    assertTrue(err.toString().contains("--name must be"), err.toString());
    err = new StringWriter();
    assertEquals(2, run(err, "certs", "issue", "--dir", dir.toString(), "--name", "x", "--role", "admin"));
    assertTrue(err.toString().contains("no role 'admin'"), err.toString());
  }
}
