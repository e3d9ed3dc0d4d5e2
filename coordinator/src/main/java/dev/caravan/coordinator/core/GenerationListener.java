package dev.caravan.coordinator.core;

import dev.caravan.coordinator.scheduler.Sequence;

/**
 * Where a generation's output goes: an entry point's stream (gRPC, HTTP, the {@code run} command) or a test. Called on
 * the core's thread only, in order: any number of {@link #onDelta}, then exactly one of {@link #onDone} or {@link
 * #onError}. Implementations must not block; one that cannot write at once (a slow client) buffers and coalesces.
 */
public interface GenerationListener {

  /** New text and the token ids it came from ({@code tokenIds} may be empty for text released at the end). */
  void onDelta(String text, int[] tokenIds);

  /** The generation ended normally. */
  void onDone(Sequence.Finish reason, String matchedStop, Usage usage);

  /** The generation failed; nothing more follows. */
  void onError(GenerationError error);

  /**
   * The logits a token was sampled from, before its text is emitted: the hook for log-probabilities. Only called when
   * {@link #wantsLogits()} is true, so plain streams pay nothing. {@code logits[offset, offset + vocab)} is the row; the
   * array is reused after the call returns.
   */
  default void onSampled(int token, float[] logits, int offset, int vocab) {}

  /** Whether {@link #onSampled} should be called. */
  default boolean wantsLogits() {
    return false;
  }

  /**
   * Counts and times of a finished generation (seconds from acceptance); {@code migrations} is how often it moved to
   * another plan and {@code recomputedTokens} how many positions those moves computed again.
   */
  record Usage(int promptTokens, int cachedPromptTokens, int completionTokens, double timeToFirstTokenSeconds, double totalSeconds, int migrations, int recomputedTokens) {}
}
