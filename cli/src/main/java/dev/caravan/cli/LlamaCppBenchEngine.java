package dev.caravan.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** llama.cpp through {@link LlamaCpp}: a new context per test, sized like llama-bench's (n_ctx = the test's tokens). */
final class LlamaCppBenchEngine implements BenchEngine {
  /** SIMD levels a CPU build may report, best first. */
  private static final List<String> SIMD = List.of("AVX512", "AVX2", "AVX", "NEON", "SSE3");

  private final LlamaCpp.Model model;
  private final int threads;
  private LlamaCpp.Context context;

  private LlamaCppBenchEngine(LlamaCpp.Model model, int threads) {
    this.model = model;
    this.threads = threads;
  }

  static LlamaCppBenchEngine open(Path path, int threads) throws IOException {
    return new LlamaCppBenchEngine(LlamaCpp.Model.load(path), threads);
  }

  @Override
  public String name() {
    return "llama.cpp";
  }

  @Override
  public String backend() {
    String best = SIMD.stream().filter(f -> model.lib.systemInfo.contains(f + " = 1")).findFirst().map(f -> " " + f).orElse("");
    return "CPU b" + model.lib.buildNumber + best;
  }

  @Override
  public int vocabSize() {
    return model.vocabSize;
  }

  String description() {
    return model.description;
  }

  long sizeBytes() {
    return model.sizeBytes;
  }

  long params() {
    return model.params;
  }

  String build() {
    return "b" + model.lib.buildNumber + " (" + model.lib.commit + ")";
  }

  String systemInfo() {
    return model.lib.systemInfo;
  }

  @Override
  public void prepare(int contextTokens, int batchTokens) throws IOException {
    if (context != null) {
      context.close();
      context = null;
    }
    context = new LlamaCpp.Context(model, contextTokens, batchTokens, threads);
  }

  /** The logits of the last token of the last batch (a copy). */
  float[] lastLogits() {
    return context.lastLogits(model.vocabSize);
  }

  @Override
  public void clear() {
    context.clear();
  }

  @Override
  public void decode(int[] ids, int from, int count, int startPos) {
    context.decode(ids, from, count, startPos);
  }

  @Override
  public void close() {
    if (context != null) {
      context.close();
      context = null;
    }
    model.close();
  }
}
