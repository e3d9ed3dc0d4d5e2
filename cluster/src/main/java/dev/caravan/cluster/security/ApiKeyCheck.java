package dev.caravan.cluster.security;

import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Lets a call to a public gRPC service through only with a configured API key as a bearer token in its
 * {@code authorization} metadata ({@link ApiKeys}); anything else is closed UNAUTHENTICATED before the service sees a
 * message. The message names what was wrong (missing, malformed, invalid) and never the key; refusals are logged at
 * most once a second, without the key.
 */
public final class ApiKeyCheck implements ServerInterceptor {
  private static final Logger LOG = LoggerFactory.getLogger(ApiKeyCheck.class);
  public static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  private final ApiKeys keys;
  private final AtomicLong nextLogMillis = new AtomicLong();
  private final AtomicLong suppressed = new AtomicLong();

  public ApiKeyCheck(ApiKeys keys) {
    this.keys = keys;
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
    ApiKeys.Verdict v = keys.verifyAuthorization(headers.get(AUTHORIZATION));
    if (v == ApiKeys.Verdict.OK) {
      return next.startCall(call, headers);
    }
    long now = System.currentTimeMillis();
    long at = nextLogMillis.get();
    if (now >= at && nextLogMillis.compareAndSet(at, now + 1000)) {
      long more = suppressed.getAndSet(0);
      LOG.warn("refused {} from {}: {}{}", call.getMethodDescriptor().getFullMethodName(), call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR), v.name().toLowerCase(java.util.Locale.ROOT) + " API key", more > 0 ? " (and " + more + " more refusals in the last second)" : "");
    } else {
      suppressed.incrementAndGet();
    }
    call.close(Status.UNAUTHENTICATED.withDescription(v.message()), new Metadata());
    return new ServerCall.Listener<>() {};
  }
}
