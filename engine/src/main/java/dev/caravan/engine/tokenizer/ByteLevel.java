package dev.caravan.engine.tokenizer;

import java.util.Arrays;

/**
 * GPT-2's byte-to-unicode mapping: each of the 256 byte values is spelled by one printable character, so that byte-level
 * BPE vocabularies can be stored as text. Printable Latin-1 bytes ({@code !}..{@code ~}, {@code ¡}..{@code ¬},
 * {@code ®}..{@code ÿ}) stand for themselves; the other 68 bytes map to U+0100.. in byte order (space becomes
 * {@code Ġ}, newline {@code Ċ}).
 */
final class ByteLevel {
  private ByteLevel() {}

  /** byte value -> the character that spells it. */
  private static final char[] BYTE_TO_CHAR = new char[256];
  /** character (below U+0144) -> byte value, or -1. */
  private static final int[] CHAR_TO_BYTE = new int[0x144];

  static {
    Arrays.fill(CHAR_TO_BYTE, -1);
    boolean[] printable = new boolean[256];
    for (int b = 0; b < 256; b++) {
      printable[b] = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    }
    int next = 0;
    for (int b = 0; b < 256; b++) {
      char c = printable[b] ? (char) b : (char) (256 + next++);
      BYTE_TO_CHAR[b] = c;
      CHAR_TO_BYTE[c] = b;
    }
  }

  /** The character that spells byte {@code b} (0..255). */
  static char charOf(int b) {
    return BYTE_TO_CHAR[b & 0xFF];
  }

  /** The byte a character spells, or -1 when it is not one of the 256 byte characters. */
  static int byteOf(int codePoint) {
    return codePoint >= 0 && codePoint < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[codePoint] : -1;
  }

  /** The byte-level spelling of some UTF-8 bytes. */
  static String encode(byte[] utf8, int from, int to) {
    char[] out = new char[to - from];
    for (int i = from; i < to; i++) {
      out[i - from] = BYTE_TO_CHAR[utf8[i] & 0xFF];
    }
    return new String(out);
  }
}
