package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JsonlDatasetTest {
  @TempDir Path dir;

  private Path file(String text) throws IOException {
    Path f = dir.resolve("prompts.jsonl");
    Files.writeString(f, text, StandardCharsets.UTF_8);
    return f;
  }

  private String error(String text) throws IOException {
    Path f = file(text);
    return assertThrows(JsonlDataset.DatasetException.class, () -> JsonlDataset.load(f)).getMessage();
  }

  @Test
  void readsPromptsAndOptionalLengths() throws Exception {
    List<JsonlDataset.Entry> e = JsonlDataset.load(file("""
        {"prompt": "Once upon a time", "max_tokens": 32}

        {"prompt": "The dog", "id": 7, "completion": "ignored"}
        {"prompt": "A cat", "output_len": 8}
        """));
    assertEquals(3, e.size());
    assertEquals(new JsonlDataset.Entry("Once upon a time", 32, 1), e.get(0));
    assertEquals("The dog", e.get(1).prompt());
    assertNull(e.get(1).maxTokens());
    assertEquals(3, e.get(1).line(), "blank lines are skipped but counted");
    assertEquals(8, e.get(2).maxTokens());
  }

  @Test
  void missingFile() {
    Path f = dir.resolve("nope.jsonl");
    assertEquals("dataset file not found: " + f, assertThrows(JsonlDataset.DatasetException.class, () -> JsonlDataset.load(f)).getMessage());
  }

  @Test
  void badJsonNamesItsLine() throws Exception {
    String m = error("{\"prompt\": \"ok\"}\n{\"prompt\": \"unterminated}\n");
    assertTrue(m.contains("prompts.jsonl:2: not valid JSON"), m);
  }

  @Test
  void missingPromptNamesItsLine() throws Exception {
    assertTrue(error("{\"prompt\": \"ok\"}\n{\"text\": \"where is the prompt\"}\n").endsWith("prompts.jsonl:2: missing field \"prompt\""));
  }

  @Test
  void wrongTypes() throws Exception {
    assertTrue(error("{\"prompt\": 42}").endsWith(":1: \"prompt\" must be a string, found number"));
    assertTrue(error("[\"prompt\"]").contains(":1: expected a JSON object"));
    assertTrue(error("{\"prompt\": \"\"}").endsWith(":1: \"prompt\" is empty"));
    assertTrue(error("{\"prompt\": \"x\", \"max_tokens\": 0}").contains(":1: \"max_tokens\" must be a positive integer, found 0"));
    assertTrue(error("{\"prompt\": \"x\", \"max_tokens\": 2.5}").contains("\"max_tokens\" must be a positive integer"));
    assertTrue(error("{\"prompt\": \"x\", \"max_tokens\": \"8\"}").contains("\"max_tokens\" must be a positive integer"));
    assertTrue(error("{\"prompt\": \"x\", \"max_tokens\": 8, \"output_len\": 9}").contains("disagree"));
  }

  @Test
  void emptyFileAndDirectory() throws Exception {
    assertTrue(error("\n\n").contains("no prompts"));
    assertTrue(assertThrows(JsonlDataset.DatasetException.class, () -> JsonlDataset.load(dir)).getMessage().contains("is a directory"));
  }

  @Test
  void notUtf8() throws Exception {
    Path f = dir.resolve("latin1.jsonl");
    Files.write(f, new byte[] {'{', '"', 'p', '"', ':', '"', (byte) 0xE9, '"', '}'});
    assertTrue(assertThrows(JsonlDataset.DatasetException.class, () -> JsonlDataset.load(f)).getMessage().contains("not UTF-8"));
  }
}
