"""The repository's scripts. A package so that each target's serve.py, run as a file, imports the
supervisor it shares (``scripts.supervise``) from this checkout rather than from anything installed."""
