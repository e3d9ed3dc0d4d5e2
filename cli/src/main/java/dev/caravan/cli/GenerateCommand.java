package dev.caravan.cli;

import dev.caravan.loadtest.ClientChannels;
import dev.caravan.loadtest.ModelIdOption;
import dev.caravan.loadtest.TargetOptions;
import dev.caravan.proto.v1.GenerateRequest;
import dev.caravan.proto.v1.GenerateResponse;
import dev.caravan.proto.v1.InferenceGrpc;
import dev.caravan.proto.v1.SamplingParams;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code caravan generate}: streams an answer from a cluster. */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false, description = "Stream a generation from a Caravan cluster.")
public final class GenerateCommand implements Callable<Integer> {
  @Mixin TargetOptions target;

  @Option(names = "--prompt", required = true, description = "Text to continue.")
  String prompt;

  @Mixin ModelIdOption modelId;

  @Option(names = "--max-tokens", defaultValue = "128", description = "Most tokens to generate (default: ${DEFAULT-VALUE}).")
  int maxTokens;

  @Option(names = "--temperature", description = "Sampling temperature; 0 is greedy (default: the server's, 0.8).")
  Float temperature;

  @Option(names = "--top-k", description = "Top-k (default: the server's, 40).")
  Integer topK;

  @Option(names = "--top-p", description = "Top-p (default: the server's, 0.95).")
  Float topP;

  @Option(names = "--min-p", description = "Min-p (default: the server's, 0.05).")
  Float minP;

  @Option(names = "--repeat-penalty", description = "Repetition penalty (default: the server's, 1.0).")
  Float repeatPenalty;

  @Option(names = "--seed", description = "Seed for reproducible sampling.")
  Long seed;

  @Option(names = "--stop", description = "Stop string (repeatable).")
  List<String> stop = List.of();

  @Option(names = "--session", description = "Session id: later requests with it reuse this one's KV cache.")
  String session;

  @Option(names = "--chat", description = "Wrap the prompt in the model's chat template.")
  boolean chat;

  @Option(names = "--timeout", defaultValue = "300", description = "Deadline in seconds (default: ${DEFAULT-VALUE}).")
  long timeoutSeconds;

  @Override
  public Integer call() {
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    SamplingParams.Builder sp = SamplingParams.newBuilder();
    if (temperature != null) {
      sp.setTemperature(temperature);
    }
    if (topK != null) {
      sp.setTopK(topK);
    }
    if (topP != null) {
      sp.setTopP(topP);
    }
    if (minP != null) {
      sp.setMinP(minP);
    }
    if (repeatPenalty != null) {
      sp.setRepeatPenalty(repeatPenalty);
    }
    if (seed != null) {
      sp.setSeed(seed);
    }
    GenerateRequest.Builder req = GenerateRequest.newBuilder().setModel(modelId.model()).setPrompt(prompt).setMaxTokens(maxTokens).setSampling(sp).addAllStop(stop).setChat(chat);
    if (session != null) {
      req.setSessionId(session);
    }
    target.check();
    ManagedChannel channel = target.openChannel();
    boolean first = true;
    try {
      Iterator<GenerateResponse> it = InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS).generate(req.build());
      while (it.hasNext()) {
        GenerateResponse r = it.next();
        if (first && !chat) {
          out.print(prompt); // once the coordinator has accepted the request
        }
        first = false;
        if (r.hasDelta()) {
          out.print(r.getDelta().getText());
        } else if (r.hasDone()) {
          var u = r.getDone().getUsage();
          out.println();
          System.err.printf("[%s] prompt %d tokens (%d cached), generated %d tokens; first token after %.3f s, total %.3f s (%.1f tokens/s)%n",
              r.getDone().getFinishReason().name().replace("FINISH_REASON_", "").toLowerCase(), u.getPromptTokens(), u.getCachedPromptTokens(), u.getCompletionTokens(), u.getTimeToFirstTokenSeconds(), u.getTotalSeconds(),
              u.getCompletionTokens() > 1 ? (u.getCompletionTokens() - 1) / Math.max(1e-9, u.getTotalSeconds() - u.getTimeToFirstTokenSeconds()) : 0.0);
        }
      }
      return 0;
    } catch (StatusRuntimeException e) {
      if (!first) {
        out.println(); // end the partial answer
      }
      System.err.println("caravan generate: " + RpcErrors.describe(target.target(), e));
      return 2;
    } finally {
      ClientChannels.close(channel);
    }
  }
}
