package dev.caravan.engine.tensor;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses the kernels once per JVM and logs the choice. {@code -Dcaravan.kernels=scalar} forces the scalar reference,
 * {@code -Dcaravan.kernels=vector} requires the Vector API ones; by default the vector kernels are used whenever the
 * {@code jdk.incubator.vector} module is present and the CPU has at least 128-bit float vectors.
 * {@code -Dcaravan.vectorBits=512|256|128} narrows the vector width (see {@link VectorKernels}).
 */
final class KernelSelector {
  private static final Logger LOG = LoggerFactory.getLogger(KernelSelector.class);
  static final Kernels SELECTED = choose();
  /** Whether {@link #SELECTED} is the vector implementation; {@link ActivationMath} follows the same switch. */
  static final boolean VECTOR = SELECTED instanceof VectorKernels;

  private KernelSelector() {}

  private static Kernels choose() {
    String mode = System.getProperty("caravan.kernels", "auto").trim();
    Kernels k = switch (mode) {
      case "scalar" -> new ScalarKernels();
      case "vector" -> vectorOrNull(true);
      case "auto", "" -> {
        Kernels v = vectorOrNull(false);
        yield v != null ? v : new ScalarKernels();
      }
      default -> throw new IllegalArgumentException("caravan.kernels must be scalar, vector or auto, not " + mode);
    };
    LOG.info("kernels: {} (caravan.kernels={})", k.name(), mode);
    return k;
  }

  private static Kernels vectorOrNull(boolean required) {
    try {
      if (VectorKernels.usable()) {
        return new VectorKernels();
      }
      if (required) {
        throw new IllegalStateException("caravan.kernels=vector, but this CPU has no 128-bit float vectors");
      }
      LOG.warn("no 128-bit float vectors on this CPU: using the scalar kernels");
      return null;
    } catch (NoClassDefFoundError e) {
      if (required) {
        throw new IllegalStateException("caravan.kernels=vector needs --add-modules jdk.incubator.vector", e);
      }
      LOG.warn("the jdk.incubator.vector module is not loaded (--add-modules jdk.incubator.vector): using the scalar kernels");
      return null;
    }
  }
}
