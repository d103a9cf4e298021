"""Wires the harness library into pytest; everything else lives in fixtures/."""
pytest_plugins = ["fixtures.plugin"]  # it registers fixtures.gate, .verdicts and .results
