package dev.caravan.coordinator.http;

/**
 * Log-probabilities of a sampled token and of the most likely alternatives, from the logits the token was sampled
 * from: the log-softmax of the model's <b>raw</b> logits — before the repetition, frequency and presence penalties,
 * temperature and top-k/top-p/min-p truncation — the way OpenAI and vLLM report them. (llama-server by default reports
 * probabilities after its sampler chain instead.) Computed on the core's thread, before the logits row is reused.
 */
final class Logprobs {
  /** JSON has no infinity: an impossible token's log-probability is reported as this, as OpenAI and vLLM do. */
  static final double IMPOSSIBLE = -9999.0;

  /**
   * One generated token's log-probabilities.
   *
   * @param token    the sampled token
   * @param logprob  its log-probability
   * @param topIds   (k) the k most likely tokens, most likely first (lower id first on ties)
   * @param topLogprobs (k) their log-probabilities
   */
  record Entry(int token, double logprob, int[] topIds, double[] topLogprobs) {}

  private Logprobs() {}

  /** The entry for {@code token} with the {@code k} most likely tokens of {@code logits[offset, offset + vocab)}. */
  static Entry of(float[] logits, int offset, int vocab, int token, int k) {
    k = Math.min(k, vocab);
    // log Z = max + log(sum exp(l - max)), in double; a NaN logit counts as minus infinity (as the sampler has it)
    float max = Float.NEGATIVE_INFINITY;
    for (int i = 0; i < vocab; i++) {
      float l = logits[offset + i];
      if (l > max) {
        max = l;
      }
    }
    double sum = 0;
    if (max != Float.NEGATIVE_INFINITY) {
      for (int i = 0; i < vocab; i++) {
        float l = logits[offset + i];
        if (l > Float.NEGATIVE_INFINITY) { // false for NaN
          sum += Math.exp((double) l - max);
        }
      }
    }
    double logZ = max + Math.log(sum);
    // the k best by logit, kept sorted: (logit desc, id asc); k <= 20, so insertion is cheap
    int[] ids = new int[k];
    float[] best = new float[k];
    int n = 0;
    for (int i = 0; i < vocab && k > 0; i++) {
      float l = logits[offset + i];
      if (Float.isNaN(l)) {
        l = Float.NEGATIVE_INFINITY;
      }
      if (n == k && !(l > best[k - 1])) {
        continue; // not better than the k-th (ties keep the lower id, seen first)
      }
      int at = n < k ? n++ : k - 1;
      while (at > 0 && l > best[at - 1]) {
        best[at] = best[at - 1];
        ids[at] = ids[at - 1];
        at--;
      }
      best[at] = l;
      ids[at] = i;
    }
    double[] top = new double[n];
    for (int j = 0; j < n; j++) {
      top[j] = logprob(best[j], logZ);
    }
    return new Entry(token, logprob(logits[offset + token], logZ), n == k ? ids : java.util.Arrays.copyOf(ids, n), top);
  }

  private static double logprob(float logit, double logZ) {
    if (Float.isNaN(logit) || logit == Float.NEGATIVE_INFINITY || Double.isNaN(logZ) || Double.isInfinite(logZ)) {
      return IMPOSSIBLE;
    }
    return Math.max(IMPOSSIBLE, logit - logZ);
  }
}
