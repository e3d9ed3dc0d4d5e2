package dev.caravan.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.proto.v1.ReleaseRequest;
import dev.caravan.proto.v1.ReleaseResponse;
import dev.caravan.proto.v1.ShardGrpc;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Bytes that are not the request's protobuf get INVALID_ARGUMENT naming the problem; good requests pass untouched. */
class MalformedRequestsTest {
  private GrpcServer server;
  private ManagedChannel channel;

  @BeforeEach
  void start() throws IOException {
    String name = "malformed-" + UUID.randomUUID();
    ShardGrpc.ShardImplBase shard = new ShardGrpc.ShardImplBase() {
      @Override
      public void release(ReleaseRequest request, StreamObserver<ReleaseResponse> response) {
        response.onNext(ReleaseResponse.newBuilder().setSessionsReleased(request.getCacheKeysCount()).build());
        response.onCompleted();
      }
    };
    server = new GrpcServer("test", InProcessServerBuilder.forName(name), List.of(shard), List.of(), true).start();
    channel = InProcessChannelBuilder.forName(name).build();
  }

  @AfterEach
  void stop() throws InterruptedException {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.stop();
  }

  /** Release called with raw bytes as its request. */
  private ReleaseResponse releaseRaw(byte[] bytes) {
    MethodDescriptor<byte[], ReleaseResponse> raw = ShardGrpc.getReleaseMethod().toBuilder(dev.caravan.cluster.testing.RawBytes.MARSHALLER, ShardGrpc.getReleaseMethod().getResponseMarshaller()).build();
    return ClientCalls.blockingUnaryCall(channel, raw, CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS), bytes);
  }

  @Test
  void malformedProtobufIsInvalidArgument() {
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> releaseRaw(new byte[] {0x00, 0x01}));
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
    assertTrue(e.getStatus().getDescription().startsWith("malformed request: "), e.getStatus().getDescription());
  }

  /**
   * Found by GrpcApiFuzzTest (20 000 cases): a length prefix near 2^31 was refused with protobuf's advice to Java
   * programmers ("Use CodedInputStream.setSizeLimit() to increase the size limit"); descriptions keep the parser's first
   * sentence only, without its class names.
   */
  @Test
  void parserMessagesReachTheClientWithoutJavaAdvice() {
    byte[][] cases = {
        {0x0A, (byte) 0xF0, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x07, 'a'}, // field 1, length 2^31 - 16
        {0x0A, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x01}, // overlong varint
        {0x0A, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x0F}, // negative length
        {0x0A, 0x05, 'a'}}; // truncated
    for (byte[] bytes : cases) {
      StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> releaseRaw(bytes));
      String d = e.getStatus().getDescription();
      assertTrue(e.getStatus().getCode() == Status.Code.INVALID_ARGUMENT || e.getStatus().getCode() == Status.Code.RESOURCE_EXHAUSTED, e.getStatus().toString());
      assertTrue(d.length() > "malformed request: ".length() + 10, d);
      assertFalse(d.contains("CodedInputStream") || d.contains("()") || d.contains("May be malicious"), d);
    }
    assertEquals("the message was too large",
        MalformedRequests.plain("Protocol message was too large.  May be malicious.  Use CodedInputStream.setSizeLimit() to increase the size limit."));
    assertEquals("the parser found a malformed varint", MalformedRequests.plain("CodedInputStream encountered a malformed varint."));
    assertEquals("the message had too many levels of nesting",
        MalformedRequests.plain("Protocol message had too many levels of nesting.  May be malicious.  Use CodedInputStream.setRecursionLimit() to increase the depth limit."));
  }

  @Test
  void aStringThatIsNotUtf8IsInvalidArgument() {
    // field 1 (cache_keys, a string), 2 bytes: 0xC3 0x28 is not UTF-8
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> releaseRaw(new byte[] {0x0A, 0x02, (byte) 0xC3, 0x28}));
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
    assertTrue(e.getStatus().getDescription().contains("UTF-8"), e.getStatus().getDescription());
  }

  @Test
  void goodRequestsPassUntouched() {
    assertEquals(2, releaseRaw(ReleaseRequest.newBuilder().addCacheKeys("a").addCacheKeys("b").build().toByteArray()).getSessionsReleased());
    assertEquals(1, ShardGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS).release(ReleaseRequest.newBuilder().addCacheKeys("x").build()).getSessionsReleased());
  }

  /**
   * Found by GrpcApiFuzzTest: a well-formed request carrying field 2^29 - 1 (the guard's old marker) as a varint made
   * the guard throw (UNKNOWN "Application error processing RPC"), and as a string it was refused with the client's own
   * text as the description. No field a client can send is special now.
   */
  @Test
  void noFieldAClientSendsIsMistakenForTheGuardsMarker() {
    byte[] request = ReleaseRequest.newBuilder().addCacheKeys("a").build().toByteArray();
    byte[][] markers = {
        {(byte) 0xf8, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f, 0x01}, // field 2^29 - 1, varint 1
        {(byte) 0xfa, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f, 0x03, 'a', 't', ' '}, // ... length-delimited "at "
        {(byte) 0xfd, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f, 1, 2, 3, 4}}; // ... fixed32
    for (byte[] marker : markers) {
      byte[] withMarker = java.util.Arrays.copyOf(request, request.length + marker.length);
      System.arraycopy(marker, 0, withMarker, request.length, marker.length);
      assertEquals(1, releaseRaw(withMarker).getSessionsReleased(), "an unknown field is ignored");
    }
  }

  /**
   * Found by GrpcApiFuzzTest: a gzip-compressed request larger than the server's limit once decompressed was refused as
   * INVALID_ARGUMENT "malformed request: RESOURCE_EXHAUSTED: ..."; it is RESOURCE_EXHAUSTED naming the limit, as an
   * uncompressed one is.
   */
  @Test
  void aCompressedRequestTooLargeOnceDecompressedIsResourceExhausted() throws IOException, InterruptedException {
    ShardGrpc.ShardImplBase shard = new ShardGrpc.ShardImplBase() {
      @Override
      public void release(ReleaseRequest request, StreamObserver<ReleaseResponse> response) {
        response.onNext(ReleaseResponse.getDefaultInstance());
        response.onCompleted();
      }
    };
    GrpcServer netty = new GrpcServer("small", GrpcServer.netty("127.0.0.1", 0, 1024), List.of(shard), List.of(), false).start();
    ManagedChannel ch = io.grpc.netty.NettyChannelBuilder.forAddress("127.0.0.1", netty.port()).usePlaintext().build();
    try {
      ReleaseRequest big = ReleaseRequest.newBuilder().addCacheKeys("k".repeat(4096)).build();
      for (String compression : new String[] {"identity", "gzip"}) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
            () -> ShardGrpc.newBlockingStub(ch).withCompression(compression).withDeadlineAfter(10, TimeUnit.SECONDS).release(big), compression);
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode(), compression + ": " + e.getStatus());
        assertTrue(e.getStatus().getDescription().contains("1024"), e.getStatus().getDescription());
      }
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      netty.stop();
    }
  }
}
