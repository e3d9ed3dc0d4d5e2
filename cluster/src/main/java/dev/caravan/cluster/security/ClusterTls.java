package dev.caravan.cluster.security;

import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * A process's identity and trust on the cluster's internal gRPC connections (coordinator → stages → sink, and the
 * control calls): mutual TLS with certificates issued by the cluster's CA, or — only when asked for with
 * {@code --insecure} — plaintext.
 *
 * <p>Servers require a client certificate from the CA ({@link ClientAuth#REQUIRE}); clients present their own and
 * verify the server's chain against the CA. Host names are <em>not</em> verified: membership is by certificate (a
 * process holding one from the cluster's CA is a member, whatever address it has), the addresses come from the cluster
 * and change with every restart or pod, and what a member may do is checked by its {@link Role} instead. A server whose
 * certificate the CA did not issue is refused, so a forged address in a plan or a frame leads nowhere.
 */
public final class ClusterTls {
  private static final ClusterTls INSECURE = new ClusterTls(null, null, null, null);

  private final SslContext server;
  private final SslContext client;
  private final Role role;
  private final String subject;

  private ClusterTls(SslContext server, SslContext client, Role role, String subject) {
    this.server = server;
    this.client = client;
    this.role = role;
    this.subject = subject;
  }

  /** Plaintext, and every caller allowed: for {@code --insecure} and in-process tests. */
  public static ClusterTls insecure() {
    return INSECURE;
  }

  /**
   * Loads this process's certificate chain and PKCS#8 private key and the CA it trusts (all PEM).
   *
   * @throws IllegalArgumentException naming the file and the problem when one cannot be read or does not fit
   */
  public static ClusterTls load(Path cert, Path key, Path ca) {
    List<X509Certificate> chain = readCertificates(cert, "--tls-cert");
    List<X509Certificate> anchors = readCertificates(ca, "--tls-ca");
    X509Certificate own = chain.get(0);
    Role role = Role.of(own).orElseThrow(() -> new IllegalArgumentException("--tls-cert: " + cert + " names no Caravan role (its subject " + own.getSubjectX500Principal().getName() + " needs OU=coordinator or OU=worker; 'caravan certs issue' makes such certificates)"));
    try {
      own.checkValidity();
    } catch (CertificateException e) {
      throw new IllegalArgumentException("--tls-cert: " + cert + " is not valid now: " + e.getMessage());
    }
    X509TrustManager pkix = trustManager(anchors);
    try {
      pkix.checkClientTrusted(chain.toArray(X509Certificate[]::new), "UNKNOWN");
    } catch (CertificateException e) {
      throw new IllegalArgumentException("--tls-cert: " + cert + " was not issued by the CA in --tls-ca " + ca + ": " + e.getMessage());
    }
    SecretFiles.warnIfReadableByOthers(key, "--tls-key");
    checkKeyMatches(own, key, "--tls-key");
    try {
      SslContext server = GrpcSslContexts.forServer(cert.toFile(), key.toFile())
          .trustManager(anchors.toArray(X509Certificate[]::new))
          .clientAuth(ClientAuth.REQUIRE)
          .build();
      SslContext client = GrpcSslContexts.forClient()
          .keyManager(cert.toFile(), key.toFile())
          .trustManager(new ChainOnly(pkix))
          .build();
      return new ClusterTls(server, client, role, own.getSubjectX500Principal().getName());
    } catch (SSLException | IllegalArgumentException e) {
      throw new IllegalArgumentException("--tls-cert/--tls-key: cannot use " + cert + " with " + key + " (the key must be the certificate's, PKCS#8 PEM): " + rootMessage(e));
    }
  }

  /** Whether connections are mutual TLS (false: plaintext, every caller allowed). */
  public boolean secure() {
    return server != null;
  }

  /** This process's role from its certificate; empty when insecure. */
  public Optional<Role> role() {
    return Optional.ofNullable(role);
  }

  /** The subject of this process's certificate, for logs; empty when insecure. */
  public String subject() {
    return subject == null ? "" : subject;
  }

  /** Makes a Netty server builder require mutual TLS (no change when insecure). */
  public NettyServerBuilder server(NettyServerBuilder builder) {
    return secure() ? builder.sslContext(server) : builder;
  }

  /** Makes a Netty channel builder use mutual TLS, or plaintext when insecure. */
  public NettyChannelBuilder client(NettyChannelBuilder builder) {
    return secure() ? builder.sslContext(client) : builder.usePlaintext();
  }

  /** One line for the start-up log. */
  public String describe() {
    return secure() ? "mutual TLS as " + subject : "PLAINTEXT (--insecure)";
  }

  @Override
  public String toString() {
    return describe();
  }

  /** Refuses a private key that is not the certificate's: signs a probe with it and verifies with the certificate. */
  static void checkKeyMatches(X509Certificate cert, Path key, String option) {
    java.security.PrivateKey k;
    try {
      k = Certificates.readKey(key);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(option + ": " + e.getMessage());
    }
    try {
      String alg = k.getAlgorithm().equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA";
      byte[] probe = "caravan key check".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
      java.security.Signature sign = java.security.Signature.getInstance(alg);
      sign.initSign(k);
      sign.update(probe);
      byte[] sig = sign.sign();
      java.security.Signature verify = java.security.Signature.getInstance(alg);
      verify.initVerify(cert.getPublicKey());
      verify.update(probe);
      if (verify.verify(sig)) {
        return;
      }
    } catch (GeneralSecurityException e) {
      // a key of another algorithm than the certificate's: not its key
    }
    throw new IllegalArgumentException(option + ": " + key + " is not the private key of the certificate " + cert.getSubjectX500Principal().getName());
  }

  static List<X509Certificate> readCertificates(Path file, String option) {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException(option + ": no such file: " + file);
    }
    try (InputStream in = Files.newInputStream(file)) {
      List<X509Certificate> out = new ArrayList<>();
      for (var c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
        out.add((X509Certificate) c);
      }
      if (out.isEmpty()) {
        throw new IllegalArgumentException(option + ": " + file + " holds no PEM certificate");
      }
      return out;
    } catch (IOException | CertificateException e) {
      throw new IllegalArgumentException(option + ": cannot read a PEM certificate from " + file + ": " + rootMessage(e));
    }
  }

  /** The JDK's PKIX trust manager over {@code anchors}. */
  static X509TrustManager trustManager(List<X509Certificate> anchors) {
    try {
      KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
      ks.load(null, null);
      int i = 0;
      for (X509Certificate a : anchors) {
        ks.setCertificateEntry("ca-" + i++, a);
      }
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(ks);
      for (TrustManager tm : tmf.getTrustManagers()) {
        if (tm instanceof X509TrustManager x) {
          return x;
        }
      }
      throw new IllegalStateException("no X.509 trust manager");
    } catch (GeneralSecurityException | IOException e) {
      throw new IllegalStateException("cannot build a trust manager: " + e, e);
    }
  }

  private static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null) {
      t = t.getCause();
    }
    return t.getMessage() == null ? t.toString() : t.getMessage();
  }

  /**
   * Verifies a server's certificate chain against the cluster's CA, and nothing else: as an extended trust manager it
   * stops the JDK from adding a host-name check (see the class comment for why there is none).
   */
  private static final class ChainOnly extends X509ExtendedTrustManager {
    private final X509TrustManager pkix;

    ChainOnly(X509TrustManager pkix) {
      this.pkix = pkix;
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      pkix.checkServerTrusted(chain, authType);
      if (Role.of(chain[0]).isEmpty()) {
        throw new CertificateException("the server's certificate " + chain[0].getSubjectX500Principal().getName() + " names no Caravan role");
      }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
      checkServerTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
      checkServerTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      pkix.checkClientTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
      checkClientTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
      checkClientTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return pkix.getAcceptedIssuers();
    }
  }
}
