"""Run llama-stack (OGX) as a Responses target: llama.cpp's server first, llama-stack in front.

Owns what is llama-stack's: ``llama stack run scripts/llamastack/config.yaml`` from
``.venv-llamastack`` on loopback with a fresh SQLite state directory, its environment (tiktoken's
offline cache, no telemetry), and its readiness (the model is listed). scripts/supervise.py owns
the rest: it starts the embedded model first, prints the base URL once both are ready, serves
until a signal arrives or a child dies, then stops both and removes the state directory (unless
one was given).

Needs only the standard library and this checkout, so any Python 3.9+ can run it;
scripts/llamastack/start.sh runs it with the project venv. Install first with
scripts/llamastack/setup.sh.

    python scripts/llamastack/serve.py [--port 8321] [--llamacpp-port N] [--state-dir DIR]
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))  # run as a file: the shared supervisor is scripts.supervise

from scripts.supervise import ServeError, Supervisor, parser, serve  # noqa: E402

CONFIG = HERE / "config.yaml"
DEFAULT_VENV = REPO / ".venv-llamastack"
DEFAULT_PORT = 8321
BACKEND_MODEL = "smollm2-135m-instruct"  # the id reference_impl.launcher serves
PROVIDER_ID = "llama-cpp"  # provider_id in config.yaml; llama-stack prefixes model ids with it
MODEL_ID = f"{PROVIDER_ID}/{BACKEND_MODEL}"
TIKTOKEN_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
LLAMASTACK_READY_S = 240.0  # imports pandas, sklearn, faiss...: slow on a busy 2-core machine
# Environment that could make llama-stack export telemetry or reach the network.
SCRUBBED_ENV_PREFIXES = ("OTEL_", "LLAMA_STACK_")


def tiktoken_cache_dir(venv: Path) -> Path:
    """Where setup.sh put cl100k_base (tiktoken looks for the file named sha1 of its URL)."""
    return venv / "tiktoken-cache"


class LlamaStackSupervisor(Supervisor):
    """llama.cpp, then llama-stack with its state (SQLite, files) in the state directory."""

    label = "llama-stack"

    def check_installed(self) -> None:
        """Raise ServeError naming setup.sh when the venv or the tiktoken file is missing."""
        name = hashlib.sha1(TIKTOKEN_URL.encode()).hexdigest()
        if not (self.venv / "bin" / "llama").is_file():
            raise ServeError(f"{self.venv} has no llama-stack: run scripts/llamastack/setup.sh")
        if not (tiktoken_cache_dir(self.venv) / name).is_file():
            raise ServeError("tiktoken's cl100k_base is missing: run scripts/llamastack/setup.sh")

    def start_gateway(self) -> None:
        """Start llama-stack on the caller's environment, scrubbed; ready once /v1/models lists the model."""
        (self.state_dir / "files").mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_ENV_PREFIXES)}
        env.update({
            "LLAMA_CPP_URL": self.llamacpp_url,
            "LLAMASTACK_MODEL": BACKEND_MODEL,
            "LLAMASTACK_STATE": str(self.state_dir),
            "TIKTOKEN_CACHE_DIR": str(tiktoken_cache_dir(self.venv)),
            "HF_HUB_OFFLINE": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        })
        stack = self.spawn("llamastack", [str(self.venv / "bin" / "llama"), "stack", "run", str(CONFIG),
                                          "--port", str(self.port)], env)
        self.wait_ready("llamastack", stack, f"{self.base_url}/models", LLAMASTACK_READY_S,
                        ready=lambda body: MODEL_ID in body.decode(errors="replace"))

    def note(self) -> str:
        """The model llama-stack serves."""
        return f" (model {MODEL_ID})"


def main(argv: Optional[list[str]] = None) -> int:
    """Serve until a signal or a child's death; return the exit status."""
    args = parser(__doc__, gateway="llama-stack", default_port=DEFAULT_PORT, venv_var="LLAMASTACK_VENV",
                  default_venv=DEFAULT_VENV,
                  state_dir_help="SQLite/files directory to keep (default: a temp dir, removed)").parse_args(argv)
    return serve(args, LlamaStackSupervisor, temp_prefix="llamastack-state-")


if __name__ == "__main__":
    sys.exit(main())
