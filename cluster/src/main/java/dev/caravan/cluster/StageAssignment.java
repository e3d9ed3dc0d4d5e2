package dev.caravan.cluster;

import dev.caravan.engine.model.LayerRange;
import java.io.Serializable;

/** One stage of a plan: which worker runs which layers, and where to reach it. */
public record StageAssignment(int index, String workerUuid, String grpcAddress, int layerStart, int layerEnd) implements Serializable {

  public LayerRange range() {
    return new LayerRange(layerStart, layerEnd);
  }
}
