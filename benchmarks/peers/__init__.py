"""`python -m benchmarks.peers`: Shoal against its Python peers on three workloads."""
