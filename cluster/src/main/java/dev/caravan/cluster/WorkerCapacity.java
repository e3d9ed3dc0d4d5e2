package dev.caravan.cluster;

import java.io.Serializable;

/**
 * What a worker offers, as published in its Hazelcast member attributes.
 *
 * @param freeMemoryBytes  memory it can give to weights and KV cache
 * @param cores            CPU cores it computes with
 * @param secondsPerLayer  measured seconds to run one layer of the model for one token (lower is faster); 0 if unknown
 */
public record WorkerCapacity(long freeMemoryBytes, int cores, double secondsPerLayer) implements Serializable {

  /**
   * Relative speed: layers per second, the weight of this worker when layers are split. Rounded to steps of a factor
   * sqrt(2), so measurement noise between like machines does not skew the split; real differences still show.
   */
  public double layersPerSecond() {
    double raw = secondsPerLayer > 0 ? 1.0 / secondsPerLayer : Math.max(1, cores);
    return Math.pow(2, Math.round(Math.log(raw) / Math.log(2) * 2) / 2.0);
  }
}
