package dev.caravan.cli;

import dev.caravan.coordinator.CoordinatorMetrics;
import dev.caravan.coordinator.core.EngineCore;
import dev.caravan.coordinator.core.GenerationError;
import dev.caravan.coordinator.core.GenerationListener;
import dev.caravan.coordinator.core.GenerationRequest;
import dev.caravan.coordinator.core.InProcessExecutor;
import dev.caravan.coordinator.core.KvPlacementSink;
import dev.caravan.coordinator.core.OutputProcessor;
import dev.caravan.coordinator.core.SessionRegistry;
import dev.caravan.coordinator.scheduler.Scheduler;
import dev.caravan.coordinator.scheduler.SchedulerConfig;
import dev.caravan.coordinator.scheduler.Sequence;
import dev.caravan.engine.model.LlamaModel;
import dev.caravan.engine.sampling.SamplingParams;
import dev.caravan.engine.tokenizer.ChatPrompt;
import dev.caravan.engine.tokenizer.Tokenizer;
import dev.caravan.engine.tensor.Parallel;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code caravan run}: generate text with a model in this process, through the same serving core as the cluster. */
@Command(name = "run", mixinStandardHelpOptions = true, sortOptions = false, description = "Generate text from a GGUF model in this process, streaming it to stdout.")
public final class RunCommand implements Callable<Integer> {
  /** Prompt tokens per forward pass. */
  private static final int PREFILL_CHUNK = 512;

  @Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--model", required = true, paramLabel = "FILE", description = "GGUF model file.")
  Path model;

  @Option(names = "--prompt", required = true, description = "Text to continue (or, with --chat, the user's message).")
  String prompt;

  @Option(names = "--max-tokens", defaultValue = "256", description = "Most tokens to generate (default: ${DEFAULT-VALUE}).")
  int maxTokens;

  @Mixin SamplingOptions sampling;

  @Option(names = "--threads", description = "Compute threads (default: available cores, ${DEFAULT-VALUE}).")
  int threads = Runtime.getRuntime().availableProcessors();

  @Option(names = "--chat", description = "Wrap the prompt as a user message in the model's chat template.")
  boolean chat;

  @Option(names = "--ignore-eos", description = "Keep generating past end-of-generation tokens.")
  boolean ignoreEos;

  @Option(names = "--token-ids", description = "After the text, print the generated token ids to stderr.")
  boolean tokenIds;

  @Option(names = "--no-progress", description = "No progress bar while loading.")
  boolean noProgress;

  @Override
  public Integer call() throws IOException {
    CommandLine cmd = spec.commandLine();
    if (maxTokens <= 0) {
      throw new CommandLine.ParameterException(cmd, "--max-tokens must be positive");
    }
    if (threads < 1) {
      throw new CommandLine.ParameterException(cmd, "--threads must be at least 1");
    }
    SamplingParams params = sampling.params();
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    try (Parallel parallel = new Parallel(threads); LlamaModel m = Loading.open(cmd, model, parallel, !noProgress)) {
      Tokenizer tok = Tokenizer.fromGguf(m.file().metadata());
      int[] ids = chat ? new ChatPrompt(tok).encodeUser(prompt) : tok.encode(prompt, true, false);
      int ctx = m.config().contextLength();
      if (ids.length >= ctx) {
        throw new CommandLine.ParameterException(cmd, "the prompt is " + ids.length + " tokens; the model's context holds " + ctx);
      }
      if (!chat) {
        out.print(prompt);
      }
      // the same serving core as the cluster, stepped on this thread over the in-process executor
      CoordinatorMetrics metrics = new CoordinatorMetrics();
      Duration never = Duration.ofDays(365);
      EngineCore core = new EngineCore(
          new Scheduler(new SchedulerConfig(1, 0, PREFILL_CHUNK, 1), System::nanoTime),
          new InProcessExecutor(Math.min(ctx, ids.length + maxTokens), m.layers()),
          new OutputProcessor(tok, metrics),
          new SessionRegistry(KvPlacementSink.NONE, never.toNanos(), never.toNanos()),
          metrics,
          System::nanoTime,
          new EngineCore.Settings(ctx, never, never, never, 0));
      core.setServingPlan(0, 1, null);
      Printer printer = new Printer(out);
      core.submit(new GenerationRequest(ids, params, maxTokens, List.of(), null, ignoreEos, Long.MAX_VALUE), printer);
      while (!printer.ended.isDone()) {
        core.step();
      }
      out.println();
      if (printer.error != null) {
        System.err.println("caravan run: " + printer.error.message());
        return 1;
      }
      GenerationListener.Usage u = printer.usage;
      if (tokenIds) {
        System.err.println("token ids: " + printer.ids);
      }
      String finish = switch (printer.finish) {
        case EOS -> "end of generation";
        case CONTEXT -> "context full";
        default -> "length";
      };
      double prefillSeconds = u.timeToFirstTokenSeconds();
      double decodeSeconds = u.totalSeconds() - u.timeToFirstTokenSeconds();
      System.err.printf("[%s] prompt: %d tokens in %.3f s (%.1f tokens/s); decode: %d tokens in %.3f s (%.1f tokens/s); %d threads, %s kernels%n",
          finish, ids.length, prefillSeconds, ids.length / prefillSeconds, printer.sampled, decodeSeconds, printer.sampled / decodeSeconds, threads, dev.caravan.engine.tensor.Kernels.get().name());
      return 0;
    }
  }

  /** Prints the generated text as it streams and keeps what the summary needs. */
  private static final class Printer implements GenerationListener {
    final PrintStream out;
    final CompletableFuture<Void> ended = new CompletableFuture<>();
    final List<Integer> ids = new ArrayList<>();
    int sampled;
    Sequence.Finish finish;
    Usage usage;
    GenerationError error;

    Printer(PrintStream out) {
      this.out = out;
    }

    @Override
    public void onDelta(String text, int[] tokenIds) {
      out.print(text);
      for (int id : tokenIds) {
        ids.add(id);
      }
    }

    @Override
    public void onDone(Sequence.Finish reason, String matchedStop, Usage u) {
      finish = reason;
      usage = u;
      sampled = u.completionTokens() + (reason == Sequence.Finish.EOS ? 1 : 0);
      ended.complete(null);
    }

    @Override
    public void onError(GenerationError e) {
      error = e;
      ended.complete(null);
    }
  }
}
