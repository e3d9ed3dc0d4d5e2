package dev.caravan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class BenchReportTest {
  private static final BenchTest PP = new BenchTest(BenchTest.Kind.PP, 100);
  private static final BenchTest TG = new BenchTest(BenchTest.Kind.TG, 10);

  private static BenchReport report(boolean withLlama) {
    List<BenchReport.EngineInfo> engines = withLlama
        ? List.of(new BenchReport.EngineInfo("caravan", "Java vector-512", ""), new BenchReport.EngineInfo("llama.cpp", "CPU b4916 AVX2", ""))
        : List.of(new BenchReport.EngineInfo("caravan", "Java vector-512", ""));
    // pp100: caravan 1 s, 2 s, 4 s -> 100, 50, 25 t/s; llama.cpp 0.5 s each -> 200 t/s
    List<BenchReport.Result> results = new java.util.ArrayList<>(List.of(
        new BenchReport.Result(PP, "caravan", new long[] {1_000_000_000L, 2_000_000_000L, 4_000_000_000L}),
        new BenchReport.Result(TG, "caravan", new long[] {1_000_000_000L, 1_000_000_000L, 1_000_000_000L})));
    if (withLlama) {
      results.add(1, new BenchReport.Result(PP, "llama.cpp", new long[] {500_000_000L, 500_000_000L, 500_000_000L}));
      results.add(new BenchReport.Result(TG, "llama.cpp", new long[] {250_000_000L, 250_000_000L, 250_000_000L}));
    }
    BenchReport.ModelInfo model = new BenchReport.ModelInfo(Path.of("m.gguf"), "llama 1B Q8_0", 3L << 29, 1_100_048_384L, 32000);
    return new BenchReport(model, 2, 3, 1, 42, engines, results, Instant.EPOCH, "0.10 0.20 0.30", "0.40 0.50 0.60");
  }

  @Test
  void statisticsAreLlamaBenchs() {
    assertEquals(2.5, BenchReport.mean(new double[] {1, 2, 3, 4}), 1e-12);
    assertEquals(Math.sqrt(5.0 / 3), BenchReport.stddev(new double[] {1, 2, 3, 4}), 1e-12); // sample stddev
    assertEquals(0, BenchReport.stddev(new double[] {7}));
    assertEquals(2.5, BenchReport.median(new double[] {4, 1, 3, 2}), 1e-12);
    assertEquals(3, BenchReport.median(new double[] {5, 3, 1}), 1e-12);
    BenchReport.Result r = report(true).result(PP, "caravan").orElseThrow();
    assertEquals(175.0 / 3, r.meanTs(), 1e-9);
    assertEquals(50, r.medianTs(), 1e-9);
  }

  @Test
  void tableHasARowPerTestAndEngineWithTheRatioOnCaravansRows() {
    String table = report(true).table();
    List<String> lines = table.lines().toList();
    assertEquals(2 + 4, lines.size(), table);
    assertTrue(lines.get(0).contains("| model") && lines.get(0).contains("t/s") && lines.get(0).contains("caravan / llama.cpp"), table);
    assertEquals(List.of("llama 1B Q8_0", "1.50 GiB", "1.10 B", "caravan", "Java vector-512", "2", "pp100", "58.33 ± 38.19", "50.00", "0.29"), cells(lines.get(2))); // 58.33 / 200
    assertEquals(List.of("llama 1B Q8_0", "1.50 GiB", "1.10 B", "llama.cpp", "CPU b4916 AVX2", "2", "pp100", "200.00 ± 0.00", "200.00", ""), cells(lines.get(3)));
    assertTrue(lines.get(4).contains("tg10") && lines.get(4).trim().endsWith("0.25 |"), lines.get(4)); // 10 / 40 t/s
    assertTrue(lines.stream().allMatch(l -> l.length() == lines.get(0).length()), table);
  }

  private static List<String> cells(String line) {
    String inner = line.strip().substring(1, line.strip().length() - 1);
    return java.util.Arrays.stream(inner.split("\\|", -1)).map(String::strip).toList();
  }

  @Test
  void jsonCarriesSamplesStatisticsAndRatios() {
    JsonNode j = report(true).toJson();
    assertEquals(2, j.get("n_threads").asInt());
    assertEquals("llama 1B Q8_0", j.get("model").get("type").asText());
    assertEquals(4, j.get("results").size());
    JsonNode pp = j.get("results").get(0);
    assertEquals("pp100", pp.get("test").asText());
    assertEquals("caravan", pp.get("engine").asText());
    assertEquals(100, pp.get("n_prompt").asInt());
    assertEquals(0, pp.get("n_gen").asInt());
    assertEquals(3, pp.get("samples_ns").size());
    assertEquals(25.0, pp.get("samples_ts").get(2).asDouble(), 1e-9);
    JsonNode tg = j.get("results").get(2);
    assertEquals(BenchTest.TG_PROMPT, tg.get("n_prompt").asInt());
    assertEquals(10, tg.get("n_gen").asInt());
    assertEquals(2, j.get("ratios").size());
    assertEquals(0.25, j.get("ratios").get(0).get("caravan_over_llamacpp_median_ts").asDouble(), 1e-9);
    assertEquals("0.40 0.50 0.60", j.get("load_average_after").asText());
  }

  @Test
  void caravanAloneHasNoRatios() {
    BenchReport r = report(false);
    assertTrue(r.ratio(PP).isEmpty());
    assertEquals(0, r.toJson().get("ratios").size());
    assertEquals(2 + 2, r.table().lines().count());
    assertFalse(r.table().contains("caravan / llama.cpp"), r.table());
  }

  @Test
  void humanSizes() {
    assertEquals("1.12 MiB", BenchReport.size(1171200));
    assertEquals("1.09 GiB", BenchReport.size(1169739936L));
    assertEquals("292.80 K", BenchReport.params(292800));
    assertEquals("15.20 M", BenchReport.params(15_200_000));
    assertEquals("1.10 B", BenchReport.params(1_100_048_384L));
  }

  /** Caravan, the bindings and the native llama-bench: one ratio column per reference, on Caravan's rows. */
  private static BenchReport reportWithNative() {
    List<BenchReport.EngineInfo> engines = List.of(new BenchReport.EngineInfo("caravan", "Java vector-512", ""), new BenchReport.EngineInfo("llama.cpp", "CPU b4916 AVX2", ""),
        new BenchReport.EngineInfo("native", "CPU llama-bench b10470", ""));
    // pp100: caravan 1 s (100 t/s), llama.cpp 0.5 s (200 t/s), native 0.25 s (400 t/s); tg10: 1 s, 0.25 s, 0.5 s
    List<BenchReport.Result> results = List.of(
        new BenchReport.Result(PP, "caravan", new long[] {1_000_000_000L, 1_000_000_000L}),
        new BenchReport.Result(PP, "llama.cpp", new long[] {500_000_000L, 500_000_000L}),
        new BenchReport.Result(PP, "native", new long[] {250_000_000L, 250_000_000L}),
        new BenchReport.Result(TG, "caravan", new long[] {1_000_000_000L, 1_000_000_000L}),
        new BenchReport.Result(TG, "llama.cpp", new long[] {250_000_000L, 250_000_000L}),
        new BenchReport.Result(TG, "native", new long[] {500_000_000L, 500_000_000L}));
    BenchReport.ModelInfo model = new BenchReport.ModelInfo(Path.of("m.gguf"), "llama 1B Q8_0", 3L << 29, 1_100_048_384L, 32000);
    return new BenchReport(model, 2, 2, 1, 42, engines, results, Instant.EPOCH, "0", "0");
  }

  @Test
  void nativeGetsItsOwnRatioColumn() {
    BenchReport report = reportWithNative();
    assertEquals(0.25, report.ratio(PP, "native").orElseThrow(), 1e-12);
    assertEquals(0.5, report.ratio(PP, "llama.cpp").orElseThrow(), 1e-12);
    assertEquals(0.5, report.ratio(TG, "native").orElseThrow(), 1e-12);
    List<String> lines = report.table().lines().toList();
    assertEquals(2 + 6, lines.size(), report.table());
    List<String> header = cells(lines.get(0));
    assertEquals(List.of("caravan / llama.cpp", "caravan / native"), header.subList(9, 11));
    assertEquals(List.of("caravan", "pp100", "0.50", "0.25"), List.of(cells(lines.get(2)).get(3), cells(lines.get(2)).get(6), cells(lines.get(2)).get(9), cells(lines.get(2)).get(10)));
    assertEquals(List.of("native", "CPU llama-bench b10470", "400.00 ± 0.00", "", ""), List.of(cells(lines.get(4)).get(3), cells(lines.get(4)).get(4), cells(lines.get(4)).get(7), cells(lines.get(4)).get(9), cells(lines.get(4)).get(10)));
    assertEquals(List.of("caravan", "tg10", "0.25", "0.50"), List.of(cells(lines.get(5)).get(3), cells(lines.get(5)).get(6), cells(lines.get(5)).get(9), cells(lines.get(5)).get(10)));
    assertTrue(lines.stream().allMatch(l -> l.length() == lines.get(0).length()), report.table());

    JsonNode j = report.toJson();
    JsonNode pp = j.get("ratios").get(0);
    assertEquals("pp100", pp.get("test").asText());
    assertEquals(0.5, pp.get("caravan_over_llamacpp_avg_ts").asDouble(), 1e-12);
    assertEquals(0.25, pp.get("caravan_over_native_avg_ts").asDouble(), 1e-12);
    assertEquals(0.25, pp.get("caravan_over_native_median_ts").asDouble(), 1e-12);
    assertEquals(0.5, j.get("ratios").get(1).get("caravan_over_native_avg_ts").asDouble(), 1e-12);
    // llama-bench's tgN starts from an empty cache: no prompt
    JsonNode nativeTg = j.get("results").get(5);
    assertEquals("native", nativeTg.get("engine").asText());
    assertEquals(0, nativeTg.get("n_prompt").asInt());
    assertEquals(10, nativeTg.get("n_gen").asInt());
  }

  @Test
  void nativeAloneBesideCaravanHasOneRatioColumn() {
    List<BenchReport.EngineInfo> engines = List.of(new BenchReport.EngineInfo("caravan", "Java vector-512", ""), new BenchReport.EngineInfo("native", "CPU llama-bench", ""));
    List<BenchReport.Result> results = List.of(new BenchReport.Result(TG, "caravan", new long[] {1_000_000_000L}), new BenchReport.Result(TG, "native", new long[] {800_000_000L}));
    BenchReport report = new BenchReport(new BenchReport.ModelInfo(Path.of("m.gguf"), "llama 1B Q4_0", 1L << 29, 1_100_048_384L, 32000), 1, 1, 0, 1, engines, results, Instant.EPOCH, "0", "0");
    List<String> lines = report.table().lines().toList();
    assertEquals(List.of("caravan / native"), cells(lines.get(0)).subList(9, cells(lines.get(0)).size()));
    assertEquals("0.80", cells(lines.get(2)).get(9));
    JsonNode ratio = report.toJson().get("ratios").get(0);
    assertEquals(0.8, ratio.get("caravan_over_native_avg_ts").asDouble(), 1e-12);
    assertFalse(ratio.has("caravan_over_llamacpp_avg_ts"), ratio.toString());
  }
}
