package dev.caravan.engine.tokenizer;

import java.util.ArrayList;
import java.util.List;

/**
 * Per-token attribute bits, with llama.cpp's values ({@code llama_token_attr}). A token's attributes come from its GGUF
 * {@code tokenizer.ggml.token_type} and are then adjusted by text-based rules (end-of-generation and FIM tokens become
 * {@link #CONTROL}, control tokens whose text contains "unused" also get {@link #UNUSED}, ...); see {@link Vocabulary}.
 */
public final class TokenAttributes {
  private TokenAttributes() {}

  public static final int UNDEFINED = 0;
  public static final int UNKNOWN = 1;
  public static final int UNUSED = 1 << 1;
  public static final int NORMAL = 1 << 2;
  public static final int CONTROL = 1 << 3;
  public static final int USER_DEFINED = 1 << 4;
  public static final int BYTE = 1 << 5;
  public static final int NORMALIZED = 1 << 6;
  /** Whitespace before the token is removed when the token text is found in the input (special-token parsing). */
  public static final int LSTRIP = 1 << 7;
  /** Whitespace after the token is removed when the token text is found in the input (special-token parsing). */
  public static final int RSTRIP = 1 << 8;
  public static final int SINGLE_WORD = 1 << 9;

  /** GGUF {@code tokenizer.ggml.token_type} values (llama.cpp's {@code llama_token_type}). */
  static final int TYPE_UNDEFINED = 0;
  static final int TYPE_NORMAL = 1;
  static final int TYPE_UNKNOWN = 2;
  static final int TYPE_CONTROL = 3;
  static final int TYPE_USER_DEFINED = 4;
  static final int TYPE_UNUSED = 5;
  static final int TYPE_BYTE = 6;

  /** The attributes llama.cpp gives a GGUF token type; values it does not know become {@link #UNDEFINED}. */
  static int fromTokenType(int type) {
    return switch (type) {
      case TYPE_UNKNOWN -> UNKNOWN;
      case TYPE_UNUSED -> UNUSED;
      case TYPE_NORMAL -> NORMAL;
      case TYPE_CONTROL -> CONTROL;
      case TYPE_USER_DEFINED -> USER_DEFINED;
      case TYPE_BYTE -> BYTE;
      default -> UNDEFINED;
    };
  }

  /** A readable form such as {@code CONTROL|UNUSED}, for messages and logs. */
  public static String describe(int attributes) {
    if (attributes == UNDEFINED) {
      return "UNDEFINED";
    }
    String[] names = {"UNKNOWN", "UNUSED", "NORMAL", "CONTROL", "USER_DEFINED", "BYTE", "NORMALIZED", "LSTRIP", "RSTRIP", "SINGLE_WORD"};
    List<String> parts = new ArrayList<>();
    for (int bit = 0; bit < names.length; bit++) {
      if ((attributes & (1 << bit)) != 0) {
        parts.add(names[bit]);
      }
    }
    return String.join("|", parts);
  }
}
