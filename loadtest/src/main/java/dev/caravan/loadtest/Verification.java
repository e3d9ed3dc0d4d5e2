package dev.caravan.loadtest;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code --verify}: every stream of the faulty run against the same request's greedy tokens from a fault-free reference
 * run. A stream is verified when it succeeded and its token ids equal the reference's, all of them; anything else is a
 * mismatch: a failed request, a different token, or a shorter or longer output.
 *
 * @param verified streams identical to their reference
 * @param streams streams of the faulty run
 * @param mismatches the others, in request order
 */
record Verification(int verified, int streams, List<Mismatch> mismatches) {

  /**
   * One stream that is not what the reference says.
   *
   * @param index the request's index in its run
   * @param position the first token position that differs (the shorter length when one is a prefix of the other), or
   *     -1 for a failed request
   * @param expected the reference's token there, or -1 past its end (or for a failure)
   * @param actual the faulty run's token there, or -1 past its end (or for a failure)
   * @param error the failure ("" unless the request failed)
   */
  record Mismatch(long index, int position, int expected, int actual, String error) {
    /** One line: "request 17: token 5 differs (expected 123, got 456)". */
    String describe() {
      if (!error.isEmpty()) {
        return "request " + index + ": failed (" + error + ")";
      }
      if (expected < 0) {
        return "request " + index + ": " + position + " tokens expected, more arrived (token " + position + " is " + actual + ")";
      }
      if (actual < 0) {
        return "request " + index + ": only " + position + " tokens arrived (token " + position + " should be " + expected + ")";
      }
      return "request " + index + ": token " + position + " differs (expected " + expected + ", got " + actual + ")";
    }
  }

  boolean passed() {
    return mismatches.isEmpty();
  }

  /**
   * Compares a run with its reference.
   *
   * @param reference the reference's token ids by request index
   * @param run the faulty run's results, with their token ids recorded
   * @throws IllegalArgumentException when a request of the run has no reference
   */
  static Verification compare(Map<Long, int[]> reference, List<RequestResult> run) {
    List<Mismatch> mismatches = new ArrayList<>();
    for (RequestResult r : run) {
      int[] want = reference.get(r.index());
      if (want == null) {
        throw new IllegalArgumentException("request " + r.index() + " has no reference");
      }
      if (!r.success()) {
        mismatches.add(new Mismatch(r.index(), -1, -1, -1, r.error()));
        continue;
      }
      int[] got = r.tokenIds() == null ? new int[0] : r.tokenIds();
      int n = Math.min(want.length, got.length);
      int p = 0;
      while (p < n && want[p] == got[p]) {
        p++;
      }
      if (p < n || want.length != got.length) {
        mismatches.add(new Mismatch(r.index(), p, p < want.length ? want[p] : -1, p < got.length ? got[p] : -1, ""));
      }
    }
    return new Verification(run.size() - mismatches.size(), run.size(), List.copyOf(mismatches));
  }
}
