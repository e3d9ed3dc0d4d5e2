package dev.caravan.engine.tokenizer;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * llama.cpp's built-in chat formats ({@code llm_chat_apply_template} in {@code src/llama-chat.cpp}), by llama.cpp's
 * names, producing the same text. They never emit BOS (llama.cpp's tokenizer adds it) and ignore the bos/eos options;
 * the Mistral and Llama 2 formats have no generation prompt (the text ends with {@code [/INST]}).
 *
 * <p>{@link #detect} is llama.cpp's {@code llm_chat_detect_template}: the family of a Jinja source by marker strings.
 */
public enum BuiltinChatTemplate implements ChatTemplate {
  CHATML("chatml"),
  LLAMA2("llama2"),
  LLAMA2_SYS("llama2-sys"),
  LLAMA2_SYS_BOS("llama2-sys-bos"),
  LLAMA2_SYS_STRIP("llama2-sys-strip"),
  MISTRAL_V1("mistral-v1"),
  MISTRAL_V3("mistral-v3"),
  MISTRAL_V3_TEKKEN("mistral-v3-tekken"),
  MISTRAL_V7("mistral-v7"),
  MISTRAL_V7_TEKKEN("mistral-v7-tekken"),
  PHI3("phi3"),
  PHI4("phi4"),
  FALCON3("falcon3"),
  ZEPHYR("zephyr"),
  MONARCH("monarch"),
  GEMMA("gemma"),
  ORION("orion"),
  OPENCHAT("openchat"),
  VICUNA("vicuna"),
  VICUNA_ORCA("vicuna-orca"),
  DEEPSEEK("deepseek"),
  DEEPSEEK2("deepseek2"),
  DEEPSEEK3("deepseek3"),
  COMMAND_R("command-r"),
  LLAMA3("llama3"),
  CHATGLM3("chatglm3"),
  CHATGLM4("chatglm4"),
  GLMEDGE("glmedge"),
  MINICPM("minicpm"),
  EXAONE3("exaone3"),
  EXAONE4("exaone4"),
  RWKV_WORLD("rwkv-world"),
  GRANITE("granite"),
  GIGACHAT("gigachat"),
  MEGREZ("megrez"),
  YANDEX("yandex"),
  BAILING("bailing"),
  LLAMA4("llama4"),
  SMOLVLM("smolvlm");

  private final String llamaCppName;

  BuiltinChatTemplate(String llamaCppName) {
    this.llamaCppName = llamaCppName;
  }

  /** llama.cpp's name for this format (what {@code --chat-template NAME} takes). */
  public String llamaCppName() {
    return llamaCppName;
  }

  /** The format with this llama.cpp name. */
  public static BuiltinChatTemplate byName(String name) {
    for (BuiltinChatTemplate t : values()) {
      if (t.llamaCppName.equals(name)) {
        return t;
      }
    }
    throw new IllegalArgumentException("no built-in chat template named '" + name + "'; there are " + Arrays.stream(values()).map(BuiltinChatTemplate::llamaCppName).toList());
  }

  /**
   * llama.cpp's {@code llm_chat_detect_template}. Families llama.cpp knows but Caravan does not render (dots1,
   * hunyuan-moe, hunyuan-dense, kimi-k2) come back empty, like unrecognised sources.
   */
  public static Optional<BuiltinChatTemplate> detect(String tmpl) {
    for (BuiltinChatTemplate t : values()) {
      if (t.llamaCppName.equals(tmpl)) {
        return Optional.of(t);
      }
    }
    String family = detectFamily(tmpl);
    if (family == null) {
      return Optional.empty();
    }
    for (BuiltinChatTemplate t : values()) {
      if (t.llamaCppName.equals(family)) {
        return Optional.of(t);
      }
    }
    return Optional.empty();
  }

  /** The family name llama.cpp detects, or null; checked in llama.cpp's order (the order matters). */
  private static String detectFamily(String tmpl) {
    if (tmpl.contains("<|im_start|>")) {
      return tmpl.contains("<|im_sep|>") ? "phi4" : tmpl.contains("<end_of_utterance>") ? "smolvlm" : "chatml";
    } else if (tmpl.startsWith("mistral") || tmpl.contains("[INST]")) {
      if (tmpl.contains("[SYSTEM_PROMPT]")) {
        return "mistral-v7";
      } else if (tmpl.contains("' [INST] ' + system_message") || tmpl.contains("[AVAILABLE_TOOLS]")) {
        // the official Mistral v1, v3 and v3-tekken templates
        if (tmpl.contains(" [INST]")) {
          return "mistral-v1";
        } else if (tmpl.contains("\"[INST]\"")) {
          return "mistral-v3-tekken";
        }
        return "mistral-v3";
      } else {
        // Llama 2 and its variants
        boolean supportSystemMessage = tmpl.contains("<<SYS>>");
        boolean addBosInsideHistory = tmpl.contains("bos_token + '[INST]");
        boolean stripMessage = tmpl.contains("content.strip()");
        if (stripMessage) {
          return "llama2-sys-strip";
        } else if (addBosInsideHistory) {
          return "llama2-sys-bos";
        } else if (supportSystemMessage) {
          return "llama2-sys";
        }
        return "llama2";
      }
    } else if (tmpl.contains("<|assistant|>") && tmpl.contains("<|end|>")) {
      return "phi3";
    } else if (tmpl.contains("[gMASK]<sop>")) {
      return "chatglm4";
    } else if (tmpl.contains("<|assistant|>") && tmpl.contains("<|user|>")) {
      return tmpl.contains("</s>") ? "falcon3" : "glmedge";
    } else if (tmpl.contains("<|{{ item['role'] }}|>") && tmpl.contains("<|begin_of_image|>")) {
      return "glmedge";
    } else if (tmpl.contains("<|user|>") && tmpl.contains("<|endoftext|>")) {
      return "zephyr";
    } else if (tmpl.contains("bos_token + message['role']")) {
      return "monarch";
    } else if (tmpl.contains("<start_of_turn>")) {
      return "gemma";
    } else if (tmpl.contains("'\\n\\nAssistant: ' + eos_token")) {
      return "orion";
    } else if (tmpl.contains("GPT4 Correct ")) {
      return "openchat";
    } else if (tmpl.contains("USER: ") && tmpl.contains("ASSISTANT: ")) {
      return tmpl.contains("SYSTEM: ") ? "vicuna-orca" : "vicuna";
    } else if (tmpl.contains("### Instruction:") && tmpl.contains("<|EOT|>")) {
      return "deepseek";
    } else if (tmpl.contains("<|START_OF_TURN_TOKEN|>") && tmpl.contains("<|USER_TOKEN|>")) {
      return "command-r";
    } else if (tmpl.contains("<|start_header_id|>") && tmpl.contains("<|end_header_id|>")) {
      return "llama3";
    } else if (tmpl.contains("[gMASK]sop")) {
      return "chatglm3";
    } else if (tmpl.contains("<用户>")) {
      return "minicpm";
    } else if (tmpl.contains("'Assistant: ' + message['content'] + eos_token")) {
      return "deepseek2";
    } else if (tmpl.contains("<｜Assistant｜>") && tmpl.contains("<｜User｜>") && tmpl.contains("<｜end▁of▁sentence｜>")) {
      return "deepseek3";
    } else if (tmpl.contains("[|system|]") && tmpl.contains("[|assistant|]") && tmpl.contains("[|endofturn|]")) {
      return tmpl.contains("[|tool|]") ? "exaone4" : "exaone3";
    } else if (tmpl.contains("rwkv-world") || tmpl.contains("{{- 'User: ' + message['content']|trim + '\\n\\n' -}}")) {
      return "rwkv-world";
    } else if (tmpl.contains("<|start_of_role|>")) {
      return "granite";
    } else if (tmpl.contains("message['role'] + additional_special_tokens[0] + message['content'] + additional_special_tokens[1]")) {
      return "gigachat";
    } else if (tmpl.contains("<|role_start|>")) {
      return "megrez";
    } else if (tmpl.contains(" Ассистент:")) {
      return "yandex";
    } else if (tmpl.contains("<role>ASSISTANT</role>") && tmpl.contains("'HUMAN'")) {
      return "bailing";
    } else if (tmpl.contains("<|header_start|>") && tmpl.contains("<|header_end|>")) {
      return "llama4";
    } else if (tmpl.contains("<|endofuserprompt|>")) {
      return "dots1";
    } else if (tmpl.contains("<|startoftext|>") && tmpl.contains("<|extra_4|>")) {
      return "hunyuan-moe";
    } else if (tmpl.contains("<｜hy_place▁holder▁no▁2｜>") && tmpl.contains("<｜hy_place▁holder▁no▁3｜>")) {
      return "hunyuan-dense";
    } else if (tmpl.contains("<|im_assistant|>assistant<|im_middle|>")) {
      return "kimi-k2";
    }
    return null;
  }

  @Override
  public String render(List<ChatMessage> chat, Options options) {
    return render(chat, options.addGenerationPrompt());
  }

  /** Renders like {@code llm_chat_apply_template(this, chat, dest, add_ass)}. */
  public String render(List<ChatMessage> chat, boolean addAss) {
    StringBuilder ss = new StringBuilder();
    switch (this) {
      case CHATML -> {
        for (ChatMessage m : chat) {
          ss.append("<|im_start|>").append(m.role()).append('\n').append(m.content()).append("<|im_end|>\n");
        }
        if (addAss) {
          ss.append("<|im_start|>assistant\n");
        }
      }
      case MISTRAL_V7, MISTRAL_V7_TEKKEN -> {
        String trailingSpace = this == MISTRAL_V7 ? " " : "";
        for (ChatMessage m : chat) {
          switch (m.role()) {
            case "system" -> ss.append("[SYSTEM_PROMPT]").append(trailingSpace).append(m.content()).append("[/SYSTEM_PROMPT]");
            case "user" -> ss.append("[INST]").append(trailingSpace).append(m.content()).append("[/INST]");
            default -> ss.append(trailingSpace).append(m.content()).append("</s>");
          }
        }
      }
      case MISTRAL_V1, MISTRAL_V3, MISTRAL_V3_TEKKEN -> {
        String leadingSpace = this == MISTRAL_V1 ? " " : "";
        String trailingSpace = this == MISTRAL_V3_TEKKEN ? "" : " ";
        boolean trimAssistantMessage = this == MISTRAL_V3;
        boolean isInsideTurn = false;
        for (ChatMessage m : chat) {
          if (!isInsideTurn) {
            ss.append(leadingSpace).append("[INST]").append(trailingSpace);
            isInsideTurn = true;
          }
          switch (m.role()) {
            case "system" -> ss.append(m.content()).append("\n\n");
            case "user" -> ss.append(m.content()).append(leadingSpace).append("[/INST]");
            default -> {
              ss.append(trailingSpace).append(trimAssistantMessage ? trim(m.content()) : m.content()).append("</s>");
              isInsideTurn = false;
            }
          }
        }
      }
      case LLAMA2, LLAMA2_SYS, LLAMA2_SYS_BOS, LLAMA2_SYS_STRIP -> {
        boolean supportSystemMessage = this != LLAMA2;
        boolean addBosInsideHistory = this == LLAMA2_SYS_BOS;
        boolean stripMessage = this == LLAMA2_SYS_STRIP;
        boolean isInsideTurn = true; // no BOS at the beginning
        ss.append("[INST] ");
        for (ChatMessage m : chat) {
          String content = stripMessage ? trim(m.content()) : m.content();
          if (!isInsideTurn) {
            isInsideTurn = true;
            ss.append(addBosInsideHistory ? "<s>[INST] " : "[INST] ");
          }
          switch (m.role()) {
            case "system" -> {
              if (supportSystemMessage) {
                ss.append("<<SYS>>\n").append(content).append("\n<</SYS>>\n\n");
              } else {
                ss.append(content).append('\n');
              }
            }
            case "user" -> ss.append(content).append(" [/INST]");
            default -> {
              ss.append(content).append("</s>");
              isInsideTurn = false;
            }
          }
        }
      }
      case PHI3 -> {
        for (ChatMessage m : chat) {
          ss.append("<|").append(m.role()).append("|>\n").append(m.content()).append("<|end|>\n");
        }
        if (addAss) {
          ss.append("<|assistant|>\n");
        }
      }
      case PHI4 -> {
        for (ChatMessage m : chat) {
          ss.append("<|im_start|>").append(m.role()).append("<|im_sep|>").append(m.content()).append("<|im_end|>");
        }
        if (addAss) {
          ss.append("<|im_start|>assistant<|im_sep|>");
        }
      }
      case FALCON3 -> {
        for (ChatMessage m : chat) {
          ss.append("<|").append(m.role()).append("|>\n").append(m.content()).append('\n');
        }
        if (addAss) {
          ss.append("<|assistant|>\n");
        }
      }
      case ZEPHYR -> {
        for (ChatMessage m : chat) {
          ss.append("<|").append(m.role()).append("|>\n").append(m.content()).append("<|endoftext|>\n");
        }
        if (addAss) {
          ss.append("<|assistant|>\n");
        }
      }
      case MONARCH -> {
        for (int i = 0; i < chat.size(); i++) {
          ChatMessage m = chat.get(i);
          ss.append(i == 0 ? "" : "<s>").append(m.role()).append('\n').append(m.content()).append("</s>\n");
        }
        if (addAss) {
          ss.append("<s>assistant\n");
        }
      }
      case GEMMA -> {
        StringBuilder systemPrompt = new StringBuilder();
        for (ChatMessage m : chat) {
          if (m.role().equals("system")) {
            systemPrompt.append(trim(m.content())); // merged into the next user turn
            continue;
          }
          String role = m.role().equals("assistant") ? "model" : m.role();
          ss.append("<start_of_turn>").append(role).append('\n');
          if (!systemPrompt.isEmpty() && !role.equals("model")) {
            ss.append(systemPrompt).append("\n\n");
            systemPrompt.setLength(0);
          }
          ss.append(trim(m.content())).append("<end_of_turn>\n");
        }
        if (addAss) {
          ss.append("<start_of_turn>model\n");
        }
      }
      case ORION -> {
        StringBuilder systemPrompt = new StringBuilder();
        for (ChatMessage m : chat) {
          switch (m.role()) {
            case "system" -> systemPrompt.append(m.content());
            case "user" -> {
              ss.append("Human: ");
              if (!systemPrompt.isEmpty()) {
                ss.append(systemPrompt).append("\n\n");
                systemPrompt.setLength(0);
              }
              ss.append(m.content()).append("\n\nAssistant: </s>");
            }
            default -> ss.append(m.content()).append("</s>");
          }
        }
      }
      case OPENCHAT -> {
        for (ChatMessage m : chat) {
          if (m.role().equals("system")) {
            ss.append(m.content()).append("<|end_of_turn|>");
          } else {
            String role = m.role().isEmpty() ? m.role() : asciiUpper(m.role().substring(0, 1)) + m.role().substring(1);
            ss.append("GPT4 Correct ").append(role).append(": ").append(m.content()).append("<|end_of_turn|>");
          }
        }
        if (addAss) {
          ss.append("GPT4 Correct Assistant:");
        }
      }
      case VICUNA, VICUNA_ORCA -> {
        for (ChatMessage m : chat) {
          switch (m.role()) {
            case "system" -> {
              if (this == VICUNA_ORCA) {
                ss.append("SYSTEM: ").append(m.content()).append('\n');
              } else {
                ss.append(m.content()).append("\n\n");
              }
            }
            case "user" -> ss.append("USER: ").append(m.content()).append('\n');
            case "assistant" -> ss.append("ASSISTANT: ").append(m.content()).append("</s>\n");
            default -> {}
          }
        }
        if (addAss) {
          ss.append("ASSISTANT:");
        }
      }
      case DEEPSEEK -> {
        for (ChatMessage m : chat) {
          switch (m.role()) {
            case "system" -> ss.append(m.content());
            case "user" -> ss.append("### Instruction:\n").append(m.content()).append('\n');
            case "assistant" -> ss.append("### Response:\n").append(m.content()).append("\n<|EOT|>\n");
            default -> {}
          }
        }
        if (addAss) {
          ss.append("### Response:\n");
        }
      }
      case COMMAND_R -> {
        for (ChatMessage m : chat) {
          switch (m.role()) {
            case "system" -> ss.append("<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>").append(trim(m.content())).append("<|END_OF_TURN_TOKEN|>");
            case "user" -> ss.append("<|START_OF_TURN_TOKEN|><|USER_TOKEN|>").append(trim(m.content())).append("<|END_OF_TURN_TOKEN|>");
            case "assistant" -> ss.append("<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>").append(trim(m.content())).append("<|END_OF_TURN_TOKEN|>");
            default -> {}
          }
        }
        if (addAss) {
          ss.append("<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>");
        }
      }
      case LLAMA3 -> {
        for (ChatMessage m : chat) {
          ss.append("<|start_header_id|>").append(m.role()).append("<|end_header_id|>\n\n").append(trim(m.content())).append("<|eot_id|>");
        }
        if (addAss) {
          ss.append("<|start_header_id|>assistant<|end_header_id|>\n\n");
        }
      }
      case CHATGLM3 -> {
        ss.append("[gMASK]sop");
        for (ChatMessage m : chat) {
          ss.append("<|").append(m.role()).append("|>\n ").append(m.content());
        }
        if (addAss) {
          ss.append("<|assistant|>");
        }
      }
      case CHATGLM4 -> {
        ss.append("[gMASK]<sop>");
        for (ChatMessage m : chat) {
          ss.append("<|").append(m.role()).append("|>\n").append(m.content());
        }
        if (addAss) {
          ss.append("<|assistant|>\n");
        }
      }
      case GLMEDGE -> {
        for (ChatMessage m : chat) {
          ss.append("<|").append(m.role()).append("|>\n").append(m.content());
        }
        if (addAss) {
          ss.append("<|assistant|>");
        }
      }
      case MINICPM -> {
        for (ChatMessage m : chat) {
          if (m.role().equals("user")) {
            ss.append("<用户>").append(trim(m.content())).append("<AI>");
          } else {
            ss.append(trim(m.content()));
          }
        }
      }
      case DEEPSEEK2 -> {
        for (ChatMessage m : chat) {
          switch (m.role()) {
            case "system" -> ss.append(m.content()).append("\n\n");
            case "user" -> ss.append("User: ").append(m.content()).append("\n\n");
            case "assistant" -> ss.append("Assistant: ").append(m.content()).append("<｜end▁of▁sentence｜>");
            default -> {}
          }
        }
        if (addAss) {
          ss.append("Assistant:");
        }
      }
      case DEEPSEEK3 -> {
        for (ChatMessage m : chat) {
          switch (m.role()) {
            case "system" -> ss.append(m.content()).append("\n\n");
            case "user" -> ss.append("<｜User｜>").append(m.content());
            case "assistant" -> ss.append("<｜Assistant｜>").append(m.content()).append("<｜end▁of▁sentence｜>");
            default -> {}
          }
        }
        if (addAss) {
          ss.append("<｜Assistant｜>");
        }
      }
      case EXAONE3, EXAONE4 -> {
        for (ChatMessage m : chat) {
          switch (m.role()) {
            case "system" -> ss.append("[|system|]").append(trim(m.content())).append("[|endofturn|]\n");
            case "user" -> ss.append("[|user|]").append(trim(m.content())).append('\n');
            case "assistant" -> ss.append("[|assistant|]").append(trim(m.content())).append("[|endofturn|]\n");
            case "tool" -> {
              if (this == EXAONE4) {
                ss.append("[|tool|]").append(trim(m.content())).append("[|endofturn|]\n");
              }
            }
            default -> {}
          }
        }
        if (addAss) {
          ss.append("[|assistant|]");
        }
      }
      case RWKV_WORLD -> {
        for (int i = 0; i < chat.size(); i++) {
          ChatMessage m = chat.get(i);
          switch (m.role()) {
            case "system" -> ss.append("System: ").append(trim(m.content())).append("\n\n");
            case "user" -> {
              ss.append("User: ").append(trim(m.content())).append("\n\n");
              if (i == chat.size() - 1) {
                ss.append("Assistant:");
              }
            }
            case "assistant" -> ss.append("Assistant: ").append(trim(m.content())).append("\n\n");
            default -> {}
          }
        }
      }
      case GRANITE -> {
        for (ChatMessage m : chat) {
          ss.append("<|start_of_role|>").append(m.role()).append("<|end_of_role|>");
          if (m.role().equals("assistant_tool_call")) {
            ss.append("<|tool_call|>");
          }
          ss.append(m.content()).append("<|end_of_text|>\n");
        }
        if (addAss) {
          ss.append("<|start_of_role|>assistant<|end_of_role|>\n");
        }
      }
      case GIGACHAT -> {
        boolean hasSystem = !chat.isEmpty() && chat.get(0).role().equals("system");
        ss.append("<s>");
        if (hasSystem) {
          ss.append(chat.get(0).content()).append("<|message_sep|>");
        }
        for (int i = hasSystem ? 1 : 0; i < chat.size(); i++) {
          ChatMessage m = chat.get(i);
          if (m.role().equals("user")) {
            ss.append("user<|role_sep|>").append(m.content()).append("<|message_sep|>").append("available functions<|role_sep|>[]<|message_sep|>");
          } else if (m.role().equals("assistant")) {
            ss.append("assistant<|role_sep|>").append(m.content()).append("<|message_sep|>");
          }
        }
        if (addAss) {
          ss.append("assistant<|role_sep|>");
        }
      }
      case MEGREZ -> {
        for (ChatMessage m : chat) {
          ss.append("<|role_start|>").append(m.role()).append("<|role_end|>").append(m.content()).append("<|turn_end|>");
        }
        if (addAss) {
          ss.append("<|role_start|>assistant<|role_end|>");
        }
      }
      case YANDEX -> {
        ss.append("<s>");
        for (ChatMessage m : chat) {
          if (m.role().equals("user")) {
            ss.append(" Пользователь: ").append(m.content()).append("\n\n");
          } else if (m.role().equals("assistant")) {
            ss.append(" Ассистент: ").append(m.content()).append("\n\n");
          }
        }
        if (addAss) {
          ss.append(" Ассистент:[SEP]");
        }
      }
      case BAILING -> {
        for (ChatMessage m : chat) {
          String role = m.role().equals("user") ? "HUMAN" : asciiUpper(m.role());
          ss.append("<role>").append(role).append("</role>").append(m.content());
        }
        if (addAss) {
          ss.append("<role>ASSISTANT</role>");
        }
      }
      case LLAMA4 -> {
        for (ChatMessage m : chat) {
          ss.append("<|header_start|>").append(m.role()).append("<|header_end|>\n\n").append(trim(m.content())).append("<|eot|>");
        }
        if (addAss) {
          ss.append("<|header_start|>assistant<|header_end|>\n\n");
        }
      }
      case SMOLVLM -> {
        ss.append("<|im_start|>");
        for (ChatMessage m : chat) {
          switch (m.role()) {
            case "system" -> ss.append(m.content()).append("\n\n");
            case "user" -> ss.append("User: ").append(m.content()).append("<end_of_utterance>\n");
            default -> ss.append("Assistant: ").append(m.content()).append("<end_of_utterance>\n");
          }
        }
        if (addAss) {
          ss.append("Assistant:");
        }
      }
    }
    return ss.toString();
  }

  /** llama.cpp's {@code trim}: C {@code isspace} characters off both ends. */
  static String trim(String s) {
    int start = 0;
    int end = s.length();
    while (start < end && isCSpace(s.charAt(start))) {
      start++;
    }
    while (end > start && isCSpace(s.charAt(end - 1))) {
      end--;
    }
    return s.substring(start, end);
  }

  private static boolean isCSpace(char c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
  }

  /** C {@code toupper} per ASCII letter; other characters unchanged. */
  private static String asciiUpper(String s) {
    StringBuilder sb = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      sb.append(c >= 'a' && c <= 'z' ? (char) (c - 32) : c);
    }
    return sb.toString();
  }

  @Override
  public String toString() {
    return llamaCppName;
  }
}
