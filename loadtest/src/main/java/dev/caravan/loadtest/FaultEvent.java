package dev.caravan.loadtest;

/**
 * One fault action as it happened (or did not): a {@code --fault} gives one, a stop with +HOLD two (the stop and its
 * cont), and a worker still stopped when the run ends gets a cont then.
 *
 * @param fault the {@code --fault} it came from, in canonical spelling
 * @param action kill, stop, cont, start or scale
 * @param worker the worker it acted on ({@code worker-2}), or "" (start, scale, or not resolved)
 * @param pid that worker's process id, or 0
 * @param plannedSeconds when it was due, from the start of the run
 * @param seconds when it was injected (the signal sent, the script started), from the start of the run; NaN if never
 * @param ok whether it was injected
 * @param detail what the cluster said, or why it was not injected
 */
record FaultEvent(String fault, String action, String worker, long pid, double plannedSeconds, double seconds, boolean ok, String detail) {
  /** Whether streams should feel it: an injected kill, stop, start or scale (a cont ends a fault). */
  boolean disrupts() {
    return ok && !action.equals("cont");
  }

  /** "kill worker-2 (pid 4242)", "scale to 3", "start". */
  String describe() {
    return switch (action) {
      case "scale" -> "scale to " + fault.substring(fault.indexOf(':') + 1, fault.indexOf('@'));
      case "start" -> "start";
      default -> action + " " + (worker.isEmpty() ? "(no worker)" : worker + (pid > 0 ? " (pid " + pid + ")" : ""));
    };
  }
}
