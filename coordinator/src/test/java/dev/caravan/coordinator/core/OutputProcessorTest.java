package dev.caravan.coordinator.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.coordinator.CoordinatorMetrics;
import dev.caravan.engine.TestData;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.sampling.Sampler;
import dev.caravan.engine.sampling.SamplingParams;
import dev.caravan.engine.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Sampling history, stop strings and the logits hook of one request's output. */
class OutputProcessorTest {
  private static Tokenizer tokenizer;
  private static OutputProcessor outputs;

  @BeforeAll
  static void load() throws Exception {
    try (GgufFile f = GgufFile.open(TestData.stories260K())) {
      tokenizer = Tokenizer.fromGguf(f.metadata());
    }
    outputs = new OutputProcessor(tokenizer, new CoordinatorMetrics());
  }

  @Test
  void theRepetitionPenaltySeesThePromptLikeLlamaCppsServer() {
    // logits favour the prompt's own tokens a little: only a penalty that knows the prompt steers away from them
    int vocab = tokenizer.vocabSize();
    int[] prompt = {1, 300, 301, 302};
    SamplingParams p = new SamplingParams(0.8f, 40, 0.95f, 0.05f, 1.5f, 64, 0f, 0f, 99);
    Random r = new Random(7);
    float[] logits = new float[vocab];
    for (int i = 0; i < vocab; i++) {
      logits[i] = (float) r.nextGaussian();
    }
    for (int t : prompt) {
      logits[t] += 3f;
    }
    OutputProcessor.Output out = outputs.open(new GenerationRequest(prompt, p, 16, List.of(), null, true, Long.MAX_VALUE), new Collector(), 0);
    Sampler withPrompt = new Sampler(p);
    for (int t : prompt) {
      withPrompt.accept(t);
    }
    Sampler withoutPrompt = new Sampler(p);
    List<Integer> got = new ArrayList<>();
    List<Integer> expected = new ArrayList<>();
    List<Integer> ignoringPrompt = new ArrayList<>();
    for (int i = 0; i < 16; i++) {
      got.add(out.sample(logits, 0));
      int e = withPrompt.sample(logits, 0, vocab);
      withPrompt.accept(e);
      expected.add(e);
      int n = withoutPrompt.sample(logits, 0, vocab);
      withoutPrompt.accept(n);
      ignoringPrompt.add(n);
    }
    assertEquals(expected, got);
    assertTrue(!expected.equals(ignoringPrompt), "the test must tell the two histories apart");
  }

  @Test
  void theLogitsHookSeesTheRowEachTokenCameFrom() {
    int vocab = tokenizer.vocabSize();
    List<String> seen = new ArrayList<>();
    Collector hooked = new Collector() {
      @Override
      public boolean wantsLogits() {
        return true;
      }

      @Override
      public void onSampled(int token, float[] logits, int offset, int v) {
        seen.add(token + "@" + offset + ":" + logits[offset + token]);
      }
    };
    OutputProcessor.Output out = outputs.open(new GenerationRequest(new int[] {1}, SamplingParams.greedy(), 4, List.of(), null, true, Long.MAX_VALUE), hooked, 0);
    float[] logits = new float[2 * vocab];
    logits[vocab + 310] = 5f;
    assertEquals(310, out.sample(logits, vocab));
    assertEquals(List.of("310@" + vocab + ":5.0"), seen);
  }

  @Test
  void textHeldBackForAStopStringIsReleasedAtTheEndWhenItDidNotMatch() {
    Collector c = new Collector();
    OutputProcessor.Output out = outputs.open(new GenerationRequest(new int[] {1}, SamplingParams.greedy(), 4, List.of(" Lily x"), null, true, Long.MAX_VALUE), c, 0);
    int lily = tokenizer.encode(" Lily", false, false)[0];
    assertTrue(!out.emit(lily, false, 1));
    assertEquals("", c.text.toString(), "could still become the stop string");
    assertEquals(List.of(lily), c.ids, "the token id is reported even while its text is held");
  }
}
