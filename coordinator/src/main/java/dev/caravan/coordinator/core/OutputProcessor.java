package dev.caravan.coordinator.core;

import dev.caravan.coordinator.CoordinatorMetrics;
import dev.caravan.coordinator.scheduler.Sequence;
import dev.caravan.engine.sampling.Sampler;
import dev.caravan.engine.tokenizer.StreamingDetokenizer;
import dev.caravan.engine.tokenizer.Tokenizer;

/**
 * Turns logits into a request's output: the sampler picks each token, the detokenizer turns tokens into text (whole
 * UTF-8 characters only), stop strings cut the text, and at the end come the finish reason and the usage counts. One
 * {@link Output} per request; everything runs on the core's thread.
 *
 * <p>The sampler's penalty window starts with the prompt, as llama.cpp's server and {@code caravan run} have it, so a
 * repetition penalty sees the same history wherever the request comes from.
 */
public final class OutputProcessor {
  private final Tokenizer tokenizer;
  private final CoordinatorMetrics metrics;

  public OutputProcessor(Tokenizer tokenizer, CoordinatorMetrics metrics) {
    this.tokenizer = tokenizer;
    this.metrics = metrics;
  }

  public int vocabSize() {
    return tokenizer.vocabSize();
  }

  public boolean isEndOfGeneration(int token) {
    return tokenizer.isEndOfGeneration(token);
  }

  /** Starts the output of an accepted request. */
  public Output open(GenerationRequest request, GenerationListener listener, long nowNanos) {
    return new Output(request, listener, nowNanos);
  }

  /** The output side of one request. */
  public final class Output {
    private final GenerationRequest request;
    private final GenerationListener listener;
    private final Sampler sampler;
    private final StreamingDetokenizer detokenizer;
    private final StopMatcher stops;
    private final long acceptedNanos;
    private long firstTokenNanos;
    private long lastTokenNanos;
    private boolean ended;

    private Output(GenerationRequest request, GenerationListener listener, long nowNanos) {
      this.request = request;
      this.listener = listener;
      this.sampler = new Sampler(request.sampling());
      for (int token : request.prompt()) {
        sampler.accept(token);
      }
      // generated text continues the prompt: no start-of-text space stripping
      this.detokenizer = new StreamingDetokenizer(tokenizer, false, false, false);
      this.stops = new StopMatcher(request.stop());
      this.acceptedNanos = nowNanos;
    }

    public GenerationRequest request() {
      return request;
    }

    public long acceptedNanos() {
      return acceptedNanos;
    }

    public boolean ended() {
      return ended;
    }

    /** Draws the next token from {@code logits[offset, offset + vocab)} and records it in the sampler's history. */
    public int sample(float[] logits, int offset) {
      int vocab = tokenizer.vocabSize();
      int token = sampler.sample(logits, offset, vocab);
      sampler.accept(token);
      if (listener.wantsLogits()) {
        listener.onSampled(token, logits, offset, vocab);
      }
      return token;
    }

    /**
     * A sampled token: timing metrics, then its text through the detokenizer and the stop strings to the listener.
     * Returns true when a stop string matched (the request should finish).
     */
    public boolean emit(int token, boolean endOfGeneration, long nowNanos) {
      if (firstTokenNanos == 0) {
        firstTokenNanos = nowNanos;
        metrics.timeToFirstToken.observe((nowNanos - acceptedNanos) / 1e9);
      } else {
        metrics.interTokenLatency.observe((nowNanos - lastTokenNanos) / 1e9);
      }
      lastTokenNanos = nowNanos;
      if (endOfGeneration && !request.ignoreEos()) {
        return false; // the end-of-generation token itself is not part of the text
      }
      metrics.generationTokens.inc();
      String text = stops.accept(detokenizer.accept(token));
      if (!text.isEmpty() || stops.matched() == null) {
        listener.onDelta(text, new int[] {token});
      }
      return stops.matched() != null;
    }

    /** The request finished normally: the text held back, then the finish reason and usage. */
    public void complete(Sequence s, long nowNanos) {
      if (ended) {
        return;
      }
      ended = true;
      String tail = stops.accept(detokenizer.finish()) + stops.flush();
      if (!tail.isEmpty()) {
        listener.onDelta(tail, new int[0]);
      }
      int completion = s.generated() - (s.finish() == Sequence.Finish.EOS ? 1 : 0);
      double ttft = firstTokenNanos == 0 ? 0 : (firstTokenNanos - acceptedNanos) / 1e9;
      double total = (nowNanos - acceptedNanos) / 1e9;
      metrics.e2eLatency.observe(total);
      metrics.requestSuccess.labelValues(s.finish().name().toLowerCase()).inc();
      listener.onDone(s.finish(), stops.matched(), new GenerationListener.Usage(s.promptLength(), s.cachedPrompt(), completion, ttft, total, s.migrations(), s.recomputedTokens()));
    }

    /** The request failed or was cancelled. */
    public void fail(GenerationError error, long nowNanos) {
      if (ended) {
        return;
      }
      ended = true;
      metrics.e2eLatency.observe((nowNanos - acceptedNanos) / 1e9);
      metrics.requestErrors.labelValues(error.kind().name()).inc();
      listener.onError(error);
    }
  }
}
