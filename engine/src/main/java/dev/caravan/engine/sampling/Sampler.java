package dev.caravan.engine.sampling;

import java.util.Random;

/** Placeholder until the sampling package lands: greedy and plain temperature sampling. */
public final class Sampler {
  private final SamplingParams params;
  private final Random random;

  public Sampler(SamplingParams params) {
    this.params = params;
    this.random = new Random(params.seed());
  }

  public int sample(float[] logits, int offset, int vocabSize) {
    int best = 0;
    for (int i = 1; i < vocabSize; i++) {
      if (logits[offset + i] > logits[offset + best]) {
        best = i;
      }
    }
    if (params.temperature() <= 0) {
      return best;
    }
    double sum = 0;
    double[] p = new double[vocabSize];
    for (int i = 0; i < vocabSize; i++) {
      p[i] = Math.exp((logits[offset + i] - logits[offset + best]) / params.temperature());
      sum += p[i];
    }
    double r = random.nextDouble() * sum;
    for (int i = 0; i < vocabSize; i++) {
      r -= p[i];
      if (r <= 0) {
        return i;
      }
    }
    return best;
  }

  public void accept(int token) {}
}
