package dev.caravan.engine.tokenizer;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * Python {@code str} methods for jinjava ({@code content.startswith('x')}, {@code .split('</think>')},
 * {@code .lstrip('\n')}, ...), which chat templates call and which jinjava would otherwise look up as Java methods
 * (missing, or with other semantics: Java's {@code split} takes a regex and drops trailing empty strings). Placed in
 * front of jinjava's resolver; any other call falls through to it.
 */
final class PythonStringMethods extends ELResolver {

  @Override
  public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
    if (!(base instanceof String s) || method == null) {
      return null;
    }
    Object[] p = params == null ? new Object[0] : params;
    Object result = call(s, method.toString(), p);
    if (result != NOT_HANDLED) {
      context.setPropertyResolved(true);
      return result;
    }
    return null;
  }

  private static final Object NOT_HANDLED = new Object();

  private static Object call(String s, String name, Object[] p) {
    return switch (name) {
      case "startswith" -> p.length >= 1 ? anyMatch(p[0], s::startsWith) : NOT_HANDLED;
      case "endswith" -> p.length >= 1 ? anyMatch(p[0], s::endsWith) : NOT_HANDLED;
      case "strip" -> stripRight(stripLeft(s, chars(p)), chars(p));
      case "lstrip" -> stripLeft(s, chars(p));
      case "rstrip" -> stripRight(s, chars(p));
      case "split" -> split(s, p.length > 0 && p[0] != null ? p[0].toString() : null, p.length > 1 ? ((Number) p[1]).intValue() : -1);
      case "lower" -> s.toLowerCase(Locale.ROOT);
      case "upper" -> s.toUpperCase(Locale.ROOT);
      case "title" -> title(s);
      case "capitalize" -> s.isEmpty() ? s : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
      case "replace" -> p.length == 2 ? s.replace(p[0].toString(), p[1].toString()) : NOT_HANDLED;
      case "find" -> p.length == 1 ? s.indexOf(p[0].toString()) : NOT_HANDLED;
      case "count" -> p.length == 1 ? count(s, p[0].toString()) : NOT_HANDLED;
      case "isdigit" -> !s.isEmpty() && s.chars().allMatch(Character::isDigit);
      case "isalpha" -> !s.isEmpty() && s.chars().allMatch(Character::isLetter);
      case "isalnum" -> !s.isEmpty() && s.chars().allMatch(Character::isLetterOrDigit);
      case "isspace" -> !s.isEmpty() && s.chars().allMatch(PythonStringMethods::isPySpace);
      case "splitlines" -> splitLines(s);
      case "join" -> p.length == 1 && p[0] instanceof Iterable<?> it ? join(s, it) : NOT_HANDLED;
      default -> NOT_HANDLED;
    };
  }

  private interface Test {
    boolean test(String prefix);
  }

  /** A string or a tuple (list) of strings, as Python's startswith/endswith take. */
  private static boolean anyMatch(Object arg, Test test) {
    if (arg instanceof Collection<?> c) {
      for (Object o : c) {
        if (test.test(String.valueOf(o))) {
          return true;
        }
      }
      return false;
    }
    return test.test(String.valueOf(arg));
  }

  private static String chars(Object[] p) {
    return p.length > 0 && p[0] != null ? p[0].toString() : null;
  }

  /** Python's str.isspace per character. */
  static boolean isPySpace(int c) {
    return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == 0x85;
  }

  private static boolean strippable(char c, String chars) {
    return chars == null ? isPySpace(c) : chars.indexOf(c) >= 0;
  }

  private static String stripLeft(String s, String chars) {
    int i = 0;
    while (i < s.length() && strippable(s.charAt(i), chars)) {
      i++;
    }
    return s.substring(i);
  }

  private static String stripRight(String s, String chars) {
    int i = s.length();
    while (i > 0 && strippable(s.charAt(i - 1), chars)) {
      i--;
    }
    return s.substring(0, i);
  }

  /** Python's str.split(sep, maxsplit): with no separator, runs of whitespace split and empty parts are dropped. */
  static List<String> split(String s, String sep, int maxSplit) {
    List<String> out = new ArrayList<>();
    if (sep == null) {
      int i = 0;
      int n = s.length();
      while (true) {
        while (i < n && isPySpace(s.charAt(i))) {
          i++;
        }
        if (i >= n) {
          break;
        }
        if (maxSplit >= 0 && out.size() == maxSplit) {
          out.add(stripRight(s.substring(i), null));
          break;
        }
        int j = i;
        while (j < n && !isPySpace(s.charAt(j))) {
          j++;
        }
        out.add(s.substring(i, j));
        i = j;
      }
      return out;
    }
    if (sep.isEmpty()) {
      throw new IllegalArgumentException("empty separator");
    }
    int from = 0;
    while (maxSplit < 0 || out.size() < maxSplit) {
      int at = s.indexOf(sep, from);
      if (at < 0) {
        break;
      }
      out.add(s.substring(from, at));
      from = at + sep.length();
    }
    out.add(s.substring(from));
    return out;
  }

  /** Python's str.splitlines() for \n, \r and \r\n: no trailing empty line. */
  private static List<String> splitLines(String s) {
    List<String> out = new ArrayList<>();
    int start = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\n' || c == '\r') {
        out.add(s.substring(start, i));
        if (c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n') {
          i++;
        }
        start = i + 1;
      }
    }
    if (start < s.length()) {
      out.add(s.substring(start));
    }
    return out;
  }

  private static String title(String s) {
    StringBuilder sb = new StringBuilder(s.length());
    boolean prevCased = false;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      sb.append(prevCased ? Character.toLowerCase(c) : Character.toUpperCase(c));
      prevCased = Character.isLetter(c);
    }
    return sb.toString();
  }

  private static int count(String s, String sub) {
    if (sub.isEmpty()) {
      return s.length() + 1;
    }
    int n = 0;
    for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + sub.length())) {
      n++;
    }
    return n;
  }

  private static String join(String sep, Iterable<?> items) {
    StringBuilder sb = new StringBuilder();
    Iterator<?> it = items.iterator();
    while (it.hasNext()) {
      sb.append(it.next());
      if (it.hasNext()) {
        sb.append(sep);
      }
    }
    return sb.toString();
  }

  // this resolver only handles method calls; property access is left to the next resolver

  @Override
  public Class<?> getCommonPropertyType(ELContext context, Object base) {
    return null;
  }

  @Override
  public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
    return null;
  }

  @Override
  public Class<?> getType(ELContext context, Object base, Object property) {
    return null;
  }

  @Override
  public Object getValue(ELContext context, Object base, Object property) {
    return null;
  }

  @Override
  public boolean isReadOnly(ELContext context, Object base, Object property) {
    return false;
  }

  @Override
  public void setValue(ELContext context, Object base, Object property, Object value) {}
}
