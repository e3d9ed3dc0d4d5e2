/**
 * Weight tensors and the compute kernels of the forward pass.
 *
 * <ul>
 *   <li>{@link dev.caravan.engine.tensor.WeightMatrix}: rows of a GGUF type over the mapped file, never copied.
 *   <li>{@link dev.caravan.engine.tensor.Kernels}: row·vector products ({@code dot}, {@code dotTokens},
 *       {@code dotRows}) and exact {@code dequantizeRow} for F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K, with a
 *       determinism contract. {@link dev.caravan.engine.tensor.ScalarKernels} is the readable reference,
 *       {@link dev.caravan.engine.tensor.VectorKernels} the Vector API implementation; {@code Kernels.get()} picks one
 *       per JVM ({@code -Dcaravan.kernels=scalar|vector}, {@code -Dcaravan.vectorBits=512|256|128}) and logs it.
 *   <li>{@link dev.caravan.engine.tensor.MatMul}: batched, parallel, allocation-free matrix products on a
 *       {@link dev.caravan.engine.tensor.Parallel} pool (persistent threads, the caller included; one driving thread at
 *       a time).
 *   <li>{@link dev.caravan.engine.tensor.ActivationMath}: F32 activation math (rmsNorm, softmax, swiglu, dot, axpy, ...),
 *       the same pattern as the kernels: {@link dev.caravan.engine.tensor.ScalarActivationMath} is the scalar twin,
 *       {@code VectorActivationMath} the Vector API version, switched like the kernels.
 * </ul>
 *
 * Activations are float arrays; before each matmul the forward pass rounds them to the weight type's vec-dot type, as
 * llama.cpp does ({@link dev.caravan.engine.model.ActivationRounding}). Benchmarks: {@code KernelBenchmark} in the test sources
 * (the command to run it is in its header).
 */
package dev.caravan.engine.tensor;
