"""Benchmarks of the router and the harness (`python benchmarks/run.py`); see docs/benchmarks.md."""
