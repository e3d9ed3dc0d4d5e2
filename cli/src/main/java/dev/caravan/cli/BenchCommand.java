package dev.caravan.cli;

import dev.caravan.engine.gguf.GgufTensorInfo;
import dev.caravan.engine.model.KvCache;
import dev.caravan.engine.model.LlamaConfig;
import dev.caravan.engine.model.LlamaModel;
import dev.caravan.engine.tensor.GgmlType;
import dev.caravan.engine.tensor.Parallel;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code caravan bench}: Caravan and llama.cpp side by side on one model file and thread count, measured the way
 * llama-bench measures (prompt processing {@code ppN}, text generation {@code tgN}, mean ± stddev of tokens/s).
 *
 * <p>Both engines run in this process and are timed by the same code around one call per batch. llama.cpp is the
 * build bundled in {@code de.kherud:llama} (b4916), driven through its C API with the FFM API ({@link LlamaCpp}): the
 * timed call is {@code llama_decode} plus {@code llama_synchronize}, as in llama-bench. The engines take turns
 * repetition by repetition (the first alternating) so that a change of machine load hits both.
 *
 * <p>{@code --native} adds a native {@code llama-bench} build as a third engine, run as a child process per timed
 * repetition in the same rotation ({@link NativeLlamaBench}): the real bar, where the bundled library is a generic
 * AVX2 build.
 */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
        "Measure Caravan against llama.cpp on the same model file and thread count, like llama-bench.",
        "ppN: a prompt of N random tokens decoded as one batch from an empty KV cache. tgN: N single-token decode steps after a "
            + BenchTest.TG_PROMPT + "-token prompt (untimed). tgNxS: S streams decoding N tokens each in lockstep, one batch of S tokens per step "
            + "(tokens/s of all streams; Caravan only). Each test runs --warmup times untimed, then --repetitions times per engine "
            + "(the engines alternating); the table shows mean ± stddev and the median of tokens/s and Caravan / llama.cpp (of the means).",
        "llama.cpp is the b4916 build bundled with the de.kherud:llama bindings (CPU, AVX2), called through its C API with FFM."},
    footer = {"", "Examples:",
        "  caravan bench --model tinyllama-Q8_0.gguf --threads 2",
        "  caravan bench --model m.gguf --threads 1 --tests pp512,tg128 --repetitions 5 --json bench.json",
        "  caravan bench --model m.gguf --no-llamacpp --native ../shared/tools/llama.cpp/bin/llama-bench"})
public final class BenchCommand implements Callable<Integer> {
  /** Pause before each timed run, so spinning worker threads of the engine that ran last have parked. */
  private static final long SETTLE_MILLIS = 50;
  /** Longest wait for the JIT compiler to go quiet before a timed run. */
  private static final long SETTLE_MAX_MILLIS = 3000;

  @Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--model", required = true, paramLabel = "FILE", description = "GGUF model file (LLaMA family).")
  Path model;

  @Option(names = {"-t", "--threads"}, paramLabel = "T", description = "Threads for both engines (default: available cores, ${DEFAULT-VALUE}).")
  int threads = Runtime.getRuntime().availableProcessors();

  @Option(names = "--tests", defaultValue = "pp128,pp512,tg128", paramLabel = "LIST", description = "Comma-separated tests: ppN, tgN, tgNxS (S streams) (default: ${DEFAULT-VALUE}).")
  String tests;

  @Option(names = {"-r", "--repetitions"}, defaultValue = "3", paramLabel = "N", description = "Timed runs per test and engine (default: ${DEFAULT-VALUE}).")
  int repetitions;

  @Option(names = "--warmup", defaultValue = "1", paramLabel = "N", description = "Untimed runs per test and engine before the timed ones (default: ${DEFAULT-VALUE}).")
  int warmup;

  @Option(names = "--seed", defaultValue = "42", description = "Seed of the random token ids, the same for both engines (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--no-llamacpp", description = "Measure Caravan only.")
  boolean noLlamaCpp;

  @Option(names = "--native", paramLabel = "EXE", description = {
      "Also run this native llama-bench executable (e.g. ../shared/tools/llama.cpp/bin/llama-bench) on the same file and thread count: "
          + "one process per timed repetition (-r 1 -o jsonl, its own warm-up), alternating with the other engines; the table adds caravan / native."})
  Path nativeBench;

  @Option(names = "--kv-type", paramLabel = "TYPE", description = "Caravan's KV cache: f32 (exact) or f16 (half the memory, llama-bench's default) (default: -Dcaravan.kvType, else f32).")
  String kvType;

  @Option(names = "--bandwidth", description = "Also measure the memory read bandwidth (1 thread and --threads; a 512 MiB buffer, ~2 s) and report it with the CPU's name.")
  boolean bandwidth;

  @Option(names = "--json", paramLabel = "FILE", description = "Also write the results as JSON.")
  Path json;

  @Option(names = "--no-progress", description = "No progress bar while loading, no line per finished test.")
  boolean noProgress;

  @Override
  public Integer call() throws IOException {
    CommandLine cmd = spec.commandLine();
    List<BenchTest> testList = validate(cmd);
    PrintWriter out = cmd.getOut();
    PrintWriter err = cmd.getErr();
    String loadBefore = loadAverage();
    Instant date = Instant.now();

    List<BenchEngine> engines = new ArrayList<>();
    try {
      CaravanBenchEngine caravan = openCaravan(cmd);
      engines.add(caravan);
      LlamaConfig config = caravan.config();
      int needed = testList.stream().mapToInt(BenchTest::contextTokens).max().orElseThrow();
      if (needed > config.contextLength()) {
        BenchTest worst = testList.stream().filter(t -> t.contextTokens() == needed).findFirst().orElseThrow();
        throw new ParameterException(cmd, "test " + worst.name() + " needs " + needed + " positions; the model's context holds " + config.contextLength());
      }
      LlamaCppBenchEngine llama = null;
      if (!noLlamaCpp) {
        try {
          llama = LlamaCppBenchEngine.open(model, threads);
        } catch (IOException | RuntimeException e) {
          throw new CommandLine.ExecutionException(cmd, "llama.cpp: " + e.getMessage() + " (--no-llamacpp measures Caravan alone)", e);
        }
        engines.add(llama);
        if (llama.vocabSize() != caravan.vocabSize()) {
          throw new CommandLine.ExecutionException(cmd, "llama.cpp reads a vocabulary of " + llama.vocabSize() + " tokens, Caravan " + caravan.vocabSize() + ": the same token ids cannot be fed to both");
        }
      }
      NativeLlamaBench nativeRunner = nativeBench == null ? null : new NativeLlamaBench(nativeBench, model, threads);
      BenchReport.ModelInfo info = modelInfo(caravan, llama);
      out.printf("model: %s (%s, %s, %s params, vocabulary %d)%n", model, info.description(), BenchReport.size(info.sizeBytes()), BenchReport.params(info.params()), info.vocabSize());
      out.printf("threads %d; %d timed repetition(s) after %d warm-up(s) per test and engine; seed %d; load average before: %s%n", threads, repetitions, warmup, seed, loadBefore);
      out.printf("timed: ppN = N tokens as one batch from an empty KV cache; tgN = N single-token steps after a %d-token prompt; logits for the last token of every batch%n", BenchTest.TG_PROMPT);
      if (llama != null) {
        out.printf("llama.cpp %s through FFM on de.kherud:llama's bundled library (timed: llama_decode + llama_synchronize); %s%n", llama.build(), llama.systemInfo());
        if (threads > 1 && threads >= Runtime.getRuntime().availableProcessors()) {
          out.printf("note: %d threads on %d cores: llama.cpp's threads meet at a barrier after every operation, so any other load on the machine slows it far more than Caravan; compare only runs on a quiet machine%n",
              threads, Runtime.getRuntime().availableProcessors());
        }
      }
      if (nativeRunner != null) {
        out.printf("native: %s -m %s -t %d (-p N -n 0 for ppN, -p 0 -n N for tgN) -r 1 -o jsonl, one process per timed repetition; llama-bench's defaults otherwise (F16 KV cache, flash attention auto); its tgN starts from an empty cache%n",
            nativeBench, model, threads);
      }
      out.flush();

      List<BenchReport.Result> results = new ArrayList<>();
      for (BenchTest test : testList) {
        List<BenchReport.Result> ran = run(test, engines, nativeRunner, caravan.vocabSize());
        results.addAll(ran);
        if (test.streams() > 1) {
          long rss = residentBytes();
          long weights = info.sizeBytes();
          long kv = caravan.streamKvBytes();
          out.printf(Locale.ROOT, "after %s: this process's RSS %s for %s of weights + %s of KV (%d caches): %.2fx%n", test.name(), BenchReport.size(rss), BenchReport.size(weights), BenchReport.size(kv), test.streams(),
              rss / (double) (weights + kv));
          out.flush();
        }
        if (!noProgress) {
          StringBuilder line = new StringBuilder(test.name()).append(':');
          ran
              .forEach(r -> line.append(String.format(Locale.ROOT, " %s %.2f t/s", r.engine(), r.meanTs())));
          err.println(line);
          err.flush();
        }
      }

      List<BenchReport.EngineInfo> engineInfo = new ArrayList<>();
      engineInfo.add(new BenchReport.EngineInfo(caravan.name(), caravan.backend(), "Caravan engine in-process, Java " + Runtime.version() + "; KV cache " + caravan.kvType()));
      if (llama != null) {
        engineInfo.add(new BenchReport.EngineInfo(llama.name(), llama.backend(), "llama.cpp " + llama.build() + " via FFM; " + llama.systemInfo()));
      }
      if (nativeRunner != null) {
        NativeLlamaBench.Line l = nativeRunner.last();
        engineInfo.add(new BenchReport.EngineInfo(NativeLlamaBench.NAME, nativeRunner.backend(), nativeBench + " (separate process per repetition); cpu " + l.cpuInfo() + "; type_k " + l.typeK() + "; flash_attn " + l.flashAttn()));
        if (llama == null) {
          info = new BenchReport.ModelInfo(info.file(), l.modelType(), info.sizeBytes(), info.params(), info.vocabSize());
        }
      }
      String loadAfter = loadAverage();
      MachineInfo machine = bandwidth ? MachineInfo.measure(threads) : MachineInfo.describe();
      out.printf("machine: %s%n", machine.describeLine());
      BenchReport report = new BenchReport(info, threads, repetitions, warmup, seed, engineInfo, results, date, loadBefore, loadAfter, machine);
      out.println();
      out.print(report.table());
      out.printf("%nload average after: %s%n", loadAfter);
      out.flush();
      if (json != null) {
        try {
          report.writeJson(json);
        } catch (IOException e) {
          throw new CommandLine.ExecutionException(cmd, "cannot write " + json + ": " + e.getMessage(), e);
        }
        out.println("wrote " + json);
      }
      return 0;
    } finally {
      for (BenchEngine e : engines) {
        e.close();
      }
    }
  }

  private List<BenchTest> validate(CommandLine cmd) {
    if (threads < 1) {
      throw new ParameterException(cmd, "--threads must be at least 1");
    }
    if (repetitions < 1) {
      throw new ParameterException(cmd, "--repetitions must be at least 1");
    }
    if (warmup < 0) {
      throw new ParameterException(cmd, "--warmup must not be negative");
    }
    List<BenchTest> list;
    try {
      list = BenchTest.parseList(tests);
    } catch (IllegalArgumentException e) {
      throw new ParameterException(cmd, "--tests: " + e.getMessage());
    }
    if (json != null) {
      Path dir = json.toAbsolutePath().getParent();
      if (dir != null && !Files.isDirectory(dir)) {
        throw new ParameterException(cmd, "--json: no such directory " + dir);
      }
      if (Files.isDirectory(json)) {
        throw new ParameterException(cmd, "--json: " + json + " is a directory");
      }
    }
    Loading.checkFile(cmd, model);
    if (kvType != null) {
      try {
        KvCache.Type.parse(kvType);
      } catch (IllegalArgumentException e) {
        throw new ParameterException(cmd, "--kv-type: " + e.getMessage());
      }
    }
    if (nativeBench != null && !Files.isExecutable(nativeBench)) {
      throw new ParameterException(cmd, "--native: " + nativeBench + " is not an executable file");
    }
    return list;
  }

  private CaravanBenchEngine openCaravan(CommandLine cmd) {
    Parallel parallel = new Parallel(threads);
    try {
      LlamaModel m = Loading.open(cmd, model, parallel, !noProgress);
      return new CaravanBenchEngine(m, parallel, kvType == null ? KvCache.Type.DEFAULT : KvCache.Type.parse(kvType));
    } catch (RuntimeException e) {
      parallel.close();
      throw e;
    }
  }

  /** Size and parameters from the GGUF's tensors; llama.cpp's description ("llama 1B Q8_0") when it is loaded. */
  private static BenchReport.ModelInfo modelInfo(CaravanBenchEngine caravan, LlamaCppBenchEngine llama) {
    long bytes = 0;
    long params = 0;
    Map<GgmlType, Long> bytesByType = new EnumMap<>(GgmlType.class);
    for (GgufTensorInfo t : caravan.model().file().tensors()) {
      bytes += t.byteSize();
      params += t.elementCount();
      if (t.rank() >= 2) {
        bytesByType.merge(t.type(), t.byteSize(), Long::sum);
      }
    }
    String type = bytesByType.entrySet().stream().max(Map.Entry.comparingByValue()).map(e -> e.getKey().toString()).orElse("?");
    String description = llama != null ? llama.description() : "llama " + BenchReport.params(params).replace(" ", "") + " " + type;
    return new BenchReport.ModelInfo(caravan.model().file().path(), description, bytes, params, caravan.vocabSize());
  }

  /**
   * Warm-up, then the timed repetitions of one test on every engine, the engines taking turns (the native llama-bench,
   * when given, last in the turn order; it warms up inside each of its processes).
   */
  private List<BenchReport.Result> run(BenchTest test, List<BenchEngine> engines, NativeLlamaBench nativeRunner, int vocab) throws IOException {
    if (test.streams() > 1) {
      // several streams: only the engines that batch sequences (Caravan); llama-bench has no such test
      engines = engines.stream().filter(BenchEngine::multiStream).toList();
      nativeRunner = null;
    }
    int[] ids = test.tokenIds(seed, vocab);
    for (BenchEngine e : engines) {
      if (test.streams() > 1) {
        e.prepareStreams(test.streams(), test.contextTokens());
      } else {
        e.prepare(test.contextTokens(), test.batchTokens());
      }
    }
    for (int w = 0; w < warmup; w++) {
      for (BenchEngine e : engines) {
        timeOnce(e, test, ids);
      }
    }
    int count = engines.size() + (nativeRunner == null ? 0 : 1);
    long[][] samples = new long[count][repetitions];
    for (int r = 0; r < repetitions; r++) {
      for (int k = 0; k < count; k++) {
        // alternate which engine goes first, so neither always follows the other
        int i = r % 2 == 0 ? k : count - 1 - k;
        if (i < engines.size()) {
          samples[i][r] = timeOnce(engines.get(i), test, ids);
        } else {
          settle();
          samples[i][r] = nativeRunner.timeOnce(test);
        }
      }
    }
    List<BenchReport.Result> results = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      results.add(new BenchReport.Result(test, i < engines.size() ? engines.get(i).name() : NativeLlamaBench.NAME, samples[i]));
    }
    return results;
  }

  /** One run of a test from an empty cache; returns the nanoseconds of its timed part. */
  static long timeOnce(BenchEngine e, BenchTest test, int[] ids) {
    if (test.streams() > 1) {
      return timeStreams(e, test, ids);
    }
    e.clear();
    int start = 0;
    if (test.kind() == BenchTest.Kind.TG) {
      e.decode(ids, 0, BenchTest.TG_PROMPT, 0);
      start = BenchTest.TG_PROMPT;
    }
    settle();
    long t0 = System.nanoTime();
    if (test.kind() == BenchTest.Kind.PP) {
      e.decode(ids, 0, test.tokens(), 0);
    } else {
      for (int i = 0; i < test.tokens(); i++) {
        e.decode(ids, start + i, 1, start + i);
      }
    }
    return System.nanoTime() - t0;
  }

  /** A tgNxS test: every stream's prompt on its own (untimed), then N steps of one batch holding a token of each stream. */
  private static long timeStreams(BenchEngine e, BenchTest test, int[] ids0) {
    int streams = test.streams();
    int[][] ids = new int[streams][];
    for (int s = 0; s < streams; s++) {
      // the ids only need to differ between streams; any vocabulary-valid ids do (stream 0's, rotated)
      ids[s] = new int[ids0.length];
      for (int i = 0; i < ids0.length; i++) {
        ids[s][i] = ids0[(i + 7 * s) % ids0.length];
      }
    }
    e.clearStreams();
    for (int s = 0; s < streams; s++) {
      e.decodeStream(s, ids[s], 0, BenchTest.TG_PROMPT, 0);
    }
    settle();
    long t0 = System.nanoTime();
    for (int i = 0; i < test.tokens(); i++) {
      e.decodeStep(ids, BenchTest.TG_PROMPT + i);
    }
    return System.nanoTime() - t0;
  }

  /**
   * Waits until the threads of the engine that ran last have parked and the JIT compiler has been idle for a moment
   * (at most {@value #SETTLE_MAX_MILLIS} ms): compiler threads still busy with Caravan's code would take a core from
   * llama.cpp, whose threads wait for each other after every operation.
   */
  private static void settle() {
    CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
    boolean watchJit = jit != null && jit.isCompilationTimeMonitoringSupported();
    long deadline = System.nanoTime() + SETTLE_MAX_MILLIS * 1_000_000L;
    try {
      long compiled = watchJit ? jit.getTotalCompilationTime() : 0;
      Thread.sleep(SETTLE_MILLIS);
      while (watchJit && System.nanoTime() < deadline) {
        long now = jit.getTotalCompilationTime();
        if (now == compiled) {
          break;
        }
        compiled = now;
        Thread.sleep(SETTLE_MILLIS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  /** VmRSS of this process ({@code /proc/self/status}), 0 where unknown. */
  static long residentBytes() {
    try {
      for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (l.startsWith("VmRSS:")) {
          return Long.parseLong(l.replaceAll("[^0-9]", "")) * 1024;
        }
      }
    } catch (IOException | RuntimeException e) {
      // not Linux
    }
    return 0;
  }

  /** The 1, 5 and 15 minute load averages ({@code /proc/loadavg}), or the JVM's 1-minute figure elsewhere. */
  static String loadAverage() {
    try {
      String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
      return f[0] + " " + f[1] + " " + f[2];
    } catch (IOException | RuntimeException e) {
      double one = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
      return one < 0 ? "unknown" : String.format(Locale.ROOT, "%.2f", one);
    }
  }
}
