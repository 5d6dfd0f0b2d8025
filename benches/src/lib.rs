//! Shared helpers for the benchmarks (realistic SQL workloads).
