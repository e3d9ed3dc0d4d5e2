package dev.caravan.engine.tokenizer;

/**
 * Jinja2's precedence for {@code not}: it binds more loosely than comparisons, tests, filters and arithmetic
 * ({@code not x is defined} is {@code not (x is defined)}, {@code not a|length == 1} is {@code not ((a|length) == 1)}),
 * while jinjava applies it to the next operand only. Chat templates rely on the Jinja2 reading (Llama 3.1:
 * {@code if not tools is defined}, {@code if not message.tool_calls|length == 1}), so before rendering every
 * {@code not} inside {@code {{ }}} and {@code {% %}} is given explicit parentheses up to the next top-level
 * {@code and}, {@code or}, {@code if}, {@code else}, comma, colon or closing bracket. {@code not in} and
 * {@code is not} are left alone.
 */
final class JinjaNotPrecedence {
  private JinjaNotPrecedence() {}

  static String rewrite(String source) {
    StringBuilder out = new StringBuilder(source.length() + 32);
    int pos = 0;
    while (pos < source.length()) {
      int expr = source.indexOf("{{", pos);
      int stmt = source.indexOf("{%", pos);
      int comment = source.indexOf("{#", pos);
      int open = minNonNegative(expr, stmt, comment);
      if (open < 0) {
        break;
      }
      out.append(source, pos, open);
      String closing = open == expr ? "}}" : open == stmt ? "%}" : "#}";
      int close = open == comment ? source.indexOf(closing, open + 2) : closingOutsideStrings(source, open + 2, closing);
      if (close < 0) {
        out.append(source, open, source.length());
        return out.toString();
      }
      String inner = source.substring(open + 2, close);
      if (open == stmt && inner.strip().replaceFirst("^[-+]", "").strip().startsWith("raw")) {
        // {% raw %} ... {% endraw %}: copied untouched
        int end = source.indexOf("endraw", close);
        int endClose = end < 0 ? -1 : source.indexOf("%}", end);
        int stop = endClose < 0 ? source.length() : endClose + 2;
        out.append(source, open, stop);
        pos = stop;
        continue;
      }
      out.append(source, open, open + 2).append(open == comment ? inner : rewriteExpression(inner)).append(closing);
      pos = close + 2;
    }
    out.append(source, Math.min(pos, source.length()), source.length());
    return out.toString();
  }

  private static int minNonNegative(int... values) {
    int best = -1;
    for (int v : values) {
      if (v >= 0 && (best < 0 || v < best)) {
        best = v;
      }
    }
    return best;
  }

  private static int closingOutsideStrings(String s, int from, String closing) {
    char quote = 0;
    for (int i = from; i < s.length(); i++) {
      char c = s.charAt(i);
      if (quote != 0) {
        if (c == '\\') {
          i++;
        } else if (c == quote) {
          quote = 0;
        }
      } else if (c == '\'' || c == '"') {
        quote = c;
      } else if (s.startsWith(closing, i)) {
        return i;
      }
    }
    return -1;
  }

  /** Parenthesises each {@code not} operand in one expression or statement. */
  static String rewriteExpression(String e) {
    StringBuilder out = new StringBuilder(e.length() + 8);
    String previousWord = "";
    int i = 0;
    while (i < e.length()) {
      char c = e.charAt(i);
      if (c == '\'' || c == '"') {
        int end = stringEnd(e, i);
        out.append(e, i, end);
        i = end;
        previousWord = "";
        continue;
      }
      if (isIdentifierStart(c) && (i == 0 || !isIdentifierPart(e.charAt(i - 1)))) {
        int j = i;
        while (j < e.length() && isIdentifierPart(e.charAt(j))) {
          j++;
        }
        String word = e.substring(i, j);
        if (word.equals("not") && !previousWord.equals("is") && !nextWord(e, j).equals("in")) {
          int end = operandEnd(e, j);
          out.append("not (").append(rewriteExpression(e.substring(j, end)).strip()).append(')');
          i = end;
          previousWord = "";
          continue;
        }
        out.append(word);
        previousWord = word;
        i = j;
        continue;
      }
      if (!Character.isWhitespace(c)) {
        previousWord = "";
      }
      out.append(c);
      i++;
    }
    return out.toString();
  }

  private static String nextWord(String e, int from) {
    int i = from;
    while (i < e.length() && Character.isWhitespace(e.charAt(i))) {
      i++;
    }
    int j = i;
    while (j < e.length() && isIdentifierPart(e.charAt(j))) {
      j++;
    }
    return e.substring(i, j);
  }

  /** Where the operand of a {@code not} that ends at {@code from} stops. */
  private static int operandEnd(String e, int from) {
    int depth = 0;
    int i = from;
    while (i < e.length()) {
      char c = e.charAt(i);
      if (c == '\'' || c == '"') {
        i = stringEnd(e, i);
        continue;
      }
      if (c == '(' || c == '[' || c == '{') {
        depth++;
      } else if (c == ')' || c == ']' || c == '}') {
        if (depth == 0) {
          return trimEnd(e, from, i);
        }
        depth--;
      } else if (depth == 0 && (c == ',' || c == ':' || c == '-' && i + 1 == e.length())) {
        return trimEnd(e, from, i);
      } else if (depth == 0 && isIdentifierStart(c) && !isIdentifierPart(e.charAt(i - 1))) {
        int j = i;
        while (j < e.length() && isIdentifierPart(e.charAt(j))) {
          j++;
        }
        String word = e.substring(i, j);
        if (word.equals("and") || word.equals("or") || word.equals("if") || word.equals("else")) {
          return trimEnd(e, from, i);
        }
        i = j;
        continue;
      }
      i++;
    }
    // a trailing whitespace-control mark ("-%}") is not part of the operand
    int end = e.length();
    if (end > from && (e.charAt(end - 1) == '-' || e.charAt(end - 1) == '+') && end - 2 >= from && Character.isWhitespace(e.charAt(end - 2))) {
      end--;
    }
    return trimEnd(e, from, end);
  }

  /** {@code end} moved back over whitespace, so the closing parenthesis hugs the operand. */
  private static int trimEnd(String e, int from, int end) {
    while (end > from && Character.isWhitespace(e.charAt(end - 1))) {
      end--;
    }
    return end;
  }

  private static int stringEnd(String e, int start) {
    char quote = e.charAt(start);
    for (int i = start + 1; i < e.length(); i++) {
      char c = e.charAt(i);
      if (c == '\\') {
        i++;
      } else if (c == quote) {
        return i + 1;
      }
    }
    return e.length();
  }

  private static boolean isIdentifierStart(char c) {
    return Character.isLetter(c) || c == '_';
  }

  private static boolean isIdentifierPart(char c) {
    return Character.isLetterOrDigit(c) || c == '_';
  }
}
