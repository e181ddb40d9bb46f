"""Her persona adapter where she is served: the local backend merges it (dialogue.adapter), a
real vLLM CPU server serves it as a LoRA model the OpenAI-compatible backend asks for
(dialogue.lora_models), and a stale one, trained on an older version of her card, is never
used: start-up and `atelier doctor` say so and how to rebuild it.

The adapter is built in conftest (random LoRA weights, not trained), so only "differs from
the base model" and "the same on both backends" are checked, never what she says."""

from __future__ import annotations

import shutil

import pytest
import torch
import yaml

from conftest import PERSONAS, atelier
from persona.adapter import METADATA, shipped_adapter_dir
from persona.card import load_persona
from persona.engine.runtime import persona_adapter, served_adapter, start_runtime
from persona.engine.settings import ConfigError, load_settings
from pipelines.dialogue import ChatMessage, GenerationParams
from pipelines.dialogue.local import LocalBackend
from pipelines.dialogue.openai_compatible import OpenAICompatibleBackend
from serving import doctor

QUESTION = [
    ChatMessage(role="system", content="You are Haeun, a fashion designer and composer in Seoul."),
    ChatMessage(role="user", content="What are you working on this week?"),
]
GREEDY = GenerationParams(max_tokens=24, temperature=0.0)
CANON_EDIT = ("Seongsu-dong, Seoul. When asked", "Seongsu-dong, Seoul, above a bakery. When asked")
PALETTE_EDIT = ('"#2E3A5C"', '"#2E3A5D"')


@pytest.fixture
def personas_dir(tmp_path, haeun_adapter_dir):
    """A copy of her card, with her adapter shipped beside it (where auto finds it)."""
    folder = tmp_path / "personas"
    folder.mkdir()
    shutil.copy(PERSONAS / "haeun.yaml", folder / "haeun.yaml")
    shutil.copytree(haeun_adapter_dir, shipped_adapter_dir(folder, "haeun"))
    return folder


def edit_card(personas_dir, edit: tuple[str, str]) -> None:
    path = personas_dir / "haeun.yaml"
    old, new = edit
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def configure(tmp_path, personas_dir, model_dir):
    """Settings from a config file with these dialogue keys, over the test's copy of her card."""

    def settings(**dialogue):
        config = {"personas_dir": str(personas_dir), "cache_dir": str(tmp_path / "cache"),
                  "dialogue": {"model_dir": str(model_dir), "dtype": "float32", **dialogue}}
        path = tmp_path / "atelier.yaml"
        path.write_text(yaml.safe_dump(config))
        return load_settings(path, environ={})

    return settings


async def reply_after_start(settings) -> tuple[str, list[str], object]:
    """Her greedy reply from a runtime started with `settings`, the start-up lines and the backend's model name."""
    lines: list[str] = []
    runtime = await start_runtime(settings, remember=False, log=lines.append)
    try:
        text, _ = await runtime.backend.complete(QUESTION, GREEDY)
        return text, lines, getattr(runtime.backend, "model", None)
    finally:
        await runtime.aclose()


@pytest.fixture(scope="module")
async def base_reply(local_backend_fp32) -> str:
    text, _ = await local_backend_fp32.complete(QUESTION, GREEDY)
    return text


# --- the local backend ----------------------------------------------------------------------


async def test_the_local_backend_replies_with_her_fresh_adapter_from_auto(configure, personas_dir, base_reply):
    text, lines, _ = await reply_after_start(configure(adapter="auto"))
    assert f"persona adapter for haeun: {shipped_adapter_dir(personas_dir, 'haeun')}" in lines, lines
    assert text != base_reply


async def test_an_adapter_folder_named_in_the_config_is_merged_and_none_is_the_base_model(configure, haeun_adapter_dir, base_reply):
    named, lines, _ = await reply_after_start(configure(adapter=str(haeun_adapter_dir)))
    assert f"persona adapter for haeun: {haeun_adapter_dir} (dialogue.adapter)" in lines, lines
    assert named != base_reply
    off, lines, _ = await reply_after_start(configure(adapter="none"))
    assert any("persona adapter off" in line for line in lines), lines
    assert off == base_reply


async def test_a_canon_edit_makes_her_adapter_stale_so_she_replies_without_it(configure, personas_dir, base_reply):
    edit_card(personas_dir, CANON_EDIT)
    settings = configure(adapter="auto")
    text, lines, _ = await reply_after_start(settings)
    stale = [line for line in lines if "stale" in line]
    assert len(stale) == 1 and "replying without it" in stale[0] and "atelier persona tune haeun" in stale[0], lines
    assert text == base_reply  # the stale adapter was not loaded
    check = doctor.check_persona_adapter(settings)
    assert check.status == "warning" and "stale" in check.detail and check.fix.startswith("atelier persona tune haeun")
    rendered = doctor.render([check])
    assert "warning  persona adapter" in rendered and "fix: atelier persona tune haeun" in rendered


def test_a_palette_edit_keeps_her_adapter_fresh(configure, personas_dir):
    edit_card(personas_dir, PALETTE_EDIT)
    settings = configure(adapter="auto")
    state = persona_adapter(settings, load_persona("haeun", personas_dir))
    assert state.status == "fresh" and state.path == shipped_adapter_dir(personas_dir, "haeun")
    check = doctor.check_persona_adapter(settings)
    assert check.status == "ok" and str(state.path) in check.detail


def test_a_named_adapter_folder_from_an_older_card_is_stale_too(configure, personas_dir, haeun_adapter_dir):
    edit_card(personas_dir, CANON_EDIT)
    state = persona_adapter(configure(adapter=str(haeun_adapter_dir)), load_persona("haeun", personas_dir))
    assert state.status == "stale" and state.path is None and "dialogue.adapter" in state.message


def test_an_adapter_trained_on_another_base_model_is_not_loaded(configure, personas_dir, tmp_path, model_dir):
    other = tmp_path / "other-model"
    shutil.copytree(model_dir, other)
    settings = configure(adapter="auto", model_dir=str(other))
    state = persona_adapter(settings, load_persona("haeun", personas_dir), other.name)
    assert state.status == "other-model" and state.path is None and f"trained on {model_dir.name}, not on other-model" in state.message
    check = doctor.check_persona_adapter(settings)
    assert check.status == "warning" and check.fix.startswith("atelier persona tune haeun")


def test_without_an_adapter_doctor_says_how_to_train_one(configure, personas_dir):
    shutil.rmtree(shipped_adapter_dir(personas_dir, "haeun"))
    check = doctor.check_persona_adapter(configure(adapter="auto"))
    assert check.status == "info" and "no persona adapter" in check.detail and check.fix == "atelier persona tune haeun"


def test_a_folder_that_is_not_an_adapter_is_a_config_error_naming_the_key(configure, tmp_path, model_dir):
    settings = configure(adapter=str(model_dir))  # a model folder, not a LoRA
    with pytest.raises(ConfigError, match=r"not a LoRA adapter folder \(no adapter_config.json\): set dialogue.adapter to .*"
                                          r"\(dialogue.adapter is set in .*atelier.yaml\)"):
        settings.check_model_folders(dialogue=True)
    with pytest.raises(ConfigError, match="dialogue.adapter"):
        persona_adapter(settings, load_persona("haeun", settings.personas_dir))
    checks = {check.name: check for check in doctor.check_model_folders(settings)}
    assert checks["dialogue.adapter"].status == "missing" and "dialogue.adapter" in checks["dialogue.adapter"].fix
    missing = configure(adapter=str(tmp_path / "no-such-adapter"))
    with pytest.raises(ConfigError, match="persona adapter folder .*no-such-adapter does not exist: set dialogue.adapter"):
        missing.check_model_folders(dialogue=True)
    result = atelier("chat", "--config", str(tmp_path / "atelier.yaml"), stdin="hello\n", timeout=120)
    assert result.returncode == 1 and "dialogue.adapter" in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_adapter_settings_read_from_a_file(configure, personas_dir):
    assert configure().dialogue.adapter == "auto"  # the default
    assert configure(adapter=None).dialogue.adapter == "none"
    assert configure(adapter="adapters/haeun").dialogue.adapter == personas_dir.parent / "adapters" / "haeun"  # relative to the file
    assert configure(lora_models={"haeun": "haeun-v2"}).dialogue.lora_models == {"haeun": "haeun-v2"}


# --- vLLM serving her adapter as a LoRA model ---------------------------------------------


def openai_settings(configure, vllm_server, **dialogue):
    return configure(backend="openai", base_url=vllm_server.base_url, model="smollm2", **dialogue)


@pytest.mark.vllm
async def test_vllm_serves_her_adapter_as_the_lora_model_her_replies_ask_for(configure, vllm_server, model_dir, haeun_adapter_dir, tokenizer):
    settings = openai_settings(configure, vllm_server, lora_models={"haeun": "haeun"})
    served, lines, model = await reply_after_start(settings)
    assert model == "haeun" and f"her replies ask for the served LoRA 'haeun' ({haeun_adapter_dir})" in lines, lines
    base_backend = OpenAICompatibleBackend(vllm_server.base_url, "smollm2", timeout_s=60)
    try:
        base, _ = await base_backend.complete(QUESTION, GREEDY)
    finally:
        await base_backend.aclose()
    assert served != base
    # The same adapter merged into the local model in float32 starts her reply the same way.
    local = LocalBackend.from_pretrained(model_dir, dtype=torch.float32, adapter_dir=haeun_adapter_dir)
    try:
        merged, _ = await local.complete(QUESTION, GREEDY)
    finally:
        await local.aclose()
    first = 8
    assert tokenizer.encode(served)[:first] == tokenizer.encode(merged)[:first], (served, merged)
    check = doctor.check_persona_adapter(settings)
    assert check.status == "ok" and "'haeun'" in check.detail


@pytest.mark.vllm
async def test_a_stale_served_lora_is_not_asked_for(configure, personas_dir, vllm_server):
    edit_card(personas_dir, CANON_EDIT)  # the server's LoRA was trained on her card before this edit
    settings = openai_settings(configure, vllm_server, lora_models={"haeun": "haeun"})
    state = served_adapter(settings.dialogue, load_persona("haeun", personas_dir))
    assert state.status == "stale" and state.model is None and "replying from 'smollm2'" in state.message
    _, lines, model = await reply_after_start(settings)
    assert model == "smollm2" and state.message in lines, lines
    check = doctor.check_persona_adapter(settings)
    assert check.status == "warning" and "--lora-modules haeun=" in check.fix


@pytest.mark.vllm
def test_a_lora_the_server_does_not_serve_is_a_doctor_warning(configure, personas_dir, vllm_server):
    settings = openai_settings(configure, vllm_server, lora_models={"haeun": "nobody"})
    state = served_adapter(settings.dialogue, load_persona("haeun", personas_dir))
    assert state.status == "missing" and state.model is None and "haeun" in state.message  # the names it does serve
    check = doctor.check_persona_adapter(settings)
    assert check.status == "warning" and "--lora-modules nobody=" in check.fix


def test_an_unreachable_server_leaves_the_served_name_unchecked(configure, personas_dir):
    from server_process import free_port

    settings = configure(backend="openai", base_url=f"http://127.0.0.1:{free_port()}/v1", lora_models={"haeun": "haeun"})
    state = served_adapter(settings.dialogue, load_persona("haeun", personas_dir))
    assert state.status == "unchecked" and state.model == "haeun"
    assert served_adapter(configure(backend="openai").dialogue, load_persona("haeun", personas_dir)).status == "off"
