package dev.caravan.coordinator.http;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * An error as an OpenAI-compatible API answers it: the HTTP status and the body's error object
 * {@code {"error": {"message", "type", "param", "code"}}}.
 *
 * @param status  the HTTP status
 * @param type    OpenAI's error type ({@code invalid_request_error}, ...)
 * @param message written for the client: names the field or the limit at fault; never a stack trace
 * @param param   the request field at fault, or null
 * @param code    a machine-readable code ({@code model_not_found}, ...), or null
 */
record ApiError(int status, String type, String message, String param, String code) {

  ApiError {
    if (type == null || message == null) {
      throw new IllegalArgumentException("an API error needs a type and a message");
    }
  }

  /** The response body. */
  ObjectNode body() {
    ObjectNode root = JsonNodeFactory.instance.objectNode();
    ObjectNode e = root.putObject("error");
    e.put("message", message);
    e.put("type", type);
    e.put("param", param);
    e.put("code", code);
    return root;
  }

  /** The same error with the field at fault named. */
  ApiError withParam(String field) {
    return new ApiError(status, type, message, field, code);
  }

  ApiException asException() {
    return new ApiException(this);
  }
}
