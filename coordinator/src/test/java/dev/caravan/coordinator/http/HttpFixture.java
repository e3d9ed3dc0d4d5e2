package dev.caravan.coordinator.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.caravan.coordinator.CoordinatorMetrics;
import dev.caravan.coordinator.RequestValidator;
import dev.caravan.coordinator.core.EngineCore;
import dev.caravan.coordinator.core.EngineLoop;
import dev.caravan.coordinator.core.InProcessExecutor;
import dev.caravan.coordinator.core.KvPlacementSink;
import dev.caravan.coordinator.core.OutputProcessor;
import dev.caravan.coordinator.core.SessionRegistry;
import dev.caravan.coordinator.scheduler.Scheduler;
import dev.caravan.coordinator.scheduler.SchedulerConfig;
import dev.caravan.engine.model.Batch;
import dev.caravan.engine.model.KvCache;
import dev.caravan.engine.model.LlamaModel;
import dev.caravan.engine.tokenizer.ChatPrompt;
import dev.caravan.engine.tokenizer.Tokenizer;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A real HTTP server on loopback in front of a real core, stepping on its own thread, with the real in-process
 * executor on stories260K behind a gate; a JDK HTTP client. One per test.
 */
final class HttpFixture implements AutoCloseable {
  static final ObjectMapper JSON = new ObjectMapper();

  final CoordinatorMetrics metrics = new CoordinatorMetrics();
  final GatedExecutor executor;
  final EngineCore core;
  final EngineLoop loop;
  final HttpServer server;
  final AtomicReference<String> notServing = new AtomicReference<>();
  final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
  private final Tokenizer tokenizer;

  /** A fixture whose core and server are configured by the test. */
  HttpFixture(LlamaModel model, Tokenizer tokenizer, SchedulerConfig scheduler, Duration noPlanGrace, HttpServer.Settings settings, HttpAuth auth) throws IOException {
    this(model, tokenizer, scheduler, noPlanGrace, settings, auth, null);
  }

  /** As above, serving TLS with {@code tls} (null: plaintext). */
  HttpFixture(LlamaModel model, Tokenizer tokenizer, SchedulerConfig scheduler, Duration noPlanGrace, HttpServer.Settings settings, HttpAuth auth,
      io.netty.handler.ssl.SslContext tls) throws IOException {
    this.tokenizer = tokenizer;
    executor = new GatedExecutor(new InProcessExecutor(model.layers()));
    core = new EngineCore(new Scheduler(scheduler, System::nanoTime), executor, new OutputProcessor(tokenizer, metrics),
        new SessionRegistry(KvPlacementSink.NONE, Duration.ofMinutes(5).toNanos(), Duration.ofMillis(100).toNanos()), metrics, System::nanoTime,
        new EngineCore.Settings(model.config().contextLength(), Duration.ofMinutes(5), noPlanGrace, Duration.ofMillis(100), 3));
    core.setServingPlan(0, 1, null);
    loop = new EngineLoop(core).start();
    RequestValidator validator = new RequestValidator("stories260K", tokenizer, model.config().contextLength(), new ChatPrompt(tokenizer));
    server = new HttpServer(settings, new HttpApi(validator, tokenizer, core, notServing::get, auth, metrics), tls).start();
  }

  /** The defaults: 4 running, 4 waiting, plenty of time, allow-all. */
  HttpFixture(LlamaModel model, Tokenizer tokenizer) throws IOException {
    this(model, tokenizer, new SchedulerConfig(4, 4, 64, 1), Duration.ofSeconds(5), settings(), HttpAuth.ALLOW_ALL);
  }

  static HttpServer.Settings settings() {
    return HttpServer.Settings.of("127.0.0.1", 0, 1 << 20, Duration.ofMinutes(2), Duration.ofMinutes(2));
  }

  URI uri(String path) {
    return URI.create("http://127.0.0.1:" + server.port() + path);
  }

  HttpResponse<String> post(String path, String body, String... headers) throws IOException, InterruptedException {
    HttpRequest.Builder b = HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json");
    if (headers.length > 0) {
      b.headers(headers);
    }
    return client.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  HttpResponse<String> get(String path, String... headers) throws IOException, InterruptedException {
    HttpRequest.Builder b = HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(60)).GET();
    if (headers.length > 0) {
      b.headers(headers);
    }
    return client.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  /** A streamed response: its status, headers and the data of each server-sent event, in order. */
  record Stream(HttpResponse<?> response, List<String> events) {
    /** The events that are JSON (all but the final [DONE]). */
    List<JsonNode> json() throws IOException {
      List<JsonNode> out = new ArrayList<>();
      for (String e : events) {
        if (!e.equals("[DONE]")) {
          out.add(JSON.readTree(e));
        }
      }
      return out;
    }
  }

  Stream stream(String path, String body) throws IOException, InterruptedException {
    HttpRequest r = HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json").build();
    HttpResponse<java.util.stream.Stream<String>> resp = client.send(r, HttpResponse.BodyHandlers.ofLines());
    List<String> events = new ArrayList<>();
    if (!resp.headers().firstValue("content-type").orElse("").startsWith("text/event-stream")) {
      try (var lines = resp.body()) {
        events.add(lines.collect(java.util.stream.Collectors.joining("\n"))); // an error answered before streaming: its JSON body
      }
      return new Stream(resp, events);
    }
    try (var lines = resp.body()) {
      lines.forEach(line -> {
        if (line.startsWith("data: ")) {
          events.add(line.substring(6));
        } else if (!line.isEmpty()) {
          throw new AssertionError("not a server-sent event line: " + line);
        }
      });
    }
    return new Stream(resp, events);
  }

  static JsonNode json(HttpResponse<String> r) throws IOException {
    return JSON.readTree(r.body());
  }

  /** The text a token stands for, as generated text shows it. */
  String piece(int id) {
    return new String(tokenizer.tokenBytes(id, true), StandardCharsets.UTF_8);
  }

  /** caravan_http_requests_total{endpoint, status}. */
  double httpRequests(String endpoint, int status) {
    for (MetricSnapshot s : metrics.registry.scrape()) {
      if (s instanceof CounterSnapshot c && c.getMetadata().getName().equals("caravan_http_requests")) {
        for (CounterSnapshot.CounterDataPointSnapshot p : c.getDataPoints()) {
          if (endpoint.equals(p.getLabels().get("endpoint")) && Integer.toString(status).equals(p.getLabels().get("status"))) {
            return p.getValue();
          }
        }
      }
    }
    return 0;
  }

  /**
   * The model's raw logits before each generated token, computed here with the engine directly (not through the core):
   * row 0 after the prompt, row k after the prompt and {@code continuation[0..k)}.
   */
  static float[][] engineLogits(LlamaModel model, int[] prompt, int[] continuation, int rows) {
    KvCache cache = model.layers().newCache();
    Batch b = new Batch(prompt.length);
    float[][] out = new float[rows][model.config().vocabSize()];
    b.addSequence(prompt, cache, true);
    for (int k = 0; k < rows; k++) {
      model.layers().forward(b, null, out[k]);
      b.clear();
      if (k < continuation.length) {
        b.add(continuation[k], cache.length(), cache, true);
      }
    }
    return out;
  }

  /** Greedy ids from logits computed with the engine directly. */
  static int[] engineGreedy(LlamaModel model, int[] prompt, int count) {
    int[] ids = new int[count];
    KvCache cache = model.layers().newCache();
    Batch b = new Batch(prompt.length);
    float[] logits = new float[model.config().vocabSize()];
    b.addSequence(prompt, cache, true);
    for (int k = 0; k < count; k++) {
      model.layers().forward(b, null, logits);
      int best = 0;
      for (int t = 1; t < logits.length; t++) {
        best = logits[t] > logits[best] ? t : best;
      }
      ids[k] = best;
      b.clear();
      b.add(best, cache.length(), cache, true);
    }
    return ids;
  }

  @Override
  public void close() {
    server.close();
    loop.close();
  }
}
