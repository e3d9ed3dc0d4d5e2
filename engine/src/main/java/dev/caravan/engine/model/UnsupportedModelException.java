package dev.caravan.engine.model;

import java.io.IOException;

/** A well-formed GGUF file holding a model Caravan does not run (another architecture, an unsupported tensor type). */
public class UnsupportedModelException extends IOException {
  private static final long serialVersionUID = 1L;

  public UnsupportedModelException(String message) {
    super(message);
  }
}
