package dev.caravan.loadtest;

/**
 * The cluster that {@code --fault} acts on: its workers by number, signals to them, and starting or scaling them. The
 * load tester's implementation is {@link RunDirCluster} (the run directory of {@code ops/cluster}); tests point one at
 * processes of their own.
 */
interface FaultTarget {
  /**
   * A live Caravan worker.
   *
   * @param number its number, as in {@code worker-N.pid}
   * @param pid its process id
   */
  record Worker(int number, long pid) {
    String name() {
      return "worker-" + number;
    }
  }

  /** The signals a fault sends. */
  enum Signal { KILL, STOP, CONT }

  /** A fault that could not be injected; its message says why. */
  final class FaultException extends Exception {
    FaultException(String message) {
      super(message);
    }
  }

  /**
   * The live worker with this number, or the newest (highest-numbered) live one when {@code number} is null.
   *
   * @throws FaultException when there is none, or its pid file names a process that is not a Caravan worker
   */
  Worker worker(Integer number) throws FaultException;

  /** Sends {@code signal} to the worker; for {@link Signal#KILL}, returns once it is gone. */
  void signal(Worker worker, Signal signal) throws FaultException;

  /** Starts one more worker; returns what the cluster said about it. */
  String start() throws FaultException;

  /** Adds or drains workers until there are {@code workers}; returns what the cluster said. */
  String scale(int workers) throws FaultException;
}
