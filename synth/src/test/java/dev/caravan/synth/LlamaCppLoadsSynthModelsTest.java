package dev.caravan.synth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import de.kherud.llama.InferenceParameters;
import de.kherud.llama.LlamaModel;
import de.kherud.llama.ModelParameters;
import dev.caravan.engine.TestData;
import dev.caravan.synth.ModelSynth.FileType;
import dev.caravan.synth.ModelSynth.Spec;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * llama.cpp itself (the b4916 build bundled by the de.kherud:llama test dependency) loads synthetic models and runs
 * them: the tensor names, shapes and metadata are what its {@code llama} architecture expects, including a tied output
 * with {@code rope_freqs.weight} (the Llama 3.2 layout) and a synthesized vocabulary.
 */
class LlamaCppLoadsSynthModelsTest {

  @Test
  void llamaCppLoadsAndRunsSynthesizedModels(@TempDir Path dir) throws IOException {
    Vocabulary stories = Vocabulary.fromGguf(TestData.stories260K());
    // the tiny shape with stories260K's vocabulary, in a mixed K-quant file and in BF16
    Path q4km = dir.resolve("tiny-Q4_K_M.gguf");
    ModelSynth.write(q4km, new Spec(Shape.named("tiny"), FileType.Q4_K_M, 1, stories, 2), GgufWriter.Progress.none());
    Path bf16 = dir.resolve("tiny-BF16.gguf");
    ModelSynth.write(bf16, new Spec(Shape.named("tiny"), FileType.BF16, 1, stories, 2), GgufWriter.Progress.none());
    // a Llama-3.2-like miniature: tied output, rope base 500000, Llama 3.1 frequency factors, synthesized 1000-token vocab
    Shape l3 = Shape.named("llama3.2-1b");
    Shape mini = new Shape("mini-llama3", 256, 2, 4, 1, 512, 1000, 1024, 500000f, 1e-5f, true, l3.ropeScaling(), 0.02f, 0.25f, 0.25f);
    Path tied = dir.resolve("mini-llama3-Q8_0.gguf");
    ModelSynth.write(tied, Spec.of(mini, FileType.Q8_0, 3), GgufWriter.Progress.none());

    for (Path p : new Path[] {q4km, bf16, tied}) {
      ModelParameters mp = new ModelParameters().setModel(p.toString()).setCtxSize(128).setThreads(1).setGpuLayers(0).disableLog();
      try (LlamaModel model = new LlamaModel(mp)) {
        int[] ids = model.encode("Once upon a time");
        assertTrue(ids.length > 0, p + ": the vocabulary tokenizes");
        String out = model.complete(new InferenceParameters("Once upon a time").setNPredict(6).setTemperature(0f).setCachePrompt(false));
        assertTrue(out != null, p.toString());
        // greedy decoding is deterministic: the same prompt gives the same continuation
        String again = model.complete(new InferenceParameters("Once upon a time").setNPredict(6).setTemperature(0f).setCachePrompt(false));
        assertEquals(out, again, p.toString());
        if (p != tied) {
          // stories260K's vocabulary: the ids stories260K.oracle.json lists for this text (after BOS)
          assertArrayEquals(new int[] {403, 407, 261, 378}, ids, p.toString());
        }
      }
    }
  }
}
