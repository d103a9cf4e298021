#!/usr/bin/env bash
# Start llama.cpp (embedded SmolLM2) and llama-stack in front of it on loopback; Ctrl-C stops both.
# Prints the Responses base URL once ready. Run scripts/llamastack/setup.sh once before.
#
# Usage: scripts/llamastack/start.sh [--port 8321] [--llamacpp-port N] [--state-dir DIR] [--threads N]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PY="${PROJECT_PYTHON:-$REPO/.venv/bin/python}"
exec "$PY" "$HERE/serve.py" --project-python "$PY" "$@"
