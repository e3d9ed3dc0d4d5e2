package dev.caravan.cli;

import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.gguf.GgufFormatException;
import dev.caravan.engine.model.LayerRange;
import dev.caravan.engine.model.LlamaConfig;
import dev.caravan.engine.model.LlamaModel;
import dev.caravan.engine.model.LlamaWeights;
import dev.caravan.engine.model.UnsupportedModelException;
import dev.caravan.engine.tensor.Parallel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine;

/** Opening models from the command line: clear errors, and a progress bar while a large model is read into memory. */
final class Loading {
  /** Models smaller than this load without a progress bar. */
  private static final long BAR_THRESHOLD = 64L << 20;

  private Loading() {}

  /** Opens every layer of {@code path}, reading it into memory with a progress bar when it is large. */
  static LlamaModel open(CommandLine cmd, Path path, Parallel parallel, boolean progress) {
    checkFile(cmd, path);
    try {
      long bytes;
      try (GgufFile f = GgufFile.open(path)) {
        LlamaConfig c = LlamaConfig.from(f);
        bytes = LlamaWeights.bytesOf(f, c, LayerRange.all(c.layers()));
      }
      if (!progress || bytes < BAR_THRESHOLD) {
        return LlamaModel.open(path, parallel);
      }
      try (ProgressBar bar = new ProgressBarBuilder().setTaskName("loading " + path.getFileName()).setInitialMax(bytes).setUnit(" MiB", 1 << 20).setStyle(ProgressBarStyle.ASCII).setConsumer(new me.tongfei.progressbar.InteractiveConsoleProgressBarConsumer(System.err)).build()) {
        LlamaModel m = LlamaModel.open(path, null, parallel, bar::stepTo);
        bar.stepTo(bytes);
        return m;
      }
    } catch (IOException e) {
      throw failure(cmd, path, e);
    }
  }

  static void checkFile(CommandLine cmd, Path path) {
    if (!Files.exists(path)) {
      throw new CommandLine.ParameterException(cmd, "no such model file: " + path);
    }
    if (!Files.isRegularFile(path)) {
      throw new CommandLine.ParameterException(cmd, "not a file: " + path);
    }
  }

  /** A model that cannot be used, as a command-line error naming the problem. */
  static CommandLine.ExecutionException failure(CommandLine cmd, Path path, IOException e) {
    String msg;
    if (e instanceof NoSuchFileException) {
      msg = "no such model file: " + path;
    } else if (e instanceof GgufFormatException || e instanceof UnsupportedModelException) {
      msg = e.getMessage();
    } else {
      msg = path + ": " + e;
    }
    return new CommandLine.ExecutionException(cmd, msg, e);
  }
}
