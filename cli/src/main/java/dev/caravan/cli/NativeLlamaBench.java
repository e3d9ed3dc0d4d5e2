package dev.caravan.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A native {@code llama-bench} executable run beside Caravan: one process per timed repetition
 * ({@code -r 1 -o jsonl}), so that {@link BenchCommand} can alternate it with Caravan's runs, and its JSON line parsed
 * for the numbers a side-by-side report needs ({@code avg_ts}, {@code stddev_ts}, {@code n_prompt}, {@code n_gen},
 * {@code n_threads}, {@code samples_ns}).
 *
 * <p>Test mapping: {@code ppN} is {@code -p N -n 0} (a prompt of N tokens as one batch), {@code tgN} is
 * {@code -p 0 -n N} (N single-token steps from an empty cache; Caravan's tgN first decodes a
 * {@value BenchTest#TG_PROMPT}-token untimed prompt). Everything else stays at llama-bench's defaults (n_batch 2048,
 * n_ubatch 512, F16 KV cache, flash attention auto, mmap); each process runs its own untimed warm-up before the
 * timed repetition.
 */
final class NativeLlamaBench {
  /** The engine name in reports. */
  static final String NAME = "native";
  /** Longest a single llama-bench process may take. */
  private static final long TIMEOUT_SECONDS = 600;

  /** One llama-bench JSON line: the fields the report uses. */
  record Line(String buildCommit, int buildNumber, String cpuInfo, String modelType, int nThreads, int nPrompt, int nGen, String typeK, int flashAttn,
      double avgTs, double stddevTs, long avgNs, long[] samplesNs) {
    Line {
      samplesNs = samplesNs.clone();
    }

    /** The test in Caravan's terms: pp when it generated nothing, else tg. */
    BenchTest test() {
      return nGen == 0 ? new BenchTest(BenchTest.Kind.PP, nPrompt) : new BenchTest(BenchTest.Kind.TG, nGen);
    }
  }

  private final Path executable;
  private final Path model;
  private final int threads;
  private Line last;

  NativeLlamaBench(Path executable, Path model, int threads) {
    this.executable = executable;
    this.model = model;
    this.threads = threads;
  }

  /** The llama-bench arguments of one timed repetition of {@code test}. */
  List<String> command(BenchTest test) {
    int p = test.kind() == BenchTest.Kind.PP ? test.tokens() : 0;
    int n = test.kind() == BenchTest.Kind.TG ? test.tokens() : 0;
    return List.of(executable.toString(), "-m", model.toString(), "-t", Integer.toString(threads), "-p", Integer.toString(p), "-n", Integer.toString(n), "-r", "1", "-o", "jsonl");
  }

  /** Runs one repetition of {@code test}; returns the nanoseconds llama-bench timed. */
  long timeOnce(BenchTest test) throws IOException {
    List<String> cmd = command(test);
    Path errFile = Files.createTempFile("caravan-llama-bench", ".err");
    try {
      Process p = new ProcessBuilder(cmd).redirectError(errFile.toFile()).start();
      p.getOutputStream().close();
      String stdout;
      try (InputStream in = p.getInputStream()) {
        stdout = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      }
      boolean done;
      try {
        done = p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        p.destroyForcibly();
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while waiting for llama-bench", e);
      }
      if (!done) {
        p.destroyForcibly();
        throw new IOException("llama-bench did not finish within " + TIMEOUT_SECONDS + " s: " + String.join(" ", cmd));
      }
      if (p.exitValue() == 128 + 4) {
        throw new IOException("llama-bench stopped with SIGILL (illegal instruction): the build uses an instruction this CPU lacks for this weight type "
            + "(b10470's Q8_0/Q4_0 paths use VEX-encoded AVX-VNNI, which AVX-512 CPUs such as AMD Zen 4 do not have): " + String.join(" ", cmd));
      }
      if (p.exitValue() != 0) {
        throw new IOException("llama-bench exited with " + p.exitValue() + ": " + String.join(" ", cmd) + "\n" + tail(errFile));
      }
      List<Line> lines = parse(stdout);
      if (lines.size() != 1) {
        throw new IOException("llama-bench printed " + lines.size() + " results, expected 1: " + String.join(" ", cmd));
      }
      Line line = lines.get(0);
      if (!line.test().equals(test) || line.nThreads() != threads || line.samplesNs().length != 1) {
        throw new IOException("llama-bench measured " + line.test().name() + " on " + line.nThreads() + " threads (" + line.samplesNs().length + " samples), asked for " + test.name() + " on " + threads);
      }
      last = line;
      return line.samplesNs()[0];
    } finally {
      Files.deleteIfExists(errFile);
    }
  }

  /** The last line parsed, or null before the first run. */
  Line last() {
    return last;
  }

  /** "CPU llama-bench b10470" (the build from the last run's line, when it reports one). */
  String backend() {
    if (last == null || last.buildNumber() <= 0) {
      return "CPU llama-bench";
    }
    return "CPU llama-bench b" + last.buildNumber();
  }

  private static String tail(Path file) throws IOException {
    List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
  }

  /** Every JSON object line of llama-bench's {@code -o jsonl} output; other lines are ignored. */
  static List<Line> parse(String jsonl) throws IOException {
    ObjectMapper json = new ObjectMapper();
    List<Line> out = new ArrayList<>();
    for (String l : jsonl.lines().toList()) {
      String s = l.strip();
      if (!s.startsWith("{")) {
        continue;
      }
      out.add(line(json.readTree(s)));
    }
    return out;
  }

  /** One parsed line; fails on a missing number field rather than reading it as 0. */
  static Line line(JsonNode n) throws IOException {
    JsonNode samples = require(n, "samples_ns");
    long[] ns = new long[samples.size()];
    for (int i = 0; i < ns.length; i++) {
      ns[i] = samples.get(i).asLong();
    }
    return new Line(n.path("build_commit").asText("unknown"), n.path("build_number").asInt(0), n.path("cpu_info").asText(""), n.path("model_type").asText(""),
        require(n, "n_threads").asInt(), require(n, "n_prompt").asInt(), require(n, "n_gen").asInt(), n.path("type_k").asText(""), n.path("flash_attn").asInt(-1),
        require(n, "avg_ts").asDouble(), require(n, "stddev_ts").asDouble(), require(n, "avg_ns").asLong(), ns);
  }

  private static JsonNode require(JsonNode n, String field) throws IOException {
    JsonNode v = n.get(field);
    if (v == null || v.isNull() || !(v.isNumber() || v.isArray())) {
      throw new IOException("llama-bench JSON line lacks a numeric '" + field + "'");
    }
    return v;
  }
}
