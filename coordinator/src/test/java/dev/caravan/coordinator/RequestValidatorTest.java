package dev.caravan.coordinator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.caravan.coordinator.core.GenerationError;
import dev.caravan.coordinator.core.GenerationException;
import dev.caravan.coordinator.core.GenerationRequest;
import dev.caravan.engine.TestData;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.tokenizer.ChatPrompt;
import dev.caravan.engine.tokenizer.Tokenizer;
import dev.caravan.proto.v1.GenerateRequest;
import dev.caravan.proto.v1.SamplingParams;
import dev.caravan.proto.v1.TokenIds;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** From a public GenerateRequest to a domain request, or a domain error naming the field. */
class RequestValidatorTest {
  private static Tokenizer tokenizer;
  private static RequestValidator validator;

  @BeforeAll
  static void load() throws Exception {
    try (GgufFile f = GgufFile.open(TestData.stories260K())) {
      tokenizer = Tokenizer.fromGguf(f.metadata());
    }
    validator = new RequestValidator("stories260K", tokenizer, 64, new ChatPrompt(tokenizer));
  }

  private static GenerationError refused(GenerateRequest.Builder r) {
    return assertThrows(GenerationException.class, () -> validator.validate(r.build(), Long.MAX_VALUE)).error();
  }

  private static GenerateRequest.Builder ok() {
    return GenerateRequest.newBuilder().setPrompt("Once upon a time").setMaxTokens(8);
  }

  @Test
  void aGoodRequestBecomesTokensAndParameters() {
    GenerationRequest r = validator.validate(ok().setSessionId("chat-1").addStop("Lily").setSampling(SamplingParams.newBuilder().setTemperature(0.5f).setSeed(9)).build(), 123);
    assertArrayEquals(tokenizer.encode("Once upon a time", true, false), r.prompt());
    assertEquals("chat-1", r.sessionId());
    assertEquals(0.5f, r.sampling().temperature());
    assertEquals(9, r.sampling().seed());
    assertEquals(40, r.sampling().topK(), "unset fields take llama.cpp's defaults");
    assertEquals(123, r.deadlineNanos());
  }

  @Test
  void eachBadFieldIsNamed() {
    assertEquals(GenerationError.of(GenerationError.Kind.NOT_FOUND, "unknown model 'x'; this cluster serves 'stories260K'"), refused(ok().setModel("x")));
    assertEquals("prompt is empty", refused(ok().setPrompt("")).message());
    assertEquals("no prompt: set prompt or prompt_ids", refused(GenerateRequest.newBuilder().setMaxTokens(4)).message());
    assertEquals("max_tokens must be positive, not -1", refused(ok().setMaxTokens(-1)).message());
    assertEquals("prompt_ids[0] = -3 is outside the vocabulary [0, " + tokenizer.vocabSize() + ")", refused(GenerateRequest.newBuilder().setMaxTokens(4).setPromptIds(TokenIds.newBuilder().addIds(-3))).message());
    assertEquals("session_id must be 1 to 128 characters of [A-Za-z0-9._:-]", refused(ok().setSessionId("no spaces")).message());
    assertEquals("stop strings must have 1 to 256 characters", refused(ok().addStop("")).message());
    GenerationError e = refused(ok().setSampling(SamplingParams.newBuilder().setTopP(2f)));
    assertEquals(GenerationError.Kind.INVALID_ARGUMENT, e.kind());
    assertEquals("sampling: top_p must be in (0, 1] (1 = off), not 2.0", e.message());
  }

  @Test
  void aPromptThatFillsTheContextIsRefused() {
    TokenIds.Builder ids = TokenIds.newBuilder();
    for (int i = 0; i < 64; i++) {
      ids.addIds(5);
    }
    GenerationError e = refused(GenerateRequest.newBuilder().setMaxTokens(1).setPromptIds(ids));
    assertEquals(GenerationError.Kind.INVALID_ARGUMENT, e.kind());
    assertEquals("prompt of 64 tokens does not fit the context length 64 (at least one position must be left to generate)", e.message());
  }

  /**
   * Found by GrpcApiFuzzTest: an unknown model name was repeated whole in the error, and a name of a few KiB made the
   * status trailer larger than gRPC clients accept (the client saw INTERNAL "http2 exception" instead of NOT_FOUND).
   */
  @Test
  void aLongUnknownModelNameIsCutInTheMessage() {
    GenerationError e = refused(ok().setModel("m".repeat(100_000)));
    assertEquals(GenerationError.Kind.NOT_FOUND, e.kind());
    assertEquals("unknown model '" + "m".repeat(64) + "...' (100000 characters); this cluster serves 'stories260K'", e.message());
    assertEquals("'" + "a".repeat(63) + "...' (65 characters)", RequestValidator.quoted("a".repeat(63) + "\uD83D\uDE00"), "a character is not split");
    assertEquals("'" + "b".repeat(64) + "'", RequestValidator.quoted("b".repeat(64)));
  }
}
