"""Settings from YAML files and ATELIER_* environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from persona.engine.settings import CONFIGS_DIR, ConfigError, load_settings


def test_default_config_is_the_embedded_cpu_setup():
    settings = load_settings(environ={})
    assert settings.persona == "haeun"
    assert settings.dialogue.backend == "local" and settings.dialogue.model_dir is None
    assert settings.personas_dir == CONFIGS_DIR / "personas"
    assert settings.dialogue.generation.repetition_penalty > 1.0


def test_gpu_config_points_at_an_openai_compatible_server():
    settings = load_settings(CONFIGS_DIR / "gpu.yaml", environ={})
    assert settings.dialogue.backend == "openai"
    assert settings.dialogue.base_url.startswith("http://") and settings.dialogue.model == "exaone"


def test_one_environment_variable_switches_the_backend():
    settings = load_settings(environ={"ATELIER_DIALOGUE__BACKEND": "openai", "ATELIER_DIALOGUE__GENERATION__TEMPERATURE": "0.2"})
    assert settings.dialogue.backend == "openai" and settings.dialogue.generation.temperature == 0.2


def test_config_file_from_the_environment_and_relative_paths(tmp_path):
    (tmp_path / "mine.yaml").write_text("personas_dir: cards\ndialogue:\n  model_dir: models/exaone\n")
    settings = load_settings(environ={"ATELIER_CONFIG": str(tmp_path / "mine.yaml")})
    assert settings.personas_dir == tmp_path / "cards"
    assert settings.dialogue.model_dir == tmp_path / "models" / "exaone"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"ATELIER_DIALOGUE__BACKEND": "llama"}, r"environment variable ATELIER_DIALOGUE__BACKEND: dialogue.backend: Input should be 'local' or 'openai' \(got 'llama'\)"),
        ({"ATELIER_DIALOGUE__GENERATION__TOP_P": "high"}, r"ATELIER_DIALOGUE__GENERATION__TOP_P: dialogue.generation.top_p: .*valid number"),
        ({"ATELIER_DIALOGUE__BASE_URL": "localhost:8000"}, r"dialogue.base_url: String should match pattern"),
        ({"ATELIER_DIALOGE__BACKEND": "openai"}, r"ATELIER_DIALOGE__BACKEND: dialoge: unknown field"),
    ],
)
def test_bad_environment_values_name_the_variable(environ, expected):
    with pytest.raises(ConfigError, match=expected):
        load_settings(environ=environ)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dialogue:\n  context_tokens: 12\n", r"bad.yaml: dialogue.context_tokens: Input should be greater than or equal to 256 \(got 12\)"),
        ("dialogue:\n  generation:\n    temperature: hot\n", r"bad.yaml: dialogue.generation.temperature: .*valid number"),
        ("persona: [1, 2\n", r"bad.yaml: not valid YAML"),
        ("- just\n- a list\n", r"bad.yaml: expected a mapping of settings, got list"),
        ("dialog: {}\n", r"bad.yaml: dialog: unknown field"),
    ],
)
def test_bad_file_values_name_the_file_and_key(tmp_path, text, expected):
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_settings(tmp_path / "bad.yaml", environ={})


def test_a_missing_config_file_says_how_to_choose_one(tmp_path):
    with pytest.raises(ConfigError, match=r"does not exist \(set --config or ATELIER_CONFIG\)"):
        load_settings(tmp_path / "nope.yaml", environ={})


def test_shipped_configs_are_valid():
    shipped = sorted(path.name for path in Path(CONFIGS_DIR).glob("*.yaml"))
    assert {"default.yaml", "gpu.yaml"} <= set(shipped), shipped  # an empty glob must not pass
    for name in shipped:
        settings = load_settings(Path(CONFIGS_DIR) / name, environ={})
        assert settings.persona == "haeun", name
