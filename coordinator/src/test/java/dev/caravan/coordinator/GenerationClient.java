package dev.caravan.coordinator;

import dev.caravan.proto.v1.Completion;
import dev.caravan.proto.v1.GenerateRequest;
import dev.caravan.proto.v1.GenerateResponse;
import dev.caravan.proto.v1.InferenceGrpc;
import dev.caravan.proto.v1.SamplingParams;
import io.grpc.ManagedChannel;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A blocking client for tests: runs one Generate call and collects what streams back. */
final class GenerationClient {
  record Result(String text, List<Integer> ids, Completion done) {
    int[] idArray() {
      return ids.stream().mapToInt(Integer::intValue).toArray();
    }
  }

  static GenerateRequest.Builder greedy(String prompt, int maxTokens) {
    return GenerateRequest.newBuilder().setPrompt(prompt).setMaxTokens(maxTokens).setIgnoreEos(true).setSampling(SamplingParams.newBuilder().setTemperature(0));
  }

  static Result generate(ManagedChannel channel, GenerateRequest request, long timeoutSeconds) {
    Iterator<GenerateResponse> it = InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS).generate(request);
    StringBuilder text = new StringBuilder();
    List<Integer> ids = new ArrayList<>();
    Completion done = null;
    while (it.hasNext()) {
      GenerateResponse r = it.next();
      if (r.hasDelta()) {
        text.append(r.getDelta().getText());
        ids.addAll(r.getDelta().getTokenIdsList());
      } else {
        done = r.getDone();
      }
    }
    return new Result(text.toString(), ids, done);
  }
}
