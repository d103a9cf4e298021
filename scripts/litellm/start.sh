#!/usr/bin/env bash
# Start llama.cpp (embedded SmolLM2) and LiteLLM's proxy in front of it on loopback; Ctrl-C stops both.
# Prints the Responses base URL (and the master key, unless LITELLM_MASTER_KEY is set) once ready.
# Run scripts/litellm/setup.sh once before.
#
# Usage: scripts/litellm/start.sh [--port 4000] [--llamacpp-port N] [--state-dir DIR] [--threads N]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PY="${PROJECT_PYTHON:-$REPO/.venv/bin/python}"
exec "$PY" "$HERE/serve.py" --project-python "$PY" "$@"
