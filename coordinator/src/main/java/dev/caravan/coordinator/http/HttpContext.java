package dev.caravan.coordinator.http;

import io.netty.channel.group.ChannelGroup;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.atomic.AtomicInteger;

/** What every connection of one {@link HttpServer} shares. */
final class HttpContext {
  final HttpApi api;
  final HttpServer.Settings settings;
  final HttpMetrics metrics;
  final OpenAiResponses responses;
  /** Reads, checks and tokenizes generation requests off the event loop (bounded: a full queue is a 429). */
  final ExecutorService prepare;
  /** Every open connection, to close them on shutdown. */
  final ChannelGroup channels;
  /** Request bodies held over all connections ({@code --http-max-buffered-bytes}). */
  final BodyBudget bodies;
  /** Generation requests not yet answered to the end. */
  final AtomicInteger openExchanges = new AtomicInteger();
  /** The {@code created} time of the model, in seconds (when this server started). */
  final long created;
  volatile boolean serving = true;

  HttpContext(HttpApi api, HttpServer.Settings settings, ExecutorService prepare, ChannelGroup channels, long created) {
    this.api = api;
    this.settings = settings;
    this.metrics = new HttpMetrics(api.metrics().registry);
    this.responses = new OpenAiResponses(api.tokenizer(), api.validator().modelId());
    this.prepare = prepare;
    this.bodies = new BodyBudget(settings.maxBufferedBytes());
    this.channels = channels;
    this.created = created;
  }
}
