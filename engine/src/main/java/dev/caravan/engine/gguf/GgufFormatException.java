package dev.caravan.engine.gguf;

import java.io.IOException;
import java.nio.file.Path;

/** A GGUF file that cannot be used: truncated, corrupt, hostile or of a kind we do not read. The message names the problem. */
public class GgufFormatException extends IOException {
  private static final long serialVersionUID = 1L;

  public GgufFormatException(String message) {
    super(message);
  }

  public GgufFormatException(Path file, String problem) {
    super(file + ": " + problem);
  }
}
