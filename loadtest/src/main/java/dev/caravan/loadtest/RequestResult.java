package dev.caravan.loadtest;

import io.grpc.Status;

/**
 * What one request did, with times in seconds as vLLM's benchmark records them.
 *
 * @param index the request's index in its run
 * @param startSeconds when it counted as started, from the start of the run: its scheduled time in open loop (so
 *     latencies include any client-side wait: no coordinated omission), its send time in closed loop
 * @param queueSeconds time between that start and the actual send (waiting for a --max-concurrency slot)
 * @param ttftSeconds time to first token (successful requests)
 * @param latencySeconds end-to-end latency: start to the completion, or to the error
 * @param itlSeconds inter-token latencies, one per output token after the first (see {@link TokenTimer})
 * @param inputTokens prompt tokens (the server's count when it succeeded, else what was sent when known, else 0)
 * @param outputTokens tokens generated (the server's count; 0 for failures)
 * @param status {@link Status.Code#OK} for a success, else the gRPC status that ended it
 * @param error "" for a success, else the status and its description
 * @param migrations times the server moved it to another plan and recomputed it there ({@code Usage.migrations}; 0 for
 *     failures, which carry no usage)
 * @param recomputedTokens tokens those moves recomputed ({@code Usage.recomputed_tokens})
 * @param tokenIds the streamed token ids, in order (failures: those that arrived), or null when not recorded
 * @param chunkSeconds when each chunk carrying tokens arrived, from the start of the run, or null when not recorded
 */
record RequestResult(long index, double startSeconds, double queueSeconds, double ttftSeconds, double latencySeconds, double[] itlSeconds, int inputTokens, int outputTokens,
    Status.Code status, String error, int migrations, int recomputedTokens, int[] tokenIds, double[] chunkSeconds) {

  /** A result without stream recording or migrations. */
  RequestResult(long index, double startSeconds, double queueSeconds, double ttftSeconds, double latencySeconds, double[] itlSeconds, int inputTokens, int outputTokens,
      Status.Code status, String error) {
    this(index, startSeconds, queueSeconds, ttftSeconds, latencySeconds, itlSeconds, inputTokens, outputTokens, status, error, 0, 0, null, null);
  }

  boolean success() {
    return status == Status.Code.OK;
  }

  /** Time per output token after the first, (latency - ttft) / (output - 1); 0 with at most one output token. */
  double tpotSeconds() {
    return outputTokens > 1 ? (latencySeconds - ttftSeconds) / (outputTokens - 1) : 0;
  }

  /** When it ended, from the start of the run. */
  double endSeconds() {
    return startSeconds + latencySeconds;
  }

  /** When it was actually sent, from the start of the run (its start plus any wait for a slot). */
  double sendSeconds() {
    return startSeconds + queueSeconds;
  }

  static RequestResult failure(long index, double startSeconds, double queueSeconds, double latencySeconds, int inputTokens, Status status) {
    return failure(index, startSeconds, queueSeconds, latencySeconds, inputTokens, status, null, null);
  }

  /** A failure with what its stream delivered before it failed (null when not recorded). */
  static RequestResult failure(long index, double startSeconds, double queueSeconds, double latencySeconds, int inputTokens, Status status, int[] tokenIds, double[] chunkSeconds) {
    String error = status.getCode() + (status.getDescription() == null ? "" : ": " + status.getDescription());
    return new RequestResult(index, startSeconds, queueSeconds, 0, latencySeconds, new double[0], Math.max(0, inputTokens), 0, status.getCode(), error, 0, 0, tokenIds, chunkSeconds);
  }
}
