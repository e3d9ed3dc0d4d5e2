package dev.caravan.engine.tensor;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Chooses the kernels once per JVM. {@code -Dcaravan.kernels=scalar} forces the scalar reference. */
final class KernelSelector {
  private static final Logger LOG = LoggerFactory.getLogger(KernelSelector.class);
  static final Kernels SELECTED = choose();

  private KernelSelector() {}

  private static Kernels choose() {
    Kernels k = new ScalarKernels();
    LOG.info("kernels: {}", k.name());
    return k;
  }
}
