package dev.caravan.engine.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.engine.TestData;
import dev.caravan.engine.tensor.Kernels;
import dev.caravan.engine.tensor.Parallel;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/** The start-up warm-up runs on a model's own weight types and changes no result. */
class WarmupTest {

  @Test
  void warmUpRunsAndChangesNothing() throws IOException {
    try (Parallel parallel = new Parallel(2); LlamaModel model = LlamaModel.open(TestData.stories260K(), parallel)) {
      float[] before = logits(model);
      assertTrue(Warmup.run(model.weights(), Kernels.get(), 200_000_000L) >= 1);
      assertArrayEquals(before, logits(model));
    }
  }

  /** The forward-pass phase runs real passes over one layer of any stage (first, middle, last) and changes no result. */
  @Test
  void forwardPassesOverOneLayerChangeNothing() throws IOException {
    try (Parallel parallel = new Parallel(2); LlamaModel model = LlamaModel.open(TestData.stories260K(), parallel)) {
      float[] before = logits(model);
      int layers = model.config().layers();
      for (LayerRange r : new LayerRange[] {LayerRange.all(layers), new LayerRange(1, layers - 1), new LayerRange(layers - 1, layers)}) {
        LlamaWeights w = LlamaWeights.load(model.file(), model.config(), r);
        assertEquals(r.start(), w.firstLayer().range.start());
        assertEquals(1, w.firstLayer().layers.size());
        assertTrue(Warmup.passes(w, Kernels.get(), parallel, 200_000_000L) >= 1, r.toString());
      }
      assertArrayEquals(before, logits(model));
    }
  }

  private static float[] logits(LlamaModel model) {
    LayerStack stage = model.layers();
    KvCache cache = stage.newCache(32);
    Batch b = new Batch(8);
    b.addSequence(new int[] {1, 400, 401, 402, 403}, cache, true);
    float[] out = new float[model.config().vocabSize()];
    stage.forward(b, null, out);
    return out;
  }
}
