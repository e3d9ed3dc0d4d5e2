package dev.caravan.engine.model;

/**
 * A contiguous range of transformer layers {@code [start, end)}: the unit a pipeline stage runs. The stage holding layer
 * 0 also embeds tokens; the stage holding the last layer also applies the final norm and computes logits.
 */
public record LayerRange(int start, int end) {

  public LayerRange {
    if (start < 0 || end <= start) {
      throw new IllegalArgumentException("layer range [" + start + ", " + end + ") is empty or negative");
    }
  }

  /** Every layer of a model with {@code layers} layers: a single-process run. */
  public static LayerRange all(int layers) {
    return new LayerRange(0, layers);
  }

  public int size() {
    return end - start;
  }

  public boolean contains(int layer) {
    return layer >= start && layer < end;
  }

  /** Whether this stage embeds tokens (holds layer 0). */
  public boolean isFirst() {
    return start == 0;
  }

  /** Whether this stage computes logits (holds the model's last layer). */
  public boolean isLast(int layers) {
    return end == layers;
  }

  /** Parses "a-b" or "a..b" as [a, b). */
  public static LayerRange parse(String s) {
    String[] parts = s.contains("..") ? s.split("\\.\\.") : s.split("-");
    if (parts.length != 2) {
      throw new IllegalArgumentException("layer range '" + s + "' is not of the form START-END (END exclusive)");
    }
    try {
      return new LayerRange(Integer.parseInt(parts[0].trim()), Integer.parseInt(parts[1].trim()));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("layer range '" + s + "' is not of the form START-END (END exclusive)");
    }
  }

  @Override
  public String toString() {
    return "[" + start + ", " + end + ")";
  }
}
