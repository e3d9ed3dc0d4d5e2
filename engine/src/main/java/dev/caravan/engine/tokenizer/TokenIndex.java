package dev.caravan.engine.tokenizer;

import java.util.Arrays;

/**
 * Token text to id, looked up by a range of a string (or two ranges taken as one string) without building the
 * substring: the hot lookups of both tokenizers (SentencePiece's candidate pairs, compiling BPE merges) allocate
 * nothing. An open-addressing table of ids with a {@link String#hashCode}-style hash over the characters.
 */
final class TokenIndex {
  private final String[] tokens;
  private final int[] table; // token id per slot, -1 = empty
  private final int mask;
  private final int shift;

  TokenIndex(String[] tokens) {
    this.tokens = tokens;
    int capacity = Integer.highestOneBit(Math.max(4, tokens.length * 2 - 1)) << 1;
    this.table = new int[capacity];
    this.mask = capacity - 1;
    this.shift = 32 - Integer.numberOfTrailingZeros(capacity);
    Arrays.fill(table, -1);
    for (int id = 0; id < tokens.length; id++) {
      String t = tokens[id];
      int slot = slot(hash(0, t, 0, t.length()));
      while (table[slot] >= 0) {
        slot = (slot + 1) & mask;
      }
      table[slot] = id;
    }
  }

  private static int hash(int h, String s, int from, int to) {
    for (int i = from; i < to; i++) {
      h = 31 * h + s.charAt(i);
    }
    return h;
  }

  private int slot(int h) {
    // Fibonacci hashing: the top bits of the product pick the slot
    return ((h ^ (h >>> 16)) * 0x9E3779B1) >>> shift;
  }

  /** The id of the token equal to {@code s[from, to)}, or {@link Vocabulary#NO_TOKEN}. */
  int find(String s, int from, int to) {
    int len = to - from;
    for (int slot = slot(hash(0, s, from, to)); table[slot] >= 0; slot = (slot + 1) & mask) {
      String t = tokens[table[slot]];
      if (t.length() == len && t.regionMatches(0, s, from, len)) {
        return table[slot];
      }
    }
    return Vocabulary.NO_TOKEN;
  }

  /** The id of the token equal to {@code a[aFrom, aTo) + b[bFrom, bTo)}, or {@link Vocabulary#NO_TOKEN}. */
  int find(String a, int aFrom, int aTo, String b, int bFrom, int bTo) {
    int aLen = aTo - aFrom;
    int len = aLen + bTo - bFrom;
    for (int slot = slot(hash(hash(0, a, aFrom, aTo), b, bFrom, bTo)); table[slot] >= 0; slot = (slot + 1) & mask) {
      String t = tokens[table[slot]];
      if (t.length() == len && t.regionMatches(0, a, aFrom, aLen) && t.regionMatches(aLen, b, bFrom, bTo - bFrom)) {
        return table[slot];
      }
    }
    return Vocabulary.NO_TOKEN;
  }
}
