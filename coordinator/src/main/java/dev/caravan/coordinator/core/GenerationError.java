package dev.caravan.coordinator.core;

/**
 * Why a request could not be served, in the core's own terms. The kinds mirror gRPC's status codes by name (and map to
 * HTTP statuses just as directly), but the mapping happens only at an entry point's edge: nothing inside the core, the
 * scheduler or the executors knows about gRPC.
 *
 * @param message what went wrong, written for the client: it names the request's problem or the lost part of the cluster
 */
public record GenerationError(Kind kind, String message) {

  /** What kind of failure, from the client's point of view. */
  public enum Kind {
    /** The request itself is wrong (a parameter, a prompt too long for the context). */
    INVALID_ARGUMENT,
    /** It names a model this cluster does not serve. */
    NOT_FOUND,
    /** It cannot run in the current state (a session already generating, a broken chat template). */
    FAILED_PRECONDITION,
    /** A limit was reached (the waiting queue, a KV budget); retrying later may work. */
    RESOURCE_EXHAUSTED,
    /** No capacity to run it: no plan, a lost worker, the coordinator draining or stopping. */
    UNAVAILABLE,
    /** Its deadline passed. */
    DEADLINE_EXCEEDED,
    /** The client cancelled it. */
    CANCELLED,
    /** A bug or an unexpected failure inside the cluster. */
    INTERNAL
  }

  public GenerationError {
    if (kind == null || message == null) {
      throw new IllegalArgumentException("a generation error needs a kind and a message");
    }
  }

  public static GenerationError of(Kind kind, String message) {
    return new GenerationError(kind, message);
  }

  /** The same error as an exception, for code paths that throw (validation, executors). */
  public GenerationException asException() {
    return new GenerationException(this);
  }

  @Override
  public String toString() {
    return kind + ": " + message;
  }
}
