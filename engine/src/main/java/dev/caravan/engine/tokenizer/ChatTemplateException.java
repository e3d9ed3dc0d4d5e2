package dev.caravan.engine.tokenizer;

/** A chat template that cannot be rendered: a template error, or the template's own {@code raise_exception}. */
public class ChatTemplateException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public ChatTemplateException(String message) {
    super(message);
  }

  public ChatTemplateException(String message, Throwable cause) {
    super(message, cause);
  }
}
