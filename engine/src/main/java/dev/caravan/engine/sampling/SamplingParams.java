package dev.caravan.engine.sampling;

/** Placeholder until the sampling package lands: greedy and temperature only. */
public record SamplingParams(float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN, long seed) {
  public static SamplingParams greedy() {
    return new SamplingParams(0f, 0, 1f, 0f, 1f, 64, 0);
  }
}
