package dev.caravan.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A model's chat template is code from the model file, rendered for every chat request. Found by GgufFuzzTest: a
 * template that doubles a string ran the JVM out of memory, and loops or recursion could run for hours. Each now ends
 * with a {@link ChatTemplateException} naming the limit; messages carry no Java class names.
 */
class ChatTemplateLimitsTest {
  private static final List<ChatMessage> HELLO = List.of(ChatMessage.user("hello"));

  private static String render(String template) {
    return ChatTemplate.jinja(template).render(HELLO, true, "<s>", "</s>");
  }

  private static ChatTemplateException refused(String template) {
    return assertThrows(ChatTemplateException.class, () -> render(template), template);
  }

  @Test
  void stringsAndListsCannotGrowWithoutBound() {
    for (String t : new String[] {
        "{% set s = 'a' %}{% for i in range(40) %}{% set s = s + s %}{% endfor %}{{ s|length }}",
        "{% set s = 'a' %}{% for i in range(40) %}{% set s = s ~ s %}{% endfor %}{{ s|length }}",
        "{% set s = ['a'] %}{% for i in range(40) %}{% set s = s + s %}{% endfor %}{{ s|length }}"}) {
      String m = refused(t).getMessage();
      assertTrue(m.contains("over limit of") || m.contains("greater than the maximum size"), m);
    }
    assertEquals("ran out of memory", refused("{{ 'a'|center(2000000000) }}").getMessage().replaceAll(".*: ", ""));
  }

  @Test
  void aRenderingThatRunsTooLongEnds() {
    Duration before = JinjaChatTemplate.maxRenderTime;
    JinjaChatTemplate.maxRenderTime = Duration.ofMillis(300);
    try {
      for (String t : new String[] {
          "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}",
          "{% macro f(n) %}{{ f(n + 1) }}{{ f(n + 1) }}{% endmacro %}{{ f(1) }}",
          "{% set x = [] %}{% for i in range(1000) %}{% for j in range(1000) %}{% set _ = x.append(j) %}{% endfor %}{% endfor %}{{ x|length }}"}) {
        assertEquals("the chat template did not finish rendering within 300 ms", refused(t).getMessage(), t);
      }
    } finally {
      JinjaChatTemplate.maxRenderTime = before;
    }
    assertEquals("hello", render("{{ messages[0]['content'] }}"), "the next rendering has its own time");
  }

  @Test
  void errorsNameTheProblemWithoutJavaClassNames() {
    for (String t : new String[] {"{{ 'a' * 100000000 }}", "{{ messages[0].content.split('')|join('-') }}", "{% include 'x' %}", "{{ 'a'|center(2000000000) }}"}) {
      String m = refused(t).getMessage();
      assertTrue(m.startsWith("the chat template failed to render: line 1: "), m);
      assertFalse(m.contains("java.") || m.contains("Exception") || m.contains("Error:"), m);
    }
    assertEquals("Cannot coerce 'a' of class String to class Long (incompatible value)", JinjaChatTemplate.withoutJavaNames("Cannot coerce 'a' of class java.lang.String to class java.lang.Long (incompatible value)"));
    assertEquals("Error resolving expression [[ s + s ]]: 67108864 byte output rendered", JinjaChatTemplate.withoutJavaNames("InterpretException: Error resolving expression [[ s + s ]]: OutputTooBigException: 67108864 byte output rendered"));
  }
}
