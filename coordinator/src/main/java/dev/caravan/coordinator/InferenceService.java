package dev.caravan.coordinator;

import dev.caravan.coordinator.core.EngineCore;
import dev.caravan.coordinator.core.GenerationError;
import dev.caravan.coordinator.core.GenerationException;
import dev.caravan.coordinator.core.GenerationListener;
import dev.caravan.coordinator.core.GenerationRequest;
import dev.caravan.coordinator.scheduler.Sequence;
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
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/** The public Inference service: a thin adapter from proto to the {@link EngineCore} and the cluster view. */
final class InferenceService extends InferenceGrpc.InferenceImplBase {
  private final RequestValidator validator;
  private final Tokenizer tokenizer;
  private final EngineCore core;
  private final ClusterView view;
  private final CoordinatorMetrics metrics;

  /** What ListModels and ClusterStatus show. */
  interface ClusterView {
    ListModelsResponse models();

    ClusterStatusResponse status();
  }

  InferenceService(RequestValidator validator, Tokenizer tokenizer, EngineCore core, ClusterView view, CoordinatorMetrics metrics) {
    this.validator = validator;
    this.tokenizer = tokenizer;
    this.core = core;
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
    GenerationRequest validated;
    try {
      validated = validator.validate(request, deadlineNanos);
    } catch (GenerationException e) {
      fail(call, GrpcErrors.toStatus(e.error()));
      return;
    }
    // every hook on the call is set before the core can touch it
    EngineCore.Handle handle = core.newHandle();
    StreamListener listener = new StreamListener(call);
    call.setOnCancelHandler(() -> handle.cancel(deadline != null && deadline.isExpired()
        ? GenerationError.of(GenerationError.Kind.DEADLINE_EXCEEDED, "deadline exceeded")
        : GenerationError.of(GenerationError.Kind.CANCELLED, "the client cancelled the request")));
    core.submit(handle, validated, listener);
  }

  private void fail(StreamObserver<?> observer, Status status) {
    metrics.requestErrors.labelValues(status.getCode().name()).inc();
    observer.onError(status.asRuntimeException());
  }

  /**
   * Streams one generation to its gRPC call with flow control: while the client is not ready for more, text and token
   * ids are coalesced into one pending delta (bounded by the request's max tokens) and sent when gRPC says it is ready.
   * Core calls come on the core's thread, readiness on a gRPC thread: both go through this object's lock.
   */
  private static final class StreamListener implements GenerationListener {
    private final ServerCallStreamObserver<GenerateResponse> call;
    private final StringBuilder text = new StringBuilder(); // pending text not yet sent
    private int[] ids = new int[16]; // (idCount) pending token ids not yet sent
    private int idCount;
    private GenerateResponse done; // the final message, once the generation ended
    private boolean closed;

    StreamListener(ServerCallStreamObserver<GenerateResponse> call) {
      this.call = call;
      call.setOnReadyHandler(this::flush);
    }

    @Override
    public synchronized void onDelta(String delta, int[] tokenIds) {
      if (closed) {
        return;
      }
      text.append(delta);
      if (idCount + tokenIds.length > ids.length) {
        ids = Arrays.copyOf(ids, Math.max(ids.length * 2, idCount + tokenIds.length));
      }
      System.arraycopy(tokenIds, 0, ids, idCount, tokenIds.length);
      idCount += tokenIds.length;
      flush();
    }

    @Override
    public synchronized void onDone(Sequence.Finish reason, String matchedStop, Usage usage) {
      if (closed) {
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
              .setTotalSeconds(usage.totalSeconds())
              .setMigrations(usage.migrations())
              .setRecomputedTokens(usage.recomputedTokens()));
      if (matchedStop != null) {
        c.setMatchedStop(matchedStop);
      }
      done = GenerateResponse.newBuilder().setDone(c).build();
      flush();
    }

    @Override
    public synchronized void onError(GenerationError error) {
      if (closed) {
        return;
      }
      closed = true;
      if (!call.isCancelled()) {
        call.onError(GrpcErrors.toStatus(error).asRuntimeException());
      }
    }

    /** Sends what is pending if the client is ready; the end follows once every delta is out. */
    private synchronized void flush() {
      if (closed) {
        return;
      }
      if (call.isCancelled()) {
        closed = true;
        return;
      }
      if ((!text.isEmpty() || idCount > 0) && call.isReady()) {
        TextDelta.Builder d = TextDelta.newBuilder().setText(text.toString());
        for (int i = 0; i < idCount; i++) {
          d.addTokenIds(ids[i]);
        }
        text.setLength(0);
        idCount = 0;
        call.onNext(GenerateResponse.newBuilder().setDelta(d).build());
      }
      if (done != null && text.isEmpty() && idCount == 0 && call.isReady()) {
        closed = true;
        call.onNext(done);
        call.onCompleted();
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
    } catch (GenerationException e) {
      fail(observer, GrpcErrors.toStatus(e.error()));
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
