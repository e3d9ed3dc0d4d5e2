package dev.caravan.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

class SamplerTest {
  /** Probabilities 1/2, 1/4, 1/8, 1/16, 1/16 as logits (shifted by +3: softmax does not care). */
  private static final double[] P5 = {0.5, 0.25, 0.125, 0.0625, 0.0625};

  private static float[] logitsOf(double[] p) {
    float[] l = new float[p.length];
    for (int i = 0; i < p.length; i++) {
      l[i] = (float) (Math.log(p[i]) + 3);
    }
    return l;
  }

  /** Plain sampling: temperature 1 and no truncation, then the given changes. */
  private static SamplingParams plain() {
    return new SamplingParams(1f, 0, 1f, 0f, 1f, 0, 0f, 0f, 1234);
  }

  /** The chain's survivors as id -> probability. */
  private static Map<Integer, Double> candidates(SamplingParams p, float[] logits) {
    int[] ids = new int[logits.length];
    double[] probs = new double[logits.length];
    int m = new Sampler(p).candidates(logits, 0, logits.length, ids, probs);
    Map<Integer, Double> out = new TreeMap<>();
    for (int i = 0; i < m; i++) {
      out.put(ids[i], probs[i]);
    }
    return out;
  }

  private static void assertCandidates(Map<Integer, Double> actual, int[] ids, double[] probs) {
    assertEquals(ids.length, actual.size(), "survivors " + actual);
    for (int i = 0; i < ids.length; i++) {
      assertTrue(actual.containsKey(ids[i]), "missing " + ids[i] + " in " + actual);
      assertEquals(probs[i], actual.get(ids[i]), 1e-5, "p(" + ids[i] + ") in " + actual);
    }
  }

  // ------------------------------------------------------------------ greedy

  @Test
  void greedyIsTheFirstMaximum() {
    Sampler s = new Sampler(SamplingParams.greedy());
    assertEquals(1, s.sample(new float[] {1f, 3f, 3f, 2f}, 0, 4));
    assertEquals(1, s.sample(new float[] {9f, 9f, 1f, 3f, 3f, 2f}, 2, 4), "offset respected");
    assertEquals(2, s.sample(new float[] {Float.NaN, -1f, 0f}, 0, 3), "NaN counts as -infinity");
    assertEquals(0, s.sample(new float[] {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY}, 0, 2));
    // temperature 0 with truncation settings is still greedy
    Sampler t0 = new Sampler(SamplingParams.defaults(7).withTemperature(0f));
    assertEquals(3, t0.sample(new float[] {0f, 1f, 2f, 5f, 5f}, 0, 5));
    // sampling with no finite logit falls back to the first token
    assertEquals(0, new Sampler(plain()).sample(new float[] {Float.NEGATIVE_INFINITY, Float.NaN}, 0, 2));
  }

  // ------------------------------------------------------------------ penalties

  @Test
  void penaltiesFollowLlamaCpp() {
    Sampler s = new Sampler(SamplingParams.greedy().withPenalties(2f, 3, 0.5f, 0.25f));
    s.accept(0);
    s.accept(1);
    s.accept(1);
    float[] logits = {2f, -1f, 0.5f, 0.1f};
    // token 0 (once): 2 / 2 - 0.5 * 1 - 0.25 = 0.25; token 1 (twice): -1 * 2 - 0.5 * 2 - 0.25 = -3.25
    assertEquals(2, s.sample(logits, 0, 4));
    assertEquals(0.25f, s.penalizedLogit(0));
    assertEquals(-3.25f, s.penalizedLogit(1));
    assertEquals(0.5f, s.penalizedLogit(2));
    assertEquals(0.1f, s.penalizedLogit(3));
    assertArrayEquals(new float[] {2f, -1f, 0.5f, 0.1f}, logits, "the caller's logits are not modified");
    // the window holds the last 3 tokens: after 2, 2, 2 only token 2 is penalized: 0.5 / 2 - 1.5 - 0.25 = -1.5
    s.accept(2);
    s.accept(2);
    s.accept(2);
    assertEquals(0, s.sample(logits, 0, 4));
    assertEquals(2f, s.penalizedLogit(0));
    assertEquals(-1.5f, s.penalizedLogit(2));
    // reset forgets the window; a token id past the vocabulary is ignored
    s.reset();
    s.accept(99);
    assertEquals(0, s.sample(logits, 0, 4));
    assertEquals(2f, s.penalizedLogit(0));
    // repeatLastN 0: no penalties at all
    Sampler none = new Sampler(SamplingParams.greedy().withPenalties(2f, 0, 1f, 1f));
    none.accept(0);
    assertEquals(0, none.sample(logits, 0, 4));
    assertEquals(2f, none.penalizedLogit(0));
  }

  // ------------------------------------------------------------------ truncation, hand-computed

  @Test
  void topPKeepsTheSmallestPrefixReachingP() {
    float[] l = logitsOf(P5);
    // cumulative 0.5, 0.75, 0.875, 0.9375, 1
    assertCandidates(candidates(plain().withTopP(0.7f), l), new int[] {0, 1}, new double[] {2 / 3.0, 1 / 3.0});
    assertCandidates(candidates(plain().withTopP(0.8f), l), new int[] {0, 1, 2}, new double[] {4 / 7.0, 2 / 7.0, 1 / 7.0});
    assertCandidates(candidates(plain().withTopP(0.3f), l), new int[] {0}, new double[] {1});
    assertCandidates(candidates(plain(), l), new int[] {0, 1, 2, 3, 4}, P5);
  }

  @Test
  void minPKeepsTokensWithinAFactorOfTheBest() {
    float[] l = logitsOf(P5);
    // minP 0.3: p >= 0.15; minP 0.2: p >= 0.1; minP 0.1: p >= 0.05
    assertCandidates(candidates(plain().withMinP(0.3f), l), new int[] {0, 1}, new double[] {2 / 3.0, 1 / 3.0});
    assertCandidates(candidates(plain().withMinP(0.2f), l), new int[] {0, 1, 2}, new double[] {4 / 7.0, 2 / 7.0, 1 / 7.0});
    assertCandidates(candidates(plain().withMinP(0.1f), l), new int[] {0, 1, 2, 3, 4}, P5);
    assertCandidates(candidates(plain().withMinP(1f), l), new int[] {0}, new double[] {1});
  }

  @Test
  void topKThenTopPThenMinPThenTemperature() {
    float[] l = logitsOf(P5);
    assertCandidates(candidates(plain().withTopK(2), l), new int[] {0, 1}, new double[] {2 / 3.0, 1 / 3.0});
    // top-p after top-k: the top 3 renormalize to 4/7, 2/7, 1/7, so 0.8 is reached after two tokens
    // (without top-k it takes three: 0.5, 0.75, 0.875)
    assertCandidates(candidates(plain().withTopK(3).withTopP(0.8f), l), new int[] {0, 1}, new double[] {2 / 3.0, 1 / 3.0});
    // temperature 2 alone: p^(1/2) normalized = 0.707107, 0.5, 0.353553, 0.25, 0.25 over 2.060660
    assertCandidates(candidates(plain().withTemperature(2f), l), new int[] {0, 1, 2, 3, 4}, new double[] {0.343146, 0.242641, 0.171573, 0.121320, 0.121320});
    // top-p sees the logits before temperature: 0.7 keeps two tokens, then temperature 2 gives 0.707107 : 0.5
    // (had temperature come first, 0.7 would keep three: 0.343, 0.586, 0.757)
    assertCandidates(candidates(plain().withTemperature(2f).withTopP(0.7f), l), new int[] {0, 1}, new double[] {0.585786, 0.414214});
    // top-k ties go to the lower ids
    assertCandidates(candidates(plain().withTopK(2), new float[] {1f, 2f, 2f, 2f}), new int[] {1, 2}, new double[] {0.5, 0.5});
  }

  // ------------------------------------------------------------------ draws

  @Test
  void drawFrequenciesMatchTheProbabilities() {
    float[] l = logitsOf(P5);
    // chi-square critical values at p = 0.001: 4 degrees of freedom 18.47, 1 degree 10.83
    assertChiSquare(plain(), l, P5, 18.47);
    assertChiSquare(plain().withTemperature(2f), l, new double[] {0.343146, 0.242641, 0.171573, 0.121320, 0.121320}, 18.47);
    assertChiSquare(plain().withTemperature(0.5f), l, new double[] {0.25 / 0.34375, 0.0625 / 0.34375, 0.015625 / 0.34375, 0.00390625 / 0.34375, 0.00390625 / 0.34375}, 18.47);
    assertChiSquare(plain().withTopP(0.7f), l, new double[] {2 / 3.0, 1 / 3.0, 0, 0, 0}, 10.83);
    // a 512-token vocabulary through llama.cpp's default chain: draws follow the surviving candidates' probabilities
    SplittableRandom r = new SplittableRandom(5);
    float[] big = new float[512];
    for (int i = 0; i < big.length; i++) {
      big[i] = (float) (r.nextGaussian() * 2);
    }
    SamplingParams d = SamplingParams.defaults(99);
    int[] ids = new int[512];
    double[] probs = new double[512];
    int m = new Sampler(d).candidates(big, 0, 512, ids, probs);
    assertTrue(m > 3 && m <= 40, "survivors " + m);
    double[] expected = new double[512];
    for (int i = 0; i < m; i++) {
      expected[ids[i]] = probs[i];
    }
    int df = m - 1;
    double crit = df * Math.pow(1 - 2.0 / (9 * df) + 3.09 * Math.sqrt(2.0 / (9 * df)), 3); // Wilson-Hilferty, p = 0.001
    assertChiSquare(d, big, expected, crit);
  }

  /** Draws 20000 tokens and checks Pearson's chi-square against {@code expected} (zero-probability ids never drawn). */
  private static void assertChiSquare(SamplingParams p, float[] logits, double[] expected, double critical) {
    Sampler s = new Sampler(p);
    int n = 20000;
    int[] counts = new int[logits.length];
    for (int i = 0; i < n; i++) {
      counts[s.sample(logits, 0, logits.length)]++;
    }
    double chi2 = 0;
    for (int i = 0; i < logits.length; i++) {
      if (expected[i] == 0) {
        assertEquals(0, counts[i], "token " + i + " has probability 0 but was drawn");
        continue;
      }
      double e = n * expected[i];
      chi2 += (counts[i] - e) * (counts[i] - e) / e;
    }
    assertTrue(chi2 < critical, "chi-square " + chi2 + " >= " + critical + " for " + p);
  }

  @Test
  void sameSeedSameTokensOtherSeedOtherTokens() {
    SplittableRandom r = new SplittableRandom(3);
    float[][] steps = new float[100][256];
    for (float[] step : steps) {
      for (int i = 0; i < step.length; i++) {
        step[i] = (float) r.nextGaussian();
      }
    }
    SamplingParams p = new SamplingParams(1f, 0, 1f, 0f, 1.1f, 16, 0f, 0f, 42);
    int[] a = run(new Sampler(p), steps);
    int[] b = run(new Sampler(p), steps);
    assertArrayEquals(a, b);
    Sampler again = new Sampler(p);
    run(again, steps);
    again.reset();
    assertArrayEquals(a, run(again, steps), "reset restarts the generator and the window");
    assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(run(new Sampler(p.withSeed(43)), steps)));
  }

  private static int[] run(Sampler s, float[][] steps) {
    int[] out = new int[steps.length];
    for (int i = 0; i < steps.length; i++) {
      out[i] = s.sample(steps[i], 0, steps[i].length);
      s.accept(out[i]);
    }
    return out;
  }

  /** After the first call sizes the buffers, sampling allocates nothing. */
  @Test
  void noAllocationPerCall() {
    com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    SplittableRandom r = new SplittableRandom(8);
    float[] logits = new float[32000];
    for (int i = 0; i < logits.length; i++) {
      logits[i] = (float) (r.nextGaussian() * 3);
    }
    SamplingParams[] configs = {SamplingParams.defaults(1).withPenalties(1.1f, 64, 0.1f, 0.1f), SamplingParams.greedy(), plain(), plain().withMinP(0.05f)};
    for (SamplingParams p : configs) {
      Sampler s = new Sampler(p);
      for (int i = 0; i < 300; i++) { // warm-up: buffers sized, code compiled
        s.accept(s.sample(logits, 0, logits.length));
      }
      long before = mx.getCurrentThreadAllocatedBytes();
      for (int i = 0; i < 300; i++) {
        s.accept(s.sample(logits, 0, logits.length));
      }
      long allocated = mx.getCurrentThreadAllocatedBytes() - before;
      assertTrue(allocated < 16 * 1024, p + ": " + allocated + " bytes allocated in 300 calls");
    }
  }

  // ------------------------------------------------------------------ parameters

  @Test
  void paramsAreValidatedWithClearMessages() {
    SamplingParams ok = SamplingParams.defaults(1);
    assertEquals(0.8f, ok.temperature());
    assertEquals(40, ok.topK());
    assertEquals(0.95f, ok.topP());
    assertEquals(0.05f, ok.minP());
    assertEquals(64, ok.repeatLastN());
    assertTrue(SamplingParams.greedy().isGreedy());
    assertTrue(!SamplingParams.greedy().hasPenalties());
    assertRejected(() -> ok.withTemperature(-0.1f), "temperature", "-0.1");
    assertRejected(() -> ok.withTemperature(Float.NaN), "temperature");
    assertRejected(() -> ok.withTemperature(Float.POSITIVE_INFINITY), "temperature");
    assertRejected(() -> ok.withTopK(-1), "topK", "-1");
    assertRejected(() -> ok.withTopP(0f), "topP", "(0, 1]");
    assertRejected(() -> ok.withTopP(1.01f), "topP");
    assertRejected(() -> ok.withMinP(-0.01f), "minP");
    assertRejected(() -> ok.withMinP(1.5f), "minP", "[0, 1]");
    assertRejected(() -> ok.withPenalties(0f, 64, 0, 0), "repeatPenalty", "> 0");
    assertRejected(() -> ok.withPenalties(1f, -1, 0, 0), "repeatLastN");
    assertRejected(() -> ok.withPenalties(1f, 64, Float.NaN, 0), "frequencyPenalty");
    assertRejected(() -> ok.withPenalties(1f, 64, 0, Float.NEGATIVE_INFINITY), "presencePenalty");
    Sampler s = new Sampler(ok);
    assertThrows(IllegalArgumentException.class, () -> s.sample(new float[4], 0, 0));
    assertThrows(IndexOutOfBoundsException.class, () -> s.sample(new float[4], 2, 4));
    assertThrows(IllegalArgumentException.class, () -> s.accept(-1));
  }

  private static void assertRejected(Runnable r, String... words) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
    for (String w : words) {
      assertTrue(e.getMessage().contains(w), "message lacks '" + w + "': " + e.getMessage());
    }
  }
}
