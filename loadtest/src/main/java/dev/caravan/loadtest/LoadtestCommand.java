package dev.caravan.loadtest;

import dev.caravan.proto.v1.InferenceGrpc;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code caravan loadtest}: drives a Caravan cluster through its public {@code Inference} API like real traffic and
 * reports what its users would feel, in the terms of vLLM's serving benchmark.
 *
 * <p>With {@code --fault}, it injects faults into the {@code ops/cluster} cluster of a run directory while the run goes
 * on ({@link FaultInjector}, {@link RunDirCluster}); with {@code --verify}, it first runs the same requests greedily
 * without faults and checks every stream of the faulty run against that reference ({@link Verification}).
 *
 * <p>Exit status: 0 when the run completed and its reports were written (failed requests are part of a report, not a
 * failure of the tool); 1 when a report could not be written; 2 for invalid options or a dataset that cannot be used;
 * 3 when {@code --verify} found a stream that failed or differs from its reference.
 */
@Command(
    name = "loadtest",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    version = "caravan loadtest 0.1.0",
    description = {
        "Load-test a Caravan cluster through its public gRPC API and report throughput and latency like vLLM's serving benchmark.",
        "Closed loop (--concurrency C clients, each sending its next request when the last ends) or open loop (--rate R arrivals per second, "
            + "latency counted from each request's scheduled time). Stops after --requests and/or --duration (100 requests, or one pass over "
            + "--dataset, when neither is given)."},
    footer = {"", "Examples:",
        "  caravan loadtest --target 127.0.0.1:7070 --concurrency 8 --requests 200",
        "  caravan loadtest --rate 4 --duration 2m --slo ttft=500ms,tpot=50ms \\",
        "      --output-html report.html",
        "  caravan loadtest --sweep concurrency=1,2,4,8 --requests 64 \\",
        "      --input-len 256 --output-len 64 --output-json sweep.json",
        "  caravan loadtest --concurrency 4 --requests 64 --verify \\",
        "      --fault kill:worker-1@5s --fault start@8s --fault stop:worker-2@3s+2s"})
public final class LoadtestCommand implements Callable<Integer> {
  /** Requests of a run given neither --requests nor --duration (random prompts). */
  static final long DEFAULT_REQUESTS = 100;

  @Spec CommandSpec spec;

  @Mixin TargetOptions target;

  @Mixin ModelIdOption modelId;

  @Option(names = "--concurrency", paramLabel = "C", description = "Closed loop: C clients, each sending its next request when its last one ends (default: 1 unless --rate is given).")
  Integer concurrency;

  @Option(names = "--rate", paramLabel = "R", description = "Open loop: R requests per second arrive regardless of earlier ones; latency counts from each request's scheduled time.")
  Double rate;

  @Option(names = "--arrivals", defaultValue = "poisson", paramLabel = "poisson|constant", converter = ArrivalsConverter.class,
      description = "Open-loop arrival spacing: poisson (exponential gaps) or constant (default: ${DEFAULT-VALUE}).")
  ArrivalSchedule.Kind arrivals;

  @Option(names = "--max-concurrency", paramLabel = "N", description = "Open loop: at most N requests in flight; later arrivals wait (their wait counts in their latency).")
  Integer maxConcurrency;

  @Option(names = "--requests", paramLabel = "N", description = "Stop after N requests.")
  Long requests;

  @Option(names = "--duration", paramLabel = "DURATION", converter = SecondsConverter.class,
      description = "Stop starting requests after this long (e.g. 90s, 5m; a bare number is seconds); requests in flight finish.")
  Duration duration;

  @Option(names = "--input-len", defaultValue = "128", paramLabel = "TOKENS", description = "Random prompts: prompt length in tokens, BOS included (default: ${DEFAULT-VALUE}).")
  int inputLen;

  @Option(names = "--output-len", defaultValue = "128", paramLabel = "TOKENS",
      description = "Tokens to generate (max_tokens); for --dataset, for lines that give no max_tokens (default: ${DEFAULT-VALUE}).")
  int outputLen;

  @Option(names = "--range-ratio", defaultValue = "0.0", paramLabel = "RATIO",
      description = "Random prompts: draw lengths uniformly from [len*(1-RATIO), len*(1+RATIO)], RATIO in [0, 1) (default: ${DEFAULT-VALUE}).")
  double rangeRatio;

  @Option(names = "--dataset", paramLabel = "FILE.jsonl",
      description = "Prompts from a JSON Lines file instead of random ones: one object per line with a \"prompt\" string and optional \"max_tokens\" (or \"output_len\").")
  Path dataset;

  @Option(names = "--ignore-eos", description = "With --dataset: generate max_tokens even past end-of-generation tokens (random prompts always do).")
  boolean ignoreEos;

  @Option(names = "--temperature", description = "Sampling temperature; 0 is greedy (default: the server's, 0.8).")
  Float temperature;

  @Option(names = "--seed", defaultValue = "0", description = "Seeds prompts, arrivals and sampling, so a run can be repeated (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--request-timeout", defaultValue = "300s", paramLabel = "DURATION", converter = SecondsConverter.class,
      description = "Deadline of every request; one that passes counts as DEADLINE_EXCEEDED (default: ${DEFAULT-VALUE}).")
  Duration requestTimeout;

  @Option(names = "--warmup", defaultValue = "0", paramLabel = "N", description = "Requests to send before measuring, not counted (default: ${DEFAULT-VALUE}).")
  int warmup;

  @Option(names = "--slo", paramLabel = "ttft=500ms,tpot=50ms,e2el=2s", converter = SloConverter.class,
      description = "Service-level objectives for goodput: requests meeting all of them, per second (a bare number is ms, as in vLLM).")
  Slo slo;

  @Option(names = "--percentiles", defaultValue = "90,99", split = ",", paramLabel = "P", description = "Percentiles to report besides the median (default: ${DEFAULT-VALUE}).")
  List<Double> percentiles;

  @Option(names = "--sweep", paramLabel = "concurrency=1,2,4|rate=1,2,4", converter = SweepConverter.class,
      description = "Run one load point per value, in order, and compare throughput with latency across them.")
  SweepSpec sweep;

  @Option(names = "--output-json", paramLabel = "FILE", description = "Write the result as JSON with vLLM's field names (a sweep writes an array).")
  Path outputJson;

  @Option(names = "--output-html", paramLabel = "FILE", description = "Write a self-contained HTML report with charts.")
  Path outputHtml;

  @Option(names = "--progress", negatable = true, description = "Show a live progress line on stderr (default: only when on a terminal).")
  Boolean progress;

  @Option(names = "--fault", paramLabel = "ACTION[:WORKER]@TIME[+HOLD]", converter = FaultConverter.class,
      description = {"Inject a fault into the ops/cluster cluster of --run-dir at TIME after the run starts (repeatable): kill:worker-1@5s (SIGKILL), "
          + "stop:worker-2@3s+2s (SIGSTOP, SIGCONT 2s later; without +HOLD at a cont or the run's end), cont:worker-2@9s (SIGCONT), start@8s (one more worker), "
          + "scale:3@10s (ops/cluster scale 3). Without a worker: the newest live one."})
  List<FaultSpec> faults = new ArrayList<>();

  @Option(names = "--run-dir", defaultValue = "${env:CARAVAN_RUN_DIR:-run}", paramLabel = "DIR",
      description = "The ops/cluster run directory whose worker-N.pid files --fault acts on (default: $CARAVAN_RUN_DIR, else ./run).")
  Path runDir;

  @Option(names = "--ops-cluster", paramLabel = "FILE", description = "The ops/cluster script that start and scale faults run (default: ops/cluster beside the run directory, else ./ops/cluster).")
  Path opsCluster;

  @Option(names = "--verify", description = "First run the same requests greedily (temperature 0) without faults, then the measured run, and check every stream's token ids "
      + "against that reference; exit 3 when one failed or differs.")
  boolean verify;

  /** How long a start or scale fault may take (ops/cluster scale waits up to 120 s for a serving plan). */
  static final Duration SCRIPT_TIMEOUT = Duration.ofSeconds(180);

  /** Runs the command and exits with its status. */
  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }

  /** The command line of this command, as a subcommand or on its own. */
  public static CommandLine commandLine() {
    return new CommandLine(new LoadtestCommand()).setCaseInsensitiveEnumValuesAllowed(true);
  }

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    Plan plan = plan(err);
    out.println("Target: " + target.target());
    ManagedChannel channel = target.openChannel();
    try {
      Duration probeTimeout = requestTimeout.compareTo(Duration.ofSeconds(10)) < 0 ? requestTimeout : Duration.ofSeconds(10);
      TargetInfo info;
      try {
        info = TargetInfo.probe(channel, modelId.model(), probeTimeout);
      } catch (IllegalArgumentException e) {
        err.println("loadtest: " + e.getMessage());
        return 2;
      }
      info.warnings().forEach(w -> err.println("loadtest: warning: " + w));
      out.println("Model: " + info.describe());
      Workload workload = workload(plan, info);
      if (workload == null) {
        return 2;
      }
      out.println("Workload: " + workload.describe());
      if (slo != null) {
        out.println("Goodput SLOs: " + slo.describe());
      }
      out.flush();
      LoadDriver driver = new LoadDriver(InferenceGrpc.newStub(channel), workload, requestTimeout, verify || plan.faultTarget() != null);
      boolean showProgress = progress != null ? progress : ProgressLine.onTerminal();
      if (warmup > 0) {
        Traffic first = plan.points().getFirst();
        int c = first.closedLoop() ? first.concurrency() : first.maxConcurrency() != null ? first.maxConcurrency() : 1;
        out.println("Warming up with " + warmup + " requests at concurrency " + c + "...");
        out.flush();
        RunOutcome w = driver.run(Traffic.closed(c, (long) warmup, null), new LiveCounters());
        long failed = w.results().stream().filter(r -> !r.success()).count();
        out.println("Warm-up done" + (failed > 0 ? ": " + failed + " of " + warmup + " failed (" + w.results().stream().filter(r -> !r.success()).findFirst().orElseThrow().error() + ")" : "."));
      }
      Map<Long, int[]> reference = null;
      if (verify) {
        reference = reference(driver, plan.points().getFirst(), showProgress, out, err);
        if (reference == null) {
          return 3;
        }
      }
      List<Report> reports = new ArrayList<>();
      for (Traffic traffic : plan.points()) {
        out.println();
        out.println("Traffic: " + traffic.describe());
        for (FaultSpec f : faults) {
          out.println("Fault: " + f + " (" + describe(f) + ")");
        }
        out.flush();
        LiveCounters live = new LiveCounters();
        RunOutcome outcome;
        FaultInjector injector = plan.faultTarget() == null ? null : new FaultInjector(faults, plan.faultTarget(), err, SCRIPT_TIMEOUT.plusSeconds(20));
        try (ProgressLine line = ProgressLine.start(showProgress, ProgressLine.onTerminal(), err, "loadtest", live)) {
          outcome = driver.run(traffic, live, injector);
        }
        Report report = Report.of(target.target(), info, workload, outcome, plan.slo(), plan.percentiles());
        if (reference != null) {
          report = report.withVerification(Verification.compare(reference, outcome.results()));
        }
        reports.add(report);
        out.print(ConsoleReport.render(report));
        out.flush();
      }
      if (sweep != null) {
        out.println();
        out.print(ConsoleReport.renderSweep(sweep.dimension(), reports));
      }
      out.flush();
      int written = writeReports(reports, out, err);
      if (written != 0) {
        return written;
      }
      return verify && !reports.getFirst().verification().passed() ? 3 : 0;
    } finally {
      ClientChannels.close(channel);
    }
  }

  /**
   * The fault-free greedy reference of {@code --verify}: the run's requests without faults (and without its duration
   * limit, so it has every request the measured run can send); their token ids by index, or null (after saying why)
   * when a request of it failed.
   */
  private Map<Long, int[]> reference(LoadDriver driver, Traffic traffic, boolean showProgress, PrintWriter out, PrintWriter err) throws InterruptedException {
    Traffic all = new Traffic(traffic.concurrency(), traffic.rate(), traffic.arrivals(), traffic.maxConcurrency(), traffic.requests(), null, traffic.seed());
    out.println();
    out.println("Reference run (no faults, greedy): " + all.describe());
    out.flush();
    LiveCounters live = new LiveCounters();
    RunOutcome ref;
    try (ProgressLine line = ProgressLine.start(showProgress, ProgressLine.onTerminal(), err, "loadtest reference", live)) {
      ref = driver.run(all, live);
    }
    List<RequestResult> failed = ref.results().stream().filter(r -> !r.success()).toList();
    if (!failed.isEmpty()) {
      out.println("Reference run: " + failed.size() + " of " + ref.results().size() + " requests failed (request " + failed.getFirst().index() + ": "
          + failed.getFirst().error() + "); nothing to verify against. Is the cluster serving?");
      out.flush();
      return null;
    }
    Map<Long, int[]> ids = new HashMap<>();
    for (RequestResult r : ref.results()) {
      ids.put(r.index(), r.tokenIds());
    }
    out.println(String.format(Locale.ROOT, "Reference run: %d requests in %.2f s.", ref.results().size(), ref.durationSeconds()));
    return ids;
  }

  private static String describe(FaultSpec f) {
    String at = "at " + Durations.format(f.at());
    return switch (f.action()) {
      case KILL -> "SIGKILL " + f.workerName() + " " + at;
      case STOP -> "SIGSTOP " + f.workerName() + " " + at + (f.hold() == null ? ", SIGCONT at a cont fault or the run's end" : ", SIGCONT " + Durations.format(f.hold()) + " later");
      case CONT -> "SIGCONT " + f.workerName() + " " + at;
      case START -> "ops/cluster start " + at;
      case SCALE -> "ops/cluster scale " + f.workers() + " " + at;
    };
  }

  private int writeReports(List<Report> reports, PrintWriter out, PrintWriter err) {
    try {
      if (outputJson != null) {
        if (sweep != null) {
          JsonReport.writeSweep(outputJson, sweep.dimension(), reports);
        } else {
          JsonReport.write(outputJson, reports.getFirst());
        }
        out.println("Wrote " + outputJson);
      }
      if (outputHtml != null) {
        HtmlReport.write(outputHtml, sweep != null ? HtmlReport.renderSweep(sweep.dimension(), reports) : HtmlReport.render(reports.getFirst()));
        out.println("Wrote " + outputHtml);
      }
      return 0;
    } catch (IOException e) {
      err.println("loadtest: could not write a report: " + e);
      return 1;
    }
  }

  /**
   * The validated load points and reporting settings.
   *
   * @param points one run, or a sweep's runs in order
   * @param entries the dataset's prompts, or null for random prompts
   * @param faultTarget the cluster that --fault acts on, or null without faults
   */
  record Plan(List<Traffic> points, List<JsonlDataset.Entry> entries, Slo slo, List<Double> percentiles, FaultTarget faultTarget) {}

  /** Checks every option against the others; throws {@link ParameterException} with a message naming the problem. */
  Plan plan(PrintWriter err) {
    var parsed = spec.commandLine().getParseResult();
    target.check();
    if (concurrency != null && concurrency < 1) {
      throw usage("--concurrency must be at least 1, not " + concurrency);
    }
    if (rate != null && (!(rate > 0) || rate.isInfinite())) {
      throw usage("--rate must be a positive number of requests per second, not " + rate);
    }
    if (maxConcurrency != null && maxConcurrency < 1) {
      throw usage("--max-concurrency must be at least 1, not " + maxConcurrency);
    }
    if (requests != null && requests < 1) {
      throw usage("--requests must be at least 1, not " + requests);
    }
    if (duration != null && (duration.isZero() || duration.isNegative())) {
      throw usage("--duration must be positive");
    }
    if (requestTimeout.isZero() || requestTimeout.isNegative()) {
      throw usage("--request-timeout must be positive");
    }
    if (inputLen < 1) {
      throw usage("--input-len must be at least 1, not " + inputLen);
    }
    if (outputLen < 1) {
      throw usage("--output-len must be at least 1, not " + outputLen);
    }
    if (!(rangeRatio >= 0 && rangeRatio < 1)) {
      throw usage("--range-ratio must be in [0, 1), not " + rangeRatio);
    }
    if (temperature != null && (!(temperature >= 0) || temperature.isInfinite())) {
      throw usage("--temperature must be a number >= 0, not " + temperature);
    }
    if (warmup < 0) {
      throw usage("--warmup must be >= 0, not " + warmup);
    }
    TreeSet<Double> ps = new TreeSet<>();
    for (double p : percentiles) {
      if (!(p > 0 && p <= 100)) {
        throw usage("--percentiles must be in (0, 100], not " + Report.number(p));
      }
      ps.add(p);
    }
    checkOutput("--output-json", outputJson);
    checkOutput("--output-html", outputHtml);

    boolean open = rate != null || (sweep != null && sweep.dimension() == SweepSpec.Dimension.RATE);
    if (concurrency != null && rate != null) {
      throw usage("--concurrency (closed loop) and --rate (open loop) exclude each other; to cap an open loop, use --max-concurrency");
    }
    if (sweep != null && sweep.dimension() == SweepSpec.Dimension.CONCURRENCY && (concurrency != null || rate != null)) {
      throw usage("--sweep concurrency=... sets the concurrency of each point; drop --concurrency/--rate");
    }
    if (sweep != null && sweep.dimension() == SweepSpec.Dimension.RATE && (concurrency != null || rate != null)) {
      throw usage("--sweep rate=... sets the rate of each point; drop --rate/--concurrency (cap an open loop with --max-concurrency)");
    }
    if (!open && maxConcurrency != null) {
      throw usage("--max-concurrency caps an open loop (--rate); a closed loop's concurrency is --concurrency");
    }
    if (!open && parsed.hasMatchedOption("--arrivals")) {
      throw usage("--arrivals applies to an open loop (--rate)");
    }

    List<JsonlDataset.Entry> entries = null;
    if (dataset != null) {
      if (parsed.hasMatchedOption("--input-len") || parsed.hasMatchedOption("--range-ratio")) {
        throw usage("--input-len and --range-ratio shape random prompts; --dataset prompts have their own lengths");
      }
      try {
        entries = JsonlDataset.load(dataset);
      } catch (JsonlDataset.DatasetException e) {
        throw usage(e.getMessage());
      }
    } else if (ignoreEos) {
      throw usage("--ignore-eos is for --dataset prompts; random prompts always ignore EOS");
    }

    Long stopAfter = requests;
    if (requests == null && duration == null) {
      stopAfter = entries != null ? entries.size() : DEFAULT_REQUESTS;
      err.println("loadtest: neither --requests nor --duration given; stopping after " + stopAfter + (entries != null ? " requests (one pass over the dataset)" : " requests"));
    }
    List<Traffic> points = new ArrayList<>();
    if (sweep != null) {
      for (double v : sweep.values()) {
        points.add(sweep.dimension() == SweepSpec.Dimension.CONCURRENCY
            ? Traffic.closed((int) v, stopAfter, duration)
            : Traffic.open(v, arrivals, maxConcurrency, stopAfter, duration, seed));
      }
    } else if (rate != null) {
      points.add(Traffic.open(rate, arrivals, maxConcurrency, stopAfter, duration, seed));
    } else {
      points.add(Traffic.closed(concurrency != null ? concurrency : 1, stopAfter, duration));
    }
    if (verify) {
      if (sweep != null) {
        throw usage("--verify checks one run against its reference; drop --sweep");
      }
      if (requests == null) {
        throw usage("--verify replays the same requests in a reference run first; give --requests N");
      }
      if (temperature != null && temperature != 0) {
        throw usage("--verify compares greedy tokens; drop --temperature or set it to 0");
      }
    }
    FaultTarget faultTarget = faults.isEmpty() ? null : faultTarget(err);
    return new Plan(List.copyOf(points), entries, slo != null ? slo : Slo.NONE, List.copyOf(ps), faultTarget);
  }

  /** Checks the faults against the run directory (and the script, for start and scale); the cluster they act on. */
  private RunDirCluster faultTarget(PrintWriter err) {
    if (sweep != null) {
      throw usage("--fault applies to one run; drop --sweep");
    }
    if (!Files.isDirectory(Path.of("/proc/self"))) {
      throw usage("--fault needs Linux: it checks /proc/PID before it signals a worker");
    }
    if (!Files.isDirectory(runDir)) {
      throw usage("--run-dir " + runDir + " is not a directory; start a cluster with 'ops/cluster up', or point --run-dir (or CARAVAN_RUN_DIR) at its run directory");
    }
    boolean needsScript = faults.stream().anyMatch(f -> !f.action().signals());
    Path script = null;
    if (needsScript) {
      script = opsCluster != null ? opsCluster : findOpsCluster(runDir);
      if (script == null || !Files.isExecutable(script)) {
        throw usage("start and scale faults run ops/cluster, " + (opsCluster != null ? "but " + opsCluster + " is not an executable file" : "but none was found beside " + runDir.toAbsolutePath()
            + " or in ./ops") + "; give --ops-cluster FILE");
      }
    }
    RunDirCluster cluster = new RunDirCluster(runDir, script, SCRIPT_TIMEOUT);
    List<Integer> present = cluster.numbers();
    for (FaultSpec f : faults) {
      boolean grown = faults.stream().anyMatch(g -> !g.action().signals() && g.at().compareTo(f.at()) < 0);
      if (f.action().signals() && !grown) {
        if (f.worker() != null && !present.contains(f.worker())) {
          throw usage("--fault " + f + ": there is no " + cluster.pidFile(f.worker()) + (present.isEmpty() ? " (no worker-N.pid files there)" : " (workers there: "
              + String.join(", ", present.stream().map(n -> "worker-" + n).toList()) + ")"));
        }
        if (f.worker() == null && present.isEmpty()) {
          throw usage("--fault " + f + ": there are no worker-N.pid files in " + cluster.runDir());
        }
      }
      if (duration != null && f.at().compareTo(duration) >= 0) {
        err.println("loadtest: warning: --fault " + f + " is due after --duration " + Durations.format(duration) + "; it happens only if requests are still in flight then");
      }
    }
    return cluster;
  }

  /** ops/cluster beside the run directory, in the working directory, or beside the jar this runs from; null if none. */
  static Path findOpsCluster(Path runDir) {
    List<Path> candidates = new ArrayList<>();
    Path parent = runDir.toAbsolutePath().normalize().getParent();
    if (parent != null) {
      candidates.add(parent.resolve("ops").resolve("cluster"));
    }
    candidates.add(Path.of("ops", "cluster").toAbsolutePath());
    try {
      Path jar = Path.of(LoadtestCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
      // cli/target/caravan.jar -> the checkout's root
      if (jar.getFileName().toString().endsWith(".jar") && jar.getParent() != null && jar.getParent().getParent() != null && jar.getParent().getParent().getParent() != null) {
        candidates.add(jar.getParent().getParent().getParent().resolve("ops").resolve("cluster"));
      }
    } catch (Exception e) {
      // no code source: the other candidates
    }
    for (Path c : candidates) {
      if (Files.isExecutable(c) && !Files.isDirectory(c)) {
        return c;
      }
    }
    return null;
  }

  /** The workload for this target, or null (after saying why) when the target cannot serve it. */
  private Workload workload(Plan plan, TargetInfo info) {
    PrintWriter err = spec.commandLine().getErr();
    if (plan.entries() != null) {
      return new DatasetWorkload(dataset, plan.entries(), outputLen, new Workload.Options(modelId.model(), samplingTemperature(), seed, ignoreEos));
    }
    RandomWorkload w = new RandomWorkload(info.tokenPool(), info.bos(), inputLen, outputLen, rangeRatio, new Workload.Options(info.known() ? info.modelId() : modelId.model(), samplingTemperature(), seed, true));
    if (info.known() && w.maxTotalTokens() > info.contextLength()) {
      err.println("loadtest: prompts of up to " + RandomWorkload.high(inputLen, rangeRatio) + " tokens plus outputs of up to " + RandomWorkload.high(outputLen, rangeRatio)
          + " tokens do not fit the model's context of " + info.contextLength() + " tokens; lower --input-len, --output-len or --range-ratio");
      return null;
    }
    return w;
  }

  /** The temperature requests carry: 0 (greedy) with --verify, else --temperature or the server's default (null). */
  private Float samplingTemperature() {
    return verify ? Float.valueOf(0f) : temperature;
  }

  private void checkOutput(String option, Path file) {
    if (file == null) {
      return;
    }
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null && !Files.isDirectory(parent)) {
      throw usage(option + ": directory " + parent + " does not exist");
    }
    if (Files.isDirectory(file)) {
      throw usage(option + ": " + file + " is a directory");
    }
  }

  private ParameterException usage(String message) {
    return new ParameterException(spec.commandLine(), message);
  }

  /** Durations where a bare number is seconds. */
  static final class SecondsConverter implements CommandLine.ITypeConverter<Duration> {
    @Override
    public Duration convert(String value) {
      try {
        return Durations.parse(value, "s");
      } catch (IllegalArgumentException e) {
        throw new CommandLine.TypeConversionException(e.getMessage());
      }
    }
  }

  /** {@code ttft=500ms,tpot=50ms,e2el=2s}. */
  static final class SloConverter implements CommandLine.ITypeConverter<Slo> {
    @Override
    public Slo convert(String value) {
      try {
        return Slo.parse(value);
      } catch (IllegalArgumentException e) {
        throw new CommandLine.TypeConversionException(e.getMessage());
      }
    }
  }

  /** {@code concurrency=1,2,4} or {@code rate=1,2,4}. */
  static final class SweepConverter implements CommandLine.ITypeConverter<SweepSpec> {
    @Override
    public SweepSpec convert(String value) {
      try {
        return SweepSpec.parse(value);
      } catch (IllegalArgumentException e) {
        throw new CommandLine.TypeConversionException(e.getMessage());
      }
    }
  }

  /** {@code kill:worker-1@5s}, {@code stop:worker-2@3s+2s}, {@code start@8s}, {@code scale:3@10s}, ... ({@link FaultSpec}). */
  static final class FaultConverter implements CommandLine.ITypeConverter<FaultSpec> {
    @Override
    public FaultSpec convert(String value) {
      try {
        return FaultSpec.parse(value);
      } catch (IllegalArgumentException e) {
        throw new CommandLine.TypeConversionException(e.getMessage());
      }
    }
  }

  /** poisson or constant, in any case. */
  static final class ArrivalsConverter implements CommandLine.ITypeConverter<ArrivalSchedule.Kind> {
    @Override
    public ArrivalSchedule.Kind convert(String value) {
      return switch (value.trim().toLowerCase(Locale.ROOT)) {
        case "poisson" -> ArrivalSchedule.Kind.POISSON;
        case "constant" -> ArrivalSchedule.Kind.CONSTANT;
        default -> throw new CommandLine.TypeConversionException("'" + value + "' is not an arrival process; use poisson or constant");
      };
    }
  }
}
