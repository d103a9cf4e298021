"""Wires the harness library into pytest; everything else lives in fixtures/."""
pytest_plugins = ["fixtures.results", "fixtures.plugin"]
