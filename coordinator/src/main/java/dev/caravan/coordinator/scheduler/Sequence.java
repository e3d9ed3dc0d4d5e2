package dev.caravan.coordinator.scheduler;

import java.util.Arrays;

/**
 * One request as the scheduler sees it: its tokens (prompt, then generated), how many of them the pipeline has computed
 * (the KV cache length on every stage), the plan epoch whose workers hold its cache, and whether it is in flight.
 */
public final class Sequence {
  /** Why a sequence stopped. */
  public enum Finish {
    LENGTH,
    EOS,
    STOP_STRING,
    CONTEXT,
    CANCELLED,
    FAILED
  }

  private final long id;
  private final String cacheKey;
  private final int promptLength;
  private final int maxTokens;
  private final int contextLength;
  private final boolean ignoreEos;
  private final long arrivalNanos;
  private int[] tokens; // (promptLength + generated) prompt ids, then generated ids
  private int length;
  private int computed;
  private final int cachedPrompt;
  private long epoch = -1;
  private boolean inFlight;
  private long lastScheduled;
  private Finish finish;
  private int migrations;
  private int recomputedTokens;

  /**
   * @param cacheKey      the key of its KV cache on the workers (a session id, or a per-request id)
   * @param prompt        prompt token ids
   * @param cachedPrompt  leading prompt tokens whose KV the workers already hold (session reuse)
   */
  public Sequence(long id, String cacheKey, int[] prompt, int cachedPrompt, int maxTokens, int contextLength, boolean ignoreEos, long arrivalNanos) {
    if (prompt.length == 0) {
      throw new IllegalArgumentException("empty prompt");
    }
    if (cachedPrompt < 0 || cachedPrompt >= prompt.length) {
      throw new IllegalArgumentException("cached prefix " + cachedPrompt + " must leave at least one of " + prompt.length + " prompt tokens to compute");
    }
    this.id = id;
    this.cacheKey = cacheKey;
    this.promptLength = prompt.length;
    this.tokens = Arrays.copyOf(prompt, prompt.length + Math.min(maxTokens, 256));
    this.length = prompt.length;
    this.computed = cachedPrompt;
    this.cachedPrompt = cachedPrompt;
    this.maxTokens = maxTokens;
    this.contextLength = contextLength;
    this.ignoreEos = ignoreEos;
    this.arrivalNanos = arrivalNanos;
  }

  public long id() {
    return id;
  }

  public String cacheKey() {
    return cacheKey;
  }

  public int promptLength() {
    return promptLength;
  }

  public int cachedPrompt() {
    return cachedPrompt;
  }

  public int generated() {
    return length - promptLength;
  }

  /** Positions the workers hold for this sequence. */
  public int computed() {
    return computed;
  }

  /** Tokens known (prompt plus generated). */
  public int length() {
    return length;
  }

  public int token(int i) {
    return tokens[i];
  }

  /** The tokens whose KV the workers hold: what a later turn of the same session can reuse. */
  public int[] computedTokens() {
    return Arrays.copyOf(tokens, computed);
  }

  public int[] generatedTokens() {
    return Arrays.copyOfRange(tokens, promptLength, length);
  }

  public long epoch() {
    return epoch;
  }

  public void bind(long epoch) {
    this.epoch = epoch;
  }

  public boolean inFlight() {
    return inFlight;
  }

  void setInFlight(boolean f) {
    inFlight = f;
  }

  /** The id of the last batch that included this sequence (0: none yet). */
  public long lastScheduled() {
    return lastScheduled;
  }

  void setLastScheduled(long batchId) {
    lastScheduled = batchId;
  }

  public long arrivalNanos() {
    return arrivalNanos;
  }

  public boolean prefilling() {
    return computed < promptLength;
  }

  public boolean finished() {
    return finish != null;
  }

  public Finish finish() {
    return finish;
  }

  /** Ends the sequence (first reason wins). */
  public void finish(Finish reason) {
    if (finish == null) {
      finish = reason;
    }
  }

  /** Times this sequence moved to another plan and started over from position 0 there. */
  public int migrations() {
    return migrations;
  }

  /** Positions computed again because of those moves. */
  public int recomputedTokens() {
    return recomputedTokens;
  }

  /**
   * Forgets where the sequence's cache was: it holds no position on any plan and is bound to none, so the next plan
   * recomputes every known token (prompt and generated) before it samples the next one. The tokens, and so the output,
   * stay as they are.
   */
  void restart() {
    recomputedTokens += computed;
    migrations++;
    computed = 0;
    epoch = -1;
    inFlight = false;
  }

  /** Records the pipeline computed {@code count} more positions. */
  void advance(int count) {
    computed += count;
  }

  /** Appends a sampled token and applies the limits: max tokens, end of generation, context length. */
  void append(int token, boolean endOfGeneration) {
    if (length == tokens.length) {
      tokens = Arrays.copyOf(tokens, tokens.length * 2);
    }
    tokens[length++] = token;
    if (endOfGeneration && !ignoreEos) {
      finish(Finish.EOS);
    } else if (generated() >= maxTokens) {
      finish(Finish.LENGTH);
    } else if (length >= contextLength) {
      finish(Finish.CONTEXT);
    }
  }
}
