package dev.caravan.cluster;

import com.hazelcast.map.EntryProcessor;
import java.io.Serializable;
import java.util.Map;

/** Raises a map's epoch value to {@code epoch}, never lowers it: "ready for epoch E" only moves forward, atomically. */
public record MaxEpoch(long epoch) implements EntryProcessor<String, Long, Long>, Serializable {
  @Override
  public Long process(Map.Entry<String, Long> entry) {
    Long old = entry.getValue();
    if (old == null || old < epoch) {
      entry.setValue(epoch);
      return epoch;
    }
    return old;
  }
}
