package dev.caravan.engine.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What both tokenizers share with llama.cpp's {@code llama_vocab::impl}: splitting the input around special tokens
 * ({@code tokenizer_st_partition}), the token-to-piece table, and detokenization.
 */
abstract sealed class AbstractTokenizer implements Tokenizer permits SentencePieceTokenizer, BpeTokenizer {
  private static final Logger log = LoggerFactory.getLogger(AbstractTokenizer.class);
  private static final byte[] EMPTY = new byte[0];

  protected final Vocabulary vocab;
  /** Token text to id, by string ranges. */
  protected final TokenIndex index;
  /** Each token's piece as llama.cpp caches it (control tokens rendered). */
  private final byte[][] pieces;

  AbstractTokenizer(Vocabulary vocab) {
    this.vocab = vocab;
    this.index = new TokenIndex(vocab.tokenTexts());
    this.pieces = new byte[vocab.size()][];
    for (int id = 0; id < pieces.length; id++) {
      pieces[id] = piece(id);
    }
  }

  @Override
  public Vocabulary vocabulary() {
    return vocab;
  }

  /** The bytes of a token with control tokens rendered ({@code token_to_piece(special = true)}), or empty. */
  protected abstract byte[] piece(int id);

  /** A fragment of the input: raw text [start, end) or one special token. */
  protected record Fragment(int start, int end, int token) {
    static Fragment text(int start, int end) {
      return new Fragment(start, end, Vocabulary.NO_TOKEN);
    }

    static Fragment special(int token) {
      return new Fragment(0, 0, token);
    }

    boolean isText() {
      return token == Vocabulary.NO_TOKEN;
    }
  }

  /**
   * llama.cpp's {@code tokenizer_st_partition}: for each special token, longest text first, every raw fragment is split
   * around its (non-overlapping, leftmost-first) occurrences. Control and unknown tokens take part only when
   * {@code parseSpecial}; user-defined tokens always do. LSTRIP/RSTRIP tokens eat the ASCII whitespace beside them.
   */
  protected List<Fragment> partition(String text, boolean parseSpecial) {
    List<Fragment> fragments = new ArrayList<>();
    if (text.isEmpty()) {
      return fragments;
    }
    fragments.add(Fragment.text(0, text.length()));
    String[] texts = vocab.tokenTexts();
    int[] attrs = vocab.attributeArray();
    for (int special : vocab.specialTokensLongestFirst()) {
      int attr = attrs[special];
      if (!parseSpecial && (attr & (TokenAttributes.CONTROL | TokenAttributes.UNKNOWN)) != 0) {
        continue;
      }
      String needle = texts[special];
      int[] occurrences = occurrences(text, needle);
      if (occurrences.length == 0) {
        continue;
      }
      List<Fragment> next = new ArrayList<>(fragments.size() + 2 * occurrences.length);
      for (Fragment f : fragments) {
        if (!f.isText()) {
          next.add(f);
          continue;
        }
        // split this raw fragment around each occurrence that fits, left to right
        int cur = f.start();
        int end = f.end();
        while (true) {
          int match = firstAtOrAfter(occurrences, cur);
          if (match < 0 || match + needle.length() > end) {
            break;
          }
          int leftEnd = match;
          if ((attr & TokenAttributes.LSTRIP) != 0) {
            while (leftEnd > cur && isCSpace(text.charAt(leftEnd - 1))) {
              leftEnd--;
            }
          }
          if (leftEnd > cur) {
            next.add(Fragment.text(cur, leftEnd));
          }
          next.add(Fragment.special(special));
          int right = match + needle.length();
          if (right >= end) {
            cur = end;
            break;
          }
          if ((attr & TokenAttributes.RSTRIP) != 0) {
            while (right < end && isCSpace(text.charAt(right))) {
              right++;
            }
          }
          cur = right;
        }
        if (cur < end) {
          next.add(Fragment.text(cur, end));
        }
      }
      fragments = next;
    }
    return fragments;
  }

  /** All start positions of {@code needle} in {@code text}, overlapping ones included, ascending. */
  private static int[] occurrences(String text, String needle) {
    int first = text.indexOf(needle);
    if (first < 0) {
      return new int[0];
    }
    IntList list = new IntList(4);
    for (int i = first; i >= 0; i = text.indexOf(needle, i + 1)) {
      list.add(i);
    }
    return list.toArray();
  }

  private static int firstAtOrAfter(int[] sorted, int from) {
    int i = Arrays.binarySearch(sorted, from);
    if (i < 0) {
      i = -i - 1;
    }
    return i < sorted.length ? sorted[i] : -1;
  }

  /** C's {@code isspace} in the "C" locale. */
  private static boolean isCSpace(char c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
  }

  @Override
  public byte[] tokenBytes(int id, boolean renderSpecial) {
    return pieceRef(id, renderSpecial).clone();
  }

  /** llama.cpp's warning when adding BOS/EOS doubles one that the text already produced. */
  protected void warnIfDoubled(int[] ids, boolean addSpecial) {
    if (!addSpecial) {
      return;
    }
    if (vocab.addBos() && ids.length >= 2 && ids[1] == vocab.bos()) {
      log.warn("{}: added a BOS token to the prompt as the model asks, but the prompt also starts with a BOS token: it now starts with two", vocab.source());
    }
    if (vocab.addEos() && ids.length >= 2 && ids[ids.length - 2] == vocab.eos()) {
      log.warn("{}: added an EOS token to the prompt as the model asks, but the prompt also ends with an EOS token: it now ends with two", vocab.source());
    }
  }

  /** The cached piece (not copied); control and unknown tokens are empty unless {@code renderSpecial}. */
  final byte[] pieceRef(int id, boolean renderSpecial) {
    vocab.checkId(id);
    if (!renderSpecial && (vocab.attributeArray()[id] & (TokenAttributes.UNKNOWN | TokenAttributes.CONTROL)) != 0) {
      return EMPTY;
    }
    return pieces[id];
  }

  @Override
  public byte[] decodeBytes(int[] ids, boolean removeSpecial, boolean unparseSpecial) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(ids.length * 4);
    int from = 0;
    int to = ids.length;
    // SentencePiece: the space the encoder put in front of the text is taken off again
    boolean removeSpace = vocab.addSpacePrefix();
    if (removeSpecial && vocab.addBos() && to > from && ids[from] == vocab.bos()) {
      removeSpace = false;
      from++;
    }
    if (removeSpecial && vocab.addEos() && to > from && ids[to - 1] == vocab.eos()) {
      to--;
    }
    for (int i = from; i < to; i++) {
      byte[] piece = pieceRef(ids[i], unparseSpecial);
      int skip = removeSpace && piece.length > 0 && piece[0] == ' ' ? 1 : 0;
      out.write(piece, skip, piece.length - skip);
      removeSpace = false;
    }
    byte[] text = out.toByteArray();
    return vocab.cleanSpaces() ? cleanUpSpaces(text) : text;
  }

  /**
   * llama.cpp's clean-up of tokenization spaces (three in-place passes over the bytes, transcribed as they are): drop a
   * space before {@code ? ! . ,}; drop the spaces around a lone {@code '}; drop the space before {@code 's 'm 're 've}.
   */
  static byte[] cleanUpSpaces(byte[] input) {
    byte[] text = input.clone();
    int total = text.length;

    // first pass: " ?", " !", " .", " ,"
    int total1 = total;
    total = total > 0 ? 1 : 0;
    for (int i = 1; i < total1; ++i) {
      byte x = text[i];
      if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) {
        total--;
      }
      text[total++] = x;
    }

    // second pass: " ' " -> "'"
    int total2 = total;
    total = total > 0 ? 1 : 0;
    for (int i = 1; i < total2; ++i) {
      byte x = text[i];
      if (x == '\'' && i + 1 < total2 && text[i - 1] == ' ' && text[i + 1] == ' ') {
        total--;
        text[++i] = 0;
      }
      text[total++] = x;
    }

    // third pass: " 's", " 'm", " 're", " 've" lose their space (" 't", " 'd", " 'll" keep it)
    int total3 = total;
    total = total > 0 ? 1 : 0;
    for (int i = 1; i < total3; ++i) {
      byte x = text[i];
      if (text[i - 1] == ' ' && x == '\'' && i + 1 < total3) {
        byte x1 = text[i + 1];
        if (x1 == 's' || x1 == 'm') {
          total--;
        } else if (x1 != 't' && x1 != 'd' && i + 2 < total3) {
          byte x2 = text[i + 2];
          if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) {
            total--;
          }
        }
      }
      text[total++] = x;
    }
    return Arrays.copyOf(text, total);
  }

  /** The byte of a byte token: its text is {@code <0xNN>}; parsed like llama.cpp's {@code strtol(text.substr(3, 2))}. */
  static int byteTokenValue(String text) {
    String hex = text.length() >= 5 ? text.substring(3, 5) : text.length() > 3 ? text.substring(3) : "";
    int value = 0;
    for (int i = 0; i < hex.length(); i++) {
      int d = Character.digit(hex.charAt(i), 16);
      if (d < 0) {
        break;
      }
      value = value * 16 + d;
    }
    return value & 0xFF;
  }

  /** GPT-2 byte-level text back to bytes ({@code llama_decode_text}), with llama.cpp's marker for foreign characters. */
  static byte[] decodeByteLevel(String text) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(text.length());
    for (int i = 0; i < text.length(); ) {
      int cp = text.codePointAt(i);
      i += Character.charCount(cp);
      int b = ByteLevel.byteOf(cp);
      if (b >= 0) {
        out.write(b);
      } else {
        byte[] utf8 = new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8);
        out.writeBytes(("[UNK_BYTE_0x" + HexFormat.of().formatHex(utf8) + text + "]").getBytes(StandardCharsets.UTF_8));
      }
    }
    return out.toByteArray();
  }

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
