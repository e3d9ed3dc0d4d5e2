package dev.caravan.cli;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.net.ConnectException;

/** One-line descriptions of failed calls to a coordinator, for the client subcommands. */
final class RpcErrors {
  private RpcErrors() {}

  /** {@code CODE: description}, or for a coordinator that cannot be reached at all, what to do about it. */
  static String describe(String target, StatusRuntimeException e) {
    Status s = e.getStatus();
    if (s.getCode() == Status.Code.UNAVAILABLE && rootCause(e) instanceof ConnectException c) {
      String why = c.getMessage() == null ? "cannot connect" : c.getMessage().substring(c.getMessage().lastIndexOf(": ") + 1).strip(); // Netty prefixes its syscall
      return "UNAVAILABLE: no coordinator answers at " + target + " (" + why.toLowerCase(java.util.Locale.ROOT) + "); start a cluster with `ops/cluster up` or pass --target HOST:PORT";
    }
    if (s.getCode() == Status.Code.UNAUTHENTICATED) {
      return "UNAUTHENTICATED: " + s.getDescription() + " (pass --api-key-file FILE or --api-key KEY, or set $CARAVAN_API_KEY)";
    }
    return s.getCode() + (s.getDescription() == null ? "" : ": " + s.getDescription());
  }

  private static Throwable rootCause(Throwable t) {
    Throwable c = t;
    while (c.getCause() != null && c.getCause() != c) {
      c = c.getCause();
    }
    return c;
  }
}
