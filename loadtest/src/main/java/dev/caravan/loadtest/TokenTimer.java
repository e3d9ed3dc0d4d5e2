package dev.caravan.loadtest;

import java.util.Arrays;

/**
 * Turns the arrival times of one request's streamed chunks into its time to first token and inter-token latencies.
 *
 * <p>The server emits text only once it is valid UTF-8, so one chunk may carry several tokens. Latencies are
 * apportioned per token: a chunk of k tokens that arrives g after the previous chunk contributes k inter-token
 * latencies of g/k each, and the extra tokens of the first chunk contribute latencies of 0 (they arrived with the first
 * token). So a request of n output tokens always has n - 1 inter-token latencies, their sum is the time from the first
 * to the last token, and the ITL mean weights every token equally, like TPOT. (vLLM's OpenAI client records one latency
 * per chunk instead; with one token per chunk, the usual case, the two agree.)
 *
 * <p>Not thread-safe; gRPC delivers one call's messages one at a time.
 */
final class TokenTimer {
  private final long startNanos;
  private long firstNanos = -1;
  private long lastNanos;
  private int tokens;
  private double[] itls = new double[16];
  private int itlCount;

  /** @param startNanos when the request counts as started (its scheduled time in open loop), {@link System#nanoTime()} scale */
  TokenTimer(long startNanos) {
    this.startNanos = startNanos;
  }

  /** A chunk with {@code count} tokens arrived at {@code nowNanos}. Chunks without tokens do not move the clocks. */
  void chunk(long nowNanos, int count) {
    if (count <= 0) {
      return;
    }
    if (firstNanos < 0) {
      firstNanos = nowNanos;
      for (int i = 1; i < count; i++) {
        add(0);
      }
    } else {
      double share = (nowNanos - lastNanos) / 1e9 / count;
      for (int i = 0; i < count; i++) {
        add(share);
      }
    }
    lastNanos = nowNanos;
    tokens += count;
  }

  private void add(double seconds) {
    if (itlCount == itls.length) {
      itls = Arrays.copyOf(itls, itls.length * 2);
    }
    itls[itlCount++] = seconds;
  }

  /** Tokens seen in chunks so far. */
  int tokens() {
    return tokens;
  }

  /** Seconds from start to the first token; {@code endNanos - start} when no token arrived. */
  double ttftSeconds(long endNanos) {
    return ((firstNanos < 0 ? endNanos : firstNanos) - startNanos) / 1e9;
  }

  /** Inter-token latencies in seconds, one per token after the first. */
  double[] itlSeconds() {
    return Arrays.copyOf(itls, itlCount);
  }
}
