"""Benchmarks: scripts run as `python bench/<name>.py` (make bench); not part of make test."""
