package dev.caravan.loadtest;

import dev.caravan.proto.v1.Completion;
import dev.caravan.proto.v1.FinishReason;
import dev.caravan.proto.v1.GenerateRequest;
import dev.caravan.proto.v1.GenerateResponse;
import dev.caravan.proto.v1.InferenceGrpc;
import dev.caravan.proto.v1.TextDelta;
import dev.caravan.proto.v1.Usage;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An in-process stand-in for the coordinator's Generate: streams max_tokens tokens (two per chunk when asked), waits
 * {@code tokenMillis} before each chunk, and tracks how many calls it serves at once. By max_tokens: 13 fails with
 * RESOURCE_EXHAUSTED, 99 never answers, 7 reports that it migrated once (recomputing its prompt and 3 tokens).
 */
final class FakeInference extends InferenceGrpc.InferenceImplBase implements AutoCloseable {
  static final int FAIL = 13;
  static final int HANG = 99;
  static final int MIGRATED = 7;
  final AtomicInteger active = new AtomicInteger();
  final AtomicInteger maxActive = new AtomicInteger();
  final AtomicInteger calls = new AtomicInteger();
  private final int tokenMillis;
  private final boolean pairs;
  private final Server server;
  final ManagedChannel channel;

  FakeInference(int tokenMillis, boolean pairs) throws IOException {
    this.tokenMillis = tokenMillis;
    this.pairs = pairs;
    String name = "fake-" + UUID.randomUUID();
    this.server = InProcessServerBuilder.forName(name).directExecutor().addService(this).build().start();
    this.channel = InProcessChannelBuilder.forName(name).directExecutor().build();
  }

  @Override
  public void generate(GenerateRequest request, StreamObserver<GenerateResponse> out) {
    calls.incrementAndGet();
    if (request.getMaxTokens() == HANG) {
      return;
    }
    maxActive.accumulateAndGet(active.incrementAndGet(), Math::max);
    Thread.ofVirtual().start(() -> {
      try {
        if (request.getMaxTokens() == FAIL) {
          Thread.sleep(tokenMillis);
          active.decrementAndGet();
          out.onError(Status.RESOURCE_EXHAUSTED.withDescription("queue full").asRuntimeException());
          return;
        }
        int sent = 0;
        while (sent < request.getMaxTokens()) {
          Thread.sleep(tokenMillis);
          int n = pairs && sent > 0 && request.getMaxTokens() - sent >= 2 ? 2 : 1;
          TextDelta.Builder d = TextDelta.newBuilder().setText("x".repeat(n));
          for (int i = 0; i < n; i++) {
            d.addTokenIds(100 + sent + i);
          }
          out.onNext(GenerateResponse.newBuilder().setDelta(d).build());
          sent += n;
        }
        int prompt = request.hasPromptIds() ? request.getPromptIds().getIdsCount() : request.getPrompt().length();
        active.decrementAndGet();
        out.onNext(GenerateResponse.newBuilder().setDone(Completion.newBuilder().setFinishReason(FinishReason.FINISH_REASON_LENGTH)
            .setUsage(Usage.newBuilder().setPromptTokens(prompt).setCompletionTokens(sent)
                .setMigrations(request.getMaxTokens() == MIGRATED ? 1 : 0).setRecomputedTokens(request.getMaxTokens() == MIGRATED ? prompt + 3 : 0))).build());
        out.onCompleted();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
  }

  InferenceGrpc.InferenceStub stub() {
    return InferenceGrpc.newStub(channel);
  }

  @Override
  public void close() {
    channel.shutdownNow();
    server.shutdownNow();
  }
}
