package dev.caravan.coordinator.http;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.coordinator.RequestValidator;
import dev.caravan.coordinator.core.GenerationError;
import dev.caravan.coordinator.core.GenerationException;
import dev.caravan.coordinator.core.GenerationRequest;
import dev.caravan.engine.TestData;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.sampling.SamplingParams;
import dev.caravan.engine.tokenizer.ChatMessage;
import dev.caravan.engine.tokenizer.ChatPrompt;
import dev.caravan.engine.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The JSON bodies of /v1/chat/completions and /v1/completions into domain requests, against stories260K's real
 * tokenizer and the validator the gRPC API uses: every field, its defaults, and a 400 naming the field for each
 * mistake.
 */
class HttpRequestMappingTest {
  private static Tokenizer tokenizer;
  private static RequestValidator validator;
  private static ChatPrompt chat;
  private static final int CONTEXT = 512;

  @BeforeAll
  static void open() throws Exception {
    try (GgufFile f = GgufFile.open(TestData.stories260K())) {
      tokenizer = Tokenizer.fromGguf(f.metadata());
    }
    chat = new ChatPrompt(tokenizer);
    validator = new RequestValidator("stories260K", tokenizer, CONTEXT, chat);
  }

  private static OpenAiRequest completion(String json) {
    return OpenAiRequest.parse(false, json.getBytes(StandardCharsets.UTF_8));
  }

  private static OpenAiRequest chatRequest(String json) {
    return OpenAiRequest.parse(true, json.getBytes(StandardCharsets.UTF_8));
  }

  private static GenerationRequest domain(OpenAiRequest r) {
    return r.toGeneration(validator, Long.MAX_VALUE);
  }

  /** The error a body is refused with (a check of the shared validator's is mapped as the HTTP edge maps it). */
  private static ApiError refused(boolean isChat, String json) {
    RuntimeException e = assertThrows(RuntimeException.class, () -> domain(OpenAiRequest.parse(isChat, json.getBytes(StandardCharsets.UTF_8))), json);
    if (e instanceof GenerationException g) {
      return HttpErrors.of(g.error());
    }
    return assertInstanceOf(ApiException.class, e, json).error();
  }

  @Test
  void aCompletionPromptIsTokenizedLikeTheGrpcApiDoesAndUnsetSamplingKeepsLlamaCppsDefaults() {
    GenerationRequest g = domain(completion("{\"model\": \"stories260K\", \"prompt\": \"Once upon a time\", \"seed\": 7}"));
    assertArrayEquals(tokenizer.encode("Once upon a time", true, false), g.prompt());
    // nothing sent but the seed: exactly the defaults gRPC applies (temperature 0.8, top-k 40, ...), not OpenAI's
    assertEquals(validator.sampling(new RequestValidator.Sampling(null, null, null, null, null, null, null, null, 7L)), g.sampling());
    assertEquals(SamplingParams.defaults(7), g.sampling());
    assertEquals(CONTEXT, g.maxTokens(), "no max_tokens: up to the context");
    assertEquals(List.of(), g.stop());
    assertFalse(g.ignoreEos());
    assertNull(g.sessionId());
  }

  @Test
  void everySamplingFieldAndExtensionIsMapped() {
    GenerationRequest g = domain(completion("""
        {"prompt": "Hi", "temperature": 0.5, "top_p": 0.9, "top_k": 12, "min_p": 0.1, "repeat_penalty": 1.3, "repeat_last_n": 32,
         "frequency_penalty": 0.25, "presence_penalty": -0.5, "seed": 123456789012, "max_tokens": 9, "stop": ["\\n", "The end"], "ignore_eos": true,
         "user": "someone", "stream": false, "some_future_field": {"x": [1, 2]}}"""));
    assertEquals(new SamplingParams(0.5f, 12, 0.9f, 0.1f, 1.3f, 32, 0.25f, -0.5f, 123456789012L), g.sampling());
    assertEquals(9, g.maxTokens());
    assertEquals(List.of("\n", "The end"), g.stop());
    assertTrue(g.ignoreEos());
  }

  @Test
  void maxCompletionTokensWinsOverMaxTokensAndAStopStringAlone() {
    OpenAiRequest r = chatRequest("{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 50, \"max_completion_tokens\": 5, \"stop\": \"!\"}");
    assertEquals(5, domain(r).maxTokens());
    assertEquals(List.of("!"), domain(r).stop());
  }

  @Test
  void chatMessagesGoThroughTheModelsTemplateWithTextPartsJoined() {
    GenerationRequest g = domain(chatRequest("""
        {"messages": [{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": [{"type": "text", "text": "Tell"}, {"type": "text", "text": "a story"}], "name": "ann"},
                      {"role": "assistant", "content": null},
                      {"role": "user", "content": "Go on"}]}"""));
    int[] expected = chat.encode(List.of(ChatMessage.system("Be brief."), ChatMessage.user("Tell\na story"), ChatMessage.assistant(""), ChatMessage.user("Go on")));
    assertArrayEquals(expected, g.prompt());
    // stories260K has no template of its own: ChatML, llama.cpp's fallback
    assertTrue(chat.render(List.of(ChatMessage.user("x"))).contains("<|im_start|>user\nx<|im_end|>"));
  }

  @Test
  void completionPromptsAsTokenIdsAndBatchesOfOne() {
    assertArrayEquals(new int[] {1, 5, 9}, domain(completion("{\"prompt\": [1, 5, 9]}")).prompt());
    assertArrayEquals(new int[] {1, 5, 9}, domain(completion("{\"prompt\": [[1, 5, 9]]}")).prompt());
    assertArrayEquals(tokenizer.encode("Hello", true, false), domain(completion("{\"prompt\": [\"Hello\"]}")).prompt());
  }

  @Test
  void logprobsInBothShapes() {
    assertEquals(-1, completion("{\"prompt\": \"Hi\"}").logprobs());
    assertEquals(3, completion("{\"prompt\": \"Hi\", \"logprobs\": 3}").logprobs());
    assertEquals(0, completion("{\"prompt\": \"Hi\", \"logprobs\": 0}").logprobs());
    assertEquals(-1, chatRequest("{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"logprobs\": false}").logprobs());
    assertEquals(0, chatRequest("{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"logprobs\": true}").logprobs());
    assertEquals(20, chatRequest("{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"logprobs\": true, \"top_logprobs\": 20}").logprobs());
    OpenAiRequest s = chatRequest("{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"stream\": true, \"stream_options\": {\"include_usage\": true}}");
    assertTrue(s.stream() && s.includeUsage());
  }

  @Test
  void nullIsTheSameAsAbsentAsTheSdksSendIt() {
    GenerationRequest g = domain(completion("{\"prompt\": \"Hi\", \"temperature\": null, \"max_tokens\": null, \"stop\": null, \"n\": null, \"logprobs\": null, \"seed\": 3, \"stream_options\": null}"));
    assertEquals(SamplingParams.defaults(3), g.sampling());
    assertEquals(CONTEXT, g.maxTokens());
  }

  @Test
  void wrongTypesAndValuesAre400sNamingTheField() {
    record Case(boolean chat, String body, String param, String message) {}
    String user = "\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]";
    List<Case> cases = List.of(
        new Case(false, "{\"prompt\": \"Hi\", \"temperature\": \"hot\"}", "temperature", "temperature must be a number, not a string (\"hot\")"),
        new Case(false, "{\"prompt\": \"Hi\", \"max_tokens\": 2.5}", "max_tokens", "max_tokens must be an integer, not a number (2.5)"),
        new Case(false, "{\"prompt\": \"Hi\", \"max_tokens\": 0}", "max_tokens", "max_tokens must be positive, not 0"),
        new Case(false, "{\"prompt\": \"Hi\", \"max_completion_tokens\": -3}", "max_completion_tokens", "max_completion_tokens must be positive, not -3"),
        new Case(false, "{\"prompt\": \"Hi\", \"max_tokens\": 99999999999}", "max_tokens", "max_tokens is out of range: 99999999999"),
        new Case(false, "{\"prompt\": \"Hi\", \"stream\": \"yes\"}", "stream", "stream must be a boolean, not a string (\"yes\")"),
        new Case(false, "{\"prompt\": \"Hi\", \"stop\": 5}", "stop", "stop must be a string or an array of strings, not a number (5)"),
        new Case(false, "{\"prompt\": \"Hi\", \"stop\": [\"a\", 1]}", "stop[1]", "stop[1] must be a string, not a number (1)"),
        new Case(false, "{\"prompt\": \"Hi\", \"seed\": \"x\"}", "seed", "seed must be an integer, not a string (\"x\")"),
        new Case(false, "{\"prompt\": \"Hi\", \"model\": 3}", "model", "model must be a string, not a number (3)"),
        new Case(false, "{\"prompt\": \"Hi\", \"stream_options\": {\"include_usage\": 1}}", "stream_options.include_usage", "stream_options.include_usage must be a boolean, not a number (1)"),
        new Case(false, "{\"prompt\": \"Hi\", \"n\": 2}", "n", "n must be 1: one choice per request (n = 2 is not supported; send separate requests)"),
        new Case(false, "{\"prompt\": \"Hi\", \"logprobs\": 21}", "logprobs", "logprobs must be between 0 and 20, not 21"),
        new Case(false, "{\"prompt\": \"Hi\", \"logprobs\": true}", "logprobs", "logprobs must be an integer, not a boolean (true)"),
        new Case(false, "{\"prompt\": \"Hi\", \"echo\": true}", "echo", "echo is not supported"),
        new Case(false, "{\"prompt\": \"Hi\", \"best_of\": 3}", "best_of", "best_of must be 1 (best_of = 3 is not supported)"),
        new Case(false, "{\"prompt\": \"Hi\", \"logit_bias\": {\"5\": 100}}", "logit_bias", "logit_bias is not supported"),
        new Case(false, "{\"prompt\": [\"a\", \"b\"]}", "prompt", "prompt: an array of 2 prompts is not supported; send one prompt per request"),
        new Case(false, "{\"prompt\": [1, \"b\"]}", "prompt[1]", "prompt[1] must be a token id (an integer), not a string (\"b\")"),
        new Case(false, "{\"prompt\": []}", "prompt", "prompt is empty"),
        new Case(false, "{\"prompt\": {}}", "prompt", "prompt must be a string or an array of token ids, not an object"),
        new Case(false, "{\"max_tokens\": 3}", "prompt", "prompt is required: a string, or an array of token ids"),
        new Case(false, "{\"prompt\": \"\"}", "prompt", "prompt is empty"),
        new Case(false, "{\"prompt\": [1, 99999]}", "prompt", "prompt[1] = 99999 is outside the vocabulary [0, 512)"),
        new Case(false, "{\"prompt\": \"Hi\", \"temperature\": -1}", "temperature", "sampling: temperature must be a finite number >= 0, not -1.0"),
        new Case(false, "{\"prompt\": \"Hi\", \"top_p\": 0}", "top_p", "sampling: top_p must be in (0, 1] (1 = off), not 0.0"),
        new Case(false, "{\"prompt\": \"Hi\", \"stop\": [\"\"]}", null, "stop strings must have 1 to 256 characters"),
        new Case(false, "{\"prompt\": \"Hi\", \"stop\": [\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}", "stop", "stop: at most 16 stop strings, not 17"),
        new Case(true, "{}", "messages", "messages is required: an array of {role, content}"),
        new Case(true, "{\"messages\": []}", "messages", "messages is empty"),
        new Case(true, "{\"messages\": \"Hi\"}", "messages", "messages must be an array, not a string (\"Hi\")"),
        new Case(true, "{\"messages\": [{\"content\": \"Hi\"}]}", "messages[0].role", "messages[0].role is required"),
        new Case(true, "{\"messages\": [{\"role\": \"tool\", \"content\": \"Hi\"}]}", "messages[0].role", "messages[0].role 'tool' is not supported (system, user or assistant)"),
        new Case(true, "{\"messages\": [{\"role\": \"user\"}]}", "messages[0].content", "messages[0].content is required"),
        new Case(true, "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", "messages[0].content", "messages[0].content must be a string or an array of content parts, not a number (5)"),
        new Case(true, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"x\"}}]}]}", "messages[0].content[0].type",
            "messages[0].content[0].type 'image_url' is not supported (only text parts)"),
        new Case(true, "{" + user + ", \"top_logprobs\": 2}", "top_logprobs", "top_logprobs needs logprobs: true"),
        new Case(true, "{" + user + ", \"logprobs\": true, \"top_logprobs\": 50}", "top_logprobs", "top_logprobs must be between 0 and 20, not 50"),
        new Case(true, "{" + user + ", \"tools\": [{\"type\": \"function\"}]}", "tools", "tools is not supported"),
        new Case(true, "{" + user + ", \"response_format\": {\"type\": \"json_object\"}}", "response_format", "response_format type 'json_object' is not supported (only text)"),
        new Case(true, "{" + user + ", \"n\": 0}", "n", "n must be 1: one choice per request (n = 0 is not supported; send separate requests)"));
    for (Case c : cases) {
      ApiError e = refused(c.chat(), c.body());
      assertEquals(400, e.status(), c.body());
      assertEquals("invalid_request_error", e.type(), c.body());
      assertEquals(c.param(), e.param(), c.body());
      assertEquals(c.message(), e.message(), c.body());
    }
  }

  @Test
  void malformedBodiesAre400sThatSayWhere() {
    ApiError e = refused(false, "{\"prompt\": \"Hi\",");
    assertEquals(400, e.status());
    assertTrue(e.message().startsWith("the body is not valid JSON: Unexpected end-of-input"), e.message());
    assertTrue(e.message().contains("(line 1, column 17)"), e.message());
    assertEquals("the body is not valid JSON: the body is empty; send a JSON object", refused(false, "").message());
    assertEquals("the body must be a JSON object, not an array", refused(false, "[1, 2]").message());
    assertTrue(refused(false, "{\"prompt\": \"Hi\"} trailing").message().startsWith("the body is not valid JSON: "), "trailing tokens are refused");
    // nesting beyond Jackson's bound is refused, not a stack overflow
    String deep = "{\"prompt\": \"Hi\", \"x\": " + "[".repeat(5000) + "]".repeat(5000) + "}";
    assertTrue(refused(false, deep).message().startsWith("the body is not valid JSON: "), "deep nesting");
  }

  @Test
  void aPromptThatFillsTheContextIsContextLengthExceeded() {
    StringBuilder ids = new StringBuilder("[1");
    for (int i = 1; i < CONTEXT; i++) {
      ids.append(", 5");
    }
    ApiError e = refused(false, "{\"prompt\": " + ids + "]}");
    assertEquals("context_length_exceeded", e.code());
    assertEquals("prompt", e.param());
    assertEquals("the prompt of 512 tokens does not fit the model's context length of 512 tokens (at least one position must be left to generate)", e.message());
    e = refused(true, "{\"messages\": [{\"role\": \"user\", \"content\": \"" + "Once upon a time. ".repeat(200) + "\"}]}");
    assertEquals(400, e.status());
    assertEquals("context_length_exceeded", e.code());
    assertEquals("messages", e.param());
  }

  @Test
  void anUnknownModelIsTheCoresNotFound() {
    GenerationException e = assertThrows(GenerationException.class, () -> domain(completion("{\"model\": \"gpt-4o\", \"prompt\": \"Hi\"}")));
    assertEquals(GenerationError.Kind.NOT_FOUND, e.kind());
    ApiError a = HttpErrors.of(e.error());
    assertEquals(404, a.status());
    assertEquals("model_not_found", a.code());
    assertEquals("model", a.param());
  }

  /**
   * Found by HttpApiFuzzTest: Jackson's messages named Java types and settings ("bound as
   * `com.fasterxml.jackson.databind.JsonNode`", "`DeserializationFeature.FAIL_ON_TRAILING_TOKENS`",
   * "`StreamReadConstraints.getMaxNestingDepth()`"); the client now reads only what is wrong and where.
   */
  @Test
  void malformedJsonIsDescribedWithoutJavaNames() {
    String deep = "{\"prompt\": \"Hi\", \"x\": " + "[".repeat(5000) + "]".repeat(5000) + "}";
    Map<String, String> expected = new java.util.LinkedHashMap<>();
    expected.put("{\"prompt\": \"Hi\"} \"x\"", "the body is not valid JSON: Trailing token (of type VALUE_STRING) found after value (line 1, column 18)");
    expected.put("{\"prompt\": \"Hi\"", "the body is not valid JSON: Unexpected end-of-input: expected close marker for Object (start marker at line: 1, column: 1) (line 1, column 16)");
    expected.put(deep, "the body is not valid JSON: Document nesting depth (1001) exceeds the maximum allowed (1000)");
    expected.put("{\"prompt\": NaN}", "the body is not valid JSON: Non-standard token 'NaN' (line 1, column 15)");
    expected.put("{\"prompt\": " + "1".repeat(2000) + "}", "the body is not valid JSON: Number value length (2000) exceeds the maximum allowed (1000)");
    expected.put("// note\n{}", "the body is not valid JSON: Unexpected character ('/' (code 47)): maybe a (non-standard) comment? (line 1, column 1)");
    expected.forEach((body, message) -> assertEquals(message, refused(false, body).message(), body.length() > 60 ? body.substring(0, 60) : body));
  }
}
