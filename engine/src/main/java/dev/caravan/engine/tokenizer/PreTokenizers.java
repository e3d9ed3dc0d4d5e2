package dev.caravan.engine.tokenizer;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Byte-level BPE pre-tokenizers: split text (as code points) into the words that BPE merges within.
 *
 * <p>The GPT-2 and Llama 3 splitters are hand-written scanners, transcribed from llama.cpp's
 * {@code unicode_regex_split_custom_gpt2} / {@code unicode_regex_split_custom_llama3}, which are what llama.cpp
 * actually runs for these regexes:
 *
 * <pre>
 * GPT-2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * </pre>
 *
 * Java's regex engine is not used for these: its {@code \s} is ASCII-only and its backtracking differs from llama.cpp's
 * scanner in corner cases; the scanner reproduces llama.cpp including its quirks. "Whitespace", "letter" and "number"
 * are {@link UnicodeClass}'s definitions. llama.cpp's "default" pre-tokenizer (no {@code tokenizer.ggml.pre}) chains
 * three plain regexes that Java handles identically (they use only {@code \p{P}}, {@code \p{N}} and ASCII classes)
 * around the GPT-2 scanner.
 *
 * <p>Output: word lengths in code points, in order, covering the input exactly.
 */
final class PreTokenizers {
  private PreTokenizers() {}

  private static final int OUT_OF_RANGE = -1;

  // flag bits per code point; 0 = outside the chunk (llama.cpp's empty unicode_cpt_flags{})
  private static final int IN_RANGE = 1;
  private static final int LETTER = 2;
  private static final int NUMBER = 4;
  private static final int WHITESPACE = 8;

  private static final Pattern DEFAULT_PUNCTUATION = Pattern.compile("[\\p{P}\\$\\+<=>\\^~\\|]+");
  private static final Pattern DEFAULT_NUMBERS = Pattern.compile("\\p{N}+");
  private static final Pattern DEFAULT_THREE_DIGITS = Pattern.compile("[0-9][0-9][0-9]");

  /** Splits {@code cps} into words; returns their lengths in code points. */
  static IntList split(Vocabulary.PreTokenizer pre, int[] cps) {
    IntList whole = new IntList(1);
    whole.add(cps.length);
    int[] flags = flagsOf(cps);
    return switch (pre) {
      case GPT2 -> gpt2(cps, flags, whole);
      case LLAMA3 -> llama3(cps, flags, whole);
      case DEFAULT -> {
        IntList chunks = regex(DEFAULT_PUNCTUATION, cps, whole);
        chunks = gpt2(cps, flags, chunks);
        chunks = regex(DEFAULT_NUMBERS, cps, chunks);
        yield regex(DEFAULT_THREE_DIGITS, cps, chunks);
      }
      case NONE -> throw new IllegalArgumentException("SentencePiece vocabularies have no pre-tokenizer");
    };
  }

  private static int[] flagsOf(int[] cps) {
    int[] flags = new int[cps.length];
    for (int i = 0; i < cps.length; i++) {
      int cp = cps[i];
      int f = IN_RANGE;
      if (UnicodeClass.isLetter(cp)) {
        f |= LETTER;
      } else if (UnicodeClass.isNumber(cp)) {
        f |= NUMBER;
      }
      if (UnicodeClass.isWhitespace(cp)) {
        f |= WHITESPACE;
      }
      flags[i] = f;
    }
    return flags;
  }

  /** One chunk being scanned: bounded code point and flag access, and the word boundary output. */
  private static final class Scan {
    final int[] cps;
    final int[] flags;
    final int ini;
    final int end;
    final IntList out;
    int prevEnd;

    Scan(int[] cps, int[] flags, int ini, int end, IntList out) {
      this.cps = cps;
      this.flags = flags;
      this.ini = ini;
      this.end = end;
      this.out = out;
      this.prevEnd = ini;
    }

    int cpt(int pos) {
      return pos >= ini && pos < end ? cps[pos] : OUT_OF_RANGE;
    }

    int flags(int pos) {
      return pos >= ini && pos < end ? flags[pos] : 0;
    }

    /** Ends the current word at {@code pos} (nothing when empty); returns its length. */
    int addToken(int pos) {
      int len = pos - prevEnd;
      if (len > 0) {
        out.add(len);
      }
      prevEnd = pos;
      return len;
    }
  }

  private static boolean is(int flags, int bit) {
    return (flags & bit) != 0;
  }

  /** llama.cpp's GPT-2 scanner, applied within each chunk. */
  static IntList gpt2(int[] cps, int[] flags, IntList chunks) {
    IntList out = new IntList(cps.length / 4 + 4);
    int start = 0;
    for (int c = 0; c < chunks.size(); c++) {
      Scan s = new Scan(cps, flags, start, start + chunks.get(c), out);
      start += chunks.get(c);
      for (int pos = s.ini; pos < s.end; ) {
        int cpt = s.cpt(pos);
        int f = s.flags(pos);

        // 's|'t|'re|'ve|'m|'ll|'d
        if (cpt == '\'' && pos + 1 < s.end) {
          int next = s.cpt(pos + 1);
          if (next == 's' || next == 't' || next == 'm' || next == 'd') {
            pos += s.addToken(pos + 2);
            continue;
          }
          if (pos + 2 < s.end) {
            int nextNext = s.cpt(pos + 2);
            if ((next == 'r' && nextNext == 'e') || (next == 'v' && nextNext == 'e') || (next == 'l' && nextNext == 'l')) {
              pos += s.addToken(pos + 3);
              continue;
            }
          }
        }

        int f2 = cpt == ' ' ? s.flags(pos + 1) : f;
        // <space>?\p{L}+
        if (is(f2, LETTER)) {
          pos += cpt == ' ' ? 1 : 0;
          while (is(f2, LETTER)) {
            f2 = s.flags(++pos);
          }
          s.addToken(pos);
          continue;
        }
        // <space>?\p{N}+
        if (is(f2, NUMBER)) {
          pos += cpt == ' ' ? 1 : 0;
          while (is(f2, NUMBER)) {
            f2 = s.flags(++pos);
          }
          s.addToken(pos);
          continue;
        }
        // <space>?[^\s\p{L}\p{N}]+
        if (!is(f2, WHITESPACE | LETTER | NUMBER) && f2 != 0) {
          pos += cpt == ' ' ? 1 : 0;
          while (!is(f2, WHITESPACE | LETTER | NUMBER) && f2 != 0) {
            f2 = s.flags(++pos);
          }
          s.addToken(pos);
          continue;
        }

        int numWhitespaces = 0;
        while (is(s.flags(pos + numWhitespaces), WHITESPACE)) {
          numWhitespaces++;
        }
        // \s+(?!\S)
        if (numWhitespaces > 1 && s.cpt(pos + numWhitespaces) != OUT_OF_RANGE) {
          pos += numWhitespaces - 1;
          s.addToken(pos);
          continue;
        }
        // \s+
        if (numWhitespaces > 0) {
          pos += numWhitespaces;
          s.addToken(pos);
          continue;
        }
        // no match
        s.addToken(++pos);
      }
    }
    return out;
  }

  /** llama.cpp's Llama 3 scanner, applied within each chunk. */
  static IntList llama3(int[] cps, int[] flags, IntList chunks) {
    IntList out = new IntList(cps.length / 4 + 4);
    int start = 0;
    for (int c = 0; c < chunks.size(); c++) {
      Scan s = new Scan(cps, flags, start, start + chunks.get(c), out);
      start += chunks.get(c);
      for (int pos = s.ini; pos < s.end; ) {
        int cpt = s.cpt(pos);
        int f = s.flags(pos);

        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if (cpt == '\'' && pos + 1 < s.end) {
          int next = Character.toLowerCase(s.cpt(pos + 1));
          if (next == 's' || next == 't' || next == 'm' || next == 'd') {
            pos += s.addToken(pos + 2);
            continue;
          }
          if (pos + 2 < s.end) {
            int nextNext = Character.toLowerCase(s.cpt(pos + 2));
            if ((next == 'r' && nextNext == 'e') || (next == 'v' && nextNext == 'e') || (next == 'l' && nextNext == 'l')) {
              pos += s.addToken(pos + 3);
              continue;
            }
          }
        }

        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (!(cpt == '\r' || cpt == '\n' || is(f, NUMBER))) {
          if (is(f, LETTER) || is(s.flags(pos + 1), LETTER)) {
            pos++;
            while (is(s.flags(pos), LETTER)) {
              pos++;
            }
            s.addToken(pos);
            continue;
          }
        }

        // \p{N}{1,3}
        if (is(f, NUMBER)) {
          int ini = pos;
          while (is(s.flags(pos), NUMBER)) {
            if (++pos - ini >= 3) {
              s.addToken(pos);
              ini = pos;
            }
          }
          s.addToken(pos);
          continue;
        }

        // <space>?[^\s\p{L}\p{N}]+[\r\n]*  (llama.cpp tests the first code point's flags here, not f2: kept as is)
        int f2 = cpt == ' ' ? s.flags(pos + 1) : f;
        if (!is(f2, WHITESPACE | LETTER | NUMBER) && f != 0) {
          pos += cpt == ' ' ? 1 : 0;
          while (!is(f2, WHITESPACE | LETTER | NUMBER) && f2 != 0) {
            f2 = s.flags(++pos);
          }
          int cpt2 = s.cpt(pos);
          while (cpt2 == '\r' || cpt2 == '\n') {
            cpt2 = s.cpt(++pos);
          }
          s.addToken(pos);
          continue;
        }

        int numWhitespaces = 0;
        int lastEndROrN = 0;
        while (is(s.flags(pos + numWhitespaces), WHITESPACE)) {
          int cpt2 = s.cpt(pos + numWhitespaces);
          if (cpt2 == '\r' || cpt2 == '\n') {
            lastEndROrN = pos + numWhitespaces + 1;
          }
          numWhitespaces++;
        }
        // \s*[\r\n]+
        if (lastEndROrN > 0) {
          pos = lastEndROrN;
          s.addToken(pos);
          continue;
        }
        // \s+(?!\S)
        if (numWhitespaces > 1 && s.cpt(pos + numWhitespaces) != OUT_OF_RANGE) {
          pos += numWhitespaces - 1;
          s.addToken(pos);
          continue;
        }
        // \s+
        if (numWhitespaces > 0) {
          pos += numWhitespaces;
          s.addToken(pos);
          continue;
        }
        // no match
        s.addToken(++pos);
      }
    }
    return out;
  }

  /**
   * One general regex step (llama.cpp's {@code unicode_regex_split_stl}): within each chunk, every match and every gap
   * between matches becomes a piece.
   */
  static IntList regex(Pattern pattern, int[] cps, IntList chunks) {
    IntList out = new IntList(chunks.size() * 2);
    int start = 0;
    for (int c = 0; c < chunks.size(); c++) {
      int len = chunks.get(c);
      String text = new String(cps, start, len);
      Matcher m = pattern.matcher(text);
      int prevCp = 0; // code point offset of the end of the previous piece
      int prevChar = 0; // the same, in chars
      while (m.find()) {
        if (m.end() == m.start()) {
          continue;
        }
        int matchStart = prevCp + text.codePointCount(prevChar, m.start());
        int matchLen = text.codePointCount(m.start(), m.end());
        prevChar = m.end();
        if (matchStart > prevCp) {
          out.add(matchStart - prevCp);
        }
        out.add(matchLen);
        prevCp = matchStart + matchLen;
      }
      if (prevCp < len) {
        out.add(len - prevCp);
      }
      start += len;
    }
    return out;
  }
}
