#!/usr/bin/env bash
# Set up LiteLLM's proxy as a Responses target, offline-capable, in its own venv.
#
# Owns: the venv (.venv-litellm/ at the repo root, or $LITELLM_VENV) and the pinned install
# (requirements.txt under constraints.txt). LiteLLM is never installed into the project's .venv.
# Nothing else is fetched: LiteLLM's model-cost map and tokenizers ship inside its wheel, and
# serve.py tells it to use them (LITELLM_LOCAL_MODEL_COST_MAP=True).
#
# Idempotent: a second run checks a stamp (hash of the pin files) and returns in about a second.
# First run: about 2 minutes, about 730 MB.
#
# Usage: scripts/litellm/setup.sh            (LITELLM_PYTHON=/path/to/python3.12 to choose)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${LITELLM_VENV:-$REPO/.venv-litellm}"
SETUP_NAME="litellm"
# constraints.txt was frozen on 3.12; LiteLLM 1.108 supports 3.10 to 3.13.
PREFERRED="3.12"

# shellcheck source=../setup_venv.sh
source "$HERE/../setup_venv.sh"

# the import check must not reach out either: LiteLLM fetches its cost map on import otherwise
check_imports() { LITELLM_LOCAL_MODEL_COST_MAP=True "$VENV/bin/python" -c "import litellm.proxy.proxy_server"; }

ensure_venv "installing pinned litellm[proxy] (about two minutes)" check_imports \
    LITELLM_PYTHON "${PREFERRED#3.}" 3.10 3.13 "python$PREFERRED" python3
log "ready: venv $VENV (litellm $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))'))"
