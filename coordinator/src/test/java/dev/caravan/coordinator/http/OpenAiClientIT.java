package dev.caravan.coordinator.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.caravan.cluster.testing.LocalCluster;
import dev.caravan.engine.TestData;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.tokenizer.ChatMessage;
import dev.caravan.engine.tokenizer.ChatPrompt;
import dev.caravan.engine.tokenizer.Tokenizer;
import dev.caravan.proto.v1.FinishReason;
import dev.caravan.proto.v1.GenerateRequest;
import dev.caravan.proto.v1.GenerateResponse;
import dev.caravan.proto.v1.InferenceGrpc;
import dev.caravan.proto.v1.SamplingParams;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The official {@code openai} npm client against a real 2-worker cluster on stories260K: models, completions and chat,
 * streaming and not, usage (with {@code include_usage} on streams), a stop string, log-probabilities, seeded sampling
 * and errors as the client's own classes. The greedy tokens it sees are the ones gRPC streams for the same request.
 *
 * <p>Needs Node.js and npm (Node 20 works): without them the test fails, saying so. The client is installed with
 * {@code npm ci} from the lock file in {@code src/test/node} into {@code target/openai-client}.
 */
class OpenAiClientIT {
  private static final Path MODEL = TestData.stories260K();
  private static final Path NODE_SOURCES = Path.of("src", "test", "node").toAbsolutePath();
  private static final Path CLIENT_DIR = Path.of("target", "openai-client").toAbsolutePath();
  private static final String PROMPT = "Once upon a time, there was a cat";
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void theOfficialOpenAiClientTalksToACluster() throws Exception {
    String node = run(List.of("node", "--version"), Path.of("."), 60, "OpenAiClientIT needs Node.js (node 20 works) on the PATH");
    run(List.of("npm", "--version"), Path.of("."), 60, "OpenAiClientIT needs npm on the PATH");
    installClient();

    Tokenizer tokenizer;
    try (GgufFile f = GgufFile.open(MODEL)) {
      tokenizer = Tokenizer.fromGguf(f.metadata());
    }
    try (LocalCluster cluster = LocalCluster.start(MODEL, "openai-client")) {
      cluster.addWorker();
      cluster.addWorker();
      cluster.awaitServing(2, Duration.ofSeconds(90));

      Path output = cluster.logDir().resolve("openai-client.json");
      String json = run(List.of("node", CLIENT_DIR.resolve("client.mjs").toString(), "http://127.0.0.1:" + cluster.httpPort() + "/v1", "stories260K", PROMPT), CLIENT_DIR, 300,
          "the openai client script (node " + node.strip() + ") failed");
      Files.writeString(output, json);
      JsonNode out = JSON.readTree(json);

      // the model list
      assertEquals(1, out.get("models").size());
      assertEquals("stories260K", out.get("models").get(0).get("id").asText());
      assertEquals("caravan", out.get("models").get(0).get("owned_by").asText());

      // a greedy completion: gRPC's tokens for the same request
      Greedy grpc = grpc(cluster, GenerateRequest.newBuilder().setPrompt(PROMPT).setMaxTokens(24).setSampling(SamplingParams.newBuilder().setTemperature(0)).build(), tokenizer);
      JsonNode c = out.get("completion");
      assertEquals("text_completion", c.get("object").asText());
      assertEquals(grpc.pieces(), strings(c.get("tokens")), "the client's tokens are gRPC's");
      assertEquals(grpc.text(), c.get("text").asText());
      assertEquals(grpc.finish() == FinishReason.FINISH_REASON_LENGTH ? "length" : "stop", c.get("finish_reason").asText());
      int promptTokens = tokenizer.encode(PROMPT, true, false).length;
      assertUsage(c.get("usage"), promptTokens, grpc.pieces().size());
      for (int i = 0; i < grpc.pieces().size(); i++) {
        double lp = c.get("token_logprobs").get(i).asDouble();
        assertTrue(lp <= 0, "a log-probability: " + lp);
        // greedy without penalties picks the most likely token: its log-probability is the top one
        assertEquals(lp, c.get("top_logprobs").get(i).properties().iterator().next().getValue().asDouble(), 1e-12);
      }

      // streamed: the same text, the usage chunk (with empty choices) at the end
      JsonNode s = out.get("completionStream");
      assertEquals(c.get("text").asText(), s.get("text").asText());
      assertEquals(c.get("finish_reason").asText(), s.get("finish_reason").asText());
      assertEquals(1, s.get("emptyChoices").asInt(), "one usage chunk");
      assertUsage(s.get("usage"), promptTokens, grpc.pieces().size());

      // a stop string cuts the text before it
      String text = c.get("text").asText();
      int at = text.indexOf("loved"); // the script's stop strings: loved, zzz
      JsonNode stopped = out.get("stopped");
      if (at >= 0) {
        assertEquals(text.substring(0, at), stopped.get("text").asText());
        assertEquals("stop", stopped.get("finish_reason").asText());
      } else {
        assertEquals(text, stopped.get("text").asText());
      }
      assertTrue(at >= 0, "the greedy story has the stop word, or the stop case proves nothing: " + text);

      // chat through the model's template (ChatML for stories260K): gRPC's tokens for the same user message
      Greedy chatGrpc = grpc(cluster, GenerateRequest.newBuilder().setPrompt(PROMPT).setChat(true).setMaxTokens(16).setSampling(SamplingParams.newBuilder().setTemperature(0)).build(), tokenizer);
      JsonNode chat = out.get("chat");
      assertEquals("chat.completion", chat.get("object").asText());
      assertEquals("assistant", chat.get("role").asText());
      assertEquals(chatGrpc.text(), chat.get("content").asText());
      List<String> chatTokens = new ArrayList<>();
      for (JsonNode t : chat.get("logprobs")) {
        chatTokens.add(t.get("token").asText());
        assertEquals(2, t.get("top").size());
        assertEquals(t.get("token").asText(), t.get("top").get(0).asText());
        byte[] bytes = t.get("token").asText().getBytes(StandardCharsets.UTF_8);
        assertEquals(bytes.length, t.get("bytes").size());
      }
      assertEquals(chatGrpc.pieces(), chatTokens);
      int chatPrompt = new ChatPrompt(tokenizer).encode(List.of(ChatMessage.user(PROMPT))).length;
      assertUsage(chat.get("usage"), chatPrompt, chatGrpc.pieces().size());

      JsonNode chatStream = out.get("chatStream");
      assertEquals(List.of("assistant"), strings(chatStream.get("roles")), "the role comes once, first");
      assertEquals(chat.get("content").asText(), chatStream.get("content").asText());
      assertEquals(chat.get("finish_reason").asText(), chatStream.get("finish_reason").asText());
      assertUsage(chatStream.get("usage"), chatPrompt, chatGrpc.pieces().size());
      Files.writeString(cluster.logDir().resolve("openai-chat-stream.jsonl"), streamTranscript(chatStream.get("chunks")));

      // seeded sampling with the server's defaults: repeatable, and not greedy
      assertEquals(out.get("seeded").get(0).asText(), out.get("seeded").get(1).asText());
      assertNotEquals(text, out.get("seeded").get(0).asText());

      // errors as the client's classes
      assertError(out.get("unknownModel"), "NotFoundError", 404, "model", "model_not_found");
      assertError(out.get("twoChoices"), "BadRequestError", 400, "n", null);
      assertError(out.get("wrongType"), "BadRequestError", 400, "temperature", null);
      assertEquals("temperature must be a number, not a string (\"hot\")", out.get("wrongType").get("message").asText());
      assertError(out.get("tooManyLogprobs"), "BadRequestError", 400, "top_logprobs", null);
    }
  }

  private static void assertUsage(JsonNode usage, int prompt, int completion) {
    assertEquals(prompt, usage.get("prompt_tokens").asInt(), usage.toString());
    assertEquals(completion, usage.get("completion_tokens").asInt(), usage.toString());
    assertEquals(prompt + completion, usage.get("total_tokens").asInt(), usage.toString());
    assertEquals(0, usage.get("prompt_tokens_details").get("cached_tokens").asInt(), usage.toString());
  }

  private static void assertError(JsonNode e, String name, int status, String param, String code) {
    assertEquals(name, e.get("name").asText(), e.toString());
    assertEquals(status, e.get("status").asInt(), e.toString());
    assertEquals("invalid_request_error", e.get("type").asText(), e.toString());
    assertEquals(param, e.get("param").isNull() ? null : e.get("param").asText(), e.toString());
    assertEquals(code, e.get("code").isNull() ? null : e.get("code").asText(), e.toString());
  }

  private static List<String> strings(JsonNode array) {
    List<String> out = new ArrayList<>();
    array.forEach(n -> out.add(n.asText()));
    return out;
  }

  private static String streamTranscript(JsonNode chunks) {
    StringBuilder b = new StringBuilder();
    chunks.forEach(c -> b.append(c.toString()).append('\n'));
    return b.toString();
  }

  private record Greedy(List<String> pieces, String text, FinishReason finish) {}

  private static Greedy grpc(LocalCluster cluster, GenerateRequest request, Tokenizer tokenizer) {
    Iterator<GenerateResponse> it = InferenceGrpc.newBlockingStub(cluster.channel()).withDeadlineAfter(60, TimeUnit.SECONDS).generate(request);
    List<String> pieces = new ArrayList<>();
    StringBuilder text = new StringBuilder();
    FinishReason finish = null;
    while (it.hasNext()) {
      GenerateResponse r = it.next();
      if (r.hasDelta()) {
        r.getDelta().getTokenIdsList().forEach(id -> pieces.add(new String(tokenizer.tokenBytes(id, true), StandardCharsets.UTF_8)));
        text.append(r.getDelta().getText());
      } else {
        finish = r.getDone().getFinishReason();
      }
    }
    return new Greedy(pieces, text.toString(), finish);
  }

  /** {@code npm ci} from the committed lock file into target/openai-client, once per build directory. */
  private static void installClient() throws Exception {
    Files.createDirectories(CLIENT_DIR);
    byte[] lock = Files.readAllBytes(NODE_SOURCES.resolve("package-lock.json"));
    Path installed = CLIENT_DIR.resolve("node_modules").resolve("openai").resolve("package.json");
    boolean current = Files.exists(installed) && Files.exists(CLIENT_DIR.resolve("package-lock.json")) && java.util.Arrays.equals(lock, Files.readAllBytes(CLIENT_DIR.resolve("package-lock.json")));
    for (String f : List.of("package.json", "package-lock.json", "client.mjs")) {
      Files.copy(NODE_SOURCES.resolve(f), CLIENT_DIR.resolve(f), StandardCopyOption.REPLACE_EXISTING);
    }
    if (!current) {
      run(List.of("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"), CLIENT_DIR, 600,
          "npm could not install the openai client from the registry (" + CLIENT_DIR + "); it needs https://registry.npmjs.org");
    }
    assertTrue(Files.exists(installed), "npm ci installed no openai package in " + CLIENT_DIR);
  }

  /** Runs a command to its end and returns its standard output; fails the test with {@code why} and its output otherwise. */
  private static String run(List<String> command, Path dir, int timeoutSeconds, String why) throws InterruptedException {
    Path err;
    Process p;
    try {
      err = Files.createTempFile(Path.of("target").toAbsolutePath(), "openai-it-", ".stderr");
      p = new ProcessBuilder(command).directory(dir.toFile()).redirectError(err.toFile()).start();
    } catch (IOException e) {
      fail(why + ": `" + String.join(" ", command) + "` could not start: " + e.getMessage());
      return null;
    }
    try {
      p.getOutputStream().close();
      byte[] stdout = p.getInputStream().readAllBytes();
      if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
        fail(why + ": `" + String.join(" ", command) + "` did not end within " + timeoutSeconds + " s");
      }
      String errText = Files.readString(err);
      if (p.exitValue() != 0) {
        fail(why + ": `" + String.join(" ", command) + "` exited with " + p.exitValue() + "\n" + errText + new String(stdout, StandardCharsets.UTF_8));
      }
      return new String(stdout, StandardCharsets.UTF_8);
    } catch (IOException e) {
      fail(why + ": " + e);
      return null;
    } finally {
      p.destroyForcibly();
      p.waitFor(10, TimeUnit.SECONDS);
      try {
        Files.deleteIfExists(err);
      } catch (IOException ignored) {
        // target/ is cleaned anyway
      }
    }
  }
}
