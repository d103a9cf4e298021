"""Run LiteLLM's proxy as a Responses target: llama.cpp's server first, the LiteLLM proxy in front.

Owns what is LiteLLM's: ``litellm --config scripts/litellm/config.yaml`` from ``.venv-litellm``
on loopback, its environment and master key, and its readiness (the model is listed).
scripts/supervise.py owns the rest: it starts the embedded model first, prints the base URL once
both are ready, serves until a signal arrives or a child dies, then stops both and removes the
log directory (unless one was given).

LiteLLM refuses to start without a master key. The key is read from ``LITELLM_MASTER_KEY``; when
that is unset a random one is made and printed, since whoever started this must send it.

Offline: LiteLLM runs with an environment built here, not the caller's: its bundled cost map
(``LITELLM_LOCAL_MODEL_COST_MAP``), telemetry vetoed, Hugging Face offline, and no variable that
could point it at a database, a cache, a tracer or a hosted provider.

Needs only the standard library and this checkout, so any Python 3.9+ can run it;
scripts/litellm/start.sh runs it with the project venv. Install first with scripts/litellm/setup.sh.

    python scripts/litellm/serve.py [--port 4000] [--llamacpp-port N] [--state-dir DIR]
"""
from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))  # run as a file: the shared supervisor is scripts.supervise

from scripts.supervise import HOST, ServeError, Supervisor, parser, serve  # noqa: E402

CONFIG = HERE / "config.yaml"
DEFAULT_VENV = REPO / ".venv-litellm"
DEFAULT_PORT = 4000
MODEL_ID = "smollm2-135m-instruct"  # model_name in config.yaml, also the id reference_impl.launcher serves
KEY_VAR = "LITELLM_MASTER_KEY"
LITELLM_READY_S = 240.0  # the proxy imports a lot: slow on a busy 2-core machine
# The only variables LiteLLM inherits; the rest (DATABASE_URL, REDIS_*, OTEL_*, provider keys, a
# caller's LITELLM_*) could make it reach a service or change its behaviour.
KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
LITELLM_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # else it fetches the cost map from GitHub at import
    "LITELLM_TELEMETRY_DISABLED": "true",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "true",
    "HF_HUB_OFFLINE": "1",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}


def litellm_env(*, llamacpp_url: str, master_key: str) -> dict[str, str]:
    """The whole environment LiteLLM runs with."""
    env = {k: os.environ[k] for k in KEPT_ENV if k in os.environ}
    env.update(LITELLM_ENV)
    env.update({"LITELLM_LLAMACPP_URL": llamacpp_url, KEY_VAR: master_key})
    return env


def _lists_model(body: bytes) -> bool:
    try:
        return any(m.get("id") == MODEL_ID for m in json.loads(body).get("data", []))
    except (ValueError, AttributeError):
        return False


class LiteLLMSupervisor(Supervisor):
    """llama.cpp, then LiteLLM's proxy, which must be sent ``master_key``."""

    label = "LiteLLM"

    def __init__(self, *, master_key: str, key_given: bool, **common: Any) -> None:
        super().__init__(**common)
        self.master_key, self.key_given = master_key, key_given

    @property
    def cwd(self) -> Path:
        """The state directory, not the repo: LiteLLM loads a .env file from its working directory,
        and a developer's .env must not change what is measured."""
        return self.state_dir

    def check_installed(self) -> None:
        """Raise ServeError naming setup.sh when the venv has no `litellm` command."""
        if not (self.venv / "bin" / "litellm").is_file():
            raise ServeError(f"{self.venv} has no LiteLLM: run scripts/litellm/setup.sh")

    def start_gateway(self) -> None:
        """Start the proxy with its own environment; ready once /v1/models lists the model."""
        env = litellm_env(llamacpp_url=self.llamacpp_url, master_key=self.master_key)
        proxy = self.spawn("litellm", [str(self.venv / "bin" / "litellm"), "--config", str(CONFIG),
                                       "--host", HOST, "--port", str(self.port), "--num_workers", "1"], env)
        self.wait_ready("litellm", proxy, f"{self.base_url}/models", LITELLM_READY_S, key=self.master_key,
                        ready=_lists_model)

    def note(self) -> str:
        """The model, and the key only when this process made it: a caller's key is never echoed."""
        key_note = f"master key from ${KEY_VAR}" if self.key_given else f"master key {self.master_key}"
        return f" (model {MODEL_ID}, {key_note})"


def main(argv: Optional[list[str]] = None) -> int:
    """Serve until a signal or a child's death; return the exit status."""
    args = parser(__doc__, gateway="LiteLLM", default_port=DEFAULT_PORT, venv_var="LITELLM_VENV",
                  default_venv=DEFAULT_VENV,
                  state_dir_help="directory for the logs, kept (default: a temp dir, removed)").parse_args(argv)
    given_key = os.environ.get(KEY_VAR)
    master_key = given_key or f"sk-{secrets.token_hex(24)}"
    return serve(args, lambda **common: LiteLLMSupervisor(master_key=master_key, key_given=bool(given_key), **common),
                 temp_prefix="litellm-state-")


if __name__ == "__main__":
    sys.exit(main())
