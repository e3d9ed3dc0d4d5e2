package dev.caravan.cluster;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.UnknownFieldSet;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.InputStream;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns a request that cannot be parsed (malformed protobuf, a string field that is not UTF-8) into INVALID_ARGUMENT
 * naming the problem, with at most one log line per second, instead of gRPC's UNKNOWN "Application error processing
 * RPC" and a stack trace per request.
 *
 * <p>How: each method's request marshaller is wrapped; when parsing fails it returns the message type's default
 * instance carrying a marker unknown field with the status to answer, and the wrapped handler closes such a call with
 * that status before the service sees it. The marker's field number is one no message parsed from the wire can carry, so
 * a client cannot forge it. A message too large once decompressed keeps gRPC's RESOURCE_EXHAUSTED. Reflection still
 * sees the service's schema.
 */
public final class MalformedRequests {
  private static final Logger LOG = LoggerFactory.getLogger(MalformedRequests.class);
  /**
   * Beyond protobuf's largest field number (2^29 - 1): a tag on the wire cannot name it, so only {@link Lenient} puts it
   * in a message (varint: the status code; length-delimited: its description).
   */
  private static final int MARKER = Integer.MAX_VALUE;
  private static final AtomicLong nextLogMillis = new AtomicLong();
  private static final AtomicLong suppressed = new AtomicLong();

  private MalformedRequests() {}

  /** {@code service} with every protobuf request guarded; other methods unchanged. */
  public static ServerServiceDefinition guard(ServerServiceDefinition service) {
    ServiceDescriptor sd = service.getServiceDescriptor();
    ServiceDescriptor.Builder descriptor = ServiceDescriptor.newBuilder(sd.getName()).setSchemaDescriptor(sd.getSchemaDescriptor());
    java.util.List<ServerMethodDefinition<?, ?>> methods = new java.util.ArrayList<>();
    for (ServerMethodDefinition<?, ?> m : service.getMethods()) {
      ServerMethodDefinition<?, ?> g = guard(m);
      methods.add(g);
      descriptor.addMethod(g.getMethodDescriptor());
    }
    ServerServiceDefinition.Builder b = ServerServiceDefinition.builder(descriptor.build());
    for (ServerMethodDefinition<?, ?> m : methods) {
      b.addMethod(m);
    }
    return b.build();
  }

  private static <Q, R> ServerMethodDefinition<Q, R> guard(ServerMethodDefinition<Q, R> m) {
    MethodDescriptor<Q, R> md = m.getMethodDescriptor();
    if (!(md.getRequestMarshaller() instanceof MethodDescriptor.PrototypeMarshaller<Q> proto) || !(proto.getMessagePrototype() instanceof Message prototype)) {
      return m;
    }
    MethodDescriptor<Q, R> guarded = md.toBuilder(new Lenient<>(proto, prototype), md.getResponseMarshaller()).build();
    ServerCallHandler<Q, R> handler = m.getServerCallHandler();
    return ServerMethodDefinition.create(guarded, (call, headers) -> intercept(md.getFullMethodName(), call, headers, handler));
  }

  private static <Q, R> ServerCall.Listener<Q> intercept(String method, ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
    return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(next.startCall(call, headers)) {
      private boolean refused;

      @Override
      public void onMessage(Q message) {
        if (message instanceof Message msg && msg.getUnknownFields().hasField(MARKER)) {
          refused = true;
          UnknownFieldSet.Field marker = msg.getUnknownFields().getField(MARKER);
          Status status = Status.fromCodeValue(marker.getVarintList().getFirst().intValue()).withDescription(marker.getLengthDelimitedList().getFirst().toStringUtf8());
          log(method, status);
          call.close(status, new Metadata());
          return;
        }
        super.onMessage(message);
      }

      @Override
      public void onHalfClose() {
        if (!refused) {
          super.onHalfClose();
        }
      }
    };
  }

  private static void log(String method, Status status) {
    long now = System.currentTimeMillis();
    long next = nextLogMillis.get();
    if (now >= next && nextLogMillis.compareAndSet(next, now + 1000)) {
      long more = suppressed.getAndSet(0);
      LOG.warn("refused a {} request with {}: {}{}", method, status.getCode(), status.getDescription(), more > 0 ? " (and " + more + " more in the last second)" : "");
    } else {
      suppressed.incrementAndGet();
    }
  }

  /** Parses like the real marshaller; on failure returns the default instance marked with the parser's message. */
  private record Lenient<Q>(MethodDescriptor.PrototypeMarshaller<Q> real, Message prototype) implements MethodDescriptor.PrototypeMarshaller<Q> {
    @Override
    public InputStream stream(Q value) {
      return real.stream(value);
    }

    @Override
    @SuppressWarnings("unchecked")
    public Q parse(InputStream stream) {
      try {
        return real.parse(stream);
      } catch (RuntimeException e) {
        Status status = refusal(e);
        UnknownFieldSet marker = UnknownFieldSet.newBuilder().addField(MARKER, UnknownFieldSet.Field.newBuilder()
            .addVarint(status.getCode().value())
            .addLengthDelimited(com.google.protobuf.ByteString.copyFromUtf8(status.getDescription()))
            .build()).build();
        return (Q) prototype.toBuilder().setUnknownFields(marker).build();
      }
    }

    /**
     * What to answer a request that failed to parse: gRPC's own status when reading it failed (a message too large once
     * decompressed is RESOURCE_EXHAUSTED), else INVALID_ARGUMENT with the parser's message.
     */
    private Status refusal(RuntimeException e) {
      Throwable cause = e;
      StatusRuntimeException grpc = null;
      for (Throwable t = e; t != null; t = t.getCause()) {
        cause = t;
        if (t instanceof InvalidProtocolBufferException) {
          break;
        }
        if (grpc == null && t instanceof StatusRuntimeException s) {
          grpc = s;
        }
      }
      if (!(cause instanceof InvalidProtocolBufferException) && grpc != null && grpc.getStatus().getCode() == Status.Code.RESOURCE_EXHAUSTED) {
        return Status.RESOURCE_EXHAUSTED.withDescription(grpc.getStatus().getDescription());
      }
      String why = cause.getMessage() != null ? plain(cause.getMessage()) : "it is not a valid " + prototype.getDescriptorForType().getFullName() + " message";
      return Status.INVALID_ARGUMENT.withDescription("malformed request: " + why);
    }

    @Override
    public Q getMessagePrototype() {
      return real.getMessagePrototype();
    }

    @Override
    public Class<Q> getMessageClass() {
      return real.getMessageClass();
    }
  }

  /**
   * The parser's message in terms a client can act on: its first sentence only (protobuf goes on with advice to Java
   * programmers, "Use CodedInputStream.setSizeLimit() to increase the size limit"), with the parser's class name gone.
   */
  static String plain(String parserMessage) {
    String first = parserMessage.strip().split("\\.\\s", 2)[0];
    if (first.endsWith(".")) {
      first = first.substring(0, first.length() - 1);
    }
    first = first.replace("CodedInputStream encountered", "the parser found").replace("Protocol message", "the message")
        .replace("protocol message", "the message");
    return first.isBlank() ? "it is not valid protobuf" : first;
  }
}
