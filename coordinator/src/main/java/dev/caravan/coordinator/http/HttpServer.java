package dev.caravan.coordinator.http;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The OpenAI-compatible HTTP API's server: owns its lifecycle only — bind, serve, drain, close — like Netty's
 * {@code HttpHelloWorldServer}. The pipeline is {@link HttpServerInitializer}'s, the endpoints {@link HttpApiHandler}'s;
 * generation goes to the same {@code EngineCore} as the gRPC API's.
 */
public final class HttpServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(HttpServer.class);
  /** The longest request line (method, URL, version) accepted. */
  static final int MAX_INITIAL_LINE_BYTES = 8192;

  /**
   * @param host              interface to bind
   * @param port              port; 0 picks a free one
   * @param maxRequestBytes   largest body (413 beyond): the coordinator's {@code --max-request-bytes}
   * @param maxHeaderBytes    largest header block (431 beyond)
   * @param requestTimeout    a generation request still running after this long ends with 504 (or an error event)
   * @param idleTimeout       a keep-alive connection with no request for this long is closed
   * @param ioThreads         Netty event loop threads
   * @param prepareThreads    threads that read, check and tokenize request bodies off the event loop
   * @param prepareQueue      bodies waiting for them; more are answered 429
   * @param writeBufferHigh   bytes a connection may have unsent before it counts as not writable (streams coalesce)
   * @param sendBufferBytes   the sockets' send buffer ({@code SO_SNDBUF}); 0 leaves it to the OS
   * @param maxBufferedBytes  request bodies held at once over all connections (being read or waiting to be tokenized);
   *                          past it a connection is answered 429 and closed: the coordinator's {@code --http-max-buffered-bytes}
   */
  public record Settings(String host, int port, int maxRequestBytes, int maxHeaderBytes, Duration requestTimeout, Duration idleTimeout, int ioThreads, int prepareThreads,
                         int prepareQueue, int writeBufferHigh, int sendBufferBytes, long maxBufferedBytes) {
    /** The default of {@code --http-max-buffered-bytes}: 256 MiB. */
    public static final long DEFAULT_MAX_BUFFERED_BYTES = 256L << 20;

    public Settings {
      if (port < 0 || port > 65535 || maxRequestBytes < 1 || maxHeaderBytes < 1024 || ioThreads < 1 || prepareThreads < 1 || prepareQueue < 1 || writeBufferHigh < 2 || sendBufferBytes < 0) {
        throw new IllegalArgumentException("invalid HTTP server settings");
      }
      if (maxBufferedBytes < maxRequestBytes) {
        throw new IllegalArgumentException("the HTTP API's buffered bytes (" + maxBufferedBytes + ") must be at least the largest request (" + maxRequestBytes + ")");
      }
      if (requestTimeout.isNegative() || requestTimeout.isZero() || idleTimeout.isNegative() || idleTimeout.isZero()) {
        throw new IllegalArgumentException("the HTTP request and idle timeouts must be positive");
      }
    }

    /**
     * The coordinator's settings: 16 KiB of headers, 2 event loop and 2 prepare threads, 64 bodies queued, Netty's 64 KiB
     * write buffer, the OS's socket buffers, 256 MiB of bodies held at once (or one request's worth, if more).
     */
    public static Settings of(String host, int port, int maxRequestBytes, Duration requestTimeout, Duration idleTimeout) {
      return new Settings(host, port, maxRequestBytes, 16 << 10, requestTimeout, idleTimeout, 2, 2, 64, 64 << 10, 0, Math.max(DEFAULT_MAX_BUFFERED_BYTES, maxRequestBytes));
    }

    /** Other write buffer and socket send buffer sizes (tests make a slow client's backpressure show at once). */
    public Settings withBuffers(int writeBufferHigh, int sendBufferBytes) {
      return new Settings(host, port, maxRequestBytes, maxHeaderBytes, requestTimeout, idleTimeout, ioThreads, prepareThreads, prepareQueue, writeBufferHigh, sendBufferBytes, maxBufferedBytes);
    }

    public Settings withPrepare(int threads, int queue) {
      return new Settings(host, port, maxRequestBytes, maxHeaderBytes, requestTimeout, idleTimeout, ioThreads, threads, queue, writeBufferHigh, sendBufferBytes, maxBufferedBytes);
    }

    public Settings withMaxBufferedBytes(long bytes) {
      return new Settings(host, port, maxRequestBytes, maxHeaderBytes, requestTimeout, idleTimeout, ioThreads, prepareThreads, prepareQueue, writeBufferHigh, sendBufferBytes, bytes);
    }
  }

  private final Settings settings;
  private final HttpContext ctx;
  private final SslContext tls;
  private final EventLoopGroup boss;
  private final EventLoopGroup workers;
  private final ThreadPoolExecutor prepare;
  private Channel server;

  /** @param tls TLS for the public port, or null for plain HTTP */
  public HttpServer(Settings settings, HttpApi api, SslContext tls) {
    this.settings = settings;
    this.tls = tls;
    this.prepare = new ThreadPoolExecutor(settings.prepareThreads(), settings.prepareThreads(), 0, TimeUnit.MILLISECONDS, new ArrayBlockingQueue<>(settings.prepareQueue()),
        new DefaultThreadFactory("caravan-http-prepare", true));
    this.boss = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("caravan-http-accept", true), NioIoHandler.newFactory());
    this.workers = new MultiThreadIoEventLoopGroup(settings.ioThreads(), new DefaultThreadFactory("caravan-http", true), NioIoHandler.newFactory());
    this.ctx = new HttpContext(api, settings, prepare, new DefaultChannelGroup("caravan-http", GlobalEventExecutor.INSTANCE), System.currentTimeMillis() / 1000);
  }

  /** Binds the port; fails with an IOException naming it when it is taken. */
  public HttpServer start() throws IOException {
    ServerBootstrap b = new ServerBootstrap()
        .group(boss, workers)
        .channel(NioServerSocketChannel.class)
        .option(ChannelOption.SO_BACKLOG, 256)
        .childOption(ChannelOption.TCP_NODELAY, true) // stream events go out as they are written
        .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(settings.writeBufferHigh() / 2, settings.writeBufferHigh()))
        .childHandler(new HttpServerInitializer(ctx, tls));
    if (settings.sendBufferBytes() > 0) {
      b.childOption(ChannelOption.SO_SNDBUF, settings.sendBufferBytes());
    }
    try {
      server = b.bind(new InetSocketAddress(settings.host(), settings.port())).sync().channel();
    } catch (Exception e) {
      shutdownThreads();
      throw new IOException("the HTTP API cannot listen on " + settings.host() + ":" + settings.port() + ": " + e.getMessage(), e);
    }
    LOG.info("OpenAI-compatible HTTP API listening on {}:{}{}", settings.host(), port(), tls == null ? "" : " (TLS)");
    return this;
  }

  public int port() {
    return ((InetSocketAddress) server.localAddress()).getPort();
  }

  /** Bytes of request bodies held now over all connections (see {@code --http-max-buffered-bytes}). */
  public long bufferedBodyBytes() {
    return ctx.bodies.used();
  }

  /** False: {@code /health} answers 503 and new generation requests are refused with 503 (draining); running ones go on. */
  public void setServing(boolean serving) {
    ctx.serving = serving;
  }

  /**
   * Stops listening, waits up to {@code grace} for generation requests still being answered, then closes every
   * connection and stops the threads.
   */
  public void close(Duration grace) {
    ctx.serving = false;
    if (server != null) {
      server.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
    }
    long deadline = System.nanoTime() + grace.toNanos();
    while (ctx.openExchanges.get() > 0 && System.nanoTime() < deadline) {
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    ctx.channels.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
    shutdownThreads();
  }

  @Override
  public void close() {
    close(Duration.ZERO);
  }

  private void shutdownThreads() {
    prepare.shutdownNow();
    boss.shutdownGracefully(0, 2, TimeUnit.SECONDS);
    workers.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(3, TimeUnit.SECONDS);
  }
}
