/**
 * The load tester: drives a Caravan cluster through its public {@code Inference} API and reports throughput and
 * latency in the terms of vLLM's serving benchmark. {@link dev.caravan.loadtest.LoadtestCommand} is the entry point;
 * the rest is, in data-flow order: workloads (random token-id prompts, JSONL datasets), the driver (closed and open
 * loop, arrival schedules, one timed streaming call per request), metrics, and the console, JSON and HTML reports.
 */
package dev.caravan.loadtest;
