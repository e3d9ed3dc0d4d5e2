package dev.caravan.loadtest;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Prompts from a JSON Lines file: one object per line with a string {@code prompt} and, optionally, the number of
 * tokens to generate as {@code max_tokens} or {@code output_len} (a positive integer). Other fields are ignored; blank
 * lines are skipped. Every problem is reported with its line number.
 */
final class JsonlDataset {
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * One prompt.
   *
   * @param prompt the text to continue
   * @param maxTokens tokens to generate, or null to use the command's --output-len
   * @param line where it came from (1-based)
   */
  record Entry(String prompt, Integer maxTokens, int line) {}

  /** A dataset that cannot be used, with a message that says where and why. */
  static final class DatasetException extends Exception {
    DatasetException(String message) {
      super(message);
    }
  }

  private JsonlDataset() {}

  static List<Entry> load(Path file) throws DatasetException {
    if (Files.isDirectory(file)) {
      throw new DatasetException("dataset " + file + " is a directory, not a JSONL file");
    }
    List<Entry> entries = new ArrayList<>();
    try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String line;
      int number = 0;
      while ((line = in.readLine()) != null) {
        number++;
        if (!line.isBlank()) {
          entries.add(parseLine(file, number, line));
        }
      }
    } catch (NoSuchFileException e) {
      throw new DatasetException("dataset file not found: " + file);
    } catch (CharacterCodingException e) {
      throw new DatasetException(file + ": not UTF-8 text");
    } catch (IOException e) {
      throw new DatasetException("cannot read dataset " + file + ": " + e.getMessage());
    }
    if (entries.isEmpty()) {
      throw new DatasetException(file + ": no prompts (the file is empty)");
    }
    return List.copyOf(entries);
  }

  static Entry parseLine(Path file, int number, String line) throws DatasetException {
    String where = file + ":" + number;
    JsonNode node;
    try {
      node = JSON.readTree(line);
    } catch (JsonProcessingException e) {
      throw new DatasetException(where + ": not valid JSON (" + e.getOriginalMessage() + " at column " + e.getLocation().getColumnNr() + ")");
    }
    if (node == null || !node.isObject()) {
      throw new DatasetException(where + ": expected a JSON object like {\"prompt\": \"...\"}, found " + (node == null ? "nothing" : node.getNodeType().toString().toLowerCase()));
    }
    JsonNode prompt = node.get("prompt");
    if (prompt == null || prompt.isNull()) {
      throw new DatasetException(where + ": missing field \"prompt\"");
    }
    if (!prompt.isTextual()) {
      throw new DatasetException(where + ": \"prompt\" must be a string, found " + prompt.getNodeType().toString().toLowerCase());
    }
    if (prompt.asText().isEmpty()) {
      throw new DatasetException(where + ": \"prompt\" is empty");
    }
    Integer maxTokens = positiveInt(where, node, "max_tokens");
    Integer outputLen = positiveInt(where, node, "output_len");
    if (maxTokens != null && outputLen != null && !maxTokens.equals(outputLen)) {
      throw new DatasetException(where + ": \"max_tokens\" (" + maxTokens + ") and \"output_len\" (" + outputLen + ") disagree; give one");
    }
    return new Entry(prompt.asText(), maxTokens != null ? maxTokens : outputLen, number);
  }

  private static Integer positiveInt(String where, JsonNode node, String field) throws DatasetException {
    JsonNode v = node.get(field);
    if (v == null || v.isNull()) {
      return null;
    }
    if (!v.canConvertToInt() || !v.isIntegralNumber() || v.intValue() <= 0) {
      throw new DatasetException(where + ": \"" + field + "\" must be a positive integer, found " + v);
    }
    return v.intValue();
  }
}
