package dev.caravan.cli;

import dev.caravan.engine.tensor.GgmlType;
import dev.caravan.synth.ModelSynth;
import dev.caravan.synth.Shape;
import java.io.IOException;
import java.nio.file.Path;

/**
 * A benchmark helper (test scope, not a test): a synthetic model of a named shape whose weights have another scale
 * than {@code caravan model synth}'s std 0.02, to check that speed does not depend on the weights' values.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp cli/target/caravan.jar:cli/target/test-classes dev.caravan.cli.BenchScaledModel \
 *     OUT.gguf Q8_0 [STD|rsqrt|rsqrt4] [SHAPE]
 * </pre>
 *
 * {@code rsqrt}: every 2-D weight, the embedding and the output ~ N(0, 1/sqrt(dim)) (the usual "1/sqrt(row length)"
 * init; for ffn_down, whose rows are longer, this is 1.66x its 1/sqrt(ffn)); {@code rsqrt4}: N(0, dim^-1/4), variance
 * 1/sqrt(dim), which makes attention scores and gate values large; or a number.
 */
public final class BenchScaledModel {
  private BenchScaledModel() {}

  public static void main(String[] args) throws IOException {
    if (args.length < 2) {
      System.err.println("usage: BenchScaledModel OUT.gguf TYPE [STD|rsqrt|rsqrt4] [SHAPE]");
      System.exit(2);
    }
    Path out = Path.of(args[0]);
    GgmlType type = GgmlType.valueOf(args[1]);
    Shape s = Shape.named(args.length > 3 ? args[3] : "tinyllama-1.1b");
    String rule = args.length > 2 ? args[2] : "rsqrt";
    float std = switch (rule) {
      case "rsqrt" -> (float) (1 / Math.sqrt(s.dim()));
      case "rsqrt4" -> (float) Math.pow(s.dim(), -0.25);
      default -> Float.parseFloat(rule);
    };
    Shape scaled = new Shape(s.name(), s.dim(), s.layers(), s.heads(), s.kvHeads(), s.ffn(), s.vocab(), s.context(), s.ropeBase(), s.rmsEps(), s.tiedOutput(), s.ropeScaling(), std, std, std);
    ModelSynth.write(out, scaled, type, 7, (done, total) -> {});
    System.out.printf("wrote %s: %s, %s, weights ~ N(0, %g)%n", out, s.name(), type, std);
  }
}
