package dev.caravan.coordinator.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.caravan.coordinator.core.EngineCore;
import dev.caravan.coordinator.core.GenerationError;
import dev.caravan.coordinator.core.GenerationException;
import dev.caravan.coordinator.core.GenerationListener;
import dev.caravan.coordinator.core.GenerationRequest;
import dev.caravan.coordinator.scheduler.Sequence;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One generation request on a connection, from its body to the last byte of its answer: it reads and checks the body
 * (on the prepare executor, off the event loop), submits the request to the core, and is the request's
 * {@link GenerationListener}. The core calls it on the core's thread; it hands every event to the channel's event loop,
 * where all writing happens.
 *
 * <p>Streaming is server-sent events in OpenAI's chunk shape. While the socket is not writable, text (and
 * log-probabilities) are coalesced into one pending chunk instead of queued chunk by chunk, and sent when the channel
 * is writable again; the pending text is bounded by the request's max tokens. The response head goes out with the
 * first event, so an error before any token (a full queue, no workers) still gets its own HTTP status; an error after
 * it is a last {@code data: {"error": ...}} event, then the stream ends and the connection closes. A client that
 * closes the connection cancels its request, which frees its KV cache on every worker.
 */
final class Exchange implements GenerationListener {
  private static final Logger LOG = LoggerFactory.getLogger(Exchange.class);
  private static final byte[] DONE = "data: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII);

  private enum State { PREPARING, SUBMITTED, CLOSED }

  private record Finished(Sequence.Finish reason, Usage usage) {}

  private final HttpContext ctx;
  private final Channel channel;
  private final HttpApiHandler owner;
  private final Route route;
  private final HttpVersion version;
  private boolean keepAlive;
  private final EngineCore.Handle handle;
  private final String id;
  private final long created = System.currentTimeMillis() / 1000;
  private final AtomicReference<State> state = new AtomicReference<>(State.PREPARING);

  // written on the prepare thread before the request is submitted; read after it (the core's mailbox orders them)
  private volatile OpenAiRequest request;

  // the core's thread only: log-probabilities of sampled tokens, until their text is emitted
  private final ArrayDeque<Logprobs.Entry> sampled = new ArrayDeque<>();

  // the event loop only
  private final StringBuilder text = new StringBuilder(); // streaming: text not yet sent; else all of it
  private final List<Logprobs.Entry> logprobs = new ArrayList<>(); // the same for log-probabilities
  private int[] offsets = new int[16]; // (logprobs.size()) each token's text_offset
  private int textLength; // characters of generated text so far
  private boolean headSent;
  private boolean ended;
  private Finished finished;
  private ApiError error;

  Exchange(HttpContext ctx, Channel channel, HttpApiHandler owner, Route route, HttpVersion version, boolean keepAlive) {
    this.ctx = ctx;
    this.channel = channel;
    this.owner = owner;
    this.route = route;
    this.version = version;
    this.keepAlive = keepAlive;
    this.handle = ctx.api.core().newHandle();
    this.id = (route == Route.CHAT ? "chatcmpl-" : "cmpl-") + Long.toHexString(ThreadLocalRandom.current().nextLong() | Long.MIN_VALUE) + Long.toHexString(handle.id());
  }

  // ---- the prepare executor --------------------------------------------------------------------------------------

  /** Reads, checks and tokenizes the body, then submits the request (unless the client left meanwhile). */
  void prepare(byte[] body) {
    try {
      OpenAiRequest r = OpenAiRequest.parse(route == Route.CHAT, body);
      GenerationRequest g = r.toGeneration(ctx.api.validator(), System.nanoTime() + ctx.settings.requestTimeout().toNanos());
      request = r;
      if (state.compareAndSet(State.PREPARING, State.SUBMITTED)) {
        ctx.api.core().submit(handle, g, this);
      }
    } catch (ApiException e) {
      ctx.api.metrics().requestErrors.labelValues(GenerationError.Kind.INVALID_ARGUMENT.name()).inc();
      refuse(e.error());
    } catch (GenerationException e) {
      ctx.api.metrics().requestErrors.labelValues(e.kind().name()).inc();
      refuse(HttpErrors.of(e.error()));
    } catch (Throwable t) { // a bug: the client hears of it, the log has it
      LOG.error("HTTP {} {}: preparing the request failed", route.method, route.label, t);
      refuse(HttpErrors.internal());
    }
  }

  /** The request is answered with {@code e} before it reached the core. */
  void refuse(ApiError e) {
    post(() -> {
      error = e;
      flush();
    });
  }

  // ---- the core's thread -----------------------------------------------------------------------------------------

  @Override
  public boolean wantsLogits() {
    OpenAiRequest r = request;
    return r != null && r.logprobs() >= 0;
  }

  @Override
  public void onSampled(int token, float[] logits, int offset, int vocab) {
    sampled.add(Logprobs.of(logits, offset, vocab, token, request.logprobs()));
  }

  @Override
  public void onDelta(String delta, int[] tokenIds) {
    List<Logprobs.Entry> entries = List.of();
    if (tokenIds.length > 0 && !sampled.isEmpty()) {
      entries = new ArrayList<>(tokenIds.length);
      for (int t : tokenIds) {
        Logprobs.Entry e;
        while ((e = sampled.poll()) != null && e.token() != t) {
          // a token sampled but never emitted (its request was being cancelled): skip it
        }
        if (e != null) {
          entries.add(e);
        }
      }
    }
    List<Logprobs.Entry> lp = entries;
    post(() -> delta(delta, lp));
  }

  @Override
  public void onDone(Sequence.Finish reason, String matchedStop, Usage usage) {
    sampled.clear(); // an end-of-generation token, or the one that completed a stop string: no text of its own
    post(() -> {
      finished = new Finished(reason, usage);
      flush();
    });
  }

  @Override
  public void onError(GenerationError e) {
    post(() -> {
      error = HttpErrors.of(e);
      flush();
    });
  }

  private void post(Runnable r) {
    try {
      channel.eventLoop().execute(r);
    } catch (RejectedExecutionException e) {
      // the server is shutting down: the connection goes with it
    }
  }

  // ---- the event loop --------------------------------------------------------------------------------------------

  /** The client closed the connection: the request is cancelled (the core frees its KV cache on every worker). */
  void clientGone() {
    if (ended) {
      return;
    }
    if (!state.compareAndSet(State.PREPARING, State.CLOSED) && state.get() == State.SUBMITTED) {
      handle.cancel(GenerationError.of(GenerationError.Kind.CANCELLED, "the HTTP client closed the connection"));
    }
    end(499, null, true);
  }

  /** The connection can take more: send what was coalesced meanwhile. */
  void writable() {
    flush();
  }

  private void delta(String t, List<Logprobs.Entry> entries) {
    if (ended) {
      return;
    }
    for (Logprobs.Entry e : entries) {
      if (logprobs.size() == offsets.length) {
        offsets = Arrays.copyOf(offsets, offsets.length * 2);
      }
      offsets[logprobs.size()] = textLength;
      logprobs.add(e);
    }
    text.append(t);
    textLength += t.length();
    flush();
  }

  private boolean pending() {
    return !text.isEmpty() || !logprobs.isEmpty();
  }

  /** Writes what can be written now; ends the exchange once the last event is out. */
  private void flush() {
    if (ended) {
      return;
    }
    try {
      OpenAiRequest r = request;
      boolean stream = r != null && r.stream();
      if (!headSent && error != null) {
        end(error.status(), () -> owner.writeJson(error.status(), error.body(), version, keepAlive), !keepAlive);
        return;
      }
      if (!stream) {
        if (finished != null) {
          end(200, () -> owner.writeJson(200, whole(r), version, keepAlive), !keepAlive);
        }
        return;
      }
      if (!headSent) {
        if (!pending() && finished == null) {
          return; // nothing to show yet (say, the first bytes of a multi-byte character)
        }
        writeHead();
        if (route == Route.CHAT) {
          writeEvent(ctx.responses.chatChunk(id, created, "assistant", "", null, null, r.includeUsage()));
        }
      }
      boolean last = finished != null || error != null;
      if (pending() && (last || channel.isWritable())) {
        writeEvent(chunk(r, text.toString(), null));
        text.setLength(0);
        logprobs.clear();
      }
      if (error != null) {
        writeEvent(error.body());
        end(200, () -> channel.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT), true);
      } else if (finished != null) {
        writeEvent(chunk(r, route == Route.CHAT ? null : "", OpenAiResponses.finishReason(finished.reason())));
        if (r.includeUsage()) {
          writeEvent(ctx.responses.usageChunk(route == Route.CHAT, id, created, finished.usage()));
        }
        channel.write(new DefaultHttpContent(Unpooled.wrappedBuffer(DONE)));
        end(200, () -> channel.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT), !keepAlive);
      } else {
        channel.flush();
      }
    } catch (Throwable t) { // a bug: never leave the client hanging
      LOG.error("HTTP {}: writing the response failed", route.label, t);
      if (!headSent) {
        end(500, () -> owner.writeJson(500, HttpErrors.internal().body(), version, false), true);
      } else {
        end(200, null, true);
      }
    }
  }

  /** A streamed chunk of what is pending (with the finish reason in the last one). */
  private JsonNode chunk(OpenAiRequest r, String content, String finish) {
    List<Logprobs.Entry> lp = r.logprobs() >= 0 ? List.copyOf(logprobs) : null;
    if (finish != null && lp != null) {
      lp = List.of(); // the last chunk carries no tokens
    }
    if (route == Route.CHAT) {
      return ctx.responses.chatChunk(id, created, null, content, lp, finish, r.includeUsage());
    }
    return ctx.responses.completionChunk(id, created, content, lp, Arrays.copyOf(offsets, logprobs.size()), finish, r.includeUsage());
  }

  /** The whole answer of a request that did not stream. */
  private JsonNode whole(OpenAiRequest r) {
    List<Logprobs.Entry> lp = r.logprobs() >= 0 ? logprobs : null;
    String finish = OpenAiResponses.finishReason(finished.reason());
    if (route == Route.CHAT) {
      return ctx.responses.chatCompletion(id, created, text.toString(), finish, lp, finished.usage());
    }
    return ctx.responses.completion(id, created, text.toString(), finish, lp, Arrays.copyOf(offsets, logprobs.size()), finished.usage());
  }

  private void writeHead() {
    HttpResponse head = new DefaultHttpResponse(version, HttpResponseStatus.OK);
    head.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8").set(HttpHeaderNames.CACHE_CONTROL, HttpHeaderValues.NO_CACHE);
    if (version.equals(HttpVersion.HTTP_1_0)) {
      keepAlive = false; // no chunked encoding: the body ends when the connection closes
    } else {
      HttpUtil.setTransferEncodingChunked(head, true);
    }
    head.headers().set(HttpHeaderNames.CONNECTION, keepAlive ? HttpHeaderValues.KEEP_ALIVE : HttpHeaderValues.CLOSE);
    channel.write(head);
    headSent = true;
  }

  private void writeEvent(JsonNode event) {
    byte[] json = HttpApiHandler.bytes(event);
    byte[] sse = new byte[json.length + 8];
    System.arraycopy("data: ".getBytes(StandardCharsets.US_ASCII), 0, sse, 0, 6);
    System.arraycopy(json, 0, sse, 6, json.length);
    sse[sse.length - 2] = '\n';
    sse[sse.length - 1] = '\n';
    channel.write(new DefaultHttpContent(Unpooled.wrappedBuffer(sse)));
  }

  /**
   * The answer ends: counted, its last write made ({@code lastWrite}, or null when the client is gone or nothing is left
   * to write), and the connection closed after it if {@code close}.
   */
  private void end(int status, Supplier<ChannelFuture> lastWrite, boolean close) {
    if (ended) {
      return;
    }
    ended = true;
    ctx.metrics.count(route, status);
    ChannelFuture last = lastWrite == null ? null : lastWrite.get();
    ctx.openExchanges.decrementAndGet();
    owner.exchangeEnded(this, last, close);
  }
}
