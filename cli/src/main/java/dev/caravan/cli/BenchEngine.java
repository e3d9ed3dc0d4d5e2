package dev.caravan.cli;

import java.io.IOException;

/**
 * An inference engine under benchmark: one model, one sequence, decoded batch by batch. The harness in
 * {@link BenchCommand} times both engines with the same code around {@link #decode}.
 */
interface BenchEngine extends AutoCloseable {
  /** "caravan" or "llama.cpp". */
  String name();

  /** What computes, e.g. "Java vector-512" or "CPU b4916 AVX2". */
  String backend();

  int vocabSize();

  /** Makes room for a test: up to {@code contextTokens} KV positions, batches of up to {@code batchTokens}. */
  void prepare(int contextTokens, int batchTokens) throws IOException;

  /** Empties the KV cache. */
  void clear();

  /** Runs {@code ids[from, from + count)} at positions {@code startPos...} as one batch, with logits for the last token; returns when done. */
  void decode(int[] ids, int from, int count, int startPos);

  /** Whether this engine runs tests of several streams ({@code tgNxS}). */
  default boolean multiStream() {
    return false;
  }

  /** Makes room for {@code streams} sequences of up to {@code contextTokens} positions each, decoded together. */
  default void prepareStreams(int streams, int contextTokens) {
    throw new UnsupportedOperationException(name() + " runs one stream");
  }

  /** Empties every stream's KV cache. */
  default void clearStreams() {
    throw new UnsupportedOperationException(name() + " runs one stream");
  }

  /** Stream {@code stream} alone: {@code ids[from, from + count)} at positions {@code startPos...}, one batch. */
  default void decodeStream(int stream, int[] ids, int from, int count, int startPos) {
    throw new UnsupportedOperationException(name() + " runs one stream");
  }

  /** One batch of one token per stream: {@code ids[s][pos]} at position {@code pos}, logits for each. */
  default void decodeStep(int[][] ids, int pos) {
    throw new UnsupportedOperationException(name() + " runs one stream");
  }

  @Override
  void close();
}
