"""Benchmarks: each module `bench/<name>.py` has `run() -> list[dict]`; results go to bench/results/<name>.json/.md."""
