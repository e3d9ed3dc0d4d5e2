package dev.caravan.loadtest;

import java.util.ArrayList;
import java.util.List;
import org.HdrHistogram.Histogram;

/**
 * A run in one-second buckets from its start: output tokens by the second they arrived, requests by the second they
 * ended, requests in flight, and latency distributions (HdrHistogram, microseconds, 3 significant digits) of the
 * requests that ended and of the tokens that arrived in each second. A token's arrival is its request's start plus TTFT
 * plus the inter-token latencies before it (so tokens of one multi-token chunk are spread over the gap before it, as
 * their latencies are).
 */
final class Timeline {
  /**
   * One second of the run.
   *
   * @param second seconds since the start of the run (the bucket [second, second + 1))
   * @param completed successful requests that ended in it
   * @param failed failed requests that ended in it
   * @param outputTokens output tokens of successful requests that arrived in it
   * @param active requests in flight at some time during it
   * @param ttftMicros TTFT of the successful requests that ended in it
   * @param e2elMicros end-to-end latency of the successful requests that ended in it
   * @param itlMicros inter-token latencies of the tokens that arrived in it
   */
  record Second(int second, int completed, int failed, long outputTokens, int active, Histogram ttftMicros, Histogram e2elMicros, Histogram itlMicros) {}

  private final List<Second> seconds;

  private Timeline(List<Second> seconds) {
    this.seconds = seconds;
  }

  List<Second> seconds() {
    return seconds;
  }

  static Histogram histogram() {
    return new Histogram(3);
  }

  static long micros(double seconds) {
    return Math.max(0, Math.round(seconds * 1e6));
  }

  static Timeline of(RunOutcome run) {
    int n = (int) Math.floor(run.durationSeconds()) + 1;
    for (RequestResult r : run.results()) {
      n = Math.max(n, (int) Math.floor(r.endSeconds()) + 1);
    }
    int[] completed = new int[n];
    int[] failed = new int[n];
    long[] tokens = new long[n];
    int[] active = new int[n];
    Histogram[] ttft = new Histogram[n];
    Histogram[] e2el = new Histogram[n];
    Histogram[] itl = new Histogram[n];
    for (int i = 0; i < n; i++) {
      ttft[i] = histogram();
      e2el[i] = histogram();
      itl[i] = histogram();
    }
    for (RequestResult r : run.results()) {
      int end = bucket(r.endSeconds(), n);
      for (int s = bucket(r.startSeconds(), n); s <= end; s++) {
        active[s]++;
      }
      if (!r.success()) {
        failed[end]++;
        continue;
      }
      completed[end]++;
      ttft[end].recordValue(micros(r.ttftSeconds()));
      e2el[end].recordValue(micros(r.latencySeconds()));
      double t = r.startSeconds() + r.ttftSeconds();
      double[] itls = r.itlSeconds();
      if (r.outputTokens() == 0) {
        continue;
      }
      // the first token, then one per inter-token latency; a request may report more tokens than it streamed
      tokens[bucket(t, n)]++;
      for (double gap : itls) {
        t += gap;
        int b = bucket(t, n);
        tokens[b]++;
        itl[b].recordValue(micros(gap));
      }
      long unstreamed = r.outputTokens() - 1L - itls.length;
      if (unstreamed > 0) {
        tokens[end] += unstreamed;
      }
    }
    List<Second> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      out.add(new Second(i, completed[i], failed[i], tokens[i], active[i], ttft[i], e2el[i], itl[i]));
    }
    return new Timeline(List.copyOf(out));
  }

  private static int bucket(double seconds, int n) {
    return Math.min(n - 1, Math.max(0, (int) Math.floor(seconds)));
  }
}
