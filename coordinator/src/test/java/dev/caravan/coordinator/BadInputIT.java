package dev.caravan.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.testing.LocalCluster;
import dev.caravan.engine.TestData;
import dev.caravan.proto.v1.GenerateRequest;
import dev.caravan.proto.v1.InferenceGrpc;
import dev.caravan.proto.v1.SamplingParams;
import dev.caravan.proto.v1.TokenIds;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.Collections;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Bad requests get the right status and a message naming the problem; the cluster keeps serving. */
class BadInputIT {
  private static LocalCluster cluster;

  @BeforeAll
  static void startCluster() throws Exception {
    cluster = LocalCluster.start(TestData.stories260K(), "bad-input");
    cluster.addWorker();
    cluster.addWorker();
    cluster.awaitServing(2, Duration.ofSeconds(90));
  }

  @AfterAll
  static void stopCluster() {
    if (cluster != null) {
      cluster.close();
    }
  }

  private static void expect(Status.Code code, String messagePart, GenerateRequest request) {
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> GenerationClient.generate(cluster.channel(), request, 30));
    assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
    assertTrue(e.getStatus().getDescription() != null && e.getStatus().getDescription().contains(messagePart), "message '" + e.getStatus().getDescription() + "' should mention '" + messagePart + "'");
    // the cluster stays healthy
    assertEquals(4, GenerationClient.generate(cluster.channel(), GenerationClient.greedy("Once upon a time", 4).build(), 30).done().getUsage().getCompletionTokens());
  }

  @Test
  void emptyPrompt() {
    expect(Status.Code.INVALID_ARGUMENT, "prompt is empty", GenerationClient.greedy("", 8).build());
    expect(Status.Code.INVALID_ARGUMENT, "no prompt", GenerateRequest.newBuilder().setMaxTokens(8).build());
    expect(Status.Code.INVALID_ARGUMENT, "prompt_ids is empty", GenerationClient.greedy("", 8).setPromptIds(TokenIds.getDefaultInstance()).build());
  }

  @Test
  void promptLongerThanTheContext() {
    String longText = String.join(" ", Collections.nCopies(600, "dog"));
    expect(Status.Code.INVALID_ARGUMENT, "context length 512", GenerationClient.greedy(longText, 8).build());
    TokenIds.Builder ids = TokenIds.newBuilder();
    for (int i = 0; i < 700; i++) {
      ids.addIds(300);
    }
    expect(Status.Code.INVALID_ARGUMENT, "context length 512", GenerationClient.greedy("", 8).setPromptIds(ids).build());
  }

  @Test
  void tokenIdsOutsideTheVocabulary() {
    expect(Status.Code.INVALID_ARGUMENT, "outside the vocabulary", GenerationClient.greedy("", 8).setPromptIds(TokenIds.newBuilder().addIds(1).addIds(5000)).build());
  }

  @Test
  void maxTokensNotPositive() {
    expect(Status.Code.INVALID_ARGUMENT, "max_tokens must be positive", GenerationClient.greedy("Once", 0).build());
    expect(Status.Code.INVALID_ARGUMENT, "max_tokens must be positive", GenerationClient.greedy("Once", -3).build());
  }

  @Test
  void unknownModel() {
    expect(Status.Code.NOT_FOUND, "unknown model 'llama-70b'", GenerationClient.greedy("Once", 8).setModel("llama-70b").build());
  }

  @Test
  void invalidSamplingParameters() {
    expect(Status.Code.INVALID_ARGUMENT, "temperature", GenerationClient.greedy("Once", 8).setSampling(SamplingParams.newBuilder().setTemperature(-1)).build());
    expect(Status.Code.INVALID_ARGUMENT, "top_p", GenerationClient.greedy("Once", 8).setSampling(SamplingParams.newBuilder().setTopP(0)).build());
    expect(Status.Code.INVALID_ARGUMENT, "top_p", GenerationClient.greedy("Once", 8).setSampling(SamplingParams.newBuilder().setTopP(1.5f)).build());
    expect(Status.Code.INVALID_ARGUMENT, "min_p", GenerationClient.greedy("Once", 8).setSampling(SamplingParams.newBuilder().setMinP(2)).build());
    expect(Status.Code.INVALID_ARGUMENT, "top_k", GenerationClient.greedy("Once", 8).setSampling(SamplingParams.newBuilder().setTopK(-1)).build());
    expect(Status.Code.INVALID_ARGUMENT, "repeat_penalty", GenerationClient.greedy("Once", 8).setSampling(SamplingParams.newBuilder().setRepeatPenalty(0)).build());
  }

  @Test
  void badSessionIdAndStopStrings() {
    expect(Status.Code.INVALID_ARGUMENT, "session_id", GenerationClient.greedy("Once", 8).setSessionId("no spaces allowed").build());
    expect(Status.Code.INVALID_ARGUMENT, "stop strings", GenerationClient.greedy("Once", 8).addStop("").build());
  }

  @Test
  void expiredDeadline() throws Exception {
    // a deadline that passes mid-generation: DEADLINE_EXCEEDED, and the request's resources are freed
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> {
      var it = InferenceGrpc.newBlockingStub(cluster.channel()).withDeadlineAfter(300, TimeUnit.MILLISECONDS).generate(GenerationClient.greedy("Once upon a time", 480).build());
      while (it.hasNext()) {
        it.next();
      }
    });
    assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
    cluster.await("the expired request's resources freed", s -> s.getRunningRequests() == 0 && s.getWaitingRequests() == 0 && s.getKvPlacementCount() == 0, Duration.ofSeconds(10));
    // an already-expired deadline
    StatusRuntimeException e2 = assertThrows(StatusRuntimeException.class, () -> InferenceGrpc.newBlockingStub(cluster.channel()).withDeadlineAfter(1, TimeUnit.NANOSECONDS).generate(GenerationClient.greedy("Once", 8).build()).hasNext());
    assertEquals(Status.Code.DEADLINE_EXCEEDED, e2.getStatus().getCode());
    assertEquals(4, GenerationClient.generate(cluster.channel(), GenerationClient.greedy("Once upon a time", 4).build(), 30).done().getUsage().getCompletionTokens());
  }

  @Test
  void thePublicPortDoesNotServeTheInternalSink() throws Exception {
    var done = new java.util.concurrent.CompletableFuture<Status>();
    var frames = dev.caravan.proto.v1.PipelineSinkGrpc.newStub(cluster.channel()).deliver(new io.grpc.stub.StreamObserver<>() {
      @Override
      public void onNext(dev.caravan.proto.v1.FrameAck ack) {}

      @Override
      public void onError(Throwable t) {
        done.complete(Status.fromThrowable(t));
      }

      @Override
      public void onCompleted() {
        done.complete(Status.OK);
      }
    });
    frames.onNext(dev.caravan.proto.v1.ActivationFrame.newBuilder().setBatchId(1).build());
    frames.onCompleted();
    assertEquals(Status.Code.UNIMPLEMENTED, done.get(10, TimeUnit.SECONDS).getCode(), "clients cannot inject results");
  }

  @Test
  void cancelledRequestFreesItsCache() throws Exception {
    var ctx = io.grpc.Context.current().withCancellation();
    var it = ctx.call(() -> InferenceGrpc.newBlockingStub(cluster.channel()).withDeadlineAfter(60, TimeUnit.SECONDS).generate(GenerationClient.greedy("Once upon a time", 480).build()));
    it.next();
    it.next();
    ctx.cancel(null);
    cluster.await("the cancelled request's resources freed", s -> s.getRunningRequests() == 0 && s.getKvPlacementCount() == 0, Duration.ofSeconds(10));
  }
}
