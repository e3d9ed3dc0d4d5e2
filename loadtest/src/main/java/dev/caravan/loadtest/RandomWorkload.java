package dev.caravan.loadtest;

import dev.caravan.proto.v1.TokenIds;
import java.util.SplittableRandom;

/**
 * Random prompts of exact lengths, as vLLM's random dataset: each request's input and output lengths are drawn
 * uniformly from {@code [floor(len * (1 - ratio)), ceil(len * (1 + ratio))]} (at least 1), the prompt is sent as token
 * ids ({@code prompt_ids}) so the server sees exactly that many tokens, BOS first when the model uses one, the rest
 * drawn from the {@link TokenPool}. Requests set {@code ignore_eos} and {@code max_tokens} so that every output has its
 * drawn length.
 */
final class RandomWorkload implements Workload {
  private final TokenPool pool;
  private final Integer bos;
  private final int inputLen;
  private final int outputLen;
  private final double rangeRatio;
  private final Options options;

  RandomWorkload(TokenPool pool, Integer bos, int inputLen, int outputLen, double rangeRatio, Options options) {
    if (inputLen < 1 || outputLen < 1) {
      throw new IllegalArgumentException("input and output lengths must be at least 1");
    }
    if (!(rangeRatio >= 0 && rangeRatio < 1)) {
      throw new IllegalArgumentException("range ratio must be in [0, 1), not " + rangeRatio);
    }
    this.pool = pool;
    this.bos = bos;
    this.inputLen = inputLen;
    this.outputLen = outputLen;
    this.rangeRatio = rangeRatio;
    this.options = options;
  }

  /** Smallest length drawn for a nominal length. */
  static int low(int len, double ratio) {
    return Math.max(1, (int) Math.floor(len * (1 - ratio)));
  }

  /** Largest length drawn for a nominal length. */
  static int high(int len, double ratio) {
    return Math.max(1, (int) Math.ceil(len * (1 + ratio)));
  }

  /** Longest prompt plus output this workload can ask for, to check against the context length. */
  int maxTotalTokens() {
    return high(inputLen, rangeRatio) + high(outputLen, rangeRatio);
  }

  @Override
  public RequestSpec request(long index) {
    SplittableRandom random = new SplittableRandom(Seeds.mix(options.seed() ^ 0x5DEECE66DL, index));
    int in = draw(random, low(inputLen, rangeRatio), high(inputLen, rangeRatio));
    int out = draw(random, low(outputLen, rangeRatio), high(outputLen, rangeRatio));
    TokenIds.Builder ids = TokenIds.newBuilder();
    int k = 0;
    if (bos != null) {
      ids.addIds(bos);
      k++;
    }
    for (; k < in; k++) {
      ids.addIds(pool.draw(random));
    }
    return new RequestSpec(options.base(index, out).setPromptIds(ids).build(), in, out);
  }

  private static int draw(SplittableRandom random, int low, int high) {
    return low == high ? low : low + random.nextInt(high - low + 1);
  }

  @Override
  public String describe() {
    String in = rangeRatio == 0 ? Integer.toString(inputLen) : low(inputLen, rangeRatio) + "-" + high(inputLen, rangeRatio);
    String out = rangeRatio == 0 ? Integer.toString(outputLen) : low(outputLen, rangeRatio) + "-" + high(outputLen, rangeRatio);
    return "random token-id prompts: input " + in + " tokens" + (bos != null ? " (BOS first)" : "") + ", output " + out + " tokens (ignore_eos), drawn from " + pool.size() + " of " + pool.vocabSize() + " vocabulary ids";
  }
}
