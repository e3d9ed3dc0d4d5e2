package dev.caravan.coordinator;

import dev.caravan.engine.sampling.SamplingParams;

/** Builds the engine's sampling parameters from validated values. */
final class SamplingMapping {
  private SamplingMapping() {}

  static SamplingParams of(float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN, long seed) {
    return new SamplingParams(temperature, topK, topP, minP, repeatPenalty, repeatLastN, 0f, 0f, seed);
  }
}
