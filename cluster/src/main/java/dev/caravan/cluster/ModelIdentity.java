package dev.caravan.cluster;

import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.gguf.GgufTensorInfo;
import java.nio.file.Path;

/** How members agree they serve the same model: an id (the file name) and a fingerprint of its tensor layout. */
public final class ModelIdentity {
  private ModelIdentity() {}

  /** The model id: the GGUF file name without its extension. */
  public static String id(Path file) {
    String name = file.getFileName().toString();
    return name.endsWith(".gguf") ? name.substring(0, name.length() - 5) : name;
  }

  /** A fingerprint of the file's tensor names, types, shapes and offsets and its size: equal files, equal prints. */
  public static String fingerprint(GgufFile f) {
    long h = 1125899906842597L;
    for (GgufTensorInfo t : f.tensors()) {
      h = 31 * h + t.name().hashCode();
      h = 31 * h + t.type().id();
      h = 31 * h + t.offset();
      for (long d : t.dims()) {
        h = 31 * h + d;
      }
    }
    h = 31 * h + f.fileSize();
    return Long.toHexString(h);
  }
}
