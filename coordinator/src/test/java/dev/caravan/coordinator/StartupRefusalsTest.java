package dev.caravan.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.engine.TestData;
import dev.caravan.worker.WorkerCommand;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * What the coordinator and worker commands refuse before they start anything: no TLS and no {@code --insecure}, half
 * the TLS options, no join secret, a model outside the model directory, a key file that is no key file. Each with exit
 * code 2 and a message naming what to pass.
 */
class StartupRefusalsTest {
  @TempDir Path dir;

  record Run(int code, String err) {}

  private static Run run(Callable<Integer> command, String... args) {
    StringWriter err = new StringWriter();
    int code = new CommandLine(command).setErr(new PrintWriter(err, true)).execute(args);
    return new Run(code, err.toString());
  }

  private List<Run> both(String... extra) {
    List<String> c = new ArrayList<>(List.of("--model", TestData.stories260K().toString()));
    c.addAll(List.of(extra));
    List<String> w = new ArrayList<>(c);
    w.addAll(List.of("--join", "127.0.0.1:5701"));
    return List.of(run(new CoordinatorCommand(), c.toArray(String[]::new)), run(new WorkerCommand(), w.toArray(String[]::new)));
  }

  @Test
  void neitherTlsNorInsecureIsRefusedSayingWhatToPass() {
    for (Run r : both()) {
      assertEquals(2, r.code(), r.err());
      assertTrue(r.err().contains("internal connections need mutual TLS: pass --tls-cert FILE --tls-key FILE --tls-ca FILE"), r.err());
      assertTrue(r.err().contains("or --insecure"), r.err());
    }
  }

  @Test
  void halfTheTlsOptionsOrNoSecretAreRefused() throws Exception {
    Path f = Files.writeString(dir.resolve("x.pem"), "x");
    for (Run r : both("--tls-cert", f.toString())) {
      assertEquals(2, r.code(), r.err());
      assertTrue(r.err().contains("--tls-cert, --tls-key and --tls-ca go together: missing --tls-key, --tls-ca"), r.err());
    }
    for (Run r : both("--tls-cert", f.toString(), "--tls-key", f.toString(), "--tls-ca", f.toString())) {
      assertEquals(2, r.code(), r.err());
      assertTrue(r.err().contains("the cluster needs a join secret: pass --cluster-secret-file FILE"), r.err());
    }
    for (Run r : both("--insecure", "--tls-ca", f.toString())) {
      assertEquals(2, r.code(), r.err());
      assertTrue(r.err().contains("--insecure runs without TLS: leave out --tls-ca"), r.err());
    }
  }

  @Test
  void aModelOutsideTheModelDirectoryIsRefused() throws Exception {
    Path models = Files.createDirectories(dir.resolve("models"));
    for (Run r : both("--model-dir", models.toString(), "--insecure")) {
      assertEquals(2, r.code(), r.err());
      assertTrue(r.err().contains("is outside the model directory " + models.toRealPath()), r.err());
    }
    Path link = Files.createSymbolicLink(models.resolve("linked.gguf"), TestData.stories260K().toAbsolutePath());
    Run r = run(new CoordinatorCommand(), "--model", link.toString(), "--model-dir", models.toString(), "--insecure");
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains("(really "), "a link that leads outside is followed and refused: " + r.err());
  }

  @Test
  void aBadKeyFileIsRefusedWithoutEchoingIt() throws Exception {
    Path keys = Files.writeString(dir.resolve("keys"), "tooshort\n");
    Run r = run(new CoordinatorCommand(), "--model", TestData.stories260K().toString(), "--insecure", "--api-keys", keys.toString());
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains("line 1"), r.err());
    assertFalse(r.err().contains("tooshort"), r.err());
  }

  @Test
  void helpShowsEverySecurityOptionWithItsDefault() {
    for (Callable<Integer> c : List.<Callable<Integer>>of(new CoordinatorCommand(), new WorkerCommand())) {
      String help = new CommandLine(c).getUsageMessage().replaceAll("\\s+", " ");
      for (String o : List.of("--tls-cert", "--tls-key", "--tls-ca", "--cluster-secret-file", "--insecure", "--model-dir")) {
        assertTrue(help.contains(o), o + " in\n" + help);
      }
      assertTrue(help.contains("trusted machine or network (default: false)"), help);
    }
    String help = new CommandLine(new CoordinatorCommand()).getUsageMessage();
    for (String o : List.of("--api-keys", "--public-tls-cert", "--public-tls-key")) {
      assertTrue(help.contains(o), o);
    }
  }
}
