package dev.caravan.coordinator.core;

import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** A placement sink that applies every batch to a map (what the cluster would show) and counts the batches. */
final class RecordingPlacements implements KvPlacementSink {
  final Map<String, Held> state = new HashMap<>();
  int publishes;

  @Override
  public void publish(List<Held> held, Collection<String> removed) {
    publishes++;
    removed.forEach(state::remove);
    held.forEach(h -> state.put(h.cacheKey(), h));
  }
}
