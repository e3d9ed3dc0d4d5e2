package dev.caravan.coordinator.core;

/**
 * A {@link GenerationError} thrown: by request validation, or by an executor whose batch could not be computed (then the
 * requests in that batch end with it).
 */
public final class GenerationException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final transient GenerationError error;

  public GenerationException(GenerationError error) {
    super(error.message());
    this.error = error;
  }

  public GenerationException(GenerationError.Kind kind, String message) {
    this(new GenerationError(kind, message));
  }

  public GenerationError error() {
    return error;
  }

  public GenerationError.Kind kind() {
    return error.kind();
  }
}
