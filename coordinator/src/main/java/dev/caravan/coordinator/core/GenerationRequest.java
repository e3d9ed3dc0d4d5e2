package dev.caravan.coordinator.core;

import dev.caravan.engine.sampling.SamplingParams;
import java.util.List;

/**
 * A validated generation request, in domain terms.
 *
 * @param prompt         prompt token ids (non-empty, shorter than the context)
 * @param sessionId      reuse the KV cache of this session's previous turn; null for a one-off request
 * @param deadlineNanos  absolute deadline on the serving clock, or Long.MAX_VALUE
 */
public record GenerationRequest(int[] prompt, SamplingParams sampling, int maxTokens, List<String> stop, String sessionId, boolean ignoreEos, long deadlineNanos) {}
