"""Benchmarks: throughput of Shoal pipelines against hand-written loops (`make bench`)."""
