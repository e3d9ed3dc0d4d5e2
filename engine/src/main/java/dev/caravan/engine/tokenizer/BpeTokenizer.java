package dev.caravan.engine.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * llama.cpp's byte-level BPE tokenizer ({@code llm_tokenizer_bpe}, {@code tokenizer.ggml.model = gpt2}).
 *
 * <p>Per raw text fragment: the {@linkplain PreTokenizers pre-tokenizer} splits it into words; each word's UTF-8
 * bytes are spelled with GPT-2's byte characters; with "ignore merges" a word that is itself a token is emitted as
 * is; otherwise, starting from one symbol per byte, the adjacent pair with the lowest merge rank is merged (ties:
 * leftmost) until no pair has a rank. Leftover symbols that are not tokens fall back to single-character tokens, as in
 * llama.cpp.
 *
 * <p>Merges are compiled once into a hash table from (left symbol, right symbol) to rank, over integer symbol ids
 * (token ids, plus extra ids for merge strings that are not tokens), so encoding never concatenates strings.
 */
public final class BpeTokenizer extends AbstractTokenizer {
  private final Map<String, Integer> ids;
  private final int vocabSize;
  /** Symbol texts beyond the vocabulary (merge halves or results that are not tokens), by symbol id - vocabSize. */
  private final List<String> extraSymbols = new ArrayList<>();
  /** byte value -> symbol id of its byte-level character. */
  private final int[] byteSymbols = new int[256];
  /** (left symbol, right symbol) -> rank. */
  private final LongIntMap ranks;
  /** rank -> symbol id of the merged pair. */
  private final int[] mergeResults;

  BpeTokenizer(Vocabulary vocab) {
    super(vocab);
    this.ids = vocab.idMap();
    this.vocabSize = vocab.size();
    Map<String, Integer> extraIds = new HashMap<>();
    for (int b = 0; b < 256; b++) {
      byteSymbols[b] = symbolId(String.valueOf(ByteLevel.charOf(b)), extraIds);
    }
    // compile the merges: "left right" at index = rank; the first occurrence of a pair wins
    List<String> merges = vocab.merges();
    this.ranks = new LongIntMap(merges.size());
    this.mergeResults = new int[merges.size()];
    Arrays.fill(mergeResults, -1);
    for (int rank = 0; rank < merges.size(); rank++) {
      String merge = merges.get(rank);
      int space = merge.indexOf(' ', 1);
      if (space < 0) {
        continue; // llama.cpp records an empty pair that can never match
      }
      // token lookups by range: no strings are built unless a part is not a token
      int left = index.find(merge, 0, space);
      if (left == Vocabulary.NO_TOKEN) {
        left = symbolId(merge.substring(0, space), extraIds);
      }
      int right = index.find(merge, space + 1, merge.length());
      if (right == Vocabulary.NO_TOKEN) {
        right = symbolId(merge.substring(space + 1), extraIds);
      }
      if (ranks.putIfAbsent(pair(left, right), rank)) {
        int result = index.find(merge, 0, space, merge, space + 1, merge.length());
        mergeResults[rank] = result != Vocabulary.NO_TOKEN ? result : symbolId(merge.substring(0, space) + merge.substring(space + 1), extraIds);
      }
    }
  }

  private int symbolId(String text, Map<String, Integer> extraIds) {
    Integer id = ids.get(text);
    if (id != null) {
      return id;
    }
    return extraIds.computeIfAbsent(text, t -> {
      extraSymbols.add(t);
      return vocabSize + extraSymbols.size() - 1;
    });
  }

  private static long pair(int left, int right) {
    return ((long) left << 32) | (right & 0xFFFFFFFFL);
  }

  @Override
  protected byte[] piece(int id) {
    int attr = vocab.attributeArray()[id];
    String text = vocab.tokenTexts()[id];
    if ((attr & (TokenAttributes.UNKNOWN | TokenAttributes.CONTROL | TokenAttributes.USER_DEFINED)) != 0) {
      return utf8(text);
    }
    if ((attr & TokenAttributes.NORMAL) != 0) {
      return decodeByteLevel(text);
    }
    if ((attr & TokenAttributes.BYTE) != 0) {
      return new byte[] {(byte) byteTokenValue(text)};
    }
    return new byte[0];
  }

  @Override
  public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
    IntList out = new IntList(text.length() / 3 + 4);
    if (addSpecial && vocab.addBos()) {
      out.add(vocab.bos());
    }
    for (Fragment f : partition(text, parseSpecial)) {
      if (f.isText()) {
        tokenize(text.substring(f.start(), f.end()), out);
      } else {
        out.add(f.token());
      }
    }
    if (addSpecial && vocab.addEos()) {
      out.add(vocab.eos());
    }
    int[] ids = out.toArray();
    warnIfDoubled(ids, addSpecial);
    return ids;
  }

  /** Pre-tokenizes one raw fragment and merges each word. */
  private void tokenize(String text, IntList out) {
    int[] cps = text.codePoints().toArray();
    IntList words = PreTokenizers.split(vocab.preTokenizer(), cps);
    byte[] utf8 = new byte[16];
    int start = 0;
    for (int w = 0; w < words.size(); w++) {
      int end = start + words.get(w);
      // the word's UTF-8 bytes
      int nBytes = 0;
      for (int i = start; i < end; i++) {
        if (nBytes + 4 > utf8.length) {
          utf8 = Arrays.copyOf(utf8, utf8.length * 2);
        }
        nBytes = putUtf8(cps[i], utf8, nBytes);
      }
      start = end;
      // ignore_merges: a word that is a token is taken whole
      if (vocab.ignoreMerges()) {
        Integer id = ids.get(ByteLevel.encode(utf8, 0, nBytes));
        if (id != null) {
          out.add(id);
          continue;
        }
      }
      merge(utf8, nBytes, out);
    }
  }

  private static int putUtf8(int cp, byte[] buf, int at) {
    if (cp < 0x80) {
      buf[at++] = (byte) cp;
    } else if (cp < 0x800) {
      buf[at++] = (byte) (0xC0 | (cp >> 6));
      buf[at++] = (byte) (0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      buf[at++] = (byte) (0xE0 | (cp >> 12));
      buf[at++] = (byte) (0x80 | ((cp >> 6) & 0x3F));
      buf[at++] = (byte) (0x80 | (cp & 0x3F));
    } else {
      buf[at++] = (byte) (0xF0 | (cp >> 18));
      buf[at++] = (byte) (0x80 | ((cp >> 12) & 0x3F));
      buf[at++] = (byte) (0x80 | ((cp >> 6) & 0x3F));
      buf[at++] = (byte) (0x80 | (cp & 0x3F));
    }
    return at;
  }

  /** The BPE merge loop over one word of {@code n} bytes. */
  private void merge(byte[] bytes, int n, IntList out) {
    // symbols: one per byte, as a doubly linked list; len in bytes, sym = symbol id
    int[] sym = new int[n];
    int[] len = new int[n];
    int[] prev = new int[n];
    int[] next = new int[n];
    for (int i = 0; i < n; i++) {
      sym[i] = byteSymbols[bytes[i] & 0xFF];
      len[i] = 1;
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    BigramQueue queue = new BigramQueue(n);
    for (int i = 1; i < n; i++) {
      addBigram(sym, len, i - 1, i, queue);
    }

    // merge the lowest-ranked pair while any is left; stale entries (a side merged or grown since) are skipped
    while (!queue.isEmpty()) {
      int left = queue.topLeft();
      int right = queue.topRight();
      int rank = (int) -queue.topPriority();
      int size = queue.topSize();
      queue.pop();
      if (len[left] == 0 || len[right] == 0 || len[left] + len[right] != size) {
        continue;
      }
      sym[left] = mergeResults[rank];
      len[left] += len[right];
      len[right] = 0;
      next[left] = next[right];
      if (next[right] >= 0) {
        prev[next[right]] = left;
      }
      addBigram(sym, len, prev[left], left, queue);
      addBigram(sym, len, left, next[left], queue);
    }

    // emit the symbols: tokens, or (not a token) llama.cpp's per-byte fallback to one-character tokens
    for (int i = 0; i != -1; i = next[i]) {
      if (sym[i] < vocabSize) {
        out.add(sym[i]);
      } else {
        for (byte b : extraSymbols.get(sym[i] - vocabSize).getBytes(StandardCharsets.UTF_8)) {
          Integer id = b >= 0 ? ids.get(String.valueOf((char) b)) : null;
          if (id != null) {
            out.add(id);
          }
        }
      }
    }
  }

  private void addBigram(int[] sym, int[] len, int left, int right, BigramQueue queue) {
    if (left == -1 || right == -1) {
      return;
    }
    int rank = ranks.get(pair(sym[left], sym[right]));
    if (rank >= 0) {
      queue.push(-rank, left, right, len[left] + len[right]);
    }
  }


  /** Open-addressing hash map from long keys to non-negative ints; {@link #get} returns -1 when absent. */
  private static final class LongIntMap {
    private final long[] keys;
    private final int[] values;
    private final boolean[] used;
    private final int mask;

    LongIntMap(int expected) {
      int cap = Integer.highestOneBit(Math.max(4, expected * 2 - 1)) << 1;
      keys = new long[cap];
      values = new int[cap];
      used = new boolean[cap];
      mask = cap - 1;
    }

    private int slot(long key) {
      long h = key * 0x9E3779B97F4A7C15L;
      return (int) (h ^ (h >>> 32)) & mask;
    }

    /** Puts when absent; returns whether it did. */
    boolean putIfAbsent(long key, int value) {
      int i = slot(key);
      while (used[i]) {
        if (keys[i] == key) {
          return false;
        }
        i = (i + 1) & mask;
      }
      used[i] = true;
      keys[i] = key;
      values[i] = value;
      return true;
    }

    int get(long key) {
      int i = slot(key);
      while (used[i]) {
        if (keys[i] == key) {
          return values[i];
        }
        i = (i + 1) & mask;
      }
      return -1;
    }
  }
}
