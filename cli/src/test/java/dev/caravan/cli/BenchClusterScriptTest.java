package dev.caravan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.engine.TestData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** ops/bench/cluster checks its arguments before it builds or starts anything. */
class BenchClusterScriptTest {
  private static final Path SCRIPT = TestData.root().resolve("ops/bench/cluster");

  private record Run(int exit, String out) {}

  private static Run run(String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of("bash", SCRIPT.toString()));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    try {
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the script ended");
      return new Run(p.exitValue(), out);
    } finally {
      p.destroyForcibly();
    }
  }

  @Test
  void helpDescribesWhatItMeasures() throws Exception {
    Run r = run("--help");
    assertEquals(0, r.exit(), r.out());
    assertTrue(r.out().contains("ops/bench/cluster --model"), r.out());
    assertTrue(r.out().contains("Cold start"), r.out());
  }

  @Test
  void badArgumentsAreRefusedWithAReason() throws Exception {
    Run none = run();
    assertEquals(2, none.exit());
    assertTrue(none.out().contains("--model FILE is required"), none.out());
    Run missing = run("--model", "/nonexistent/m.gguf");
    assertEquals(2, missing.exit());
    assertTrue(missing.out().contains("no such model file: /nonexistent/m.gguf"), missing.out());
    Run unknown = run("--frobnicate");
    assertEquals(2, unknown.exit());
    assertTrue(unknown.out().contains("unknown argument --frobnicate"), unknown.out());
    Run noValue = run("--model");
    assertEquals(2, noValue.exit());
    assertTrue(noValue.out().contains("--model needs a value"), noValue.out());
    Run threads = run("--model", SCRIPT.toString(), "--threads", "two");
    assertEquals(2, threads.exit());
    assertTrue(threads.out().contains("--threads must be a positive whole number, not two"), threads.out());
  }
}
