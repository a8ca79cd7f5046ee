"""Profiling sessions on a board (per-layer counts, stack, bit-exact agreement) and the calibration tables they
write, which the search reads for latency."""
