"""Crumb benchmarks: `python bench/run.py [part ...]` (never collected by pytest)."""
