package dev.caravan.cli;

import dev.caravan.engine.model.Batch;
import dev.caravan.engine.model.KvCache;
import dev.caravan.engine.model.LlamaConfig;
import dev.caravan.engine.model.LlamaModel;
import dev.caravan.engine.model.LayerStack;
import dev.caravan.engine.tensor.Kernels;
import dev.caravan.engine.tensor.Parallel;

/** Caravan's engine in this process: the whole model as one {@link LayerStack}, a {@link Parallel} of the benchmark's threads. */
final class CaravanBenchEngine implements BenchEngine {
  private final LlamaModel model;
  private final Parallel parallel;
  private final LayerStack stage;
  private final float[] logits; // (vocab) of the last token of a batch
  private KvCache cache;
  private Batch batch;

  /** Takes ownership of {@code model} and {@code parallel}. */
  CaravanBenchEngine(LlamaModel model, Parallel parallel) {
    this.model = model;
    this.parallel = parallel;
    this.stage = model.layers();
    this.logits = new float[model.config().vocabSize()];
  }

  LlamaModel model() {
    return model;
  }

  LlamaConfig config() {
    return model.config();
  }

  @Override
  public String name() {
    return "caravan";
  }

  @Override
  public String backend() {
    return "Java " + Kernels.get().name();
  }

  @Override
  public int vocabSize() {
    return model.config().vocabSize();
  }

  @Override
  public void prepare(int contextTokens, int batchTokens) {
    cache = stage.newCache(contextTokens);
    batch = new Batch(batchTokens);
  }

  /** The logits of the last token of the last batch (a copy). */
  float[] lastLogits() {
    return logits.clone();
  }

  @Override
  public void clear() {
    cache.truncate(0);
  }

  @Override
  public void decode(int[] ids, int from, int count, int startPos) {
    batch.clear();
    for (int i = 0; i < count; i++) {
      batch.add(ids[from + i], startPos + i, cache, i == count - 1);
    }
    stage.forward(batch, null, logits);
  }

  @Override
  public void close() {
    model.close();
    parallel.close();
  }
}
