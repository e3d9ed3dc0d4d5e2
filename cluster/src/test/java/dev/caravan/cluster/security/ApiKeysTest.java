package dev.caravan.cluster.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.security.ApiKeys.Verdict;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The key file and the checks an API makes with it (pure logic; {@code SecurityIT} calls a real coordinator). */
class ApiKeysTest {
  static final String K1 = "k1-0123456789abcdef";
  static final String K2 = "k2-fedcba9876543210";
  @TempDir Path dir;

  @Test
  void readsOneKeyPerLineSkippingCommentsAndBlankLines() throws Exception {
    Path f = dir.resolve("keys");
    Files.writeString(f, "# team a\n" + K1 + "\n\n   " + K2 + "  \n# " + "old-key-not-a-key-0000" + "\n");
    ApiKeys keys = ApiKeys.load(f);
    assertEquals(2, keys.size());
    assertTrue(keys.matches(K1));
    assertTrue(keys.matches(K2));
    assertFalse(keys.matches("old-key-not-a-key-0000"), "a commented-out key is no key");
  }

  @Test
  void checksBearerTokens() {
    ApiKeys keys = ApiKeys.of(K1);
    assertEquals(Verdict.OK, keys.verifyAuthorization("Bearer " + K1));
    assertEquals(Verdict.OK, keys.verifyAuthorization("bearer " + K1), "the scheme is case-insensitive (RFC 7235)");
    assertEquals(Verdict.MISSING, keys.verifyAuthorization(null));
    assertEquals(Verdict.MISSING, keys.verifyAuthorization(""));
    assertEquals(Verdict.MISSING, keys.verifyAuthorization("Bearer "));
    assertEquals(Verdict.MALFORMED, keys.verifyAuthorization(K1), "a bare key is not a bearer token");
    assertEquals(Verdict.MALFORMED, keys.verifyAuthorization("Basic " + K1));
    assertEquals(Verdict.WRONG, keys.verifyAuthorization("Bearer " + K2));
    assertEquals(Verdict.WRONG, keys.verifyAuthorization("Bearer " + K1 + "x"));
    assertEquals(Verdict.WRONG, keys.verifyAuthorization("Bearer " + K1.substring(0, K1.length() - 1)));
    assertEquals(Verdict.MALFORMED, keys.verifyAuthorization("Bearer " + "x".repeat(10_000)), "oversized values are refused before hashing");
    for (Verdict v : Verdict.values()) {
      assertFalse(v.message().contains(K1));
    }
  }

  @Test
  void refusesBadFilesNamingTheLineButNeverTheKey() throws Exception {
    Path f = dir.resolve("keys");
    Files.writeString(f, K1 + "\nshort-secret\n");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ApiKeys.load(f));
    assertTrue(e.getMessage().contains("line 2"), e.getMessage());
    assertFalse(e.getMessage().contains("short-secret"), e.getMessage());

    Files.writeString(f, "# nothing here\n\n");
    e = assertThrows(IllegalArgumentException.class, () -> ApiKeys.load(f));
    assertTrue(e.getMessage().contains("holds no key"), e.getMessage());

    e = assertThrows(IllegalArgumentException.class, () -> ApiKeys.load(dir.resolve("missing")));
    assertTrue(e.getMessage().startsWith("--api-keys: no such file"), e.getMessage());
  }

  @Test
  void knowsWhenOthersMayReadTheFile() throws Exception {
    Path f = dir.resolve("keys");
    Files.writeString(f, K1 + "\n");
    Files.setPosixFilePermissions(f, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
    assertTrue(SecretFiles.readableByOthers(f));
    SecretFiles.ownerOnly(f);
    assertFalse(SecretFiles.readableByOthers(f));
  }
}
