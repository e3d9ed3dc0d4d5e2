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
  private KvCache[] streamCaches; // (streams) for tgNxS
  private Batch streamBatch;
  private float[] streamLogits; // (streams, vocab)

  private final KvCache.Type kvType;

  /** Takes ownership of {@code model} and {@code parallel}. */
  CaravanBenchEngine(LlamaModel model, Parallel parallel) {
    this(model, parallel, KvCache.Type.DEFAULT);
  }

  /** Takes ownership of {@code model} and {@code parallel}; caches of {@code kvType}. */
  CaravanBenchEngine(LlamaModel model, Parallel parallel, KvCache.Type kvType) {
    this.kvType = kvType;
    this.model = model;
    this.parallel = parallel;
    this.stage = model.layers();
    this.logits = new float[model.config().vocabSize()];
  }

  KvCache.Type kvType() {
    return kvType;
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
    cache = stage.newCache(contextTokens, kvType);
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
  public boolean multiStream() {
    return true;
  }

  @Override
  public void prepareStreams(int streams, int contextTokens) {
    streamCaches = new KvCache[streams];
    for (int s = 0; s < streams; s++) {
      streamCaches[s] = stage.newCache(contextTokens, kvType);
    }
    streamBatch = new Batch(Math.max(streams, BenchTest.TG_PROMPT));
    streamLogits = new float[streams * model.config().vocabSize()];
  }

  @Override
  public void clearStreams() {
    for (KvCache c : streamCaches) {
      c.truncate(0);
    }
  }

  @Override
  public void decodeStream(int stream, int[] ids, int from, int count, int startPos) {
    streamBatch.clear();
    for (int i = 0; i < count; i++) {
      streamBatch.add(ids[from + i], startPos + i, streamCaches[stream], i == count - 1);
    }
    stage.forward(streamBatch, null, streamLogits);
  }

  @Override
  public void decodeStep(int[][] ids, int pos) {
    streamBatch.clear();
    for (int s = 0; s < streamCaches.length; s++) {
      streamBatch.add(ids[s][pos], pos, streamCaches[s], true);
    }
    stage.forward(streamBatch, null, streamLogits);
  }

  /** Bytes of KV cache the streams hold. */
  long streamKvBytes() {
    long b = 0;
    for (KvCache c : streamCaches) {
      b += c.bytes();
    }
    return b;
  }

  @Override
  public void close() {
    model.close();
    parallel.close();
  }
}
