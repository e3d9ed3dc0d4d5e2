package dev.caravan.cluster.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Model paths are confined to the model directory after links and {@code ..} are followed. */
class ModelDirectoryTest {
  @TempDir Path root;
  Path models;
  Path inside;
  Path outside;

  @BeforeEach
  void files() throws Exception {
    models = Files.createDirectories(root.resolve("models"));
    inside = Files.writeString(models.resolve("m.gguf"), "x");
    outside = Files.writeString(root.resolve("secret.gguf"), "x");
  }

  @Test
  void aModelInsideIsResolvedAbsoluteOrByName() throws Exception {
    assertEquals(inside.toRealPath(), ModelDirectory.resolve(models, inside));
    assertEquals(inside.toRealPath(), ModelDirectory.resolve(models, Path.of("m.gguf")));
    Files.createDirectories(models.resolve("sub"));
    assertEquals(inside.toRealPath(), ModelDirectory.resolve(models, Path.of("sub/../m.gguf")));
  }

  @Test
  void aPathOutsideIsRefused() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelDirectory.resolve(models, outside));
    assertTrue(e.getMessage().contains("is outside the model directory"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> ModelDirectory.resolve(models, Path.of("../secret.gguf")));
    assertTrue(e.getMessage().contains("is outside the model directory"), e.getMessage());
  }

  @Test
  void aLinkInsideThatPointsOutsideIsRefused() throws Exception {
    Path link = Files.createSymbolicLink(models.resolve("link.gguf"), outside);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelDirectory.resolve(models, link));
    assertTrue(e.getMessage().contains("(really " + outside.toRealPath() + ")"), e.getMessage());
  }

  @Test
  void withoutADirectoryTheModelsOwnIsTheOne() throws Exception {
    Path link = Files.createSymbolicLink(models.resolve("link.gguf"), outside);
    assertEquals(outside.toRealPath(), ModelDirectory.resolve(null, link), "a linked model file (as in download caches) still works without --model-dir");
  }

  @Test
  void missingFilesAndDirectoriesAreNamed() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelDirectory.resolve(models, Path.of("nope.gguf")));
    assertTrue(e.getMessage().startsWith("--model: no such file"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> ModelDirectory.resolve(root.resolve("no-dir"), inside));
    assertTrue(e.getMessage().startsWith("--model-dir: no such directory"), e.getMessage());
  }
}
