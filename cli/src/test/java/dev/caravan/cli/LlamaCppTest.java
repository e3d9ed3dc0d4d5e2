package dev.caravan.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.engine.TestData;
import dev.caravan.engine.model.LlamaModel;
import dev.caravan.engine.tensor.Parallel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The llama.cpp side must work: a library that cannot load fails these tests (nothing is skipped). */
class LlamaCppTest {

  @Test
  void structLayoutsAreThoseOfB4916() {
    // sizes and offsets as llama_context_default_params / llama_model_default_params / llama_batch_init write them
    assertEquals(0x78, LlamaCpp.CONTEXT_PARAMS.byteSize());
    assertEquals(0x10, LlamaCpp.offset(LlamaCpp.CONTEXT_PARAMS, "n_threads"));
    assertEquals(0x14, LlamaCpp.offset(LlamaCpp.CONTEXT_PARAMS, "n_threads_batch"));
    assertEquals(0x34, LlamaCpp.offset(LlamaCpp.CONTEXT_PARAMS, "yarn_beta_fast"));
    assertEquals(0x48, LlamaCpp.offset(LlamaCpp.CONTEXT_PARAMS, "cb_eval"));
    assertEquals(0x58, LlamaCpp.offset(LlamaCpp.CONTEXT_PARAMS, "type_k"));
    assertEquals(0x63, LlamaCpp.offset(LlamaCpp.CONTEXT_PARAMS, "flash_attn"));
    assertEquals(0x64, LlamaCpp.offset(LlamaCpp.CONTEXT_PARAMS, "no_perf"));
    assertEquals(0x68, LlamaCpp.offset(LlamaCpp.CONTEXT_PARAMS, "abort_callback"));
    assertEquals(0x40, LlamaCpp.MODEL_PARAMS.byteSize());
    assertEquals(0x0c, LlamaCpp.offset(LlamaCpp.MODEL_PARAMS, "split_mode"));
    assertEquals(0x39, LlamaCpp.offset(LlamaCpp.MODEL_PARAMS, "use_mmap"));
    assertEquals(0x38, LlamaCpp.BATCH.byteSize());
    assertEquals(0x30, LlamaCpp.offset(LlamaCpp.BATCH, "logits"));
  }

  @Test
  void bundledLibraryLoadsAndIsB4916() throws IOException {
    LlamaCpp.Library lib = LlamaCpp.Library.load();
    assertEquals(4916, lib.buildNumber);
    assertEquals("c6af2161", lib.commit);
    assertTrue(lib.systemInfo.startsWith("CPU :"), lib.systemInfo);
  }

  @Test
  void loadsAModelAndDecodes() throws IOException {
    try (LlamaCppBenchEngine llama = LlamaCppBenchEngine.open(TestData.stories260K(), 2)) {
      assertEquals(512, llama.vocabSize());
      assertEquals(292800, llama.params());
      assertTrue(llama.backend().startsWith("CPU b4916"), llama.backend());
      int[] ids = new BenchTest(BenchTest.Kind.PP, 16).tokenIds(1, 512);
      llama.prepare(32, 16);
      llama.decode(ids, 0, 16, 0);
      float[] first = llama.lastLogits();
      llama.clear();
      llama.decode(ids, 0, 16, 0);
      // an emptied cache gives the same result again
      assertArrayEquals(first, llama.lastLogits());
      // a batch larger than the context's n_batch is refused before it reaches llama.cpp
      assertThrows(IllegalArgumentException.class, () -> llama.decode(new int[17], 0, 17, 0));
    }
  }

  /** Same tokens, same positions: llama.cpp's logits are Caravan's, up to its F16 KV cache. Proves the batch is filled right. */
  @Test
  void agreesWithCaravanOnAPromptAndDecodeSteps() throws IOException {
    Path model = TestData.stories260K();
    int[] ids = new BenchTest(BenchTest.Kind.TG, 6).tokenIds(5, 512);
    try (LlamaCppBenchEngine llama = LlamaCppBenchEngine.open(model, 2);
        CaravanBenchEngine caravan = openCaravan(model, 2)) {
      for (BenchEngine e : new BenchEngine[] {llama, caravan}) {
        e.prepare(ids.length, BenchTest.TG_PROMPT);
        e.clear();
      }
      llama.decode(ids, 0, BenchTest.TG_PROMPT, 0);
      caravan.decode(ids, 0, BenchTest.TG_PROMPT, 0);
      assertClose(caravan.lastLogits(), llama.lastLogits(), "prompt");
      for (int p = BenchTest.TG_PROMPT; p < ids.length; p++) {
        llama.decode(ids, p, 1, p);
        caravan.decode(ids, p, 1, p);
        assertClose(caravan.lastLogits(), llama.lastLogits(), "position " + p);
      }
    }
  }

  private static CaravanBenchEngine openCaravan(Path model, int threads) throws IOException {
    Parallel parallel = new Parallel(threads);
    return new CaravanBenchEngine(LlamaModel.open(model, parallel), parallel);
  }

  private static void assertClose(float[] expected, float[] actual, String what) {
    assertEquals(expected.length, actual.length);
    double maxAbs = 0;
    double maxDiff = 0;
    for (int i = 0; i < expected.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
      maxDiff = Math.max(maxDiff, Math.abs(expected[i] - actual[i]));
    }
    assertTrue(maxAbs > 0, what + ": all-zero logits");
    assertTrue(maxDiff <= 2e-3 * maxAbs, what + ": logits differ by up to " + maxDiff + " (largest " + maxAbs + ")");
  }

  @Test
  void leavesNoLibraryCopyBehind() throws IOException {
    LlamaCpp.Library.load();
    Path tmpdir = Path.of(System.getProperty("java.io.tmpdir"));
    try (var files = Files.list(tmpdir)) {
      assertTrue(files.noneMatch(p -> p.getFileName().toString().startsWith("caravan-bench-")), "a caravan-bench-* directory was left in " + tmpdir);
    }
  }
}
