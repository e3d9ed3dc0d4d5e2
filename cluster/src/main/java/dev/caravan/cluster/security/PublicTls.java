package dev.caravan.cluster.security;

import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyServerBuilder;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.nio.file.Path;
import javax.net.ssl.SSLException;

/**
 * TLS on a public port ({@code --public-tls-cert/--public-tls-key}): a server certificate clients verify the usual way
 * (chain and host name), no client certificate asked for — clients authenticate with an API key. Optional: without it
 * the public port is plaintext.
 */
public final class PublicTls {
  private final SslContext context;
  private final SslContext httpContext;
  private final String subject;

  private PublicTls(SslContext context, SslContext httpContext, String subject) {
    this.context = context;
    this.httpContext = httpContext;
    this.subject = subject;
  }

  /** Loads a PEM certificate chain and its PKCS#8 PEM key; refuses with a message naming the files otherwise. */
  public static PublicTls load(Path cert, Path key) {
    var chain = ClusterTls.readCertificates(cert, "--public-tls-cert");
    if (!key.toFile().isFile()) {
      throw new IllegalArgumentException("--public-tls-key: no such file: " + key);
    }
    SecretFiles.warnIfReadableByOthers(key, "--public-tls-key");
    ClusterTls.checkKeyMatches(chain.get(0), key, "--public-tls-key");
    try {
      return new PublicTls(GrpcSslContexts.forServer(cert.toFile(), key.toFile()).build(), SslContextBuilder.forServer(cert.toFile(), key.toFile()).build(),
          chain.get(0).getSubjectX500Principal().getName());
    } catch (SSLException | IllegalArgumentException e) {
      throw new IllegalArgumentException("--public-tls-cert/--public-tls-key: cannot use " + cert + " with " + key + " (the key must be the certificate's, PKCS#8 PEM): " + e.getMessage());
    }
  }

  /** Makes a Netty server builder serve TLS with this certificate. */
  public NettyServerBuilder server(NettyServerBuilder builder) {
    return builder.sslContext(context);
  }

  /** The same certificate for an HTTP/1.1 server (gRPC's context negotiates HTTP/2 by ALPN, which HTTP clients must not get). */
  public SslContext httpContext() {
    return httpContext;
  }

  @Override
  public String toString() {
    return "TLS as " + subject;
  }
}
