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
# constraints.txt was frozen on 3.12; LiteLLM 1.108 supports 3.10 to 3.13.
PREFERRED="3.12"

log() { printf 'litellm-setup: %s\n' "$*" >&2; }

find_python() {
    local candidates=()
    [[ -n "${LITELLM_PYTHON:-}" ]] && candidates+=("$LITELLM_PYTHON")
    if command -v pyenv >/dev/null 2>&1; then
        local root; root="$(pyenv root)"
        # the frozen minor first, newest patch first
        while IFS= read -r v; do candidates+=("$root/versions/$v/bin/python"); done \
            < <(ls "$root/versions" 2>/dev/null | grep -E "^${PREFERRED//./\\.}\.[0-9]+$" | sort -t. -k3,3nr)
    fi
    candidates+=("python$PREFERRED" python3)
    local py
    for py in "${candidates[@]}"; do
        if command -v "$py" >/dev/null 2>&1 &&
           "$py" -c "import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 13))" 2>/dev/null; then
            command -v "$py"; return 0
        fi
    done
    log "no Python 3.10-3.13 found (set LITELLM_PYTHON)"; return 1
}

stamp_of() { cat "$HERE/requirements.txt" "$HERE/constraints.txt" | sha256sum | cut -d' ' -f1; }

ensure_venv() {
    if [[ ! -x "$VENV/bin/python" ]]; then
        local py; py="$(find_python)"
        log "creating $VENV with $py ($("$py" --version))"
        "$py" -m venv "$VENV"
    fi
    # keep the venv out of git without touching the repo's .gitignore
    [[ -f "$VENV/.gitignore" ]] || printf '*\n' > "$VENV/.gitignore"
    local stamp; stamp="$(stamp_of)"
    if [[ -f "$VENV/.rc-installed" && "$(cat "$VENV/.rc-installed")" == "$stamp" ]]; then
        log "packages up to date"
        return
    fi
    log "installing pinned litellm[proxy] (about two minutes)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$HERE/requirements.txt" -c "$HERE/constraints.txt" 2> >(grep -v 'is ignored' >&2)
    # the import check must not reach out either: LiteLLM fetches its cost map on import otherwise
    LITELLM_LOCAL_MODEL_COST_MAP=True "$VENV/bin/python" -c "import litellm.proxy.proxy_server" \
        || { log "installed packages do not import"; exit 1; }
    printf '%s\n' "$stamp" > "$VENV/.rc-installed"
}

ensure_venv
log "ready: venv $VENV (litellm $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))'))"
