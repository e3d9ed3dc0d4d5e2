package dev.caravan.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * What {@code caravan bench} measured: per test and engine the time of every repetition, summarised like llama-bench
 * (mean ± sample standard deviation of the per-repetition tokens/s) plus the median, and Caravan's speed over
 * llama.cpp's. Rendered as a llama-bench-style markdown table and as JSON with llama-bench's field names where they
 * exist ({@code n_prompt}, {@code n_gen}, {@code avg_ts}, {@code stddev_ts}, {@code samples_ns}, ...).
 */
final class BenchReport {
  static final String CARAVAN = "caravan";
  static final String LLAMA_CPP = "llama.cpp";
  /** The native llama-bench run beside Caravan ({@link NativeLlamaBench}). */
  static final String NATIVE = NativeLlamaBench.NAME;
  /** The engines Caravan is compared with, in column order. */
  static final List<String> REFERENCES = List.of(LLAMA_CPP, NATIVE);

  /** The model file, as the table shows it. */
  record ModelInfo(Path file, String description, long sizeBytes, long params, int vocabSize) {}

  /** One engine: its name, backend, and free-form details for the JSON (build, system info). */
  record EngineInfo(String name, String backend, String details) {}

  /** One test on one engine: the nanoseconds of each timed repetition. */
  record Result(BenchTest test, String engine, long[] samplesNs) {
    Result {
      samplesNs = samplesNs.clone();
    }

    double[] samplesTs() {
      return Arrays.stream(samplesNs).mapToDouble(ns -> test.timedTokens() * 1e9 / ns).toArray();
    }

    double meanTs() {
      return mean(samplesTs());
    }

    double stddevTs() {
      return stddev(samplesTs());
    }

    double medianTs() {
      return median(samplesTs());
    }
  }

  private final ModelInfo model;
  private final int threads;
  private final int repetitions;
  private final int warmup;
  private final long seed;
  private final List<EngineInfo> engines;
  private final List<Result> results;
  private final Instant date;
  private final String loadBefore;
  private final String loadAfter;
  private final MachineInfo machine;

  BenchReport(ModelInfo model, int threads, int repetitions, int warmup, long seed, List<EngineInfo> engines, List<Result> results, Instant date, String loadBefore, String loadAfter) {
    this(model, threads, repetitions, warmup, seed, engines, results, date, loadBefore, loadAfter, MachineInfo.describe());
  }

  BenchReport(ModelInfo model, int threads, int repetitions, int warmup, long seed, List<EngineInfo> engines, List<Result> results, Instant date, String loadBefore, String loadAfter, MachineInfo machine) {
    this.machine = machine;
    this.model = model;
    this.threads = threads;
    this.repetitions = repetitions;
    this.warmup = warmup;
    this.seed = seed;
    this.engines = List.copyOf(engines);
    this.results = List.copyOf(results);
    this.date = date;
    this.loadBefore = loadBefore;
    this.loadAfter = loadAfter;
  }

  List<Result> results() {
    return results;
  }

  Optional<Result> result(BenchTest test, String engine) {
    return results.stream().filter(r -> r.test().equals(test) && r.engine().equals(engine)).findFirst();
  }

  /** Caravan's mean tokens/s over llama.cpp's (the bindings) for a test, when both ran. */
  Optional<Double> ratio(BenchTest test) {
    return ratio(test, LLAMA_CPP);
  }

  /** Caravan's mean tokens/s over {@code reference}'s for a test, when both ran. */
  Optional<Double> ratio(BenchTest test, String reference) {
    Optional<Result> c = result(test, CARAVAN);
    Optional<Result> l = result(test, reference);
    return c.isPresent() && l.isPresent() ? Optional.of(c.get().meanTs() / l.get().meanTs()) : Optional.empty();
  }

  private Optional<Double> medianRatio(BenchTest test, String reference) {
    Optional<Result> c = result(test, CARAVAN);
    Optional<Result> l = result(test, reference);
    return c.isPresent() && l.isPresent() ? Optional.of(c.get().medianTs() / l.get().medianTs()) : Optional.empty();
  }

  /** The reference engines of this report, in {@link #REFERENCES} order. */
  private List<String> references() {
    return REFERENCES.stream().filter(r -> engines.stream().anyMatch(e -> e.name().equals(r))).toList();
  }

  private List<BenchTest> tests() {
    List<BenchTest> tests = new ArrayList<>();
    for (Result r : results) {
      if (!tests.contains(r.test())) {
        tests.add(r.test());
      }
    }
    return tests;
  }

  private EngineInfo engine(String name) {
    return engines.stream().filter(e -> e.name().equals(name)).findFirst().orElseThrow();
  }

  /**
   * The llama-bench-style table: a row per test and engine, on Caravan's rows one ratio column per reference engine
   * that ran ("caravan / llama.cpp", "caravan / native"; none for Caravan alone).
   */
  String table() {
    List<String> refs = references();
    String[] fixed = {"model", "size", "params", "engine", "backend", "threads", "test", "t/s", "median t/s"};
    String[] header = Arrays.copyOf(fixed, fixed.length + refs.size());
    boolean[] right = new boolean[header.length];
    for (int i = 0; i < header.length; i++) {
      right[i] = i >= fixed.length || (i != 0 && i != 3 && i != 4);
    }
    for (int i = 0; i < refs.size(); i++) {
      header[fixed.length + i] = CARAVAN + " / " + refs.get(i);
    }
    List<String[]> rows = new ArrayList<>();
    for (BenchTest t : tests()) {
      for (EngineInfo e : engines) {
        Optional<Result> r = result(t, e.name());
        if (r.isEmpty()) {
          continue;
        }
        String[] row = Arrays.copyOf(new String[] {model.description(), size(model.sizeBytes()), params(model.params()), e.name(), e.backend(), Integer.toString(threads), t.name(),
            String.format(Locale.ROOT, "%.2f ± %.2f", r.get().meanTs(), r.get().stddevTs()), String.format(Locale.ROOT, "%.2f", r.get().medianTs())}, header.length);
        for (int i = 0; i < refs.size(); i++) {
          row[fixed.length + i] = e.name().equals(CARAVAN) ? ratio(t, refs.get(i)).map(x -> String.format(Locale.ROOT, "%.2f", x)).orElse("") : "";
        }
        rows.add(row);
      }
    }
    int[] width = new int[header.length];
    for (int i = 0; i < header.length; i++) {
      width[i] = header[i].length();
      for (String[] row : rows) {
        width[i] = Math.max(width[i], row[i].length());
      }
    }
    StringBuilder sb = new StringBuilder();
    line(sb, header, width, right);
    String[] rule = new String[header.length];
    for (int i = 0; i < header.length; i++) {
      rule[i] = "-".repeat(width[i] - (right[i] ? 1 : 0)) + (right[i] ? ":" : "");
    }
    line(sb, rule, width, right);
    for (String[] row : rows) {
      line(sb, row, width, right);
    }
    return sb.toString();
  }

  private static void line(StringBuilder sb, String[] cells, int[] width, boolean[] right) {
    sb.append('|');
    for (int i = 0; i < cells.length; i++) {
      String pad = " ".repeat(width[i] - cells[i].length());
      sb.append(' ').append(right[i] ? pad + cells[i] : cells[i] + pad).append(" |");
    }
    sb.append('\n');
  }

  static String size(long bytes) {
    return bytes >= 1L << 30 ? String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30)) : String.format(Locale.ROOT, "%.2f MiB", bytes / (double) (1L << 20));
  }

  static String params(long n) {
    return n >= 1_000_000_000L ? String.format(Locale.ROOT, "%.2f B", n / 1e9) : n >= 1_000_000L ? String.format(Locale.ROOT, "%.2f M", n / 1e6) : String.format(Locale.ROOT, "%.2f K", n / 1e3);
  }

  /** The same data as JSON. */
  ObjectNode toJson() {
    ObjectMapper json = new ObjectMapper();
    ObjectNode o = json.createObjectNode();
    o.put("date", date.toString());
    ObjectNode m = o.putObject("model");
    m.put("filename", model.file().toString());
    m.put("type", model.description());
    m.put("size", model.sizeBytes());
    m.put("n_params", model.params());
    m.put("n_vocab", model.vocabSize());
    o.put("n_threads", threads);
    o.put("repetitions", repetitions);
    o.put("warmup", warmup);
    o.put("seed", seed);
    o.put("tg_prompt_tokens", BenchTest.TG_PROMPT);
    o.put("load_average_before", loadBefore);
    o.put("load_average_after", loadAfter);
    ObjectNode mc = o.putObject("machine");
    mc.put("cpu", machine.cpu());
    mc.put("cores", machine.cores());
    if (machine.readGbs1() > 0) {
      mc.put("mem_read_gbs_1t", machine.readGbs1());
      mc.put("mem_read_gbs_nt", machine.readGbsN());
      mc.put("mem_read_threads", machine.threadsN());
    }
    ArrayNode es = o.putArray("engines");
    for (EngineInfo e : engines) {
      ObjectNode n = es.addObject();
      n.put("name", e.name());
      n.put("backend", e.backend());
      n.put("details", e.details());
    }
    ArrayNode rs = o.putArray("results");
    for (Result r : results) {
      ObjectNode n = rs.addObject();
      n.put("test", r.test().name());
      n.put("engine", r.engine());
      n.put("backend", engine(r.engine()).backend());
      n.put("n_prompt", r.test().kind() == BenchTest.Kind.PP ? r.test().tokens() : r.engine().equals(NATIVE) ? 0 : BenchTest.TG_PROMPT);
      n.put("n_gen", r.test().kind() == BenchTest.Kind.TG ? r.test().tokens() : 0);
      n.put("n_timed_tokens", r.test().timedTokens());
      n.put("n_streams", r.test().streams());
      long[] ns = r.samplesNs();
      n.put("avg_ns", Math.round(Arrays.stream(ns).average().orElse(0)));
      n.put("stddev_ns", Math.round(stddev(Arrays.stream(ns).asDoubleStream().toArray())));
      n.put("avg_ts", r.meanTs());
      n.put("stddev_ts", r.stddevTs());
      n.put("median_ts", r.medianTs());
      ArrayNode sn = n.putArray("samples_ns");
      Arrays.stream(ns).forEach(sn::add);
      ArrayNode st = n.putArray("samples_ts");
      Arrays.stream(r.samplesTs()).forEach(st::add);
    }
    ArrayNode ratios = o.putArray("ratios");
    List<String> refs = references();
    for (BenchTest t : tests()) {
      if (refs.stream().noneMatch(ref -> ratio(t, ref).isPresent())) {
        continue;
      }
      ObjectNode n = ratios.addObject();
      n.put("test", t.name());
      for (String ref : refs) {
        Optional<Double> mean = ratio(t, ref);
        if (mean.isPresent()) {
          String key = ref.equals(LLAMA_CPP) ? "llamacpp" : ref;
          n.put("caravan_over_" + key + "_avg_ts", mean.get());
          n.put("caravan_over_" + key + "_median_ts", medianRatio(t, ref).orElseThrow());
        }
      }
    }
    return o;
  }

  void writeJson(Path file) throws IOException {
    new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(file.toFile(), toJson());
  }

  static double mean(double[] x) {
    return Arrays.stream(x).average().orElse(Double.NaN);
  }

  /** Sample standard deviation (n - 1), 0 for a single sample: llama-bench's. */
  static double stddev(double[] x) {
    if (x.length < 2) {
      return 0;
    }
    double mean = mean(x);
    double ss = 0;
    for (double v : x) {
      ss += (v - mean) * (v - mean);
    }
    return Math.sqrt(ss / (x.length - 1));
  }

  static double median(double[] x) {
    double[] s = x.clone();
    Arrays.sort(s);
    int n = s.length;
    return n == 0 ? Double.NaN : n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }
}
