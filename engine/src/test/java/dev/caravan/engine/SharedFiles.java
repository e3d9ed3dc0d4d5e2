package dev.caravan.engine;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the shared test inputs live: {@code ../shared} beside the project (models and llama.cpp oracle data). They are
 * referenced by path, never copied into the repository. A missing file fails the test; nothing is skipped.
 */
public final class SharedFiles {
  private SharedFiles() {}

  public static Path root() {
    String prop = System.getProperty("caravan.shared");
    Path p = prop != null ? Path.of(prop) : Path.of("..", "..", "shared");
    if (!Files.isDirectory(p)) {
      p = Path.of("..", "shared");
    }
    if (!Files.isDirectory(p)) {
      throw new IllegalStateException("the shared test data directory is missing (looked for " + p.toAbsolutePath().normalize() + "); it sits beside the project as ../shared");
    }
    return p.toAbsolutePath().normalize();
  }

  /** A file under ../shared that must exist. */
  public static Path file(String relative) {
    Path p = root().resolve(relative);
    if (!Files.isRegularFile(p)) {
      throw new IllegalStateException("missing shared test file " + p);
    }
    return p;
  }

  public static Path stories260K() {
    return file("models/stories260K.gguf");
  }

  public static Path oracle(String relative) {
    return file("oracle/" + relative);
  }
}
