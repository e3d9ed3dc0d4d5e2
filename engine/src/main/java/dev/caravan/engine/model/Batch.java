package dev.caravan.engine.model;

import java.util.Arrays;

/**
 * The tokens one forward pass computes: possibly from several sequences at once (a prompt chunk of one beside the next
 * decode token of others), each token with its position and its sequence's {@link KvCache}. The weights are read once
 * per batch, whatever the number of sequences.
 *
 * <p>Within a batch, the tokens of one sequence must appear in order and continue its cache: positions {@code
 * cache.length(), cache.length() + 1, ...}. Tokens whose {@code logits} flag is set get a row of logits from the last
 * stage (usually only the last token of each sequence).
 */
public final class Batch {
  private final int[] tokens; // (size) input ids, used by the first stage
  private final int[] positions; // (size)
  private final KvCache[] caches; // (size) the sequence each token belongs to
  private final boolean[] logits; // (size)
  private int size;

  public Batch(int capacity) {
    tokens = new int[capacity];
    positions = new int[capacity];
    caches = new KvCache[capacity];
    logits = new boolean[capacity];
  }

  /** Adds a token; returns its index in the batch. */
  public int add(int token, int position, KvCache cache, boolean wantLogits) {
    if (size == tokens.length) {
      throw new IllegalStateException("batch is full (" + size + " tokens)");
    }
    tokens[size] = token;
    positions[size] = position;
    caches[size] = cache;
    logits[size] = wantLogits;
    return size++;
  }

  /** Adds the tokens of one sequence at positions {@code cache.length()...} (plus those already queued for it); logits for the last only. */
  public void addSequence(int[] ids, KvCache cache, boolean logitsForLast) {
    int start = nextPosition(cache);
    for (int i = 0; i < ids.length; i++) {
      add(ids[i], start + i, cache, logitsForLast && i == ids.length - 1);
    }
  }

  /** The position the next token of {@code cache}'s sequence would take in this batch. */
  public int nextPosition(KvCache cache) {
    for (int i = size - 1; i >= 0; i--) {
      if (caches[i] == cache) {
        return positions[i] + 1;
      }
    }
    return cache.length();
  }

  public void clear() {
    Arrays.fill(caches, 0, size, null);
    size = 0;
  }

  public int size() {
    return size;
  }

  public int capacity() {
    return tokens.length;
  }

  public int token(int i) {
    return tokens[i];
  }

  public int position(int i) {
    return positions[i];
  }

  public KvCache cache(int i) {
    return caches[i];
  }

  public boolean wantsLogits(int i) {
    return logits[i];
  }

  /** Number of tokens that want logits. */
  public int logitsCount() {
    int n = 0;
    for (int i = 0; i < size; i++) {
      n += logits[i] ? 1 : 0;
    }
    return n;
  }

  /** Checks that every sequence continues its cache contiguously and fits; throws IllegalArgumentException otherwise. */
  void validate() {
    for (int i = 0; i < size; i++) {
      KvCache c = caches[i];
      if (c == null) {
        throw new IllegalArgumentException("batch token " + i + " has no KV cache");
      }
      // the previous token of the same sequence is usually adjacent: scan back, allocate nothing
      int expected = c.length();
      for (int j = i - 1; j >= 0; j--) {
        if (caches[j] == c) {
          expected = positions[j] + 1;
          break;
        }
      }
      if (positions[i] != expected) {
        throw new IllegalArgumentException("batch token " + i + " is at position " + positions[i] + " but its sequence continues at " + expected);
      }
      if (positions[i] >= c.capacity()) {
        throw new IllegalArgumentException("position " + positions[i] + " is past the context length " + c.capacity());
      }
    }
  }
}
