/**
 * The load tester: drives a Caravan cluster through its public {@code Inference} API and reports throughput and
 * latency in the terms of vLLM's serving benchmark. {@link dev.caravan.loadtest.LoadtestCommand} is the entry point;
 * the rest is, in data-flow order: workloads (random token-id prompts, JSONL datasets), the driver (closed and open
 * loop, arrival schedules, one timed streaming call per request), faults injected on the run's clock
 * ({@link dev.caravan.loadtest.FaultSpec}, {@link dev.caravan.loadtest.FaultInjector}, the {@code ops/cluster} run
 * directory as {@link dev.caravan.loadtest.RunDirCluster}), metrics (recovery gaps, verification against a greedy
 * reference among them), and the console, JSON and HTML reports.
 */
package dev.caravan.loadtest;
