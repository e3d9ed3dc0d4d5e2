package dev.caravan.loadtest;

import dev.caravan.proto.v1.InferenceGrpc;
import dev.caravan.proto.v1.ListModelsRequest;
import dev.caravan.proto.v1.ListModelsResponse;
import dev.caravan.proto.v1.ModelInfo;
import dev.caravan.proto.v1.TokenizeRequest;
import dev.caravan.proto.v1.TokenizeResponse;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * What the load tester learns about the target before it starts, through the public API only: the model's vocabulary
 * size and context length ({@code ListModels}), its BOS token and its special tokens ({@code Tokenize}). When the
 * target cannot be asked, the run still goes ahead (its requests will show the failure, counted by status) and
 * {@link #known()} is false.
 *
 * @param modelId the model requests go to ("" when unknown: the cluster's only model)
 * @param vocabSize vocabulary size, or 0 when unknown
 * @param contextLength context length, or 0 when unknown
 * @param ready whether the cluster reported a serving plan
 * @param bos the id the tokenizer puts before a prompt, or null if none (or unknown)
 * @param specialIds special token ids discovered by their spelling, BOS included
 * @param warnings what could not be learned, for the operator
 */
record TargetInfo(String modelId, int vocabSize, int contextLength, boolean ready, Integer bos, Set<Integer> specialIds, List<String> warnings) {

  /** Spellings of special tokens of LLaMA-family tokenizers; those that tokenize to one special piece are special. */
  static final List<String> SPECIAL_SPELLINGS = List.of("<unk>", "<s>", "</s>", "<pad>", "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|eom_id|>",
      "<|start_header_id|>", "<|end_header_id|>", "<|python_tag|>", "<|finetune_right_pad_id|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|system|>",
      "<|user|>", "<|assistant|>", "<|end|>", "[INST]", "[/INST]");

  boolean known() {
    return vocabSize > 0;
  }

  /** The random-prompt token pool for this target (the fallback pool when the vocabulary is unknown). */
  TokenPool tokenPool() {
    return known() ? TokenPool.of(vocabSize, specialIds) : TokenPool.fallback();
  }

  /** One line for the console. */
  String describe() {
    if (!known()) {
      return "model unknown (the target did not answer ListModels)";
    }
    return "model " + modelId + ", vocabulary " + vocabSize + ", context " + contextLength + (ready ? "" : ", NOT READY (no serving plan yet)");
  }

  /**
   * Asks the target. Never throws for an unreachable or failing target: that becomes a warning and an unknown model.
   *
   * @throws IllegalArgumentException when the target answers but does not serve {@code model}
   */
  static TargetInfo probe(Channel channel, String model, Duration timeout) {
    List<String> warnings = new ArrayList<>();
    var stub = InferenceGrpc.newBlockingStub(channel);
    ListModelsResponse models;
    try {
      models = stub.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS).listModels(ListModelsRequest.getDefaultInstance());
    } catch (StatusRuntimeException e) {
      warnings.add("could not list the target's models (" + describe(e.getStatus()) + "); drawing random prompt ids from [" + TokenPool.FALLBACK_FIRST + ", " + TokenPool.FALLBACK_END + ")");
      return new TargetInfo(model, 0, 0, false, null, Set.of(), List.copyOf(warnings));
    }
    if (models.getModelsCount() == 0) {
      warnings.add("the target lists no models");
      return new TargetInfo(model, 0, 0, false, null, Set.of(), List.copyOf(warnings));
    }
    ModelInfo info = null;
    for (ModelInfo m : models.getModelsList()) {
      if (model.isEmpty() || m.getId().equals(model)) {
        info = m;
        break;
      }
    }
    if (info == null) {
      throw new IllegalArgumentException("the target does not serve model '" + model + "'; it serves " + models.getModelsList().stream().map(ModelInfo::getId).collect(Collectors.joining(", ")));
    }
    Integer bos = null;
    Set<Integer> special = new HashSet<>();
    try {
      var tok = stub.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS);
      List<Integer> plain = tok.tokenize(tokenize(info.getId(), "a", false, false)).getIdsList();
      List<Integer> withSpecial = tok.tokenize(tokenize(info.getId(), "a", true, false)).getIdsList();
      if (withSpecial.size() > plain.size() && withSpecial.subList(1, 1 + plain.size()).equals(plain)) {
        bos = withSpecial.getFirst();
        special.add(bos);
      }
      TokenizeResponse spelled = tok.tokenize(tokenize(info.getId(), String.join(" ", SPECIAL_SPELLINGS), false, true));
      for (int i = 0; i < spelled.getIdsCount(); i++) {
        if (SPECIAL_SPELLINGS.contains(spelled.getPieces(i))) {
          special.add(spelled.getIds(i));
        }
      }
    } catch (StatusRuntimeException e) {
      warnings.add("could not tokenize on the target (" + describe(e.getStatus()) + "); random prompts may contain special tokens and have no BOS");
    }
    if (!info.getReady()) {
      warnings.add("the target has no serving plan yet (no workers?); requests may fail with UNAVAILABLE");
    }
    return new TargetInfo(info.getId(), info.getVocabSize(), info.getContextLength(), info.getReady(), bos, Set.copyOf(special), List.copyOf(warnings));
  }

  private static TokenizeRequest tokenize(String model, String text, boolean addSpecial, boolean parseSpecial) {
    return TokenizeRequest.newBuilder().setModel(model).setText(text).setAddSpecial(addSpecial).setParseSpecial(parseSpecial).build();
  }

  static String describe(Status s) {
    return s.getCode() + (s.getDescription() == null ? "" : ": " + s.getDescription());
  }
}
