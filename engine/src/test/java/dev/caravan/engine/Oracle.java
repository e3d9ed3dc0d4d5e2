package dev.caravan.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/** llama.cpp's reference outputs for one model, from testdata/oracle/&lt;model&gt;.oracle.json (format llamacpp-oracle/1). */
public final class Oracle {
  /** One position's reference: its top-10 (id, logit), the row's max |logit|, the top1 - top2 margin, the row rms. */
  public record Position(int pos, int inputId, int[] topIds, float[] topLogits, float maxAbs, int argmax, float margin, double rms) {}

  public final String model;
  public final int vocab;
  public final int[] inputIds;
  public final Position[] sequential;
  public final Position[] batch;
  public final int[] greedyPrompt;
  public final int[] greedyIds;
  public final float[] greedyMargins;

  private Oracle(String model, JsonNode root) {
    this.model = model;
    this.vocab = root.path("model").path("n_vocab").asInt();
    this.inputIds = ints(root.path("input_ids"));
    this.sequential = positions(root.path("sequential").path("positions"));
    this.batch = positions(root.path("batch").path("positions"));
    JsonNode g = root.path("greedy");
    this.greedyPrompt = ints(g.path("prompt_ids"));
    this.greedyIds = ints(g.path("ids"));
    this.greedyMargins = floats(g.path("margins"));
  }

  /** Loads {@code <name>.oracle.json}, e.g. "stories260K" or "tiny256-Q8_0". */
  public static Oracle load(String name) throws IOException {
    return new Oracle(name, new ObjectMapper().readTree(TestData.oracle(name + ".oracle.json").toFile()));
  }

  /** The model file the oracle was computed on. */
  public Path modelPath() {
    return model.equals("stories260K") ? TestData.stories260K() : TestData.oracle("models/" + model + ".gguf");
  }

  /** Whether testdata/oracle/logits holds this model's full rows. */
  public boolean hasFullLogits() {
    return java.nio.file.Files.isRegularFile(TestData.root().resolve("testdata/oracle/logits/" + model + ".seq.f32"));
  }

  /** Every logit of every sequential position (32 x vocab), when testdata/oracle/logits has them (512-token vocabularies). */
  public float[][] fullLogits() throws IOException {
    Path p = TestData.oracle("logits/" + model + ".seq.f32");
    ByteBuffer buf = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
    int rows = buf.capacity() / 4 / vocab;
    float[][] out = new float[rows][vocab];
    for (float[] row : out) {
      buf.asFloatBuffer().get(row);
      buf.position(buf.position() + 4 * vocab);
    }
    return out;
  }

  private static Position[] positions(JsonNode arr) {
    Position[] out = new Position[arr.size()];
    for (int i = 0; i < out.length; i++) {
      JsonNode p = arr.get(i);
      JsonNode top = p.path("top");
      int[] ids = new int[top.size()];
      float[] logits = new float[top.size()];
      for (int j = 0; j < ids.length; j++) {
        ids[j] = top.get(j).get(0).asInt();
        logits[j] = Float.parseFloat(top.get(j).get(1).asText());
      }
      out[i] = new Position(p.path("pos").asInt(), p.path("input_id").asInt(), ids, logits, Float.parseFloat(p.path("max_abs").asText()), p.path("argmax").asInt(), Float.parseFloat(p.path("margin").asText()), p.path("rms").asDouble());
    }
    return out;
  }

  private static int[] ints(JsonNode arr) {
    int[] out = new int[arr.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = arr.get(i).asInt();
    }
    return out;
  }

  private static float[] floats(JsonNode arr) {
    float[] out = new float[arr.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = Float.parseFloat(arr.get(i).asText());
    }
    return out;
  }
}
