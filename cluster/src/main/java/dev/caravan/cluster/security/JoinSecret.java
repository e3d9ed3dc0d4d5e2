package dev.caravan.cluster.security;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.HexFormat;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The secret every member of one cluster shares, and the two things Hazelcast's open-source edition lets it guard (it
 * has no member authentication or TLS; those are Enterprise features):
 *
 * <ul>
 *   <li>the Hazelcast cluster name is derived from the cluster's label ({@code --cluster-name}) and an HMAC of the secret
 *       ({@link #hazelcastClusterName}): a member with another secret or label has another cluster name, and Hazelcast
 *       ignores its join requests. The secret itself never leaves the process, and the label is all {@code ps} shows;
 *   <li>each worker publishes a proof — an HMAC of the secret over its role and gRPC address — as a member attribute
 *       ({@link #memberProof}); the coordinator plans only workers whose proof checks out ({@link #verify}), so a member
 *       that learnt the derived cluster name (it is in Hazelcast's log lines and in its unencrypted traffic) still gets
 *       no stage.
 * </ul>
 *
 * <p>{@link #none()} (only with {@code --insecure}) derives nothing: the cluster name is the label, every proof passes.
 */
public final class JoinSecret {
  /** Shortest secret accepted, in bytes. */
  public static final int MIN_BYTES = 16;
  /** The environment variable that may hold the secret instead of a file. */
  public static final String ENV = "CARAVAN_CLUSTER_SECRET";
  private static final JoinSecret NONE = new JoinSecret(null);

  private final byte[] secret;

  private JoinSecret(byte[] secret) {
    this.secret = secret;
  }

  /** No secret: for {@code --insecure} only. */
  public static JoinSecret none() {
    return NONE;
  }

  /** A secret given as text (the environment variable, tests). */
  public static JoinSecret of(String secret, String where) {
    byte[] b = secret.strip().getBytes(StandardCharsets.UTF_8);
    if (b.length < MIN_BYTES) {
      throw new IllegalArgumentException(where + ": the cluster secret must have at least " + MIN_BYTES + " bytes, this one has " + b.length + " (e.g. 'openssl rand -hex 32')");
    }
    return new JoinSecret(b);
  }

  /** Reads the secret from a file (surrounding white space dropped); warns when others may read it. */
  public static JoinSecret load(Path file) {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("--cluster-secret-file: no such file: " + file);
    }
    SecretFiles.warnIfReadableByOthers(file, "--cluster-secret-file");
    try {
      return of(Files.readString(file, StandardCharsets.UTF_8), "--cluster-secret-file " + file);
    } catch (IOException e) {
      throw new IllegalArgumentException("--cluster-secret-file: cannot read " + file + ": " + e.getMessage());
    }
  }

  /** Whether there is a secret (false only with {@code --insecure}). */
  public boolean present() {
    return secret != null;
  }

  /** The name Hazelcast uses for the cluster labelled {@code label}: the label and an HMAC of the secret. */
  public String hazelcastClusterName(String label) {
    return secret == null ? label : label + "-" + hmac("caravan/hazelcast-cluster-name/v1\0" + label).substring(0, 32);
  }

  /** The proof a member with {@code role} at {@code grpcAddress} publishes (empty without a secret). */
  public String memberProof(String role, String grpcAddress) {
    return secret == null ? "" : hmac("caravan/member-proof/v1\0" + role + "\0" + grpcAddress);
  }

  /** Whether {@code proof} is the one a member with {@code role} at {@code grpcAddress} would publish; constant time. */
  public boolean verify(String role, String grpcAddress, String proof) {
    if (secret == null) {
      return true;
    }
    if (proof == null || role == null || grpcAddress == null) {
      return false;
    }
    return MessageDigest.isEqual(memberProof(role, grpcAddress).getBytes(StandardCharsets.US_ASCII), proof.getBytes(StandardCharsets.US_ASCII));
  }

  private String hmac(String message) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(secret, "HmacSHA256"));
      return HexFormat.of().formatHex(mac.doFinal(message.getBytes(StandardCharsets.UTF_8)));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public String toString() {
    return secret == null ? "no join secret" : "a join secret"; // never the secret
  }
}
