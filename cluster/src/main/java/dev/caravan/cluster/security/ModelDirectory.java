package dev.caravan.cluster.security;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Confines model files to one directory: a model path, absolute or relative to the directory, is resolved with every
 * symbolic link and {@code ..} followed, and refused unless the file it names lies inside the (equally resolved)
 * directory. Without a directory ({@code --model-dir} not given) the model's own directory is the one, after its links
 * are followed — one {@code --model} flag keeps working, and a directory given confines every model path.
 */
public final class ModelDirectory {
  private ModelDirectory() {}

  /**
   * The real path of {@code model} inside {@code dir}.
   *
   * @param dir   the model directory, or null for the directory of {@code model} itself
   * @param model a GGUF file: absolute, or relative to {@code dir} (to the working directory when {@code dir} is null)
   * @throws IllegalArgumentException naming both paths when the model is no regular file or lies outside
   */
  public static Path resolve(Path dir, Path model) {
    Path candidate = dir == null || model.isAbsolute() ? model : dir.resolve(model);
    Path real;
    try {
      real = candidate.toRealPath();
    } catch (IOException e) {
      throw new IllegalArgumentException("--model: no such file: " + candidate);
    }
    if (!Files.isRegularFile(real)) {
      throw new IllegalArgumentException("--model: not a regular file: " + candidate);
    }
    if (dir == null) {
      return real;
    }
    Path root;
    try {
      root = dir.toRealPath();
    } catch (IOException e) {
      throw new IllegalArgumentException("--model-dir: no such directory: " + dir);
    }
    if (!Files.isDirectory(root)) {
      throw new IllegalArgumentException("--model-dir: not a directory: " + dir);
    }
    if (!real.startsWith(root) || real.equals(root)) {
      throw new IllegalArgumentException("--model: " + candidate + (real.equals(candidate.toAbsolutePath().normalize()) ? "" : " (really " + real + ")") + " is outside the model directory " + root + " (--model-dir); models are only read from there");
    }
    return real;
  }
}
