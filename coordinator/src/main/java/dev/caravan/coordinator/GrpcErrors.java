package dev.caravan.coordinator;

import dev.caravan.coordinator.core.GenerationError;
import io.grpc.Status;

/** The gRPC edge of the core's errors: each {@link GenerationError.Kind} is the status code of the same name. */
final class GrpcErrors {
  /** Descriptions are cut here: a status travels in a trailer, and gRPC clients refuse trailers over 8 KiB. */
  static final int MAX_DESCRIPTION_CHARS = 1024;

  private GrpcErrors() {}

  static Status toStatus(GenerationError e) {
    Status.Code code = switch (e.kind()) {
      case INVALID_ARGUMENT -> Status.Code.INVALID_ARGUMENT;
      case NOT_FOUND -> Status.Code.NOT_FOUND;
      case FAILED_PRECONDITION -> Status.Code.FAILED_PRECONDITION;
      case RESOURCE_EXHAUSTED -> Status.Code.RESOURCE_EXHAUSTED;
      case UNAVAILABLE -> Status.Code.UNAVAILABLE;
      case DEADLINE_EXCEEDED -> Status.Code.DEADLINE_EXCEEDED;
      case CANCELLED -> Status.Code.CANCELLED;
      case INTERNAL -> Status.Code.INTERNAL;
    };
    String d = e.message();
    return Status.fromCode(code).withDescription(d.length() <= MAX_DESCRIPTION_CHARS ? d : d.substring(0, MAX_DESCRIPTION_CHARS) + "... (cut)");
  }
}
