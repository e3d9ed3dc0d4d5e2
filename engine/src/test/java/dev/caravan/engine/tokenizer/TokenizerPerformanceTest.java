package dev.caravan.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.caravan.engine.TestData;
import dev.caravan.engine.gguf.GgufFormatException;
import dev.caravan.engine.gguf.GgufMetadata;
import dev.caravan.engine.tokenizer.Vocabs.Vector;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Performance sanity, not timed assertions: load times and ~100 KB encodes are printed, and the results are checked for
 * correctness (decode gives the text back), so that a quadratic algorithm shows up as a slow test rather than a
 * failing one. Also a few adversarial inputs (one huge word, long whitespace and digit runs).
 */
class TokenizerPerformanceTest {

  /** About 100 KB of mixed text: the test vectors, shuffled words, code-like lines, numbers. */
  static String sampleText(int targetChars) {
    List<Vector> vectors = Vocabs.vectors("tokenizer/ggml-vocab-llama-spm.gguf.inp", "tokenizer/ggml-vocab-llama-spm.gguf.out");
    String[] words = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "naïve", "café", "Ελληνικά", "русский", "中文", "日本語", "🦙", "😁",
        "int", "main()", "{", "}", "return", "0;", "x += 1;", "http://example.com/a?b=c", "3.14159", "1,000,000", "can't", "I'll", "they're"};
    Random r = new Random(42);
    StringBuilder sb = new StringBuilder(targetChars + 1024);
    int i = 0;
    while (sb.length() < targetChars) {
      sb.append(vectors.get(i++ % vectors.size()).text()).append('\n');
      for (int w = 0; w < 60; w++) {
        sb.append(words[r.nextInt(words.length)]).append(r.nextInt(12) == 0 ? "\n" : r.nextInt(20) == 0 ? "\t" : " ");
      }
      sb.append(r.nextInt(1_000_000)).append(".\n    indented line with    spaces\n");
    }
    return sb.toString();
  }

  @Test
  void loadTimes() throws GgufFormatException {
    for (String file : List.of(Vocabs.SPM, Vocabs.GPT2, Vocabs.LLAMA3)) {
      for (int rep = 0; rep < 2; rep++) { // the second round shows the cost without class loading and JIT warm-up
        // CPU time of this thread: the cores are shared, wall time says more about the neighbours than about us
        ThreadMXBean cpu = ManagementFactory.getThreadMXBean();
        long t0 = cpu.getCurrentThreadCpuTime();
        GgufMetadata m = Vocabs.metadata(TestData.oracle(file));
        long t1 = cpu.getCurrentThreadCpuTime();
        Vocabulary v = Vocabulary.fromGguf(m);
        long t2 = cpu.getCurrentThreadCpuTime();
        Tokenizer t = Tokenizer.of(v);
        long t3 = cpu.getCurrentThreadCpuTime();
        System.out.printf("load %s (round %d, CPU time): GGUF metadata %.0f ms, vocabulary %.0f ms, tokenizer %.0f ms (%d tokens, %d merges)%n", file, rep + 1, (t1 - t0) / 1e6,
            (t2 - t1) / 1e6, (t3 - t2) / 1e6, t.vocabSize(), v.merges().size());
      }
    }
  }

  @Test
  void encodeAbout100KB() {
    String text = sampleText(100_000);
    for (String file : List.of(Vocabs.SPM, Vocabs.GPT2, Vocabs.LLAMA3)) {
      Tokenizer t = Vocabs.oracle(file);
      int[] ids = t.encode(text, false, false); // warm-up
      long best = Long.MAX_VALUE;
      for (int rep = 0; rep < 3; rep++) {
        long t0 = System.nanoTime();
        ids = t.encode(text, false, false);
        best = Math.min(best, System.nanoTime() - t0);
      }
      long t0 = System.nanoTime();
      String back = StreamingDetokenizer.streamAll(t, ids, false, false);
      long decodeNs = System.nanoTime() - t0;
      System.out.printf("encode %s: %d chars -> %d tokens in %.1f ms (%.1f MB/s); stream-decode %.1f ms%n", file, text.length(), ids.length, best / 1e6, text.length() / (best / 1e3), decodeNs / 1e6);
      assertEquals(text, back, file);
    }
  }

  @Test
  void adversarialInputsStayFast() {
    String[] inputs = {"a".repeat(20_000), " ".repeat(20_000) + "x", "7".repeat(20_000), "\n".repeat(20_000), "!?".repeat(10_000), "🦙".repeat(5_000), "<|eot_id|>".repeat(2_000)};
    for (String file : List.of(Vocabs.SPM, Vocabs.GPT2, Vocabs.LLAMA3)) {
      Tokenizer t = Vocabs.oracle(file);
      long t0 = System.nanoTime();
      for (String s : inputs) {
        int[] ids = t.encode(s, false, true);
        assertEquals(s, StreamingDetokenizer.streamAll(t, ids, false, true), file);
      }
      System.out.printf("adversarial %s: %d inputs of ~20k chars in %.0f ms%n", file, inputs.length, (System.nanoTime() - t0) / 1e6);
    }
  }
}
