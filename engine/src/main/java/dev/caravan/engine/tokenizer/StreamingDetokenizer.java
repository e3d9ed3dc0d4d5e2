package dev.caravan.engine.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Turns generated token ids into text one token at a time. Each {@link #accept} returns the text that is complete so
 * far: bytes of a UTF-8 character split across tokens (byte tokens {@code <0xNN>}, GPT-2 byte pieces) are held back
 * until the character is complete, so a character is returned whole and exactly once; {@link #finish} returns what is
 * left (an incomplete character becomes U+FFFD). Invalid bytes never throw: they come out as U+FFFD as soon as they are
 * known to be invalid.
 *
 * <p>The pieces are llama.cpp's {@code llama_detokenize} ones. With {@code startOfText}, the first token follows
 * detokenize's rule: with a SentencePiece space prefix, one leading space of the first piece is dropped, unless
 * {@code removeSpecial} dropped a leading BOS (then the next piece keeps its space). Without {@code startOfText} every
 * piece is taken as is (continuing a text, like llama.cpp's server streaming {@code common_token_to_piece}).
 *
 * <p>So the concatenated output equals {@link Tokenizer#decode(int[], boolean, boolean)} of the same ids, except that
 * byte-level BPE's clean-up of spaces before punctuation is not applied (it needs the following text; llama.cpp's
 * streaming does not apply it either), and with {@code removeSpecial} every EOS is dropped (not only a final one).
 *
 * <p>Not thread-safe: one instance per stream.
 */
public final class StreamingDetokenizer {
  private final Tokenizer tokenizer;
  private final Vocabulary vocab;
  private final boolean removeSpecial;
  private final boolean unparseSpecial;
  private boolean first;
  private byte[] pending = new byte[16];
  private int pendingLength;

  /**
   * @param removeSpecial drop a leading BOS and EOS tokens when the vocabulary adds them (as {@code llama_detokenize})
   * @param unparseSpecial render control tokens as their text
   * @param startOfText apply detokenize's first-token rule to the first token fed
   */
  public StreamingDetokenizer(Tokenizer tokenizer, boolean removeSpecial, boolean unparseSpecial, boolean startOfText) {
    this.tokenizer = tokenizer;
    this.vocab = tokenizer.vocabulary();
    this.removeSpecial = removeSpecial;
    this.unparseSpecial = unparseSpecial;
    this.first = startOfText;
  }

  /** Feeds one token; returns the text it completes (possibly empty). */
  public String accept(int token) {
    boolean removeSpace = false;
    if (first) {
      first = false;
      if (removeSpecial && vocab.addBos() && token == vocab.bos()) {
        return ""; // the BOS is dropped and the next piece keeps its space
      }
      removeSpace = vocab.addSpacePrefix();
    }
    if (removeSpecial && vocab.addEos() && token == vocab.eos()) {
      return "";
    }
    byte[] piece = tokenizer.tokenBytes(token, unparseSpecial);
    int skip = removeSpace && piece.length > 0 && piece[0] == ' ' ? 1 : 0;
    append(piece, skip, piece.length - skip);
    int complete = completePrefix(pending, pendingLength);
    return take(complete);
  }

  /** Ends the stream: the held-back bytes, an incomplete character as U+FFFD. */
  public String finish() {
    return take(pendingLength);
  }

  /** Number of bytes held back waiting for the rest of a character. */
  public int pendingBytes() {
    return pendingLength;
  }

  private void append(byte[] b, int off, int len) {
    if (pendingLength + len > pending.length) {
      pending = Arrays.copyOf(pending, Math.max(pending.length * 2, pendingLength + len));
    }
    System.arraycopy(b, off, pending, pendingLength, len);
    pendingLength += len;
  }

  private String take(int n) {
    String s = new String(pending, 0, n, StandardCharsets.UTF_8);
    System.arraycopy(pending, n, pending, 0, pendingLength - n);
    pendingLength -= n;
    return s;
  }

  /**
   * Length of the prefix of {@code buf[0..len)} that can be decoded now: everything except a trailing sequence that
   * is a valid but incomplete UTF-8 character (a lead byte followed by fewer continuation bytes than it needs, each in
   * the range Unicode allows after that lead).
   */
  static int completePrefix(byte[] buf, int len) {
    for (int k = 1; k <= Math.min(3, len); k++) {
      int b = buf[len - k] & 0xFF;
      if ((b & 0xC0) == 0x80) {
        continue; // a continuation byte: the lead is further back
      }
      int need = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 1;
      if (need <= k) {
        return len; // complete, or not a lead byte at all
      }
      if (k >= 2) {
        int second = buf[len - k + 1] & 0xFF;
        int lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80;
        int hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
        if (second < lo || second > hi) {
          return len; // invalid: decoded (as U+FFFD) right away
        }
      }
      return len - k;
    }
    return len;
  }

  /** All of {@code ids} through a fresh detokenizer, for tests and callers that want the streamed text at once. */
  static String streamAll(Tokenizer tokenizer, int[] ids, boolean removeSpecial, boolean unparseSpecial) {
    StreamingDetokenizer d = new StreamingDetokenizer(tokenizer, removeSpecial, unparseSpecial, true);
    StringBuilder sb = new StringBuilder();
    for (int id : ids) {
      sb.append(d.accept(id));
    }
    return sb.append(d.finish()).toString();
  }
}
