package dev.caravan.loadtest;

import dev.caravan.proto.v1.Completion;
import dev.caravan.proto.v1.GenerateResponse;
import dev.caravan.proto.v1.InferenceGrpc;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * One streamed {@code Generate} call, timed from the arrival of each chunk on the gRPC callback thread. It always
 * completes: with the server's completion, or with the status that ended the stream (its deadline included). Never
 * completes exceptionally.
 */
final class GenerateCall implements StreamObserver<GenerateResponse> {
  private final long index;
  private final Workload.RequestSpec spec;
  private final long runStartNanos;
  private final long startNanos;
  private final long sendNanos;
  private final LiveCounters live;
  private final TokenTimer timer;
  private final CompletableFuture<RequestResult> result = new CompletableFuture<>();
  private final boolean record;
  private int[] tokenIds;
  private int tokenCount;
  private double[] chunkSeconds;
  private int chunkCount;
  private Completion completion;

  private GenerateCall(long index, Workload.RequestSpec spec, long runStartNanos, long startNanos, long sendNanos, LiveCounters live, boolean record) {
    this.record = record;
    if (record) {
      tokenIds = new int[Math.max(1, spec.outputTokens())];
      chunkSeconds = new double[Math.max(1, spec.outputTokens())];
    }
    this.index = index;
    this.spec = spec;
    this.runStartNanos = runStartNanos;
    this.startNanos = startNanos;
    this.sendNanos = sendNanos;
    this.live = live;
    this.timer = new TokenTimer(startNanos);
  }

  /**
   * Sends the request now, for a client that took it up at {@code startNanos} (closed loop: there is no schedule to
   * fall behind, so no queue time; building the prompt counts in its latency).
   *
   * @param runStartNanos the run's time zero ({@link System#nanoTime()} scale)
   * @param timeout the call's deadline, from now
   * @param record whether to keep the stream's token ids and chunk arrival times
   */
  static CompletableFuture<RequestResult> startNow(InferenceGrpc.InferenceStub stub, long index, Workload.RequestSpec spec, long runStartNanos, long startNanos, Duration timeout, LiveCounters live,
      boolean record) {
    return send(stub, new GenerateCall(index, spec, runStartNanos, startNanos, startNanos, live, record), spec, timeout, live);
  }

  /**
   * Sends the request now, counting it as started at its scheduled time (open loop: a wait for a free slot counts in
   * its latency).
   *
   * @param runStartNanos the run's time zero ({@link System#nanoTime()} scale)
   * @param scheduledNanos when the request was due
   * @param timeout the call's deadline, from now
   * @param record whether to keep the stream's token ids and chunk arrival times
   */
  static CompletableFuture<RequestResult> start(InferenceGrpc.InferenceStub stub, long index, Workload.RequestSpec spec, long runStartNanos, long scheduledNanos, Duration timeout, LiveCounters live,
      boolean record) {
    return send(stub, new GenerateCall(index, spec, runStartNanos, scheduledNanos, System.nanoTime(), live, record), spec, timeout, live);
  }

  private static CompletableFuture<RequestResult> send(InferenceGrpc.InferenceStub stub, GenerateCall call, Workload.RequestSpec spec, Duration timeout, LiveCounters live) {
    live.sent();
    try {
      stub.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS).generate(spec.request(), call);
    } catch (RuntimeException e) {
      call.onError(e);
    }
    return call.result;
  }

  @Override
  public void onNext(GenerateResponse response) {
    long now = System.nanoTime();
    if (response.hasDelta()) {
      int n = response.getDelta().getTokenIdsCount();
      timer.chunk(now, n);
      live.tokens(n);
      if (record && n > 0) {
        keep(now, response.getDelta().getTokenIdsList());
      }
    } else if (response.hasDone()) {
      completion = response.getDone();
      finish(now, null);
    }
  }

  @Override
  public void onError(Throwable t) {
    finish(System.nanoTime(), Status.fromThrowable(t));
  }

  @Override
  public void onCompleted() {
    if (completion == null) {
      finish(System.nanoTime(), Status.INTERNAL.withDescription("the stream ended without a completion"));
    }
  }

  private void keep(long now, List<Integer> ids) {
    if (tokenCount + ids.size() > tokenIds.length) {
      tokenIds = Arrays.copyOf(tokenIds, Math.max(tokenIds.length * 2, tokenCount + ids.size()));
    }
    for (int id : ids) {
      tokenIds[tokenCount++] = id;
    }
    if (chunkCount == chunkSeconds.length) {
      chunkSeconds = Arrays.copyOf(chunkSeconds, chunkSeconds.length * 2);
    }
    chunkSeconds[chunkCount++] = (now - runStartNanos) / 1e9;
  }

  private void finish(long now, Status error) {
    if (result.isDone()) {
      return;
    }
    double start = (startNanos - runStartNanos) / 1e9;
    double queue = (sendNanos - startNanos) / 1e9;
    double latency = (now - startNanos) / 1e9;
    int[] ids = record ? Arrays.copyOf(tokenIds, tokenCount) : null;
    double[] chunks = record ? Arrays.copyOf(chunkSeconds, chunkCount) : null;
    RequestResult r;
    if (error != null) {
      r = RequestResult.failure(index, start, queue, latency, spec.inputTokens(), error, ids, chunks);
    } else {
      var usage = completion.getUsage();
      int input = usage.getPromptTokens() > 0 ? usage.getPromptTokens() : Math.max(0, spec.inputTokens());
      int output = usage.getCompletionTokens() > 0 ? usage.getCompletionTokens() : timer.tokens();
      r = new RequestResult(index, start, queue, timer.ttftSeconds(now), latency, timer.itlSeconds(), input, output, Status.Code.OK, "", usage.getMigrations(), usage.getRecomputedTokens(),
          ids, chunks);
    }
    live.finished(r.success());
    result.complete(r);
  }
}
