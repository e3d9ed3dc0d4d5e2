package dev.caravan.coordinator.core;

import dev.caravan.coordinator.scheduler.Sequence;
import java.util.ArrayList;
import java.util.List;

/** A listener that records what a generation produced, for tests that step the core themselves. */
class Collector implements GenerationListener {
  final StringBuilder text = new StringBuilder();
  final List<Integer> ids = new ArrayList<>();
  Sequence.Finish reason;
  String matched;
  Usage usage;
  GenerationError error;
  int ends;

  @Override
  public void onDelta(String t, int[] tokenIds) {
    if (ends > 0) {
      throw new AssertionError("a delta after the end");
    }
    text.append(t);
    for (int id : tokenIds) {
      ids.add(id);
    }
  }

  @Override
  public void onDone(Sequence.Finish r, String matchedStop, Usage u) {
    ends++;
    reason = r;
    matched = matchedStop;
    usage = u;
  }

  @Override
  public void onError(GenerationError e) {
    ends++;
    error = e;
  }

  boolean ended() {
    return ends > 0;
  }

  int[] idArray() {
    return ids.stream().mapToInt(Integer::intValue).toArray();
  }
}
