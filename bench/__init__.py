"""Benchmark harness: meta-training and evaluation throughput against in-run references."""
