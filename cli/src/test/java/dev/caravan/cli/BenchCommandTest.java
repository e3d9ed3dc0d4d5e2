package dev.caravan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.caravan.engine.TestData;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BenchCommandTest {
  @TempDir Path tmp;

  private record Run(int exitCode, String out, String err) {}

  private static Run bench(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    picocli.CommandLine cmd = Caravan.commandLine();
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    List<String> all = new ArrayList<>(List.of("bench"));
    all.addAll(List.of(args));
    int code = cmd.execute(all.toArray(String[]::new));
    return new Run(code, out.toString(), err.toString());
  }

  /** The cells of a markdown table row. */
  static List<String> cells(String row) {
    String inner = row.strip().substring(1, row.strip().length() - 1);
    return java.util.Arrays.stream(inner.split("\\|", -1)).map(String::strip).toList();
  }

  private static String stories() {
    return TestData.stories260K().toString();
  }

  private static void assertUsageError(Run r, String message) {
    assertEquals(2, r.exitCode(), r.err());
    assertTrue(r.err().contains(message), r.err());
    assertTrue(r.err().contains("Try 'caravan bench --help'"), r.err());
  }

  @Test
  void helpShowsDefaults() {
    Run r = bench("--help");
    assertEquals(0, r.exitCode());
    String flat = r.out().replaceAll("\\s+", " ");
    assertTrue(flat.contains("(default: pp128,pp512, tg128)") || flat.contains("(default: pp128,pp512,tg128)"), r.out());
    assertTrue(flat.contains("Timed runs per test and engine (default: 3)"), r.out());
    assertTrue(flat.contains("Untimed runs per test and engine before the timed ones (default: 1)"), r.out());
    assertTrue(r.out().contains("--no-llamacpp"), r.out());
  }

  @Test
  void rejectsBadOptions() {
    assertUsageError(bench(), "Missing required option: '--model=FILE'");
    assertUsageError(bench("--model", stories(), "--threads", "0"), "--threads must be at least 1");
    assertUsageError(bench("--model", stories(), "--repetitions", "0"), "--repetitions must be at least 1");
    assertUsageError(bench("--model", stories(), "--warmup", "-1"), "--warmup must not be negative");
    assertUsageError(bench("--model", stories(), "--tests", "pp16,xx8"), "--tests: unknown test 'xx8'");
    assertUsageError(bench("--model", stories(), "--tests", "tg8,tg8"), "--tests: test tg8 is listed twice");
    assertUsageError(bench("--model", tmp.resolve("absent.gguf").toString()), "no such model file");
    assertUsageError(bench("--model", stories(), "--json", tmp.resolve("no/such/dir/b.json").toString()), "--json: no such directory");
    assertUsageError(bench("--model", stories(), "--json", tmp.toString()), "is a directory");
  }

  @Test
  void rejectsATestLongerThanTheModelsContext() {
    // stories260K holds 512 positions; tg509 needs 4 + 509
    assertUsageError(bench("--model", stories(), "--no-progress", "--tests", "pp16,tg509"), "test tg509 needs 513 positions; the model's context holds 512");
  }

  @Test
  void tinyRunMeasuresBothEngines() throws IOException {
    Path json = tmp.resolve("bench.json");
    Run r = bench("--model", stories(), "--threads", "1", "--tests", "pp16,tg8", "--repetitions", "1", "--json", json.toString());
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().contains("llama.cpp b4916"), r.out());
    List<String> rows = r.out().lines().filter(l -> l.startsWith("| ") && !l.startsWith("| model") && !l.startsWith("| -")).toList();
    assertEquals(4, rows.size(), r.out());
    assertEquals(List.of("caravan", "1", "pp16"), List.of(cells(rows.get(0)).get(3), cells(rows.get(0)).get(5), cells(rows.get(0)).get(6)));
    assertEquals(List.of("llama.cpp", "1", "pp16"), List.of(cells(rows.get(1)).get(3), cells(rows.get(1)).get(5), cells(rows.get(1)).get(6)));
    assertEquals(List.of("caravan", "tg8"), List.of(cells(rows.get(2)).get(3), cells(rows.get(2)).get(6)));
    assertEquals(List.of("llama.cpp", "tg8"), List.of(cells(rows.get(3)).get(3), cells(rows.get(3)).get(6)));
    // the ratio sits on Caravan's rows
    // (a number, not a speed: on a busy machine an unwarmed one-repetition run may round to 0.00)
    assertTrue(cells(rows.get(0)).get(9).matches("\\d+\\.\\d\\d"), rows.get(0));
    assertEquals("", cells(rows.get(1)).get(9));
    assertTrue(r.err().contains("pp16: caravan") && r.err().contains("tg8: caravan"), r.err());

    JsonNode j = new ObjectMapper().readTree(json.toFile());
    assertEquals(1, j.get("n_threads").asInt());
    assertEquals(512, j.get("model").get("n_vocab").asInt());
    assertEquals(292800, j.get("model").get("n_params").asLong());
    assertEquals(4, j.get("results").size());
    for (JsonNode res : j.get("results")) {
      assertEquals(1, res.get("samples_ns").size(), res.toString());
      assertTrue(res.get("samples_ns").get(0).asLong() > 0, res.toString());
      assertTrue(res.get("avg_ts").asDouble() > 0, res.toString());
    }
    assertEquals(List.of("caravan", "llama.cpp", "caravan", "llama.cpp"), j.get("results").findValuesAsText("engine"));
    assertEquals(2, j.get("ratios").size());
    for (JsonNode ratio : j.get("ratios")) {
      assertTrue(ratio.get("caravan_over_llamacpp_avg_ts").asDouble() > 0, ratio.toString());
    }
  }

  @Test
  void noLlamaCppMeasuresCaravanAlone() {
    Run r = bench("--model", stories(), "--threads", "2", "--tests", "pp8", "--repetitions", "2", "--warmup", "0", "--no-llamacpp", "--no-progress");
    assertEquals(0, r.exitCode(), r.err());
    List<String> rows = r.out().lines().filter(l -> l.startsWith("| ") && !l.startsWith("| model") && !l.startsWith("| -")).toList();
    assertEquals(1, rows.size(), r.out());
    List<String> c = cells(rows.get(0));
    assertEquals(List.of("caravan", "2", "pp8"), List.of(c.get(3), c.get(5), c.get(6)));
    assertEquals(9, c.size(), "no ratio column: " + rows.get(0));
    assertFalse(r.out().contains("llama.cpp"), r.out());
  }

  /** tgNxS runs Caravan alone (llama-bench has no such test), its tokens/s counting every stream. */
  @Test
  void severalStreamsRunOnCaravanOnly() throws IOException {
    Path json = tmp.resolve("streams.json");
    Run r = bench("--model", stories(), "--threads", "2", "--tests", "tg4,tg4x3", "--repetitions", "1", "--warmup", "0", "--no-llamacpp", "--no-progress", "--json", json.toString());
    assertEquals(0, r.exitCode(), r.err());
    List<String> rows = r.out().lines().filter(l -> l.startsWith("| ") && !l.startsWith("| model") && !l.startsWith("| -")).toList();
    assertEquals(List.of("tg4", "tg4x3"), rows.stream().map(row -> cells(row).get(6)).toList());
    JsonNode j = new ObjectMapper().readTree(json.toFile());
    assertEquals(12, j.get("results").get(1).get("n_timed_tokens").asInt());
  }

  /**
   * {@code --native} against a stand-in llama-bench (a script that prints a recorded JSON line for the asked test and
   * logs its arguments): one process per timed repetition, its samples in the report, a caravan / native column.
   */
  @Test
  void nativeRunsOneLlamaBenchProcessPerRepetition() throws IOException {
    Path args = tmp.resolve("args.log");
    Path fake = tmp.resolve("llama-bench");
    String line = NativeLlamaBenchTest.TG_LINE.replace("\"n_threads\": 2", "\"n_threads\": 1").replace("\"n_prompt\": 0, \"n_gen\": 128", "\"n_prompt\": $P, \"n_gen\": $N");
    java.nio.file.Files.writeString(fake, String.join("\n",
        "#!/bin/sh",
        "echo \"$@\" >> '" + args + "'",
        "while [ $# -gt 0 ]; do case \"$1\" in -p) P=$2; shift;; -n) N=$2; shift;; esac; shift; done",
        "echo 'llama-bench: a log line on stdout'",
        "cat <<JSON",
        line,
        "JSON", ""));
    fake.toFile().setExecutable(true);
    Path json = tmp.resolve("bench.json");
    Run r = bench("--model", stories(), "--threads", "1", "--tests", "pp16,tg8", "--repetitions", "2", "--warmup", "0", "--no-llamacpp", "--no-progress", "--native", fake.toString(), "--json", json.toString());
    assertEquals(0, r.exitCode(), r.err());
    List<String> calls = java.nio.file.Files.readAllLines(args);
    assertEquals(4, calls.size(), calls.toString());
    assertTrue(calls.get(0).endsWith("-t 1 -p 16 -n 0 -r 1 -o jsonl"), calls.get(0));
    assertTrue(calls.get(3).endsWith("-t 1 -p 0 -n 8 -r 1 -o jsonl"), calls.get(3));
    List<String> rows = r.out().lines().filter(l -> l.startsWith("| ") && !l.startsWith("| model") && !l.startsWith("| -")).toList();
    assertEquals(4, rows.size(), r.out());
    assertEquals(List.of("native", "CPU llama-bench b10470", "pp16"), List.of(cells(rows.get(1)).get(3), cells(rows.get(1)).get(4), cells(rows.get(1)).get(6)));
    // the stand-in "took" 4 s per repetition: 16 / 4 = 4 t/s, 8 / 4 = 2 t/s
    assertEquals("4.00 ± 0.00", cells(rows.get(1)).get(7));
    assertEquals("2.00 ± 0.00", cells(rows.get(3)).get(7));
    assertTrue(r.out().contains("caravan / native"), r.out());
    assertTrue(Double.parseDouble(cells(rows.get(0)).get(9)) > 0, rows.get(0));
    JsonNode j = new ObjectMapper().readTree(json.toFile());
    assertEquals(List.of("caravan", "native", "caravan", "native"), j.get("results").findValuesAsText("engine"));
    assertEquals(List.of(4_000_000_000L, 4_000_000_000L), List.of(j.get("results").get(1).get("samples_ns").get(0).asLong(), j.get("results").get(1).get("samples_ns").get(1).asLong()));
    assertTrue(j.get("ratios").get(1).get("caravan_over_native_avg_ts").asDouble() > 0, j.get("ratios").toString());
    assertEquals("llama 1B Q8_0", j.get("model").get("type").asText());
  }

  @Test
  void nativeMustBeAnExecutable() {
    assertUsageError(bench("--model", stories(), "--native", tmp.resolve("nope").toString()), "--native");
  }
}
