package dev.caravan.engine.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * llama.cpp's SentencePiece tokenizer ({@code llm_tokenizer_spm}, {@code tokenizer.ggml.model = llama}).
 *
 * <p>Per raw text fragment: a space is put in front when the vocabulary adds a space prefix and the fragment starts the
 * input or follows a special token; spaces become {@code ▁}; the text is split into code points; then, repeatedly, the
 * adjacent pair whose concatenation is a token with the highest score is merged (ties: leftmost), using a priority
 * queue of candidate pairs, O(n log n). Symbols that are not tokens at the end become byte tokens {@code <0xNN>} for
 * each of their UTF-8 bytes (or the unknown token when the vocabulary has no byte tokens).
 */
public final class SentencePieceTokenizer extends AbstractTokenizer {
  private static final char ESCAPED_SPACE = '▁';

  private final float[] scores;
  /** byte value -> its byte token (or single-character token), or the unknown token. */
  private final int[] byteTokens = new int[256];

  SentencePieceTokenizer(Vocabulary vocab) {
    super(vocab);
    this.scores = vocab.scoreArray();
    for (int b = 0; b < 256; b++) {
      int id = vocab.id(String.format("<0x%02X>", b));
      if (id == Vocabulary.NO_TOKEN && b < 0x80) {
        // llama.cpp falls back to the byte as a one-character token
        id = vocab.id(String.valueOf((char) b));
      }
      byteTokens[b] = id == Vocabulary.NO_TOKEN ? vocab.unknown() : id;
    }
  }

  @Override
  protected byte[] piece(int id) {
    int attr = vocab.attributeArray()[id];
    String text = vocab.tokenTexts()[id];
    if ((attr & (TokenAttributes.UNKNOWN | TokenAttributes.CONTROL | TokenAttributes.USER_DEFINED)) != 0) {
      return utf8(text);
    }
    if ((attr & TokenAttributes.NORMAL) != 0) {
      return utf8(text.replace(ESCAPED_SPACE, ' '));
    }
    if ((attr & TokenAttributes.BYTE) != 0) {
      return new byte[] {(byte) byteTokenValue(text)};
    }
    return new byte[0];
  }

  @Override
  public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
    IntList out = new IntList(text.length() / 3 + 4);
    boolean isPrevSpecial = true; // the first text fragment gets the space prefix
    if (addSpecial && vocab.addBos()) {
      out.add(requireSpecial(vocab.bos(), "BOS"));
    }
    List<Fragment> fragments = partition(text, parseSpecial);
    for (Fragment f : fragments) {
      if (f.isText()) {
        String raw = text.substring(f.start(), f.end());
        String prefixed = vocab.addSpacePrefix() && isPrevSpecial ? " " + raw : raw;
        tokenize(prefixed.replace(' ', ESCAPED_SPACE), out);
        isPrevSpecial = false;
      } else {
        out.add(f.token());
        isPrevSpecial = true;
      }
    }
    if (addSpecial && vocab.addEos()) {
      out.add(requireSpecial(vocab.eos(), "EOS"));
    }
    int[] ids = out.toArray();
    warnIfDoubled(ids, addSpecial);
    return ids;
  }

  private int requireSpecial(int id, String what) {
    if (id == Vocabulary.NO_TOKEN) {
      throw new IllegalStateException(vocab.source() + ": the vocabulary adds " + what + " but has no " + what + " token");
    }
    return id;
  }

  /** The SentencePiece merge loop over one escaped text. */
  private void tokenize(String text, IntList out) {
    // symbols: one per code point, as a doubly linked list over [start, start + len) of the text
    int n = text.codePointCount(0, text.length());
    if (n == 0) {
      return;
    }
    int[] start = new int[n];
    int[] len = new int[n];
    int[] prev = new int[n];
    int[] next = new int[n];
    for (int i = 0, pos = 0; i < n; i++) {
      int cpLen = Character.charCount(text.codePointAt(pos));
      start[i] = pos;
      len[i] = cpLen;
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
      pos += cpLen;
    }

    // seed the queue with every adjacent pair that forms a token
    BigramQueue queue = new BigramQueue(n);
    for (int i = 1; i < n; i++) {
      tryAddBigram(text, start, len, i - 1, i, queue);
    }

    // merge the best pair while any is left; stale entries (a side already merged or grown) are skipped
    while (!queue.isEmpty()) {
      int left = queue.topLeft();
      int right = queue.topRight();
      int size = queue.topSize();
      queue.pop();
      if (len[left] == 0 || len[right] == 0 || len[left] + len[right] != size) {
        continue;
      }
      len[left] += len[right];
      len[right] = 0;
      next[left] = next[right];
      if (next[right] >= 0) {
        prev[next[right]] = left;
      }
      tryAddBigram(text, start, len, prev[left], left, queue);
      tryAddBigram(text, start, len, left, next[left], queue);
    }

    // emit: whole tokens, or byte fallback for what is not a token
    for (int i = 0; i != -1; i = next[i]) {
      int id = index.find(text, start[i], start[i] + len[i]);
      if (id != Vocabulary.NO_TOKEN) {
        out.add(id);
      } else {
        for (byte b : text.substring(start[i], start[i] + len[i]).getBytes(StandardCharsets.UTF_8)) {
          int token = byteTokens[b & 0xFF];
          if (token == Vocabulary.NO_TOKEN) {
            throw new IllegalStateException(vocab.source() + ": cannot encode byte 0x" + Integer.toHexString(b & 0xFF) + ": the vocabulary has neither a byte token nor an unknown token");
          }
          out.add(token);
        }
      }
    }
  }

  private void tryAddBigram(String text, int[] start, int[] len, int left, int right, BigramQueue queue) {
    if (left == -1 || right == -1) {
      return;
    }
    int size = len[left] + len[right];
    int id = index.find(text, start[left], start[left] + size);
    if (id == Vocabulary.NO_TOKEN) {
      return;
    }
    queue.push(scores[id], left, right, size);
  }
}
