package dev.caravan.coordinator.serving;

import dev.caravan.coordinator.scheduler.Sequence;
import io.grpc.Status;

/** Where a generation's output goes (the gRPC stream, or a test). Called on the serving loop's thread only. */
public interface GenerationListener {

  /** New text and the token ids it came from. */
  void onDelta(String text, int[] tokenIds);

  /** The generation ended normally. */
  void onDone(Sequence.Finish reason, String matchedStop, Usage usage);

  /** The generation failed; nothing more follows. */
  void onError(Status status);

  /** Counts and times of a finished generation (seconds from acceptance). */
  record Usage(int promptTokens, int cachedPromptTokens, int completionTokens, double timeToFirstTokenSeconds, double totalSeconds) {}
}
