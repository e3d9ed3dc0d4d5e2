package dev.caravan.coordinator.http;

import dev.caravan.coordinator.CoordinatorMetrics;
import dev.caravan.coordinator.RequestValidator;
import dev.caravan.coordinator.core.EngineCore;
import dev.caravan.engine.tokenizer.Tokenizer;

/**
 * What the HTTP API serves from: the same validator and the same {@link EngineCore} the gRPC API drives (every entry
 * point drives one core), the model's tokenizer (for log-probability tokens), the serving state for health, the API
 * key check, and the coordinator's metrics registry.
 */
public record HttpApi(RequestValidator validator, Tokenizer tokenizer, EngineCore core, ServingState serving, HttpAuth auth, CoordinatorMetrics metrics) {}
