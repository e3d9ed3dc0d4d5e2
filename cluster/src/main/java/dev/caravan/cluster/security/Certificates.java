package dev.caravan.cluster.security;

import java.io.IOException;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.CertIOException;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * Issues the cluster's certificates with BouncyCastle: a CA, and per node a certificate whose subject names its
 * {@link Role} ({@code OU=coordinator} or {@code OU=worker}), good for TLS servers and clients alike. Keys are ECDSA
 * P-256, written as PKCS#8 PEM readable by the owner only; certificates as PEM. {@code caravan certs}, {@code ops/cluster}
 * and the integration tests use it.
 *
 * <p>Files in a directory: {@code ca.pem} and {@code ca.key} for the authority, {@code NAME.pem} and {@code NAME.key}
 * for a node.
 */
public final class Certificates {
  private static final SecureRandom RANDOM = new SecureRandom();

  private Certificates() {}

  /** A certificate and its private key. */
  public record Issued(X509Certificate certificate, PrivateKey key) {
    /** Writes {@code NAME.pem} and {@code NAME.key} (owner-only) into {@code dir}; returns the certificate's path. */
    public Path write(Path dir, String name) throws IOException {
      Files.createDirectories(dir);
      Path cert = dir.resolve(name + ".pem");
      Path key = dir.resolve(name + ".key");
      Files.writeString(cert, pem("CERTIFICATE", encoded(certificate)), StandardCharsets.US_ASCII);
      Files.deleteIfExists(key);
      Files.createFile(key);
      SecretFiles.ownerOnly(key);
      Files.writeString(key, pem("PRIVATE KEY", key().getEncoded()), StandardCharsets.US_ASCII);
      return cert;
    }
  }

  /** A new self-signed CA. */
  public static Issued authority(String commonName, Duration validity) {
    KeyPair kp = keyPair();
    X500Name name = new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.O, "caravan").addRDN(BCStyle.CN, commonName).build();
    try {
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      X509v3CertificateBuilder b = builder(name, name, kp.getPublic(), validity)
          .addExtension(Extension.basicConstraints, true, new BasicConstraints(0))
          .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign))
          .addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(kp.getPublic()));
      return new Issued(sign(b, kp.getPrivate()), kp.getPrivate());
    } catch (CertIOException | GeneralSecurityException e) {
      throw new IllegalStateException("cannot make a CA certificate: " + e, e);
    }
  }

  /**
   * A node certificate signed by {@code ca}: subject {@code O=caravan, OU=<role>, CN=<name>}, key usage for TLS servers
   * and clients, and the subject alternative names given (host names or IP addresses; nodes do not check them against
   * each other, see {@link ClusterTls}, but clients of a public port do).
   */
  public static Issued issue(Issued ca, String name, Role role, List<String> altNames, Duration validity) {
    KeyPair kp = keyPair();
    X500Name subject = new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.O, "caravan").addRDN(BCStyle.OU, role.unit()).addRDN(BCStyle.CN, name).build();
    X500Name issuer = X500Name.getInstance(ca.certificate().getSubjectX500Principal().getEncoded());
    List<GeneralName> sans = new ArrayList<>();
    for (String san : altNames) {
      sans.add(isIpAddress(san) ? new GeneralName(GeneralName.iPAddress, san) : new GeneralName(GeneralName.dNSName, san));
    }
    try {
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      X509v3CertificateBuilder b = builder(issuer, subject, kp.getPublic(), validity)
          .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
          .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment))
          .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}))
          .addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(kp.getPublic()))
          .addExtension(Extension.authorityKeyIdentifier, false, ext.createAuthorityKeyIdentifier(ca.certificate()));
      if (!sans.isEmpty()) {
        b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(sans.toArray(GeneralName[]::new)));
      }
      return new Issued(sign(b, ca.key()), kp.getPrivate());
    } catch (CertIOException | GeneralSecurityException e) {
      throw new IllegalStateException("cannot issue a certificate for " + name + ": " + e, e);
    }
  }

  /** Reads a CA written by {@link Issued#write} (its certificate and PKCS#8 key). */
  public static Issued loadAuthority(Path cert, Path key) {
    X509Certificate c = ClusterTls.readCertificates(cert, "CA certificate").get(0);
    return new Issued(c, readKey(key));
  }

  /** Reads a PKCS#8 PEM private key (EC or RSA). */
  public static PrivateKey readKey(Path file) {
    String text;
    try {
      text = Files.readString(file, StandardCharsets.US_ASCII);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read the key " + file + ": " + e.getMessage());
    }
    int begin = text.indexOf("-----BEGIN PRIVATE KEY-----");
    int end = text.indexOf("-----END PRIVATE KEY-----");
    if (begin < 0 || end < begin) {
      throw new IllegalArgumentException(file + " holds no PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----)");
    }
    byte[] der = Base64.getMimeDecoder().decode(text.substring(begin + 27, end));
    for (String alg : new String[] {"EC", "RSA"}) {
      try {
        return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(der));
      } catch (GeneralSecurityException e) {
        // try the next algorithm
      }
    }
    throw new IllegalArgumentException(file + " holds no EC or RSA private key");
  }

  private static X509v3CertificateBuilder builder(X500Name issuer, X500Name subject, PublicKey key, Duration validity) {
    Instant now = Instant.now();
    BigInteger serial = new BigInteger(127, RANDOM).add(BigInteger.ONE);
    // an hour back: a clock a little behind another still accepts a fresh certificate
    return new JcaX509v3CertificateBuilder(issuer, serial, Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(validity)), subject, key);
  }

  private static X509Certificate sign(X509v3CertificateBuilder b, PrivateKey issuerKey) throws GeneralSecurityException {
    try {
      String alg = issuerKey.getAlgorithm().equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA";
      return new JcaX509CertificateConverter().getCertificate(b.build(new JcaContentSignerBuilder(alg).build(issuerKey)));
    } catch (OperatorCreationException e) {
      throw new GeneralSecurityException(e);
    }
  }

  private static KeyPair keyPair() {
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
      g.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
      return g.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  private static boolean isIpAddress(String s) {
    if (s.matches("\\d{1,3}(\\.\\d{1,3}){3}") || s.contains(":")) {
      try {
        InetAddress.ofLiteral(s);
        return true;
      } catch (IllegalArgumentException e) {
        return false;
      }
    }
    return false;
  }

  private static byte[] encoded(X509Certificate c) {
    try {
      return c.getEncoded();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  static String pem(String type, byte[] der) {
    return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der) + "\n-----END " + type + "-----\n";
  }
}
