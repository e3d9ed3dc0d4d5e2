package dev.caravan.cluster.security;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The API keys that may call a coordinator's public APIs, from a key file: one key per line; blank lines and lines
 * starting with {@code #} are ignored. Only SHA-256 digests of the keys are kept, and a presented key is compared with
 * every one of them by {@link MessageDigest#isEqual} over those fixed-length digests, so the time a check takes says
 * nothing about how much of a key was right. No method here logs or returns a key.
 *
 * <p>Shared by every entry point: the gRPC API through {@link ApiKeyCheck}, an HTTP API through
 * {@link #verifyAuthorization} with its {@code Authorization} header's value.
 */
public final class ApiKeys {
  /** Shortest key accepted in a key file: shorter ones are guessable. */
  public static final int MIN_KEY_LENGTH = 16;
  /** Longest key (and header) looked at; longer ones are refused without hashing. */
  public static final int MAX_KEY_LENGTH = 4096;

  /** What a check of an {@code Authorization} value found. */
  public enum Verdict {
    /** A configured key. */
    OK,
    /** No header, or an empty one. */
    MISSING,
    /** Not {@code Bearer <key>}. */
    MALFORMED,
    /** A bearer token that is no configured key. */
    WRONG;

    /** A message for the client (never with the key). */
    public String message() {
      return switch (this) {
        case OK -> "ok";
        case MISSING -> "missing API key: send the header 'authorization: Bearer <key>'";
        case MALFORMED -> "malformed authorization: expected 'Bearer <key>'";
        case WRONG -> "invalid API key";
      };
    }
  }

  private final byte[][] digests;

  private ApiKeys(List<byte[]> digests) {
    this.digests = digests.toArray(byte[][]::new);
  }

  /** Keys given directly (tests, tools); each at least {@link #MIN_KEY_LENGTH} characters. */
  public static ApiKeys of(String... keys) {
    List<byte[]> d = new ArrayList<>();
    for (int i = 0; i < keys.length; i++) {
      checkKey(keys[i], "key " + (i + 1));
      d.add(sha256(keys[i]));
    }
    if (d.isEmpty()) {
      throw new IllegalArgumentException("no API keys given");
    }
    return new ApiKeys(d);
  }

  /**
   * Reads a key file; warns when others may read it.
   *
   * @throws IllegalArgumentException naming the file and line (never the key) when it cannot be used
   */
  public static ApiKeys load(Path file) {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("--api-keys: no such file: " + file);
    }
    SecretFiles.warnIfReadableByOthers(file, "--api-keys");
    List<String> lines;
    try {
      lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalArgumentException("--api-keys: cannot read " + file + ": " + e.getMessage());
    }
    List<byte[]> d = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      String key = lines.get(i).strip();
      if (key.isEmpty() || key.startsWith("#")) {
        continue;
      }
      checkKey(key, "--api-keys: " + file + " line " + (i + 1));
      d.add(sha256(key));
    }
    if (d.isEmpty()) {
      throw new IllegalArgumentException("--api-keys: " + file + " holds no key (one per line; # starts a comment)");
    }
    return new ApiKeys(d);
  }

  private static void checkKey(String key, String where) {
    if (key.length() < MIN_KEY_LENGTH || key.length() > MAX_KEY_LENGTH) {
      throw new IllegalArgumentException(where + ": an API key has " + MIN_KEY_LENGTH + " to " + MAX_KEY_LENGTH + " characters, this one " + key.length());
    }
    for (int i = 0; i < key.length(); i++) {
      char c = key.charAt(i);
      if (c <= ' ' || c > '~') {
        throw new IllegalArgumentException(where + ": an API key is printable ASCII without spaces (character " + (i + 1) + " is not)");
      }
    }
  }

  /** How many keys are configured. */
  public int size() {
    return digests.length;
  }

  /** Whether {@code key} is one of the configured keys; constant time in the keys' contents. */
  public boolean matches(String key) {
    if (key == null || key.isEmpty() || key.length() > MAX_KEY_LENGTH) {
      return false;
    }
    byte[] presented = sha256(key);
    boolean found = false;
    for (byte[] d : digests) {
      found |= MessageDigest.isEqual(d, presented); // every digest is compared: no early exit
    }
    return found;
  }

  /** Checks the value of an {@code Authorization} header (or gRPC {@code authorization} metadata): {@code Bearer <key>}. */
  public Verdict verifyAuthorization(String value) {
    if (value == null || value.isBlank()) {
      return Verdict.MISSING;
    }
    if (value.length() > MAX_KEY_LENGTH + 16) {
      return Verdict.MALFORMED;
    }
    String v = value.strip();
    if (v.equalsIgnoreCase("bearer")) {
      return Verdict.MISSING;
    }
    int space = v.indexOf(' ');
    if (space < 0 || !v.substring(0, space).toLowerCase(Locale.ROOT).equals("bearer")) {
      return Verdict.MALFORMED;
    }
    String token = v.substring(space + 1).strip();
    if (token.isEmpty()) {
      return Verdict.MISSING;
    }
    return matches(token) ? Verdict.OK : Verdict.WRONG;
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public String toString() {
    return digests.length + " API key(s)";
  }
}
