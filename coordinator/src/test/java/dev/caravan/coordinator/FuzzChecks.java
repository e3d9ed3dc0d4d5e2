package dev.caravan.coordinator;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** What the API fuzzers check every error message a client gets for. */
public final class FuzzChecks {
  private FuzzChecks() {}

  /**
   * What gives away Java in a message: exception and error names, qualified class names, stack frames, and the
   * {@code Class.method()} and {@code Enum.CONSTANT} names libraries put in theirs (backticked, in Jackson's). A client's
   * own text repeated in a message could match too; random text hardly does.
   */
  private static final Pattern JAVA_NAMES = Pattern.compile(
      "Exception|Error:|\\bjava\\.|\\bcom\\.[a-z]|\\bio\\.(netty|grpc)|\\bdev\\.caravan|\\bat [a-z]+\\.|`[A-Za-z][\\w$]*(\\.[\\w$]+)+(\\(\\))?`|\\b[A-Z][A-Za-z]+\\.[a-z][A-Za-z]*\\(\\)|\\b[A-Z][A-Za-z]+\\.[A-Z][A-Z_]{2,}\\b");

  /** The first piece of Java in {@code message}, or null when there is none. */
  public static String javaIn(String message) {
    Matcher m = JAVA_NAMES.matcher(message);
    return m.find() ? m.group() : null;
  }
}
