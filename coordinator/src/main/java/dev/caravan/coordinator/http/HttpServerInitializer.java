package dev.caravan.coordinator.http;

import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.TimeUnit;

/**
 * Each connection's pipeline: TLS when configured, an idle timer, Netty's HTTP codec with bounded request line and
 * headers, the aggregator with the body bounded by {@code --max-request-bytes} (a larger one is answered 413 with an
 * OpenAI error object and the connection closed), then the API handler.
 */
final class HttpServerInitializer extends ChannelInitializer<SocketChannel> {
  private final HttpContext ctx;
  private final SslContext tls;

  HttpServerInitializer(HttpContext ctx, SslContext tls) {
    this.ctx = ctx;
    this.tls = tls;
  }

  @Override
  protected void initChannel(SocketChannel ch) {
    ctx.channels.add(ch);
    ChannelPipeline p = ch.pipeline();
    if (tls != null) {
      p.addLast("tls", tls.newHandler(ch.alloc()));
    }
    p.addLast("idle", new IdleStateHandler(0, 0, ctx.settings.idleTimeout().toMillis(), TimeUnit.MILLISECONDS));
    p.addLast("codec", new HttpServerCodec(new HttpDecoderConfig()
        .setMaxInitialLineLength(HttpServer.MAX_INITIAL_LINE_BYTES)
        .setMaxHeaderSize(ctx.settings.maxHeaderBytes())
        .setMaxChunkSize(64 << 10)));
    BodyBudget.Share share = ctx.bodies.share();
    p.addLast("budget", new BudgetedBodies(ctx, share));
    p.addLast("aggregator", new BoundedBodies(ctx));
    p.addLast("api", new HttpApiHandler(ctx, share));
  }

  /** The endpoint a request's head names, for the metrics of an answer given before the API handler sees it. */
  private static Route route(HttpMessage m) {
    return m instanceof HttpRequest r ? Route.of(new QueryStringDecoder(r.uri()).rawPath()) : Route.OTHER;
  }

  /**
   * Counts each body's bytes against the server's {@link BodyBudget} as they arrive; a connection whose bytes would go
   * past it is answered 429 and closed (what it held is given back when it closes).
   */
  private static final class BudgetedBodies extends ChannelInboundHandlerAdapter {
    private final HttpContext ctx;
    private final BodyBudget.Share share;
    private HttpRequest request; // the request whose body is arriving
    private boolean refused;

    BudgetedBodies(HttpContext ctx, BodyBudget.Share share) {
      this.ctx = ctx;
      this.share = share;
    }

    @Override
    public void channelRead(ChannelHandlerContext c, Object msg) {
      if (refused) {
        ReferenceCountUtil.release(msg);
        return;
      }
      if (msg instanceof HttpRequest r) {
        request = r;
      }
      if (msg instanceof HttpContent content && content.content().isReadable() && !share.take(content.content().readableBytes())) {
        refused = true;
        ReferenceCountUtil.release(msg);
        ApiError e = HttpErrors.busy("the HTTP API holds " + ctx.bodies.used() + " bytes of request bodies already, its limit is " + ctx.bodies.max()
            + " (--http-max-buffered-bytes); retry later");
        ctx.metrics.count(request == null ? Route.OTHER : route(request), e.status());
        c.writeAndFlush(HttpApiHandler.jsonResponse(e.status(), e.body(), request == null ? HttpVersion.HTTP_1_1 : HttpApiHandler.answerVersion(request.protocolVersion()), false))
            .addListener(ChannelFutureListener.CLOSE);
        return;
      }
      c.fireChannelRead(msg);
    }

    @Override
    public void channelInactive(ChannelHandlerContext c) throws Exception {
      share.giveBackAll();
      super.channelInactive(c);
    }
  }

  /** The aggregator, answering a body over the limit with a 413 in OpenAI's error shape (Netty's own is empty). */
  private static final class BoundedBodies extends HttpObjectAggregator {
    private final HttpContext ctx;

    BoundedBodies(HttpContext ctx) {
      super(ctx.settings.maxRequestBytes(), true);
      this.ctx = ctx;
    }

    @Override
    protected Object newContinueResponse(HttpMessage start, int maxContentLength, ChannelPipeline pipeline) {
      if (HttpUtil.is100ContinueExpected(start) && HttpUtil.getContentLength(start, -1L) > maxContentLength) {
        return tooLarge(start); // refused before the client sends the body (the connection closes after it)
      }
      String expect = start.headers().get(HttpHeaderNames.EXPECT); // (Netty's aggregator removes it once answered)
      Object answer = super.newContinueResponse(start, maxContentLength, pipeline);
      if (answer instanceof HttpResponse r && r.status().code() == 417) {
        // an Expect other than 100-continue: Netty's 417 has an empty body, this one OpenAI's error (the connection closes after it)
        ReferenceCountUtil.release(answer);
        ApiError e = HttpErrors.expectationFailed(expect);
        ctx.metrics.count(route(start), e.status());
        return HttpApiHandler.jsonResponse(e.status(), e.body(), HttpApiHandler.answerVersion(start.protocolVersion()), false);
      }
      return answer;
    }

    @Override
    protected void handleOversizedMessage(ChannelHandlerContext c, HttpMessage oversized) {
      // the rest of the body may still be on its way: answer, then close
      c.writeAndFlush(tooLarge(oversized)).addListener(ChannelFutureListener.CLOSE);
    }

    private Object tooLarge(HttpMessage m) {
      ctx.metrics.count(route(m), 413);
      return HttpApiHandler.jsonResponse(413, HttpErrors.tooLarge(ctx.settings.maxRequestBytes()).body(), HttpApiHandler.answerVersion(m.protocolVersion()), false);
    }
  }
}
