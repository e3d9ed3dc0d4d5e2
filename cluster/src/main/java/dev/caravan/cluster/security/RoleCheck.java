package dev.caravan.cluster.security;

import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.EnumSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Lets a call to an internal service through only when the caller's certificate names a role that may make it, e.g.
 * only the coordinator may {@code Shard/Release}. The role comes from the client certificate of the call's TLS session
 * ({@link Role#of}); mutual TLS has already proven that the cluster's CA issued it. A caller without one is refused
 * UNAUTHENTICATED, a role that may not call the method PERMISSION_DENIED; both before the service sees a message.
 *
 * <p>With {@link ClusterTls#insecure()} every call is let through (there is no identity to check); a secure server
 * reached without TLS (an in-process transport) lets nothing through.
 */
public final class RoleCheck implements ServerInterceptor {
  private static final Logger LOG = LoggerFactory.getLogger(RoleCheck.class);
  private static final AtomicLong nextLogMillis = new AtomicLong();

  private final boolean secure;
  private final Map<String, Set<Role>> byMethod;
  private final Set<Role> otherwise;

  /**
   * @param tls       the server's security: insecure lets everything through
   * @param byMethod  full method names ("caravan.v1.Shard/Release") and the roles that may call them
   * @param otherwise roles that may call any other method of the intercepted services
   */
  public RoleCheck(ClusterTls tls, Map<String, Set<Role>> byMethod, Set<Role> otherwise) {
    this.secure = tls.secure();
    this.byMethod = Map.copyOf(byMethod);
    this.otherwise = Set.copyOf(otherwise);
  }

  /** Only these roles may call any method. */
  public static RoleCheck only(ClusterTls tls, Role first, Role... more) {
    return new RoleCheck(tls, Map.of(), EnumSet.of(first, more));
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
    if (!secure) {
      return next.startCall(call, headers);
    }
    String method = call.getMethodDescriptor().getFullMethodName();
    Optional<Role> role = callerRole(call);
    if (role.isEmpty()) {
      return refuse(call, Status.UNAUTHENTICATED.withDescription(method + " needs a client certificate from the cluster's CA that names a role"), "no role");
    }
    Set<Role> allowed = byMethod.getOrDefault(method, otherwise);
    if (!allowed.contains(role.get())) {
      return refuse(call, Status.PERMISSION_DENIED.withDescription("a " + role.get().unit() + " certificate may not call " + method), role.get().unit());
    }
    return next.startCall(call, headers);
  }

  /** The role in the client certificate of the call's TLS session, if any. */
  public static Optional<Role> callerRole(ServerCall<?, ?> call) {
    SSLSession session = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
    if (session == null) {
      return Optional.empty();
    }
    try {
      Certificate[] chain = session.getPeerCertificates();
      return chain.length > 0 && chain[0] instanceof X509Certificate x ? Role.of(x) : Optional.empty();
    } catch (SSLPeerUnverifiedException e) {
      return Optional.empty();
    }
  }

  private static <Q> ServerCall.Listener<Q> refuse(ServerCall<Q, ?> call, Status status, String who) {
    long now = System.currentTimeMillis();
    long next = nextLogMillis.get();
    if (now >= next && nextLogMillis.compareAndSet(next, now + 1000)) {
      LOG.warn("refused {} from {} ({}): {}", call.getMethodDescriptor().getFullMethodName(), call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR), who, status.getCode());
    }
    call.close(status, new Metadata());
    return new ServerCall.Listener<>() {};
  }
}
