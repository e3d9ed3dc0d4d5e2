package dev.caravan.coordinator.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.caravan.coordinator.RequestValidator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.handler.timeout.IdleStateEvent;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayDeque;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP API on one connection: a thin adapter that checks the API key, routes, answers the small endpoints itself
 * and hands each generation request to an {@link Exchange} that drives the shared {@code EngineCore}. Runs on the
 * connection's event loop and never blocks it: bodies are read, checked and tokenized on the prepare executor.
 *
 * <p>One request is answered at a time, in order: a request pipelined behind a running one waits (reading from the
 * connection pauses meanwhile; a few at most, more close the connection).
 */
final class HttpApiHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
  private static final Logger LOG = LoggerFactory.getLogger(HttpApiHandler.class);
  /** Requests a client may pipeline behind the running one before the connection is closed. */
  private static final int MAX_PIPELINED = 8;

  private final HttpContext ctx;
  private final ArrayDeque<FullHttpRequest> held = new ArrayDeque<>(); // pipelined requests waiting for the active one
  private final BodyBudget.Share bodies; // this connection's share of the bytes of bodies the server holds
  private boolean bodyHandedOff; // the request being handled went to a prepare thread, which gives its bytes back
  private Channel channel;
  private Exchange active; // the generation being answered, or null

  HttpApiHandler(HttpContext ctx, BodyBudget.Share bodies) {
    super(false); // requests are released here, after they are handled (a held one later)
    this.ctx = ctx;
    this.bodies = bodies;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext c) {
    channel = c.channel();
  }

  @Override
  protected void channelRead0(ChannelHandlerContext c, FullHttpRequest request) {
    if (active != null || !held.isEmpty()) {
      if (held.size() >= MAX_PIPELINED) {
        request.release();
        LOG.debug("HTTP: more than {} pipelined requests on {}; closing it", MAX_PIPELINED, channel);
        channel.close();
        return;
      }
      held.add(request);
      channel.config().setAutoRead(false);
      return;
    }
    handleAndRelease(request);
  }

  private void handleAndRelease(FullHttpRequest request) {
    bodyHandedOff = false;
    try {
      handle(request);
    } catch (Throwable t) { // a bug: answered 500, logged here, never a stack trace to the client
      LOG.error("HTTP {} {} failed", request.method(), request.uri(), t);
      if (active == null) {
        respond(Route.OTHER, HttpErrors.internal(), answerVersion(request.protocolVersion()), false);
      }
    } finally {
      if (!bodyHandedOff) {
        bodies.giveBack(request.content().readableBytes());
      }
      request.release();
    }
  }

  private void handle(FullHttpRequest request) {
    HttpVersion version = answerVersion(request.protocolVersion());
    if (request.protocolVersion().majorVersion() != 1) {
      respond(Route.OTHER, HttpErrors.versionNotSupported(request.protocolVersion().text()), version, false);
      return;
    }
    if (!request.decoderResult().isSuccess()) {
      Throwable cause = request.decoderResult().cause();
      ApiError e = cause instanceof TooLongHttpHeaderException ? HttpErrors.headersTooLarge(ctx.settings.maxHeaderBytes())
          : cause instanceof TooLongHttpLineException ? HttpErrors.uriTooLong(HttpServer.MAX_INITIAL_LINE_BYTES)
          : HttpErrors.malformedHttp(String.valueOf(cause.getMessage()));
      respond(Route.OTHER, e, version, false); // the decoder drops the rest of the connection's input
      return;
    }
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    String path;
    try {
      path = new QueryStringDecoder(request.uri()).path();
    } catch (IllegalArgumentException e) {
      respond(Route.OTHER, HttpErrors.malformedHttp("the URL cannot be decoded: " + e.getMessage()), version, keepAlive);
      return;
    }
    Route route = Route.of(path);
    // the API key before anything else: a client without one learns nothing, not even which paths exist
    if (route != Route.HEALTH && !ctx.api.auth().allows(request.headers().get(HttpHeaderNames.AUTHORIZATION))) {
      respond(route, HttpErrors.unauthorized(), version, keepAlive);
      return;
    }
    if (route == Route.OTHER) {
      respond(route, HttpErrors.unknownPath(request.method().name(), path), version, keepAlive);
      return;
    }
    if (!request.method().equals(route.method)) {
      ApiError e = HttpErrors.methodNotAllowed(request.method().name(), path);
      ctx.metrics.count(route, e.status());
      FullHttpResponse r = jsonResponse(e.status(), e.body(), version, keepAlive);
      r.headers().set(HttpHeaderNames.ALLOW, route.method.name());
      send(r, keepAlive);
      return;
    }
    switch (route) {
      case HEALTH -> health(version, keepAlive);
      case MODELS -> respond(route, 200, ctx.responses.modelList(ctx.created), version, keepAlive);
      case MODEL -> {
        String model = Route.modelOf(path);
        if (model.equals(ctx.api.validator().modelId())) {
          respond(route, 200, ctx.responses.model(ctx.created), version, keepAlive);
        } else {
          respond(route, new ApiError(404, HttpErrors.INVALID_REQUEST, "unknown model " + RequestValidator.quoted(model) + "; this cluster serves '" + ctx.api.validator().modelId() + "'", "model", "model_not_found"), version, keepAlive);
        }
      }
      case CHAT, COMPLETIONS -> generate(route, request, version, keepAlive);
      case OTHER -> throw new IllegalStateException("unreachable");
    }
  }

  /** 200 {@code {"status": "ok"}} while a plan serves; 503 with the reason otherwise (no workers yet, draining). */
  private void health(HttpVersion version, boolean keepAlive) {
    String reason = !ctx.serving ? "the coordinator is draining: it takes no new requests" : ctx.api.serving().notServingReason();
    if (reason == null) {
      respond(Route.HEALTH, 200, JsonNodeFactory.instance.objectNode().put("status", "ok"), version, keepAlive);
    } else {
      respond(Route.HEALTH, HttpErrors.unavailable(reason), version, keepAlive);
    }
  }

  private void generate(Route route, FullHttpRequest request, HttpVersion version, boolean keepAlive) {
    if (!ctx.serving) {
      respond(route, HttpErrors.unavailable("the coordinator is draining: it takes no new requests"), version, keepAlive);
      return;
    }
    Exchange exchange = new Exchange(ctx, channel, this, route, version, keepAlive);
    active = exchange;
    ctx.openExchanges.incrementAndGet();
    byte[] body = ByteBufUtil.getBytes(request.content());
    try {
      ctx.prepare.execute(() -> {
        try {
          exchange.prepare(body);
        } finally {
          bodies.giveBack(body.length); // the body's bytes are read: no longer held
        }
      });
      bodyHandedOff = true;
    } catch (RejectedExecutionException e) {
      exchange.refuse(HttpErrors.busy("the HTTP API has " + ctx.settings.prepareQueue() + " requests waiting to be read and tokenized; retry later"));
    }
  }

  /** Called by the active exchange on the event loop once its answer is written (or the client is gone). */
  void exchangeEnded(Exchange exchange, ChannelFuture last, boolean close) {
    if (active != exchange) {
      return;
    }
    active = null;
    if (close) {
      if (last != null) {
        last.addListener(ChannelFutureListener.CLOSE);
      } else {
        channel.close();
      }
      return;
    }
    for (FullHttpRequest next; active == null && (next = held.poll()) != null; ) {
      handleAndRelease(next);
    }
    if (active == null && channel.isActive()) {
      channel.config().setAutoRead(true);
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext c) throws Exception {
    if (active != null) {
      active.clientGone();
    }
    for (FullHttpRequest r; (r = held.poll()) != null; ) {
      r.release();
    }
    super.channelInactive(c);
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext c) throws Exception {
    if (active != null && channel.isWritable()) {
      active.writable();
    }
    super.channelWritabilityChanged(c);
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext c, Object event) throws Exception {
    if (event instanceof IdleStateEvent) {
      if (active == null && held.isEmpty()) {
        channel.close(); // an idle keep-alive connection; a running request keeps its own (its deadline bounds it)
      }
      return;
    }
    super.userEventTriggered(c, event);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext c, Throwable cause) {
    if (cause instanceof IOException || cause instanceof PrematureChannelClosureException) { // the client went away (mid-request)
      LOG.debug("HTTP connection {}: {}", channel, cause.toString());
    } else {
      LOG.warn("HTTP connection {} failed; closing it", channel, cause);
    }
    channel.close();
  }

  // ---- writing ---------------------------------------------------------------------------------------------------

  private void respond(Route route, ApiError e, HttpVersion version, boolean keepAlive) {
    respond(route, e.status(), e.body(), version, keepAlive);
  }

  private void respond(Route route, int status, JsonNode body, HttpVersion version, boolean keepAlive) {
    ctx.metrics.count(route, status);
    send(jsonResponse(status, body, version, keepAlive), keepAlive);
  }

  private void send(FullHttpResponse response, boolean keepAlive) {
    ChannelFuture f = channel.writeAndFlush(response);
    if (!keepAlive) {
      f.addListener(ChannelFutureListener.CLOSE);
    }
  }

  /**
   * The version to answer a request in: this is an HTTP/1.x server, so HTTP/1.0 for 1.0 and HTTP/1.1 otherwise (a later
   * 1.x is answered as 1.1, RFC 9110 section 6.2; another major version gets a 505 in 1.1), never the version the
   * client named.
   */
  static HttpVersion answerVersion(HttpVersion requested) {
    return requested.majorVersion() == 1 && requested.minorVersion() == 0 ? HttpVersion.HTTP_1_0 : HttpVersion.HTTP_1_1;
  }

  /** Writes a whole JSON response; the caller closes the connection after it unless {@code keepAlive}. */
  ChannelFuture writeJson(int status, JsonNode body, HttpVersion version, boolean keepAlive) {
    return channel.writeAndFlush(jsonResponse(status, body, version, keepAlive));
  }

  static FullHttpResponse jsonResponse(int status, JsonNode body, HttpVersion version, boolean keepAlive) {
    byte[] b = bytes(body);
    FullHttpResponse r = new DefaultFullHttpResponse(version, HttpResponseStatus.valueOf(status), Unpooled.wrappedBuffer(b));
    r.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON).setInt(HttpHeaderNames.CONTENT_LENGTH, b.length)
        .set(HttpHeaderNames.CONNECTION, keepAlive ? HttpHeaderValues.KEEP_ALIVE : HttpHeaderValues.CLOSE);
    return r;
  }

  static byte[] bytes(JsonNode node) {
    try {
      return OpenAiRequest.JSON.writeValueAsBytes(node);
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(e); // a tree of plain values always serializes
    }
  }
}
