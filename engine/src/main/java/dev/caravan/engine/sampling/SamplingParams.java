package dev.caravan.engine.sampling;

/**
 * How the next token is chosen from logits, with llama.cpp's meanings. A value that switches a stage off: temperature
 * 0 (greedy), topK 0, topP 1, minP 0, repeatPenalty 1, frequency and presence penalty 0, repeatLastN 0.
 *
 * @param temperature logits are divided by it before the draw; 0 picks the highest logit (lowest id on ties)
 * @param topK keep the K highest logits (0 = all)
 * @param topP keep the smallest prefix (by probability, descending) whose probabilities add up to at least topP
 * @param minP keep tokens whose probability is at least minP times the most likely one's
 * @param repeatPenalty a recent token's logit is divided by it when positive, multiplied when negative
 * @param repeatLastN how many of the most recently accepted tokens the penalties look at (0 = none)
 * @param frequencyPenalty subtracted from a recent token's logit once per occurrence in the window
 * @param presencePenalty subtracted from a recent token's logit once if it occurs in the window
 * @param seed the random generator's seed: same seed and same logits give the same tokens
 */
public record SamplingParams(
    float temperature,
    int topK,
    float topP,
    float minP,
    float repeatPenalty,
    int repeatLastN,
    float frequencyPenalty,
    float presencePenalty,
    long seed) {

  /** Validates every field; the message names the field, the value and the allowed range. */
  public SamplingParams {
    if (!(temperature >= 0) || Float.isInfinite(temperature)) {
      throw new IllegalArgumentException("temperature must be a finite number >= 0, not " + temperature);
    }
    if (topK < 0) {
      throw new IllegalArgumentException("topK must be >= 0 (0 = no limit), not " + topK);
    }
    if (!(topP > 0 && topP <= 1)) {
      throw new IllegalArgumentException("topP must be in (0, 1] (1 = off), not " + topP);
    }
    if (!(minP >= 0 && minP <= 1)) {
      throw new IllegalArgumentException("minP must be in [0, 1] (0 = off), not " + minP);
    }
    if (!(repeatPenalty > 0) || Float.isInfinite(repeatPenalty)) {
      throw new IllegalArgumentException("repeatPenalty must be a finite number > 0 (1 = off), not " + repeatPenalty);
    }
    if (repeatLastN < 0) {
      throw new IllegalArgumentException("repeatLastN must be >= 0 (0 = no penalties), not " + repeatLastN);
    }
    if (!Float.isFinite(frequencyPenalty)) {
      throw new IllegalArgumentException("frequencyPenalty must be finite, not " + frequencyPenalty);
    }
    if (!Float.isFinite(presencePenalty)) {
      throw new IllegalArgumentException("presencePenalty must be finite, not " + presencePenalty);
    }
  }

  /** Always the most likely token (lowest id on ties), no penalties. */
  public static SamplingParams greedy() {
    return new SamplingParams(0f, 0, 1f, 0f, 1f, 0, 0f, 0f, 0L);
  }

  /**
   * llama.cpp's defaults ({@code common_params_sampling}): temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, repeat
   * penalty 1 (off) over the last 64 tokens, no frequency or presence penalty.
   */
  public static SamplingParams defaults(long seed) {
    return new SamplingParams(0.8f, 40, 0.95f, 0.05f, 1f, 64, 0f, 0f, seed);
  }

  /** Whether sampling is greedy (temperature 0). */
  public boolean isGreedy() {
    return temperature == 0f;
  }

  /** Whether any penalty changes logits. */
  public boolean hasPenalties() {
    return repeatLastN > 0 && (repeatPenalty != 1f || frequencyPenalty != 0f || presencePenalty != 0f);
  }

  /** A copy with another temperature. */
  public SamplingParams withTemperature(float t) {
    return new SamplingParams(t, topK, topP, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, seed);
  }

  /** A copy with another top-k. */
  public SamplingParams withTopK(int k) {
    return new SamplingParams(temperature, k, topP, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, seed);
  }

  /** A copy with another top-p. */
  public SamplingParams withTopP(float p) {
    return new SamplingParams(temperature, topK, p, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, seed);
  }

  /** A copy with another min-p. */
  public SamplingParams withMinP(float p) {
    return new SamplingParams(temperature, topK, topP, p, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, seed);
  }

  /** A copy with other penalties: repeat, window length, frequency, presence. */
  public SamplingParams withPenalties(float repeat, int lastN, float frequency, float presence) {
    return new SamplingParams(temperature, topK, topP, minP, repeat, lastN, frequency, presence, seed);
  }

  /** A copy with another seed. */
  public SamplingParams withSeed(long s) {
    return new SamplingParams(temperature, topK, topP, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, s);
  }
}
