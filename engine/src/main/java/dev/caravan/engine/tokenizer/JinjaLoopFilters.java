package dev.caravan.engine.tokenizer;

/**
 * Jinja2's filtered loops, {@code {% for x in xs if cond %}}, which jinjava parses but does not filter. Each such tag
 * is rewritten, before rendering, into a loop that collects the items passing the condition and a loop over those:
 *
 * <pre>
 * {% for k, v in m.items() if k != "return" %}   becomes
 * {% set __caravan_loop1 = [] %}{% for k, v in m.items() %}{% if k != "return" %}{% do __caravan_loop1.append([k, v]) %}{% endif %}{% endfor %}{% for k, v in __caravan_loop1 %}
 * </pre>
 *
 * so that, as in Jinja2, {@code loop.index}, {@code loop.last} and {@code loop.length} count only the items that pass.
 * Whitespace-control marks of the original tag stay on the first and last tag of the rewrite. Loops marked
 * {@code recursive} are left alone.
 */
final class JinjaLoopFilters {
  private JinjaLoopFilters() {}

  static String rewrite(String source) {
    StringBuilder out = new StringBuilder(source.length() + 64);
    int counter = 0;
    int pos = 0;
    while (true) {
      int open = source.indexOf("{%", pos);
      if (open < 0) {
        break;
      }
      int close = tagEnd(source, open + 2);
      if (close < 0) {
        break;
      }
      out.append(source, pos, open);
      String tag = source.substring(open, close + 2);
      String rewritten = rewriteTag(tag, "__caravan_loop" + (counter + 1));
      if (rewritten != null) {
        counter++;
        out.append(rewritten);
      } else {
        out.append(tag);
      }
      pos = close + 2;
    }
    out.append(source, pos, source.length());
    return out.toString();
  }

  /** Index of the {@code %}} closing a tag whose content starts at {@code from}, skipping quoted strings; -1 if none. */
  private static int tagEnd(String s, int from) {
    char quote = 0;
    for (int i = from; i + 1 < s.length(); i++) {
      char c = s.charAt(i);
      if (quote != 0) {
        if (c == '\\') {
          i++;
        } else if (c == quote) {
          quote = 0;
        }
      } else if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == '%' && s.charAt(i + 1) == '}') {
        return i;
      }
    }
    return -1;
  }

  /** The rewrite of one {@code {% ... %}} tag, or null when it is not a filtered for loop. */
  private static String rewriteTag(String tag, String listName) {
    String inner = tag.substring(2, tag.length() - 2);
    String left = "";
    String right = "";
    if (!inner.isEmpty() && (inner.charAt(0) == '-' || inner.charAt(0) == '+')) {
      left = inner.substring(0, 1);
      inner = inner.substring(1);
    }
    if (!inner.isEmpty() && (inner.charAt(inner.length() - 1) == '-' || inner.charAt(inner.length() - 1) == '+')) {
      right = inner.substring(inner.length() - 1);
      inner = inner.substring(0, inner.length() - 1);
    }
    String body = inner.strip();
    if (!body.startsWith("for ") && !body.startsWith("for\t")) {
      return null;
    }
    int in = topLevelKeyword(body, "in", 4);
    if (in < 0) {
      return null;
    }
    int cond = topLevelKeyword(body, "if", in + 2);
    if (cond < 0 || topLevelKeyword(body, "recursive", cond + 2) >= 0) {
      return null;
    }
    String target = body.substring(4, in).strip();
    String iterable = body.substring(in + 2, cond).strip();
    String condition = body.substring(cond + 2).strip();
    String item = target.contains(",") ? "[" + target + "]" : target;
    return "{%" + left + " set " + listName + " = [] %}"
        + "{% for " + target + " in " + iterable + " %}{% if " + condition + " %}{% do " + listName + ".append(" + item + ") %}{% endif %}{% endfor %}"
        + "{% for " + target + " in " + listName + " " + right + "%}";
  }

  /**
   * Position of {@code word} as a separate word outside quotes and brackets, at or after {@code from}; -1 if none.
   */
  private static int topLevelKeyword(String s, String word, int from) {
    int depth = 0;
    char quote = 0;
    for (int i = from; i < s.length(); i++) {
      char c = s.charAt(i);
      if (quote != 0) {
        if (c == '\\') {
          i++;
        } else if (c == quote) {
          quote = 0;
        }
        continue;
      }
      switch (c) {
        case '\'', '"' -> quote = c;
        case '(', '[', '{' -> depth++;
        case ')', ']', '}' -> depth--;
        default -> {
          if (depth == 0 && s.startsWith(word, i) && (i == 0 || Character.isWhitespace(s.charAt(i - 1)))
              && (i + word.length() == s.length() || Character.isWhitespace(s.charAt(i + word.length())))) {
            return i;
          }
        }
      }
    }
    return -1;
  }
}
