package dev.caravan.coordinator;

import dev.caravan.coordinator.scheduler.Sequence;
import dev.caravan.coordinator.serving.GenerationListener;
import dev.caravan.coordinator.serving.ServingLoop;
import dev.caravan.engine.tokenizer.Tokenizer;
import dev.caravan.proto.v1.ClusterStatusRequest;
import dev.caravan.proto.v1.ClusterStatusResponse;
import dev.caravan.proto.v1.Completion;
import dev.caravan.proto.v1.FinishReason;
import dev.caravan.proto.v1.GenerateRequest;
import dev.caravan.proto.v1.GenerateResponse;
import dev.caravan.proto.v1.InferenceGrpc;
import dev.caravan.proto.v1.ListModelsRequest;
import dev.caravan.proto.v1.ListModelsResponse;
import dev.caravan.proto.v1.TextDelta;
import dev.caravan.proto.v1.TokenizeRequest;
import dev.caravan.proto.v1.TokenizeResponse;
import dev.caravan.proto.v1.Usage;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/** The public Inference service: a thin adapter from proto to the {@link ServingLoop} and the cluster view. */
final class InferenceService extends InferenceGrpc.InferenceImplBase {
  private final RequestValidator validator;
  private final Tokenizer tokenizer;
  private final ServingLoop loop;
  private final ClusterView view;
  private final CoordinatorMetrics metrics;

  /** What ListModels and ClusterStatus show. */
  interface ClusterView {
    ListModelsResponse models();

    ClusterStatusResponse status();
  }

  InferenceService(RequestValidator validator, Tokenizer tokenizer, ServingLoop loop, ClusterView view, CoordinatorMetrics metrics) {
    this.validator = validator;
    this.tokenizer = tokenizer;
    this.loop = loop;
    this.view = view;
    this.metrics = metrics;
  }

  @Override
  public void generate(GenerateRequest request, StreamObserver<GenerateResponse> observer) {
    ServerCallStreamObserver<GenerateResponse> call = (ServerCallStreamObserver<GenerateResponse>) observer;
    Deadline deadline = Context.current().getDeadline();
    if (deadline != null && deadline.isExpired()) {
      fail(call, Status.DEADLINE_EXCEEDED.withDescription("the request's deadline had passed on arrival"));
      return;
    }
    long deadlineNanos = deadline == null ? Long.MAX_VALUE : System.nanoTime() + deadline.timeRemaining(TimeUnit.NANOSECONDS);
    dev.caravan.coordinator.serving.GenerationRequest validated;
    try {
      validated = validator.validate(request, deadlineNanos);
    } catch (StatusRuntimeException e) {
      fail(call, e.getStatus());
      return;
    }
    ServingLoop.Handle handle = loop.submit(validated, new StreamListener(call));
    call.setOnCancelHandler(() -> handle.cancel(deadline != null && deadline.isExpired() ? Status.DEADLINE_EXCEEDED.withDescription("deadline exceeded") : Status.CANCELLED.withDescription("the client cancelled the request")));
  }

  private void fail(StreamObserver<?> observer, Status status) {
    metrics.requestErrors.labelValues(status.getCode().name()).inc();
    observer.onError(status.asRuntimeException());
  }

  /** Streams one generation to its gRPC call; runs on the serving loop's thread. */
  private static final class StreamListener implements GenerationListener {
    private final ServerCallStreamObserver<GenerateResponse> call;

    StreamListener(ServerCallStreamObserver<GenerateResponse> call) {
      this.call = call;
    }

    @Override
    public void onDelta(String text, int[] tokenIds) {
      if (call.isCancelled()) {
        return;
      }
      TextDelta.Builder d = TextDelta.newBuilder().setText(text);
      for (int id : tokenIds) {
        d.addTokenIds(id);
      }
      call.onNext(GenerateResponse.newBuilder().setDelta(d).build());
    }

    @Override
    public void onDone(Sequence.Finish reason, String matchedStop, GenerationListener.Usage usage) {
      if (call.isCancelled()) {
        return;
      }
      FinishReason fr = switch (reason) {
        case LENGTH -> FinishReason.FINISH_REASON_LENGTH;
        case EOS -> FinishReason.FINISH_REASON_EOS;
        case STOP_STRING -> FinishReason.FINISH_REASON_STOP_STRING;
        case CONTEXT -> FinishReason.FINISH_REASON_CONTEXT;
        default -> FinishReason.FINISH_REASON_UNSPECIFIED;
      };
      Completion.Builder c = Completion.newBuilder()
          .setFinishReason(fr)
          .setUsage(dev.caravan.proto.v1.Usage.newBuilder()
              .setPromptTokens(usage.promptTokens())
              .setCachedPromptTokens(usage.cachedPromptTokens())
              .setCompletionTokens(usage.completionTokens())
              .setTimeToFirstTokenSeconds(usage.timeToFirstTokenSeconds())
              .setTotalSeconds(usage.totalSeconds()));
      if (matchedStop != null) {
        c.setMatchedStop(matchedStop);
      }
      call.onNext(GenerateResponse.newBuilder().setDone(c).build());
      call.onCompleted();
    }

    @Override
    public void onError(Status status) {
      if (!call.isCancelled()) {
        call.onError(status.asRuntimeException());
      }
    }
  }

  @Override
  public void tokenize(TokenizeRequest request, StreamObserver<TokenizeResponse> observer) {
    try {
      validator.checkModel(request.getModel());
      if (request.getText().length() > RequestValidator.MAX_PROMPT_CHARS) {
        throw RequestValidator.invalid("text of " + request.getText().length() + " characters is larger than the " + RequestValidator.MAX_PROMPT_CHARS + " accepted");
      }
      int[] ids = tokenizer.encode(request.getText(), request.getAddSpecial(), request.getParseSpecial());
      TokenizeResponse.Builder b = TokenizeResponse.newBuilder();
      for (int id : ids) {
        b.addIds(id).addPieces(new String(tokenizer.tokenBytes(id, true), StandardCharsets.UTF_8));
      }
      observer.onNext(b.build());
      observer.onCompleted();
    } catch (StatusRuntimeException e) {
      fail(observer, e.getStatus());
    }
  }

  @Override
  public void listModels(ListModelsRequest request, StreamObserver<ListModelsResponse> observer) {
    observer.onNext(view.models());
    observer.onCompleted();
  }

  @Override
  public void clusterStatus(ClusterStatusRequest request, StreamObserver<ClusterStatusResponse> observer) {
    observer.onNext(view.status());
    observer.onCompleted();
  }
}
