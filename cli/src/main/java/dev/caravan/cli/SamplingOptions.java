package dev.caravan.cli;

import dev.caravan.engine.sampling.SamplingParams;
import java.util.concurrent.ThreadLocalRandom;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The sampling flags of a generation in this process, as a picocli {@code @Mixin}: the flags, defaults and help of
 * {@code caravan run} (llama.cpp's defaults), building the engine's {@link SamplingParams}. {@code run} uses it; so can
 * later in-process commands.
 *
 * <p>{@code caravan generate} does not use it: its sampling flags are unset by default so the server's defaults apply
 * (same numbers, but sent only when given), and it has no {@code --repeat-last-n}.
 */
public final class SamplingOptions {
  @Spec(Spec.Target.MIXEE) CommandSpec mixee;

  @Option(names = "--temperature", defaultValue = "0.8", description = "Sampling temperature; 0 is greedy (default: ${DEFAULT-VALUE}).")
  float temperature;

  @Option(names = "--top-k", defaultValue = "40", description = "Top-k; 0 disables (default: ${DEFAULT-VALUE}).")
  int topK;

  @Option(names = "--top-p", defaultValue = "0.95", description = "Top-p; 1 disables (default: ${DEFAULT-VALUE}).")
  float topP;

  @Option(names = "--min-p", defaultValue = "0.05", description = "Min-p; 0 disables (default: ${DEFAULT-VALUE}).")
  float minP;

  @Option(names = "--repeat-penalty", defaultValue = "1.0", description = "Repetition penalty; 1 disables (default: ${DEFAULT-VALUE}).")
  float repeatPenalty;

  @Option(names = "--repeat-last-n", defaultValue = "64", description = "Window of the repetition penalty (default: ${DEFAULT-VALUE}).")
  int repeatLastN;

  @Option(names = "--seed", description = "Seed for reproducible sampling (default: random).")
  Long seed;

  /**
   * The parameters (no frequency or presence penalty; a random seed unless {@code --seed} was given).
   *
   * @throws ParameterException naming the bad value when {@link SamplingParams} refuses one
   */
  public SamplingParams params() {
    try {
      return new SamplingParams(temperature, topK, topP, minP, repeatPenalty, repeatLastN, 0f, 0f, seed != null ? seed : ThreadLocalRandom.current().nextLong());
    } catch (IllegalArgumentException e) {
      throw new ParameterException(mixee.commandLine(), e.getMessage());
    }
  }
}
