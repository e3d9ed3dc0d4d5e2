package dev.caravan.loadtest;

import picocli.CommandLine.Option;

/**
 * {@code --model}: which of the cluster's models a public-API request names, as a picocli {@code @Mixin} shared by
 * {@code caravan loadtest} and {@code caravan generate}. Empty means the cluster's only model.
 */
public final class ModelIdOption {
  @Option(names = "--model", defaultValue = "", description = "Model id (default: the cluster's only model).")
  String model;

  /** The model id, or "" for the cluster's only model. */
  public String model() {
    return model;
  }
}
