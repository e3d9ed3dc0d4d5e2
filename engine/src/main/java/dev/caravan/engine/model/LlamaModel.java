package dev.caravan.engine.model;

import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.tensor.Kernels;
import dev.caravan.engine.tensor.Parallel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.function.LongConsumer;

/** An open GGUF model file and the stage built from it: the layers of one range, ready to run. */
public final class LlamaModel implements AutoCloseable {
  private final GgufFile file;
  private final LlamaConfig config;
  private final LlamaWeights weights;
  private final LayerStack stage;

  private LlamaModel(GgufFile file, LlamaConfig config, LlamaWeights weights, LayerStack stage) {
    this.file = file;
    this.config = config;
    this.weights = weights;
    this.stage = stage;
  }

  /** Opens every layer of {@code path}: a single-process model. */
  public static LlamaModel open(Path path, Parallel parallel) throws IOException {
    return open(path, null, parallel, null);
  }

  /**
   * Opens {@code path} and loads the layers of {@code range} (all layers when null). Only the tensors of that range are
   * touched; with a {@code progress} callback they are also read into memory, reporting bytes done.
   */
  public static LlamaModel open(Path path, LayerRange range, Parallel parallel, LongConsumer progress) throws IOException {
    GgufFile file = GgufFile.open(path);
    try {
      LlamaConfig config = LlamaConfig.from(file);
      LayerRange r = range != null ? range : LayerRange.all(config.layers());
      LlamaWeights weights = LlamaWeights.load(file, config, r, progress);
      Warmup.once(weights, Kernels.get(), parallel);
      return new LlamaModel(file, config, weights, new LayerStack(weights, Kernels.get(), parallel));
    } catch (IOException | RuntimeException e) {
      file.close();
      throw e;
    }
  }

  public GgufFile file() {
    return file;
  }

  public LlamaConfig config() {
    return config;
  }

  public LlamaWeights weights() {
    return weights;
  }

  public LayerStack layers() {
    return stage;
  }

  @Override
  public void close() {
    file.close();
  }
}
