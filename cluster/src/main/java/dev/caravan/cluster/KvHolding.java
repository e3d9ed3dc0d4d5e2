package dev.caravan.cluster;

import java.io.Serializable;

/** One stage's share of a session's KV cache: the worker, its layers, and how many positions it holds. */
public record KvHolding(String workerUuid, int layerStart, int layerEnd, int tokens) implements Serializable {}
