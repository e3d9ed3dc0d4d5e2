package dev.caravan.coordinator.core;

import java.util.List;

/**
 * Applies stop strings to streamed text: text is released only once it can no longer be the start of a stop string, and
 * generation ends at the first full match, which is not returned.
 */
public final class StopMatcher {
  private final List<String> stops;
  private final StringBuilder pending = new StringBuilder();
  private String matched;

  public StopMatcher(List<String> stops) {
    this.stops = stops.stream().filter(s -> !s.isEmpty()).toList();
  }

  /** Adds new text; returns the text that is safe to emit now (possibly empty). */
  public String accept(String text) {
    if (matched != null) {
      return "";
    }
    pending.append(text);
    // a full match: emit what precedes it, stop
    int at = -1;
    String which = null;
    for (String s : stops) {
      int i = pending.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        which = s;
      }
    }
    if (which != null) {
      matched = which;
      String out = pending.substring(0, at);
      pending.setLength(0);
      return out;
    }
    // hold back the longest tail that is a prefix of some stop string
    int hold = 0;
    String text0 = pending.toString();
    for (String s : stops) {
      for (int k = Math.min(s.length() - 1, text0.length()); k > hold; k--) {
        if (text0.regionMatches(text0.length() - k, s, 0, k)) {
          hold = k;
          break;
        }
      }
    }
    String out = pending.substring(0, pending.length() - hold);
    pending.delete(0, pending.length() - hold);
    return out;
  }

  /** At the end of generation: what was held back (no stop string matched). */
  public String flush() {
    String out = matched == null ? pending.toString() : "";
    pending.setLength(0);
    return out;
  }

  /** The stop string that matched, or null. */
  public String matched() {
    return matched;
  }
}
