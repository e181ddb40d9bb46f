"""Bad input to every `atelier` command ends in one clear line, never a traceback: empty,
oversized and wrongly typed arguments, output paths that are files, and configured model
folders that are missing. A wrong argument exits with 2 (as argparse does), any other problem
the user can fix with 1. All of them fail before a model loads or anything is written.

Most cases run the real entry function, `serving.cli.main`, in this process; a few run the
console script itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from PIL import Image

from conftest import REPO, atelier
from pipelines.dialogue import DialogueConfig, DialogueError, create_backend, resolve_tokenizer_dir
from serving.cli import main

LONG = "flowers on Venus " * 900  # 15,300 characters; briefs take 2,000


@pytest.fixture
def paths(tmp_path, monkeypatch) -> dict[str, str]:
    """Placeholders in a case's arguments: an existing FILE, a DIR, an OUT folder still to be
    made, an IMAGE, a CONFIG whose model folders are all missing."""
    monkeypatch.delenv("ATELIER_CONFIG", raising=False)
    monkeypatch.setenv("ATELIER_MEMORY__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ATELIER_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "dir").mkdir()
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "folder.yaml").mkdir()
    Image.new("RGB", (8, 8), "#D90429").save(tmp_path / "image.png")
    missing = tmp_path / "models-not-here"
    config = {
        "personas_dir": str(REPO / "configs" / "personas"),
        "dialogue": {"backend": "local", "model_dir": str(missing / "dialogue"), "tokenizer_dir": str(missing / "tokenizer")},
        "fashion": {"diffusion": {"model_dir": str(missing / "sdxl"), "controlnet_dir": str(missing / "controlnet")}},
        "music": {"musicgen": {"model_dir": str(missing / "musicgen-melody")}},
    }
    (tmp_path / "missing-models.yaml").write_text(yaml.safe_dump(config))
    return {"FILE": str(tmp_path / "file"), "DIR": str(tmp_path / "dir"), "OUT": str(tmp_path / "out"), "IMAGE": str(tmp_path / "image.png"),
            "FOLDER.png": str(tmp_path / "folder.png"), "FOLDER.yaml": str(tmp_path / "folder.yaml"),
            "CONFIG": str(tmp_path / "missing-models.yaml"), "MISSING": str(missing), "LONG": LONG}


def substituted(arguments: list[str], paths: dict[str, str]) -> list[str]:
    placeholder = re.compile("|".join(re.escape(name) for name in sorted(paths, key=len, reverse=True)))
    return [placeholder.sub(lambda match: paths[match.group()], argument) for argument in arguments]


def run_main(capsys, arguments: list[str]) -> tuple[int, str]:
    try:
        status = main(arguments)
    except SystemExit as exit:  # argparse's own checks
        status = exit.code
    return status, capsys.readouterr().err


def assert_clean(status: int, stderr: str, expected_status: int, *expected: str) -> None:
    assert status == expected_status, stderr
    assert "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") or (last.startswith("atelier ") and ": error: " in last), stderr
    for text in expected:
        assert text in last, f"{text!r} not in {last!r}"


BAD_ARGUMENTS = [
    # design
    (["design", "", "--looks", "2", "--out", "OUT"], 2, ["the brief is empty", "atelier design"]),
    (["design", "   ", "--out", "OUT"], 2, ["the brief is empty"]),
    (["design", "LONG", "--out", "OUT"], 2, ["the brief", "at most 2000 characters", "15,300 characters"]),
    (["design", "x", "--out", "FILE"], 2, ["--out", "is a file, not a folder"]),
    (["design", "x", "--out", "FILE/sub"], 2, ["--out", "is a file"]),
    (["design", "x", "--looks", "0", "--out", "OUT"], 2, ["--looks must be between 1 and 200, got 0"]),
    (["design", "x", "--looks", "two", "--out", "OUT"], 2, ["argument --looks", "invalid int value"]),
    (["design", "x", "--looks", "2", "--candidates", "0", "--out", "OUT"], 2, ["--candidates must be between"]),
    (["design", "x", "--seed", "-1", "--out", "OUT"], 2, ["--seed", "greater than or equal to 0"]),
    (["design", "x", "--steps", "0", "--out", "OUT"], 2, ["--steps"]),
    (["design", "x", "--size", "100000", "--out", "OUT"], 2, ["--size"]),
    (["design", "x", "--persona", "", "--out", "OUT"], 2, ["argument --persona", "not a persona id"]),
    (["design", "x", "--persona", "nobody", "--out", "OUT"], 1, ["no persona 'nobody'", "haeun"]),
    # prints
    (["prints", "", "--count", "2", "--out", "OUT"], 2, ["the brief is empty"]),
    (["prints", "LONG", "--count", "2", "--out", "OUT"], 2, ["the brief", "at most 2000 characters"]),
    (["prints", "x", "--count", "2", "--out", "FILE"], 2, ["--out", "is a file, not a folder"]),
    (["prints", "x", "--count", "0", "--out", "OUT"], 2, ["--count must be between"]),
    (["prints", "x", "--count", "1.5", "--out", "OUT"], 2, ["argument --count"]),
    (["prints", "x", "--size", "8", "--out", "OUT"], 2, ["--size must be between 64 and 4096"]),
    # compose
    (["compose", "", "--out", "OUT"], 2, ["the brief is empty"]),
    (["compose", "LONG", "--out", "OUT"], 2, ["the brief", "at most 2000 characters"]),
    (["compose", "x", "--out", "FILE"], 2, ["--out", "is a file, not a folder"]),
    (["compose", "x", "--minutes", "three", "--out", "OUT"], 2, ["argument --minutes"]),
    (["compose", "x", "--genre", "LONG", "--out", "OUT"], 2, ["--genre", "15,300 characters"]),
    (["compose", "--plan", "DIR", "--out", "OUT"], 1, ["--plan", "cannot read it"]),
    # chat, memory, token, serving
    (["chat", "--fan", ""], 2, ["argument --fan", "not a fan id"]),
    (["chat", "--persona", "Haeun Kim"], 2, ["argument --persona"]),
    (["memory", "show", "--fan", "LONG"], 2, ["argument --fan", "15,300 characters"]),
    (["memory", "forget", "--fan", "mina", "--persona", "nobody"], 1, ["no persona 'nobody'"]),
    (["token", "issue", "--fan", ""], 2, ["argument --fan"]),
    (["token", "issue", "--fan", "mina", "--ttl", "nan"], 2, ["argument --ttl", "positive"]),
    (["serve", "--port", "99999"], 2, ["argument --port", "1-65535"]),
    (["up", "--port", "http"], 2, ["argument --port"]),
    (["serve", "--host", ""], 2, ["argument --host"]),
    (["protocol", "schema", "sideways"], 2, ["argument direction"]),
    # persona cards
    (["persona", "import", "FOLDER.png"], 1, ["a folder, not a card file"]),
    (["persona", "import", "DIR/gone.png"], 1, ["no such file"]),
    (["persona", "import", "IMAGE", "--id", "Not An Id"], 2, ["argument --id"]),
    (["persona", "export", "haeun", "DIR"], 2, ["output", "is a folder"]),
    (["persona", "export", "haeun", "FILE/haeun.png"], 2, ["output", "is a file"]),
    (["persona", "export", "haeun", "DIR/haeun.txt"], 2, [".json or .png"]),
    (["persona", "export", "haeun", "DIR/haeun.json", "--avatar", "IMAGE"], 2, ["--avatar", ".png"]),
    (["persona", "export", "haeun", "DIR/haeun.png", "--avatar", "FILE"], 1, ["avatar", "not an image"]),
    (["persona", "export", "", "DIR/haeun.json"], 2, ["argument persona"]),
    # settings files
    (["--config", "DIR", "persona", "list"], 1, ["config file", "is a folder"]),
    (["doctor", "--config", "DIR"], 1, ["config file", "is a folder"]),
    (["persona", "list", "--config", "DIR/none.yaml"], 1, ["config file", "does not exist"]),
]


@pytest.mark.parametrize("arguments, status, expected", BAD_ARGUMENTS, ids=lambda value: " ".join(value)[:60] if isinstance(value, list) else None)
def test_a_bad_argument_is_one_clear_line(capsys, paths, arguments, status, expected):
    got, stderr = run_main(capsys, substituted(arguments, paths))
    assert_clean(got, stderr, status, *expected)
    assert not Path(paths["OUT"]).exists(), "nothing is written"


def test_validating_a_folder_reports_it(capsys, paths):
    assert main(["persona", "validate", paths["FOLDER.yaml"], "haeun"]) == 1
    out = capsys.readouterr().out
    assert f"invalid {paths['FOLDER.yaml']}:" in out and "a folder, not a persona file" in out and "ok      haeun" in out


MISSING_MODELS = [
    (["chat"], ["dialogue.model_dir", "dialogue.tokenizer_dir"]),
    (["serve"], ["dialogue.model_dir", "dialogue.tokenizer_dir"]),
    (["up"], ["dialogue.model_dir", "fashion.diffusion.model_dir", "fashion.diffusion.controlnet_dir", "music.musicgen.model_dir"]),
    (["design", "flowers", "--looks", "1", "--out", "OUT"], ["fashion.diffusion.model_dir", "--no-render"]),
    (["design", "flowers", "--looks", "1", "--llm", "--no-render", "--out", "OUT"], ["dialogue.model_dir"]),
    (["compose", "city lights", "--minutes", "0.25", "--out", "OUT"], ["music.musicgen.model_dir"]),
    (["compose", "city lights", "--plan-only", "--llm"], ["dialogue.model_dir"]),
]


@pytest.mark.parametrize("arguments, settings", MISSING_MODELS, ids=lambda value: " ".join(value)[:40] if isinstance(value, list) else None)
def test_a_missing_model_folder_names_its_setting_and_file(capsys, paths, arguments, settings):
    got, stderr = run_main(capsys, substituted([*arguments, "--config", "CONFIG"], paths))
    assert_clean(got, stderr, 1, *settings, "does not exist", paths["MISSING"], f"set in {paths['CONFIG']}")
    assert len(stderr.strip().splitlines()) == 1, "no log line before it: nothing started loading"
    if "--no-render" in arguments or arguments[0] == "compose":
        assert "fashion.diffusion" not in stderr, "a model this run does not use is not asked for"
    assert not Path(paths["OUT"]).exists()


def test_a_missing_folder_set_by_the_environment_names_the_variable(capsys, paths, monkeypatch):
    monkeypatch.setenv("ATELIER_DIALOGUE__MODEL_DIR", paths["MISSING"])
    got, stderr = run_main(capsys, ["chat"])
    assert_clean(got, stderr, 1, "dialogue.model_dir", "environment variable ATELIER_DIALOGUE__MODEL_DIR")


def test_the_loaders_name_the_setting_of_a_missing_folder(tmp_path):
    """Beyond the command line (the server's start, the studio): the dialogue loaders say it too."""
    with pytest.raises(DialogueError, match=r"tokenizer folder .*gone does not exist: set dialogue\.tokenizer_dir"):
        resolve_tokenizer_dir(DialogueConfig(backend="openai", tokenizer_dir=tmp_path / "gone"), tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DialogueError, match=r"empty is not a transformers model folder \(no config\.json\): set dialogue\.model_dir"):
        create_backend(DialogueConfig(model_dir=tmp_path / "empty"), tmp_path)


# The console script itself, as a user runs it.

SCRIPT_CASES = [
    (["design", "", "--looks", "2", "--out", "OUT"], 2, ["the brief is empty"]),
    (["design", "LONG", "--out", "OUT"], 2, ["the brief", "at most 2000 characters"]),
    (["design", "x", "--looks", "many", "--out", "OUT"], 2, ["argument --looks"]),
    (["prints", "x", "--count", "2", "--out", "FILE"], 2, ["--out", "is a file, not a folder"]),
    (["compose", "", "--out", "OUT"], 2, ["the brief is empty"]),
    (["up", "--config", "CONFIG"], 1, ["dialogue.model_dir", "music.musicgen.model_dir"]),
]


@pytest.mark.parametrize("arguments, status, expected", SCRIPT_CASES, ids=lambda value: " ".join(value)[:40] if isinstance(value, list) else None)
def test_the_console_script_fails_cleanly(paths, arguments, status, expected):
    result = atelier(*substituted(arguments, paths), env={"ATELIER_CACHE_DIR": paths["DIR"]}, timeout=120)
    assert_clean(result.returncode, result.stderr, status, *expected)
    assert not Path(paths["OUT"]).exists()


def test_chat_with_a_gpu_config_whose_tokenizer_folder_is_missing(paths, tmp_path):
    """The served model's tokenizer counts prompt budgets: a vLLM config whose tokenizer folder
    is not on this machine says so, and which setting to change, instead of transformers'
    'Repo id must be in the form ...'."""
    gpu = yaml.safe_load((REPO / "configs" / "gpu.yaml").read_text())
    gpu["dialogue"]["tokenizer_dir"] = paths["MISSING"]
    gpu["personas_dir"] = str(REPO / "configs" / "personas")
    (tmp_path / "gpu.yaml").write_text(yaml.safe_dump(gpu))
    result = atelier("chat", "--config", str(tmp_path / "gpu.yaml"), env={"ATELIER_CACHE_DIR": paths["DIR"]}, stdin="hello\n", timeout=120)
    assert_clean(result.returncode, result.stderr, 1, "dialogue.tokenizer_dir", paths["MISSING"], str(tmp_path / "gpu.yaml"))
    assert "Repo id" not in result.stderr
