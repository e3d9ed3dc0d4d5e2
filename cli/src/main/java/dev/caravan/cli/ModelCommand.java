package dev.caravan.cli;

import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.gguf.GgufTensorInfo;
import dev.caravan.engine.gguf.GgufValue;
import dev.caravan.engine.model.LlamaConfig;
import dev.caravan.synth.ModelSynth;
import dev.caravan.synth.Shape;
import dev.caravan.synth.Vocabulary;
import dev.caravan.engine.tensor.GgmlType;
import dev.caravan.engine.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code caravan model}: look into GGUF files and make synthetic ones. */
@Command(name = "model", mixinStandardHelpOptions = true, description = "Inspect GGUF models and write synthetic ones.",
    subcommands = {ModelCommand.Info.class, ModelCommand.Synth.class})
public final class ModelCommand implements Runnable {
  @Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  /** {@code caravan model info FILE}. */
  @Command(name = "info", mixinStandardHelpOptions = true, description = "Architecture, shapes, tensor types and sizes, vocabulary and chat template of a GGUF file.")
  static final class Info implements Callable<Integer> {
    @Spec CommandLine.Model.CommandSpec spec;

    @Parameters(paramLabel = "FILE", description = "GGUF file.")
    Path file;

    @Option(names = "--tensors", description = "List every tensor.")
    boolean tensors;

    @Option(names = "--metadata", description = "List every metadata key.")
    boolean metadata;

    @Override
    public Integer call() {
      CommandLine cmd = spec.commandLine();
      Loading.checkFile(cmd, file);
      try (GgufFile f = GgufFile.open(file)) {
        var m = f.metadata();
        System.out.printf("file:          %s (%.1f MiB, GGUF v%d, alignment %d, %d tensors, %d metadata keys)%n", file, f.fileSize() / 1048576.0, f.version(), f.alignment(), f.tensors().size(), m.keys().size());
        System.out.printf("architecture:  %s%n", m.string("general.architecture").orElse("(none)"));
        System.out.printf("name:          %s%n", m.string("general.name").orElse("(none)"));
        try {
          LlamaConfig c = LlamaConfig.from(f);
          System.out.printf("shape:         %d layers, embedding %d, %d heads (%d KV heads, head size %d), FFN %d, vocab %d, context %d%n", c.layers(), c.dim(), c.heads(), c.kvHeads(), c.headDim(), c.ffnDim(), c.vocabSize(), c.contextLength());
          System.out.printf("rope:          base %s, %d dims%s%s; RMS eps %s%n", c.ropeBase(), c.ropeDim(), c.ropeFreqScale() != 1f ? ", linear scale " + (1 / c.ropeFreqScale()) : "", f.tensor("rope_freqs.weight").isPresent() ? ", Llama 3 frequency factors" : "", c.rmsEps());
          System.out.printf("output:        %s%n", f.tensor("output.weight").isPresent() ? "own output.weight" : "tied to token_embd.weight");
        } catch (IOException e) {
          System.out.printf("model:         not runnable by Caravan: %s%n", e.getMessage());
        }
        Map<GgmlType, long[]> types = new TreeMap<>();
        long params = 0;
        for (GgufTensorInfo t : f.tensors()) {
          long[] agg = types.computeIfAbsent(t.type(), k -> new long[2]);
          agg[0]++;
          agg[1] += t.byteSize();
          params += t.elementCount();
        }
        System.out.printf("parameters:    %,d%n", params);
        StringBuilder sb = new StringBuilder();
        types.forEach((t, agg) -> sb.append(sb.isEmpty() ? "" : ", ").append(String.format("%s x%d (%.1f MiB%s)", t, agg[0], agg[1] / 1048576.0, t.supported() ? "" : ", unsupported")));
        System.out.printf("tensor types:  %s%n", sb);
        try {
          Tokenizer tok = Tokenizer.fromGguf(m);
          var v = tok.vocabulary();
          System.out.printf("vocabulary:    %s, %d tokens%s, BOS %s, EOS %s, add BOS %s%n", v.model(), v.size(), v.preTokenizerName().map(p -> ", pre-tokenizer " + p).orElse(""), v.bos() < 0 ? "none" : v.bos() + " " + v.token(v.bos()), v.eos() < 0 ? "none" : v.eos() + " " + v.token(v.eos()), v.addBos());
        } catch (IOException | RuntimeException e) {
          System.out.printf("vocabulary:    unusable: %s%n", e.getMessage());
        }
        String template = m.string("tokenizer.chat_template").orElse(null);
        if (template == null) {
          System.out.println("chat template: none (chat uses llama.cpp's default)");
        } else {
          String first = template.strip().lines().findFirst().orElse("");
          System.out.printf("chat template: %d characters, detected as %s: %s%n", template.length(), dev.caravan.engine.tokenizer.ChatTemplate.detect(template).map(Object::toString).orElse("(no built-in match)"), first.length() > 100 ? first.substring(0, 100) + "..." : first);
        }
        if (metadata) {
          System.out.println("metadata:");
          for (Map.Entry<String, GgufValue> e : m.asMap().entrySet()) {
            System.out.printf("  %-45s %-8s %s%n", e.getKey(), e.getValue().type(), e.getValue().describe());
          }
        }
        if (tensors) {
          System.out.println("tensors:");
          for (GgufTensorInfo t : f.tensors()) {
            System.out.printf("  %-32s %-5s %-22s %,14d bytes%n", t.name(), t.type(), t.shape(), t.byteSize());
          }
        }
        return 0;
      } catch (IOException e) {
        throw Loading.failure(cmd, file, e);
      }
    }
  }

  /** {@code caravan model synth}. */
  @Command(name = "synth", mixinStandardHelpOptions = true, sortOptions = false, description = "Write a seeded random LLaMA model at a named shape (its text is noise: for tests and benchmarks).")
  static final class Synth implements Callable<Integer> {
    @Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--shape", defaultValue = "tiny", description = "Shape: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).", completionCandidates = ShapeNames.class)
    String shape;

    @Option(names = "--type", defaultValue = "Q8_0", description = "Weight type: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, Q4_K_M (default: ${DEFAULT-VALUE}).")
    String type;

    @Option(names = "--seed", defaultValue = "7", description = "Seed of the weights (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--vocab", paramLabel = "FILE", description = "Copy the tokenizer from this GGUF (its vocabulary size replaces the shape's); default: a synthetic SentencePiece vocabulary.")
    Path vocab;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Output GGUF file.")
    Path out;

    @Option(names = "--force", description = "Overwrite an existing file.")
    boolean force;

    @Override
    public Integer call() throws IOException {
      CommandLine cmd = spec.commandLine();
      Shape s;
      try {
        s = Shape.named(shape);
      } catch (IllegalArgumentException e) {
        throw new CommandLine.ParameterException(cmd, e.getMessage());
      }
      ModelSynth.FileType ft;
      try {
        ft = ModelSynth.FileType.valueOf(type.toUpperCase());
      } catch (IllegalArgumentException e) {
        throw new CommandLine.ParameterException(cmd, "--type " + type + " is not one of " + java.util.Arrays.toString(ModelSynth.FileType.values()));
      }
      if (Files.exists(out) && !force) {
        throw new CommandLine.ParameterException(cmd, out + " exists; pass --force to overwrite it");
      }
      ModelSynth.Spec specification = ModelSynth.Spec.of(s, ft, seed);
      if (vocab != null) {
        Loading.checkFile(cmd, vocab);
        Vocabulary v = Vocabulary.fromGguf(vocab);
        specification = ModelSynth.Spec.of(s.withVocab(v.size()), ft, seed).withVocabulary(v);
      }
      if (out.toAbsolutePath().getParent() != null) {
        Files.createDirectories(out.toAbsolutePath().getParent());
      }
      try (ProgressBar bar = new ProgressBarBuilder().setTaskName("writing " + out.getFileName()).setUnit(" MiB", 1 << 20).setStyle(ProgressBarStyle.ASCII).setConsumer(new me.tongfei.progressbar.InteractiveConsoleProgressBarConsumer(System.err)).build()) {
        ModelSynth.write(out, specification, (written, total) -> {
          bar.maxHint(total);
          bar.stepTo(written);
        });
      }
      System.err.printf("wrote %s: %s shape, %s, seed %d, %,d parameters (random weights: its text is noise)%n", out, shape, ft, seed, specification.shape().parameterCount());
      return 0;
    }
  }

  /** Shape names for --help. */
  static final class ShapeNames implements Iterable<String> {
    @Override
    public java.util.Iterator<String> iterator() {
      return Shape.names().iterator();
    }
  }
}
