"""Firmware generation: memory planner, C and HLS code generators, toolchain drivers."""
