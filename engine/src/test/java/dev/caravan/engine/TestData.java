package dev.caravan.engine;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The test inputs the repository carries: {@code models/stories260K.gguf} (the demo's model, a real trained tiny Llama)
 * and {@code testdata/oracle/} (llama.cpp's reference outputs and the small models and vocabularies they came from;
 * its README says where each file came from). The project root comes from {@code -Dcaravan.root} (set by the build),
 * else the working directory or its parent. A missing file fails the test; nothing is skipped.
 */
public final class TestData {
  private TestData() {}

  /** The project root: the directory holding {@code models/} and {@code testdata/}. */
  public static Path root() {
    String prop = System.getProperty("caravan.root");
    for (Path p : prop != null ? new Path[] {Path.of(prop)} : new Path[] {Path.of("."), Path.of("..")}) {
      if (Files.isDirectory(p.resolve("testdata"))) {
        return p.toAbsolutePath().normalize();
      }
    }
    throw new IllegalStateException("the project's testdata/ directory is missing (looked in " + (prop != null ? prop : "the working directory and its parent") + ")");
  }

  /** A file under the project root that must exist. */
  public static Path file(String relative) {
    Path p = root().resolve(relative);
    if (!Files.isRegularFile(p)) {
      throw new IllegalStateException("missing test file " + p);
    }
    return p;
  }

  public static Path stories260K() {
    return file("models/stories260K.gguf");
  }

  public static Path oracle(String relative) {
    return file("testdata/oracle/" + relative);
  }
}
