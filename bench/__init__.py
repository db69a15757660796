"""Benchmarks and the reliability runs: figures printed, nothing asserted (see README)."""
