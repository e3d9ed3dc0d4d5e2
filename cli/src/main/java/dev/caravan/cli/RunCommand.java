package dev.caravan.cli;

import dev.caravan.engine.model.Batch;
import dev.caravan.engine.model.KvCache;
import dev.caravan.engine.model.LlamaModel;
import dev.caravan.engine.model.LayerStack;
import dev.caravan.engine.sampling.Sampler;
import dev.caravan.engine.sampling.SamplingParams;
import dev.caravan.engine.tokenizer.ChatPrompt;
import dev.caravan.engine.tokenizer.StreamingDetokenizer;
import dev.caravan.engine.tokenizer.Tokenizer;
import dev.caravan.engine.tensor.Parallel;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.ThreadLocalRandom;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code caravan run}: generate text with a model in this process. */
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

  @Option(names = "--temperature", defaultValue = "0.8", description = "Sampling temperature; 0 is greedy (default: ${DEFAULT-VALUE}).")
  float temperature;

  @Option(names = "--top-k", defaultValue = "40", description = "Top-k; 0 disables (default: ${DEFAULT-VALUE}).")
  int topK;

  @Option(names = "--top-p", defaultValue = "0.95", description = "Top-p; 1 disables (default: ${DEFAULT-VALUE}).")
  float topP;

  @Option(names = "--min-p", defaultValue = "0.05", description = "Min-p; 0 disables (default: ${DEFAULT-VALUE}).")
  float minP;

  @Option(names = "--repeat-penalty", defaultValue = "1.0", description = "Repetition penalty; 1 disables (default: ${DEFAULT-VALUE}).")
  float repeatPenalty;

  @Option(names = "--repeat-last-n", defaultValue = "64", description = "Window of the repetition penalty (default: ${DEFAULT-VALUE}).")
  int repeatLastN;

  @Option(names = "--seed", description = "Seed for reproducible sampling (default: random).")
  Long seed;

  @Option(names = "--threads", description = "Compute threads (default: available cores, ${DEFAULT-VALUE}).")
  int threads = Runtime.getRuntime().availableProcessors();

  @Option(names = "--chat", description = "Wrap the prompt as a user message in the model's chat template.")
  boolean chat;

  @Option(names = "--ignore-eos", description = "Keep generating past end-of-generation tokens.")
  boolean ignoreEos;

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
    SamplingParams params;
    try {
      params = new SamplingParams(temperature, topK, topP, minP, repeatPenalty, repeatLastN, 0f, 0f, seed != null ? seed : ThreadLocalRandom.current().nextLong());
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(cmd, e.getMessage());
    }
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    try (Parallel parallel = new Parallel(threads); LlamaModel m = Loading.open(cmd, model, parallel, !noProgress)) {
      Tokenizer tok = Tokenizer.fromGguf(m.file().metadata());
      LayerStack stage = m.layers();
      int[] ids = chat ? new ChatPrompt(tok).encodeUser(prompt) : tok.encode(prompt, true, false);
      int ctx = m.config().contextLength();
      if (ids.length >= ctx) {
        throw new CommandLine.ParameterException(cmd, "the prompt is " + ids.length + " tokens; the model's context holds " + ctx);
      }
      if (!chat) {
        out.print(prompt);
      }
      KvCache cache = stage.newCache(Math.min(ctx, ids.length + maxTokens));
      Sampler sampler = new Sampler(params);
      for (int id : ids) {
        sampler.accept(id);
      }
      StreamingDetokenizer detok = new StreamingDetokenizer(tok, false, false, false);
      float[] logits = new float[m.config().vocabSize()];
      Batch batch = new Batch(Math.min(PREFILL_CHUNK, ids.length));

      // prompt: processed as batches of up to PREFILL_CHUNK tokens
      long t0 = System.nanoTime();
      for (int start = 0; start < ids.length; start += PREFILL_CHUNK) {
        int end = Math.min(ids.length, start + PREFILL_CHUNK);
        batch.clear();
        for (int i = start; i < end; i++) {
          batch.add(ids[i], i, cache, i == ids.length - 1);
        }
        stage.forward(batch, null, logits);
      }
      long t1 = System.nanoTime();

      // decode: one token at a time
      int generated = 0;
      String finish = "length";
      while (generated < maxTokens) {
        int token = sampler.sample(logits, 0, logits.length);
        sampler.accept(token);
        generated++;
        if (tok.isEndOfGeneration(token) && !ignoreEos) {
          finish = "end of generation";
          break;
        }
        out.print(detok.accept(token));
        if (generated == maxTokens || cache.length() == cache.capacity()) {
          finish = generated == maxTokens ? "length" : "context full";
          break;
        }
        batch.clear();
        batch.add(token, cache.length(), cache, true);
        stage.forward(batch, null, logits);
      }
      out.print(detok.finish());
      long t2 = System.nanoTime();
      out.println();
      double prefillSeconds = (t1 - t0) / 1e9;
      double decodeSeconds = (t2 - t1) / 1e9;
      System.err.printf("[%s] prompt: %d tokens in %.3f s (%.1f tokens/s); decode: %d tokens in %.3f s (%.1f tokens/s); %d threads, %s kernels%n",
          finish, ids.length, prefillSeconds, ids.length / prefillSeconds, generated, decodeSeconds, generated / decodeSeconds, threads, dev.caravan.engine.tensor.Kernels.get().name());
      return 0;
    }
  }
}
