package dev.caravan.loadtest;

import dev.caravan.proto.v1.GenerateRequest;
import dev.caravan.proto.v1.SamplingParams;

/** What to ask: the request for each index of a run. Implementations are deterministic per index and thread-safe. */
interface Workload {
  /** The request with this index (0-based); the same index always gives the same request. */
  RequestSpec request(long index);

  /** One line for the console, e.g. "random prompts: input 128, output 128 tokens". */
  String describe();

  /**
   * A request and what the workload expects of it.
   *
   * @param request what is sent
   * @param inputTokens prompt tokens when known before sending (token-id prompts), else -1
   * @param outputTokens tokens asked for (max_tokens)
   */
  record RequestSpec(GenerateRequest request, int inputTokens, int outputTokens) {}

  /**
   * What every request carries besides its prompt.
   *
   * @param model model id, "" for the cluster's only model
   * @param temperature sampling temperature, or null for the server's default
   * @param seed base of the per-request sampling seeds, so a run can be repeated
   * @param ignoreEos keep generating past end-of-generation tokens
   */
  record Options(String model, Float temperature, long seed, boolean ignoreEos) {
    /** A builder with the model, sampling (seeded per index), max_tokens and ignore_eos set. */
    GenerateRequest.Builder base(long index, int maxTokens) {
      SamplingParams.Builder sampling = SamplingParams.newBuilder().setSeed(Seeds.mix(seed, index));
      if (temperature != null) {
        sampling.setTemperature(temperature);
      }
      return GenerateRequest.newBuilder().setModel(model).setSampling(sampling).setMaxTokens(maxTokens).setIgnoreEos(ignoreEos);
    }
  }
}
