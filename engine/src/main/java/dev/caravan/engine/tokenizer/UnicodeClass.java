package dev.caravan.engine.tokenizer;

/**
 * The code point classes llama.cpp's pre-tokenizers test ({@code unicode_cpt_flags}): letter ({@code \p{L}}), number
 * ({@code \p{N}}) and whitespace (the Unicode White_Space property, which is what llama.cpp's table holds and what
 * Python's {@code regex} module calls {@code \s}; Java's {@code \s} is ASCII-only, so nothing here uses Java regex
 * classes).
 *
 * <p>Categories come from {@link Character#getType}, i.e. the JDK's Unicode version (16.0 for Java 25); llama.cpp's
 * table was generated from an earlier Unicode version, so code points assigned only in the newer version (rare scripts,
 * new symbols) may split differently. Everything assigned in both agrees.
 */
final class UnicodeClass {
  private UnicodeClass() {}

  static boolean isLetter(int cp) {
    return Character.isLetter(cp);
  }

  static boolean isNumber(int cp) {
    int type = Character.getType(cp);
    return type == Character.DECIMAL_DIGIT_NUMBER || type == Character.LETTER_NUMBER || type == Character.OTHER_NUMBER;
  }

  /** Unicode White_Space: TAB..CR, space, NEL, NBSP, OGHAM SPACE MARK, U+2000..U+200A, LS, PS, NNBSP, MMSP, IDEOGRAPHIC SPACE. */
  static boolean isWhitespace(int cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F
        || cp == 0x205F || cp == 0x3000;
  }
}
