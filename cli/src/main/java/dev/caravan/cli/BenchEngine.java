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

  @Override
  void close();
}
