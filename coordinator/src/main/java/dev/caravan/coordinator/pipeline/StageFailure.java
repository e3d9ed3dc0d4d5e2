package dev.caravan.coordinator.pipeline;

import io.grpc.Status;

/** A batch that could not be computed: the gRPC status the affected requests end with, and why. */
public final class StageFailure extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final Status.Code code;

  public StageFailure(Status.Code code, String message) {
    super(message);
    this.code = code;
  }

  public Status.Code code() {
    return code;
  }

  public Status toStatus() {
    return Status.fromCode(code).withDescription(getMessage());
  }
}
