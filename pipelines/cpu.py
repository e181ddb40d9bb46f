"""What this CPU computes natively, and the dtype a model loaded on it should use.

bfloat16 halves memory traffic where the CPU has bf16 instructions (AMX, or AVX512-BF16);
elsewhere PyTorch emulates it and a prompt reads about 6.5 times slower than in float32
(SmolLM2-135M, 351 tokens, AMD EPYC with AVX2 only). So "auto" means bfloat16 only where
it is native, float32 everywhere else; an explicit setting always wins.
"""

from __future__ import annotations

import platform
from functools import cache
from pathlib import Path
from typing import Literal

import torch

DtypeSetting = Literal["auto", "bfloat16", "float32"]


def _has(torch_check: str, cpuinfo_flag: str) -> bool:
    """What PyTorch's own CPUID probe says (the kernels it will pick), else the kernel's flags."""
    check = getattr(torch.cpu, torch_check, None)  # private helpers; absent in some builds
    return bool(check()) if check is not None else cpuinfo_flag in _cpuinfo("flags").split()


@cache
def _cpuinfo(field: str) -> str:
    """A field of the first CPU in /proc/cpuinfo ("" on systems without one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == field:
                return value.strip()
    except OSError:
        pass
    return ""


def cpu_model() -> str:
    """The CPU's marketing name, e.g. 'AMD EPYC' or 'Intel(R) Xeon(R) Platinum 8481C'."""
    return _cpuinfo("model name") or platform.processor() or platform.machine()


@cache
def cpu_features() -> dict[str, bool]:
    return {
        "avx2": _has("_is_avx2_supported", "avx2"),
        "avx512": _has("_is_avx512_supported", "avx512f"),
        "avx512_bf16": _has("_is_avx512_bf16_supported", "avx512_bf16"),
        "amx": _has("_is_amx_tile_supported", "amx_bf16"),
    }


def native_bf16() -> bool:
    features = cpu_features()
    return features["amx"] or features["avx512_bf16"]


def resolve_dtype(setting: DtypeSetting | torch.dtype | None = "auto") -> torch.dtype:
    """The torch dtype for a model on the CPU: an explicit choice, or bf16 only where native."""
    if isinstance(setting, torch.dtype):
        return setting
    if setting in (None, "auto"):
        return torch.bfloat16 if native_bf16() else torch.float32
    return {"bfloat16": torch.bfloat16, "float32": torch.float32}[setting]


def cpu_summary() -> str:
    """'AMD EPYC (avx2, avx512, avx512_bf16; x86_64, 2 threads)': the model and its vector features."""
    features = [name for name, present in cpu_features().items() if present]
    return f"{cpu_model()} ({', '.join(features) or 'no AVX2'}; {platform.machine()}, {torch.get_num_threads()} threads)"


def describe_cpu() -> str:
    """One line for benchmark output: the CPU and the dtype `auto` picks on it."""
    return f"{cpu_summary()}; auto dtype {str(resolve_dtype()).removeprefix('torch.')}"
