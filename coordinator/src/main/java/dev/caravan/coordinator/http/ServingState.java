package dev.caravan.coordinator.http;

/** Whether the cluster can serve a request now, as {@code GET /health} reports it. */
@FunctionalInterface
public interface ServingState {
  /** Null when a plan is serving; else why not, written for an operator ("no serving plan: ..."). */
  String notServingReason();
}
