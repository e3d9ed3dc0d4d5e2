package dev.caravan.coordinator.http;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Log-probabilities are the log-softmax of the raw logits; the top tokens are the most likely, lower id first on ties. */
class HttpLogprobsTest {

  /** The textbook formula, separately: log(exp(l_t) / sum_i exp(l_i)), in BigDecimal-free double over small logits. */
  private static double reference(float[] logits, int t) {
    double sum = 0;
    for (float l : logits) {
      sum += Math.exp(l);
    }
    return Math.log(Math.exp(logits[t]) / sum);
  }

  @Test
  void matchesTheTextbookLogSoftmaxAndSortsTheTopTokens() {
    SplittableRandom rng = new SplittableRandom(17);
    int vocab = 1000;
    float[] row = new float[vocab + 7]; // a row inside a larger batch array
    for (int i = 0; i < row.length; i++) {
      row[i] = (float) (rng.nextDouble() * 12 - 6);
    }
    float[] logits = Arrays.copyOfRange(row, 7, 7 + vocab);
    Logprobs.Entry e = Logprobs.of(row, 7, vocab, 123, 5);
    assertEquals(123, e.token());
    assertEquals(reference(logits, 123), e.logprob(), 1e-9);
    int[] byLogit = IntStream.range(0, vocab).boxed().sorted(Comparator.comparingDouble((Integer i) -> -logits[i]).thenComparingInt(i -> i)).mapToInt(Integer::intValue).limit(5).toArray();
    assertArrayEquals(byLogit, e.topIds());
    for (int j = 0; j < 5; j++) {
      assertEquals(reference(logits, byLogit[j]), e.topLogprobs()[j], 1e-9);
    }
    double total = 0;
    for (int i = 0; i < vocab; i++) {
      total += Math.exp(Logprobs.of(row, 7, vocab, i, 0).logprob());
    }
    assertEquals(1.0, total, 1e-9, "the probabilities add up to one");
  }

  @Test
  void largeLogitsDoNotOverflowAndTiesKeepTheLowerId() {
    float[] logits = {1000f, 1000f, 999f, 5f};
    Logprobs.Entry e = Logprobs.of(logits, 0, 4, 2, 3);
    double logZ = 1000 + Math.log(2 + Math.exp(-1) + Math.exp(-995));
    assertEquals(999 - logZ, e.logprob(), 1e-9);
    assertArrayEquals(new int[] {0, 1, 2}, e.topIds());
    assertEquals(e.topLogprobs()[0], e.topLogprobs()[1], 0.0);
  }

  @Test
  void impossibleTokensAreReportedAsOpenAiDoesAndKLargerThanTheVocabularyIsTheVocabulary() {
    float[] logits = {0f, Float.NEGATIVE_INFINITY, Float.NaN, 0f};
    Logprobs.Entry e = Logprobs.of(logits, 0, 4, 1, 10);
    assertEquals(Logprobs.IMPOSSIBLE, e.logprob());
    assertArrayEquals(new int[] {0, 3, 1, 2}, e.topIds());
    assertEquals(Math.log(0.5), e.topLogprobs()[0], 1e-12);
    assertEquals(Logprobs.IMPOSSIBLE, e.topLogprobs()[2]);
    assertEquals(Logprobs.IMPOSSIBLE, e.topLogprobs()[3], "NaN counts as minus infinity");
    assertEquals(0, Logprobs.of(logits, 0, 4, 0, 0).topIds().length);
  }
}
