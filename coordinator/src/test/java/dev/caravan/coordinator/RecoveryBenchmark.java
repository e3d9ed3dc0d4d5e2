package dev.caravan.coordinator;

import dev.caravan.cluster.testing.LocalCluster;
import dev.caravan.engine.TestData;
import dev.caravan.proto.v1.GenerateRequest;
import dev.caravan.proto.v1.GenerateResponse;
import dev.caravan.proto.v1.InferenceGrpc;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How long a stream pauses when a stage dies: real processes ({@link LocalCluster}), a greedy stream running, one stage
 * SIGKILLed, and the gap between the last token before the kill and the first after it, over many trials. Measured,
 * never asserted: run on demand with {@code ops/bench/recovery}, not a test.
 *
 * <p>Each gap is split into phases from the monotonic stamps ({@code (t=… ms)}) on the coordinator's log lines — on
 * Linux {@code System.nanoTime} is one clock for every process of the host:
 *
 * <pre>
 *   kill ──detect──► coordinator suspects or loses the worker ──re-plan──► plan published ──load──► plan serving
 *        ──re-prefill──► first token on the new plan
 * </pre>
 *
 * <p>Between trials a replacement worker joins (and, with spares, has warmed the ranges it would take over), and one
 * stream runs so its code is compiled, as it would be in a cluster that serves.
 *
 * <pre>
 *   RecoveryBenchmark [--trials 20] [--stages 2] [--spares 0,1] [--before 4] [--after 12] [--worker-arg ARG ...] NAME=GGUF ...
 * </pre>
 * {@code stories260K} as a NAME with no file means the shared test model. The table's "undisturbed" column is the same
 * request without a fault: time to first token / pause between tokens, for scale (re-prefill recomputes the prompt and
 * the tokens so far, so it costs about a first token).
 */
public final class RecoveryBenchmark {
  private static final String PROMPT = "Once upon a time";
  private static final Pattern STAMP = Pattern.compile("\\(t=(\\d+) ms\\)");
  private static final Pattern EPOCH = Pattern.compile("plan #(\\d+)");

  /** One trial: the gap and its phases in ms (NaN: not seen). */
  /** Extra arguments for every worker (--worker-arg, e.g. --spare-warm-up=PT10S). */
  private static final List<String> WORKER_ARGS = new ArrayList<>();

  record Trial(int stage, double gap, double detect, double replan, double load, double prefill, boolean sameTokens) {}

  /** What the same request costs undisturbed: time to first token and the median pause between tokens, ms. */
  record Steady(double ttft, double token) {}

  /** One configuration's trials. */
  record Result(List<Trial> trials, Steady steady) {}

  private RecoveryBenchmark() {}

  public static void main(String[] args) throws Exception {
    int trials = 20;
    int stages = 2;
    int before = 4;
    int after = 12;
    List<Integer> spares = List.of(0, 1);
    List<String[]> models = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--trials" -> trials = Integer.parseInt(args[++i]);
        case "--stages" -> stages = Integer.parseInt(args[++i]);
        case "--before" -> before = Integer.parseInt(args[++i]);
        case "--after" -> after = Integer.parseInt(args[++i]);
        case "--spares" -> spares = Arrays.stream(args[++i].split(",")).map(Integer::parseInt).toList();
        case "--worker-arg" -> WORKER_ARGS.add(args[++i]);
        default -> {
          String[] kv = args[i].split("=", 2);
          models.add(new String[] {kv[0], kv.length > 1 ? kv[1] : TestData.stories260K().toString()});
        }
      }
    }
    if (models.isEmpty()) {
      models.add(new String[] {"stories260K", TestData.stories260K().toString()});
    }
    String cpu = cpuName();
    List<String> rows = new ArrayList<>();
    for (String[] m : models) {
      for (int s : spares) {
        Result result = run(Path.of(m[1]), m[0], stages, s, trials, before, after);
        rows.add(row(m[0], stages, s, result));
        System.out.println(header(cpu));
        rows.forEach(System.out::println);
      }
    }
  }

  private static Result run(Path model, String name, int stages, int spares, int trials, int before, int after) throws Exception {
    System.out.printf("%n== %s: %d stages, %d spare(s), %d trials ==%n", name, stages, spares, trials);
    List<Trial> out = new ArrayList<>();
    Steady steady;
    List<String> coordinatorArgs = new ArrayList<>(List.of("--no-plan-wait", "PT60S"));
    if (spares > 0) {
      coordinatorArgs.addAll(List.of("--spares", Integer.toString(spares)));
    }
    try (LocalCluster cluster = LocalCluster.start(model, "recovery-" + name + "-" + spares, coordinatorArgs.toArray(String[]::new))) {
      List<LocalCluster.Node> workers = new ArrayList<>();
      for (int i = 0; i < stages + spares; i++) {
        workers.add(cluster.addWorker(WORKER_ARGS.toArray(String[]::new)));
      }
      cluster.awaitServing(stages, Duration.ofSeconds(180));
      awaitSpares(cluster, workers, spares);
      GenerateRequest request = GenerationClient.greedy(PROMPT, before + after).build();
      int[] reference = GenerationClient.generate(cluster.channel(), request, 300).idArray();
      steady = steady(cluster, request);
      System.out.printf(Locale.ROOT, "undisturbed: first token after %.0f ms, then one every %.0f ms%n", steady.ttft(), steady.token());
      for (int t = 0; t < trials; t++) {
        int victimStage = t % stages;
        Trial trial = trial(cluster, workers, request, reference, before, victimStage);
        out.add(trial);
        System.out.printf(Locale.ROOT, "trial %2d: killed stage %d  gap %7.0f ms  detect %6.0f  re-plan %6.0f  load %6.0f  re-prefill %6.0f%s%n",
            t + 1, victimStage, trial.gap(), trial.detect(), trial.replan(), trial.load(), trial.prefill(), trial.sameTokens() ? "" : "  TOKENS DIFFER");
        // a replacement joins (as a stage, or as the next spare), and the cluster serves once more so its code is compiled
        workers.add(cluster.addWorker(WORKER_ARGS.toArray(String[]::new)));
        cluster.await("a serving plan of " + stages + " stages with the replacement", st -> st.hasPlan() && st.getPlan().getReady() && st.getPlan().getStagesCount() == stages
            && st.getMembersList().stream().filter(mm -> mm.getRole().equals("worker")).count() == stages + spares, Duration.ofSeconds(180));
        awaitSpares(cluster, workers, spares);
        GenerationClient.generate(cluster.channel(), request, 300);
      }
    }
    return new Result(out, steady);
  }

  /** Three undisturbed runs of {@code request}: median time to first token and median pause between tokens. */
  private static Steady steady(LocalCluster cluster, GenerateRequest request) {
    List<Double> ttft = new ArrayList<>();
    List<Double> gaps = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      long t0 = System.nanoTime();
      Iterator<GenerateResponse> it = InferenceGrpc.newBlockingStub(cluster.channel()).withDeadlineAfter(300, TimeUnit.SECONDS).generate(request);
      List<Integer> ids = new ArrayList<>();
      List<Long> arrivals = new ArrayList<>();
      while (it.hasNext()) {
        record(it.next(), ids, arrivals);
      }
      ttft.add((arrivals.get(0) - t0) / 1e6);
      for (int k = 1; k < arrivals.size(); k++) {
        gaps.add((arrivals.get(k) - arrivals.get(k - 1)) / 1e6);
      }
    }
    return new Steady(median(ttft), median(gaps));
  }

  private static double median(List<Double> v) {
    return v.stream().sorted().toList().get((v.size() - 1) / 2);
  }

  /** Waits until {@code spares} live workers say they are warm for the newest plan (their log says so). */
  private static void awaitSpares(LocalCluster cluster, List<LocalCluster.Node> workers, int spares) throws InterruptedException {
    if (spares == 0) {
      return;
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
    while (System.nanoTime() < deadline) {
      long epoch = cluster.status().getPlan().getEpoch();
      long warm = workers.stream().filter(LocalCluster.Node::alive).filter(w -> w.logText().contains("warm as a spare for plan #" + epoch + ":")).count();
      if (warm >= spares) {
        return;
      }
      Thread.sleep(100);
    }
    throw new IllegalStateException("no warm spare within 180 s");
  }

  private static Trial trial(LocalCluster cluster, List<LocalCluster.Node> workers, GenerateRequest request, int[] reference, int before, int victimStage) throws Exception {
    LocalCluster.Node victim = stage(cluster, workers, victimStage);
    Iterator<GenerateResponse> it = InferenceGrpc.newBlockingStub(cluster.channel()).withDeadlineAfter(300, TimeUnit.SECONDS).generate(request);
    List<Integer> ids = new ArrayList<>();
    List<Long> arrivals = new ArrayList<>(); // nanoTime of each token's arrival
    while (ids.size() < before && it.hasNext()) {
      record(it.next(), ids, arrivals);
    }
    long kill = System.nanoTime();
    victim.kill();
    while (it.hasNext()) {
      record(it.next(), ids, arrivals);
    }
    // the gap: the longest pause between two tokens that spans or follows the kill
    int gapEnd = -1;
    for (int i = 1; i < arrivals.size(); i++) {
      if (arrivals.get(i) >= kill && (gapEnd < 0 || arrivals.get(i) - arrivals.get(i - 1) > arrivals.get(gapEnd) - arrivals.get(gapEnd - 1))) {
        gapEnd = i;
      }
    }
    double gap = gapEnd < 0 ? Double.NaN : (arrivals.get(gapEnd) - arrivals.get(gapEnd - 1)) / 1e6;
    double firstAfter = gapEnd < 0 ? Double.NaN : arrivals.get(gapEnd) / 1e6;

    // the phases, from the coordinator's stamps after the kill
    double killMs = kill / 1e6;
    double detected = Double.NaN;
    double published = Double.NaN;
    double serving = Double.NaN;
    long epoch = -1;
    for (String line : cluster.coordinator().logText().split("\n")) {
      Matcher m = STAMP.matcher(line);
      if (!m.find() || Long.parseLong(m.group(1)) < killMs) {
        continue;
      }
      double at = Long.parseLong(m.group(1));
      if (Double.isNaN(detected) && (line.contains("failed a batch") || line.contains("worker left") || line.contains("suspected worker"))) {
        detected = at;
      } else if (Double.isNaN(published) && line.contains("published plan #")) {
        published = at;
        Matcher e = EPOCH.matcher(line);
        epoch = e.find() ? Long.parseLong(e.group(1)) : -1;
      } else if (Double.isNaN(serving) && epoch >= 0 && line.contains("serving plan #" + epoch + " ")) {
        serving = at;
      }
    }
    boolean same = Arrays.equals(reference, ids.stream().mapToInt(Integer::intValue).toArray());
    return new Trial(victimStage, gap, detected - killMs, published - detected, serving - published, firstAfter - serving, same);
  }

  private static void record(GenerateResponse r, List<Integer> ids, List<Long> arrivals) {
    long now = System.nanoTime();
    for (int id : r.getDelta().getTokenIdsList()) {
      ids.add(id);
      arrivals.add(now);
    }
  }

  /** The worker process serving stage {@code index} of the current plan. */
  private static LocalCluster.Node stage(LocalCluster cluster, List<LocalCluster.Node> workers, int index) {
    String address = cluster.status().getPlan().getStages(index).getGrpcAddress();
    return workers.stream().filter(w -> w.alive() && w.logText().contains(") at " + address + ",")).findFirst().orElseThrow(() -> new IllegalStateException("no worker at " + address));
  }

  private static String header(String cpu) {
    return String.format(Locale.ROOT, "%nrecovery after SIGKILL of one stage (%s; ms: p50 / max over trials)%n%-14s %6s %6s %17s %15s %15s %15s %15s %13s %s",
        cpu, "model", "stages", "spares", "gap", "detect", "re-plan", "layer load", "re-prefill", "undisturbed", "tokens");
  }

  private static String row(String name, int stages, int spares, Result r) {
    List<Trial> trials = r.trials();
    long differ = trials.stream().filter(t -> !t.sameTokens()).count();
    return String.format(Locale.ROOT, "%-14s %6d %6d %17s %15s %15s %15s %15s %13s %s", name, stages, spares,
        stat(trials, Trial::gap), stat(trials, Trial::detect), stat(trials, Trial::replan), stat(trials, Trial::load), stat(trials, Trial::prefill),
        String.format(Locale.ROOT, "%.0f / %.0f", r.steady().ttft(), r.steady().token()), differ == 0 ? "all equal" : differ + " differ");
  }

  private static String stat(List<Trial> trials, java.util.function.ToDoubleFunction<Trial> f) {
    double[] v = trials.stream().mapToDouble(f).filter(d -> !Double.isNaN(d)).sorted().toArray();
    if (v.length == 0) {
      return "-";
    }
    return String.format(Locale.ROOT, "%.0f / %.0f", v[(v.length - 1) / 2], v[v.length - 1]);
  }

  private static String cpuName() {
    try {
      return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name")).findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("?")
          + ", " + Runtime.getRuntime().availableProcessors() + " cores";
    } catch (Exception e) {
      return "?";
    }
  }
}
