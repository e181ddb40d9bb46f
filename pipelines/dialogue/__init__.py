"""Dialogue backends behind one async streaming interface (see ``base.py``).

- ``local``: transformers in process; by default the embedded SmolLM2-135M-Instruct.
- ``openai``: any OpenAI-compatible server, such as vLLM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipelines.dialogue.base import (
    ChatMessage,
    DialogueBackend,
    DialogueConnectionError,
    DialogueError,
    DialogueTimeout,
    Finished,
    GenerationParams,
    TextDelta,
    Usage,
)
from pipelines.dialogue.embedded import embedded_model_dir, prepare_embedded_model
from pipelines.cpu import DtypeSetting, describe_cpu, resolve_dtype


class DialogueConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "openai"] = "local"
    model_dir: Path | None = Field(default=None, description="local: a transformers model folder; unset means the embedded SmolLM2")
    dtype: DtypeSetting = Field(default="auto", description="local: auto is bfloat16 where the CPU has it natively (AMX, AVX512-BF16), else float32")
    base_url: str = Field(default="http://127.0.0.1:8000/v1", pattern=r"^https?://")
    model: str = Field(default="smollm2", description="openai: the served model name")
    api_key: str | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    tokenizer_dir: Path | None = Field(default=None, description="tokenizer for prompt budgets; unset means the local model's")
    context_tokens: int = Field(default=4096, ge=256, description="token budget of one prompt, reply excluded")
    generation: GenerationParams = GenerationParams(max_tokens=160, temperature=0.5, top_p=0.9, repetition_penalty=1.1)


def resolve_model_dir(config: DialogueConfig, cache_dir: Path, log=lambda _: None) -> Path:
    """The local model folder, preparing the embedded model on first use."""
    if config.model_dir is not None:
        return config.model_dir
    return prepare_embedded_model(cache_dir, log=log)


def resolve_tokenizer_dir(config: DialogueConfig, cache_dir: Path, log=lambda _: None) -> Path:
    return config.tokenizer_dir or resolve_model_dir(config, cache_dir, log)


def create_backend(config: DialogueConfig, cache_dir: Path, log=lambda _: None) -> DialogueBackend:
    if config.backend == "openai":
        from pipelines.dialogue.openai_compatible import OpenAICompatibleBackend

        return OpenAICompatibleBackend(config.base_url, config.model, config.api_key, config.timeout_s, config.connect_timeout_s)
    from pipelines.dialogue.local import LocalBackend

    dtype = resolve_dtype(config.dtype)
    how = "auto" if config.dtype == "auto" else "dialogue.dtype"
    log(f"Dialogue model in {str(dtype).removeprefix('torch.')} ({how}) on {describe_cpu()}")
    return LocalBackend.from_pretrained(resolve_model_dir(config, cache_dir, log), dtype=dtype)


__all__ = [
    "ChatMessage",
    "DialogueBackend",
    "DialogueConfig",
    "DialogueConnectionError",
    "DialogueError",
    "DialogueTimeout",
    "Finished",
    "GenerationParams",
    "TextDelta",
    "Usage",
    "create_backend",
    "embedded_model_dir",
    "prepare_embedded_model",
    "resolve_model_dir",
    "resolve_tokenizer_dir",
]
