package dev.caravan.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.caravan.engine.TestData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Chat templates against llama.cpp's renderings in the oracle's {@code templates/}: every {@code .jinja} with the
 * settings of its {@code .render.json}, every {@code builtin-*} renderer, the built-in family llama.cpp detects from
 * each {@code .jinja}, and the prompts' token ids.
 */
class ChatTemplateTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static Path templates() {
    return TestData.oracle("templates/conversation.json").getParent();
  }

  private static List<String> names(String suffix) throws IOException {
    try (Stream<Path> files = Files.list(templates())) {
      return files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(suffix)).map(n -> n.substring(0, n.length() - suffix.length())).sorted().toList();
    }
  }

  private static JsonNode renderJson(String name) throws IOException {
    return JSON.readTree(TestData.oracle("templates/" + name + ".render.json").toFile());
  }

  private static String expected(String name) throws IOException {
    return Files.readString(TestData.oracle("templates/" + name + ".expected.txt"), StandardCharsets.UTF_8);
  }

  private static List<ChatMessage> conversation() throws IOException {
    JsonNode conv = JSON.readTree(TestData.oracle("templates/conversation.json").toFile());
    JsonNode messages = conv.isArray() ? conv : conv.get("messages");
    List<ChatMessage> out = new ArrayList<>();
    for (JsonNode m : messages) {
      out.add(new ChatMessage(m.get("role").asText(), m.get("content").asText()));
    }
    return out;
  }

  /** The render.json settings as options: bos/eos text, generation prompt, and "now" on the given date (UTC). */
  private static ChatTemplate.Options options(JsonNode r) {
    LocalDate date = LocalDate.parse(r.get("date_string").asText(), DateTimeFormatter.ofPattern("d MMM yyyy", Locale.US));
    return new ChatTemplate.Options(r.get("add_generation_prompt").asBoolean(), r.get("bos_token").asText(), r.get("eos_token").asText(), ZonedDateTime.of(date.atStartOfDay(), ZoneOffset.UTC), Map.of());
  }

  @Test
  void conversationMatchesRenderJson() throws IOException {
    // every render.json lists the same conversation
    List<ChatMessage> conv = conversation();
    assertEquals(4, conv.size());
    for (String name : names(".render.json")) {
      JsonNode msgs = renderJson(name).get("messages");
      assertEquals(conv.size(), msgs.size(), name);
      for (int i = 0; i < conv.size(); i++) {
        assertEquals(conv.get(i), new ChatMessage(msgs.get(i).get("role").asText(), msgs.get(i).get("content").asText()), name);
      }
    }
  }

  @Test
  void everyJinjaTemplateRendersExactly() throws IOException {
    List<String> names = names(".jinja");
    assertEquals(7, names.size(), "templates: " + names);
    List<String> failures = new ArrayList<>();
    for (String name : names) {
      String source = Files.readString(TestData.oracle("templates/" + name + ".jinja"), StandardCharsets.UTF_8);
      JsonNode r = renderJson(name);
      String got = ChatTemplate.jinja(source).render(conversation(), options(r));
      String want = expected(name);
      assertEquals(r.get("direct").get("output").asText(), want, name + ": expected.txt vs render.json direct");
      if (!got.equals(want)) {
        failures.add(name + "\n  want " + Vocabs.quote(want) + "\n  got  " + Vocabs.quote(got));
      }
    }
    System.out.printf("jinja templates: %d/%d exact%n", names.size() - failures.size(), names.size());
    assertTrue(failures.isEmpty(), String.join("\n", failures));
  }

  @Test
  void everyBuiltinRendererMatchesLlamaCpp() throws IOException {
    List<String> names = names(".render.json").stream().filter(n -> n.startsWith("builtin-")).toList();
    assertEquals(8, names.size(), "builtins: " + names);
    for (String name : names) {
      JsonNode r = renderJson(name);
      String templateName = r.get("builtin_template").asText();
      assertEquals("builtin-" + templateName, name);
      String got = ChatTemplate.builtin(templateName).render(conversation(), options(r));
      assertEquals(expected(name), got, name);
      assertEquals(r.get("builtin").get("output").asText(), got, name);
    }
    System.out.printf("builtin templates: %d/%d exact%n", names.size(), names.size());
  }

  @Test
  void detectsTheBuiltinFamilyOfEachJinjaTemplateLikeLlamaCpp() throws IOException {
    for (String name : names(".jinja")) {
      String source = Files.readString(TestData.oracle("templates/" + name + ".jinja"), StandardCharsets.UTF_8);
      JsonNode builtin = renderJson(name).get("builtin");
      Optional<BuiltinChatTemplate> detected = ChatTemplate.detect(source);
      assertTrue(detected.isPresent(), name + " not detected");
      assertEquals(builtin.get("output").asText(), detected.get().render(conversation(), true), name + " detected as " + detected.get().llamaCppName());
    }
  }

  @Test
  void detectionByMarkers() {
    assertEquals(Optional.of(BuiltinChatTemplate.CHATML), ChatTemplate.detect("{{ '<|im_start|>' + m }}"));
    assertEquals(Optional.of(BuiltinChatTemplate.LLAMA2_SYS_STRIP), ChatTemplate.detect("{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}<<SYS>>"));
    assertEquals(Optional.of(BuiltinChatTemplate.LLAMA2_SYS), ChatTemplate.detect("[INST] <<SYS>>"));
    assertEquals(Optional.of(BuiltinChatTemplate.LLAMA2), ChatTemplate.detect("[INST]"));
    assertEquals(Optional.of(BuiltinChatTemplate.MISTRAL_V1), ChatTemplate.detect("{{ ' [INST] ' + system_message }}"));
    assertEquals(Optional.of(BuiltinChatTemplate.ZEPHYR), ChatTemplate.detect("<|user|>\n{{ m }}<|endoftext|>"));
    assertEquals(Optional.of(BuiltinChatTemplate.VICUNA), ChatTemplate.detect("USER: {{ u }} ASSISTANT: {{ a }}"));
    assertEquals(Optional.of(BuiltinChatTemplate.VICUNA_ORCA), ChatTemplate.detect("SYSTEM: x USER: {{ u }} ASSISTANT: {{ a }}"));
    assertEquals(Optional.of(BuiltinChatTemplate.LLAMA3), ChatTemplate.detect("llama3"));
    assertEquals(Optional.empty(), ChatTemplate.detect("{{ messages }}"));
    assertEquals(Optional.empty(), ChatTemplate.detect("<|im_assistant|>assistant<|im_middle|>"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ChatTemplate.builtin("nope"));
    assertTrue(e.getMessage().contains("nope") && e.getMessage().contains("chatml"), e.getMessage());
  }

  @Test
  void builtinsWithoutGenerationPrompt() {
    List<ChatMessage> chat = List.of(ChatMessage.system(" sys "), ChatMessage.user("hi"), ChatMessage.assistant(" yo "));
    assertEquals("<|im_start|>system\n sys <|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n yo <|im_end|>\n", BuiltinChatTemplate.CHATML.render(chat, false));
    assertEquals("<|start_header_id|>system<|end_header_id|>\n\nsys<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nyo<|eot_id|>",
        BuiltinChatTemplate.LLAMA3.render(chat, false));
    assertEquals("[INST]  sys \n\nhi[/INST] yo</s>", BuiltinChatTemplate.MISTRAL_V3.render(chat, false));
    assertEquals("[INST]  sys \nhi [/INST] yo </s>", BuiltinChatTemplate.LLAMA2.render(chat, false));
    assertEquals("<start_of_turn>user\nsys\n\nhi<end_of_turn>\n<start_of_turn>model\nyo<end_of_turn>\n<start_of_turn>model\n", BuiltinChatTemplate.GEMMA.render(chat, true));
  }

  @Test
  void promptIdsMatchLlamaCpp() throws IOException {
    List<String> checked = new ArrayList<>();
    for (String name : names(".llama3-ids.txt")) {
      checkIds(name, Vocabs.oracle(Vocabs.LLAMA3), "templates/" + name + ".llama3-ids.txt");
      checked.add(name);
    }
    checkIds("builtin-llama2-sys-strip", Vocabs.oracle(Vocabs.SPM), "templates/builtin-llama2-sys-strip.llama-spm-ids.txt");
    checked.add("builtin-llama2-sys-strip");
    assertEquals(5, checked.size(), checked.toString());
    System.out.printf("prompt ids: %d/%d exact %s%n", checked.size(), checked.size(), checked);
  }

  private static void checkIds(String name, Tokenizer tok, String idsFile) throws IOException {
    String text = expected(name);
    String bos = tok.vocabulary().token(tok.bos());
    int[] want = Vocabs.parseIds(Files.readString(TestData.oracle(idsFile), StandardCharsets.UTF_8));
    boolean addBos = !text.startsWith(bos);
    int[] got = tok.encode(text, addBos, true);
    assertArrayEquals(want, got, name);
    // and back (byte-level BPE; SentencePiece puts spaces after special tokens): the ids render the prompt again
    if (tok.vocabulary().model() == Vocabulary.Model.BYTE_LEVEL_BPE) {
      assertEquals(text, tok.decode(got, addBos, true), name);
    }
  }

  @Test
  void raiseExceptionAndErrorsSurface() {
    ChatTemplate t = ChatTemplate.jinja("{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}ok");
    assertEquals("ok", t.render(List.of(ChatMessage.user("x")), false, "", ""));
    ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> t.render(List.of(ChatMessage.system("x")), false, "", ""));
    assertTrue(e.getMessage().contains("first must be user"), e.getMessage());
    assertThrows(ChatTemplateException.class, () -> ChatTemplate.jinja("{% for %}").render(List.of(), false, "", ""));
  }

  @Test
  void jinjaBehavesLikeHuggingFace() {
    ZonedDateTime when = ZonedDateTime.of(2024, 7, 26, 13, 5, 0, 0, ZoneOffset.UTC);
    ChatTemplate.Options o = ChatTemplate.Options.of(true, "<s>", "</s>").withNow(when)
        .withExtraVariables(Map.of("tools", List.of(Map.of("name", "f", "args", List.of(1, 2.5, true)))));
    // strftime_now, tojson (Python separators, indent), loop controls, trim/lstrip blocks, namespace, slicing
    assertEquals("26 Jul 2024|2024-07-26 13:05", ChatTemplate.jinja("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M') }}").render(List.of(), o));
    assertEquals("[{\"name\": \"f\", \"args\": [1, 2.5, true]}]", ChatTemplate.jinja("{{ tools | tojson }}").render(List.of(), o).replace("\"args\": [1, 2.5, true], \"name\": \"f\"", "\"name\": \"f\", \"args\": [1, 2.5, true]"));
    assertEquals("{\n  \"a\": [\n    1\n  ]\n}", ChatTemplate.jinja("{{ {'a': [1]} | tojson(indent=2) }}").render(List.of(), o));
    assertEquals("ab", ChatTemplate.jinja("{% for x in ['a','b','c','d'] %}{% if x == 'c' %}{% break %}{% endif %}{{ x }}{% endfor %}").render(List.of(), o));
    assertEquals("ac", ChatTemplate.jinja("{% for x in ['a','b','c'] %}{% if x == 'b' %}{% continue %}{% endif %}{{ x }}{% endfor %}").render(List.of(), o));
    assertEquals("  X\nY", ChatTemplate.jinja("{% if true %}\n  X\n    {% endif %}\nY").render(List.of(), o));
    // Jinja2's precedence for `not` (jinjava's own binds it to the next operand)
    assertEquals("False|True|True|False|c", ChatTemplate.jinja("{% set x = 1 %}{{ 'True' if not x is defined else 'False' }}|{{ 'True' if not y is defined else 'False' }}"
        + "|{{ 'True' if x is not none and not [1, 2]|length == 1 else 'False' }}|{{ 'True' if not x == 1 else 'False' }}|{{ 'c' if 2 not in [1] }}").render(List.of(), o));
    assertEquals("{{ not (a is defined) }}{% if not (b|length == 1) and c not in d %}{% if x is not none or not (y) -%}{# not z #}", JinjaNotPrecedence.rewrite(
        "{{ not a is defined }}{% if not b|length == 1 and c not in d %}{% if x is not none or not y -%}{# not z #}"));
    // filtered loops count only the items that pass; Python string methods
    assertEquals("1:a,2:c.", ChatTemplate.jinja("{%- for x in ['a','b','c'] if x != 'b' -%}{{ loop.index }}:{{ x }}{{ ',' if not loop.last else '.' }}{%- endfor %}").render(List.of(), o));
    assertEquals("k=1;", ChatTemplate.jinja("{% for k, v in {'k': 1, 'return': 2}.items() if k != \"return\" %}{{ k }}={{ v }};{% endfor %}").render(List.of(), o));
    assertEquals("[b|c] x", ChatTemplate.jinja("[{{ 'a</think>b|c'.split('</think>')[-1] }}] {{ '\\n\\nx'.lstrip('\\n') }}{{ '' if 'abc'.startswith(('x', 'a')) else 'no' }}").render(List.of(), o));
    assertEquals("2|u", ChatTemplate.jinja("{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}|{{ messages[1:][0].role[:1] }}")
        .render(List.of(ChatMessage.system("s"), ChatMessage.user("u")), o));
  }

  /** No oracle for tools: every template must at least render a tool definition without errors. */
  @Test
  void everyJinjaTemplateRendersTools() throws IOException {
    Map<String, Object> tool = Map.of("type", "function", "function", Map.of("name", "get_weather", "description", "Get the weather", "parameters",
        Map.of("type", "object", "properties", Map.of("city", Map.of("type", "string", "description", "The city")), "required", List.of("city"))));
    for (String name : names(".jinja")) {
      String source = Files.readString(TestData.oracle("templates/" + name + ".jinja"), StandardCharsets.UTF_8);
      ChatTemplate.Options o = options(renderJson(name)).withExtraVariables(Map.of("tools", List.of(tool)));
      String out = ChatTemplate.jinja(source).render(conversation().subList(1, 4), o);
      assertTrue(out.contains("get_weather"), name + ":\n" + out);
      System.out.println("=== " + name + " with tools:\n" + out);
    }
  }
}
