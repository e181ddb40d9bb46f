"""Dialogue backends behind one async streaming interface (see ``base.py``).

- ``local``: transformers in process; by default the embedded SmolLM2-135M-Instruct.
- ``openai``: any OpenAI-compatible server, such as vLLM.

Her persona adapter (a peft LoRA) rides on either: the local backend merges the folder it is
given into the weights at load (``dialogue.adapter``), and an OpenAI-compatible server serves it
beside the base model under a name of its own (vLLM ``--lora-modules NAME=DIR``), which her
requests ask for (``dialogue.lora_models``). Which folder is hers, and whether it still matches
her card, is the persona layer's business (``persona.adapter``); this package takes a folder or
a served name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
from pipelines.cpu import DtypeSetting, cpu_summary, native_bf16, resolve_dtype
from pipelines.model_folder import folder_problem

MODEL_DIR_EXPECTED = "a local transformers model folder (config.json, the weights and the tokenizer), or unset it for the embedded SmolLM2"
ADAPTER_EXPECTED = ("auto (her adapter from `atelier persona tune` or beside her card), none, or a peft LoRA folder "
                    "(adapter_config.json and the adapter weights)")
TOKENIZER_DIR_EXPECTED = ("a local folder with the served model's tokenizer (tokenizer.json or tokenizer_config.json; "
                          "it counts the prompt budget), or unset it to count with the local model's")


class DialogueConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "openai"] = "local"
    model_dir: Path | None = Field(default=None, description="local: a transformers model folder; unset means the embedded SmolLM2")
    dtype: DtypeSetting = Field(default="auto", description="local: auto is bfloat16 where the CPU has it natively (AMX, AVX512-BF16), else float32")
    base_url: str = Field(default="http://127.0.0.1:8000/v1", pattern=r"^https?://")
    model: str = Field(default="smollm2", description="openai: the served model name")
    json_schema: bool = Field(default=True, description="openai: the server constrains a reply to a JSON schema (vLLM does; the embedded model's "
                                                        "dialogue deployment does not), so her memory may read fan facts with the model")
    api_key: str | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    tokenizer_dir: Path | None = Field(default=None, description="tokenizer for prompt budgets; unset means the local model's")
    adapter: Literal["auto", "none"] | Path = Field(
        default="auto",
        description="local: her persona adapter (a peft LoRA merged at load): auto finds the one trained for her card as it is now, "
                    "none uses the base model alone, or a LoRA folder",
    )
    lora_models: dict[str, str] = Field(
        default={},
        description="openai: persona id -> the served name of her LoRA (vLLM --lora-modules NAME=DIR); her replies ask for it "
                    "instead of `model`; a persona not listed uses `model`",
    )
    context_tokens: int = Field(default=4096, ge=256, description="token budget of one prompt, reply excluded")
    generation: GenerationParams = GenerationParams(max_tokens=120, max_sentences=3, temperature=0.5, top_p=0.9, repetition_penalty=1.1, no_repeat_ngram=4)

    @field_validator("adapter", mode="before")
    @classmethod
    def _null_is_none(cls, value):
        return "none" if value is None else value

    def folder_problems(self, backend: bool = True, tokenizer: bool = True) -> list[tuple[str, str]]:
        """(setting, what is wrong) for each configured folder that is missing or not a model folder,
        among those the backend (`backend`) and the prompt-budget tokenizer (`tokenizer`) read;
        cheap, so commands check before anything loads."""
        problems = []
        if self.model_dir is not None and ((backend and self.backend == "local") or (tokenizer and self.tokenizer_dir is None)):
            problems.append(("dialogue.model_dir", _model_dir_problem(self.model_dir)))
        if tokenizer and self.tokenizer_dir is not None:
            problems.append(("dialogue.tokenizer_dir", _tokenizer_dir_problem(self.tokenizer_dir)))
        if backend and self.backend == "local" and isinstance(self.adapter, Path):
            problems.append(("dialogue.adapter", adapter_dir_problem(self.adapter)))
        return [(setting, problem) for setting, problem in problems if problem]


def _model_dir_problem(folder: Path) -> str | None:
    return folder_problem(folder, "dialogue.model_dir", "dialogue model", "transformers model folder", ("config.json",), MODEL_DIR_EXPECTED)


def _tokenizer_dir_problem(folder: Path) -> str | None:
    return folder_problem(folder, "dialogue.tokenizer_dir", "tokenizer", "tokenizer folder", ("tokenizer.json", "tokenizer_config.json"), TOKENIZER_DIR_EXPECTED)


def adapter_dir_problem(folder: Path) -> str | None:
    """What is wrong with a folder named as dialogue.adapter, or None when it is a peft LoRA folder."""
    return folder_problem(folder, "dialogue.adapter", "persona adapter", "LoRA adapter folder", ("adapter_config.json",), ADAPTER_EXPECTED)


def resolve_model_dir(config: DialogueConfig, cache_dir: Path, log=lambda _: None) -> Path:
    """The local model folder, preparing the embedded model on first use; DialogueError names
    dialogue.model_dir when the configured folder is missing."""
    if config.model_dir is not None:
        problem = _model_dir_problem(config.model_dir)
        if problem:
            raise DialogueError(problem)
        return config.model_dir.expanduser()
    return prepare_embedded_model(cache_dir, log=log)


def resolve_tokenizer_dir(config: DialogueConfig, cache_dir: Path, log=lambda _: None) -> Path:
    """The folder whose tokenizer counts prompt budgets: dialogue.tokenizer_dir, else the local model's."""
    if config.tokenizer_dir is None:
        return resolve_model_dir(config, cache_dir, log)
    problem = _tokenizer_dir_problem(config.tokenizer_dir)
    if problem:
        raise DialogueError(problem)
    return config.tokenizer_dir.expanduser()


def create_backend(config: DialogueConfig, cache_dir: Path, log=lambda _: None, adapter_dir: Path | None = None,
                   served_model: str | None = None) -> DialogueBackend:
    """The configured backend. `adapter_dir` (local): a LoRA folder merged into the model at load;
    `served_model` (openai): the model name to request instead of dialogue.model, such as her
    LoRA's served name. The caller decides both (see persona.engine.runtime)."""
    if config.backend == "openai":
        from pipelines.dialogue.openai_compatible import OpenAICompatibleBackend

        backend = OpenAICompatibleBackend(config.base_url, served_model or config.model, config.api_key, config.timeout_s, config.connect_timeout_s)
        backend.supports_json_schema = config.json_schema
        return backend
    from pipelines.dialogue.local import LocalBackend

    dtype = resolve_dtype(config.dtype)
    why = ("bf16 is native here" if native_bf16() else "bf16 would be emulated here") if config.dtype == "auto" else "set by dialogue.dtype"
    log(f"Dialogue model in {str(dtype).removeprefix('torch.')} ({why}) on {cpu_summary()}")
    return LocalBackend.from_pretrained(resolve_model_dir(config, cache_dir, log), dtype=dtype, adapter_dir=adapter_dir)


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
    "adapter_dir_problem",
    "create_backend",
    "embedded_model_dir",
    "prepare_embedded_model",
    "resolve_model_dir",
    "resolve_tokenizer_dir",
]
