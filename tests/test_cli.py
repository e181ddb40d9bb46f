"""The real `atelier` command, as a user runs it."""

from __future__ import annotations

import json

import yaml

from conftest import PERSONAS, atelier
from persona.card import load_persona
from pipelines.cpu import cpu_model, native_bf16, resolve_dtype


def test_help_lists_the_commands():
    result = atelier("--help")
    assert result.returncode == 0
    for command in ("chat", "persona", "models"):
        assert command in result.stdout
    assert "--persona" in atelier("chat", "--help").stdout


def test_terminal_chat_streams_in_character(cache_dir, model_dir):
    result = atelier(
        "chat", "--name", "Jisoo",
        env={"ATELIER_CACHE_DIR": str(cache_dir), "ATELIER_DIALOGUE__GENERATION__MAX_TOKENS": "24"},
        stdin="Hi Haeun! How is Bobbin?\n/prompt\n/reset\nWhat fabric do you love?\n/quit\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    card = yaml.safe_load((PERSONAS / "haeun.yaml").read_text())
    assert card["voice"]["greetings"][0] in result.stdout
    replies = [line.split("Haeun: ", 1)[1] for line in result.stdout.splitlines() if "Haeun: " in line][1:]
    assert len(replies) == 2 and all(reply.strip() for reply in replies), result.stdout
    assert "cat-bobbin" in result.stdout, "the /prompt report names the lore that Bobbin triggered"
    assert "(conversation forgotten)" in result.stdout
    # The start names the dtype chosen for this CPU; the terminal shows no library warnings.
    dtype = str(resolve_dtype("auto")).removeprefix("torch.")
    why = "bf16 is native here" if native_bf16() else "bf16 would be emulated here"
    assert f"Dialogue model in {dtype} ({why}) on {cpu_model()}" in result.stderr
    assert "Warning" not in result.stdout + result.stderr


def test_chat_with_an_unknown_persona_fails_clearly(cache_dir):
    result = atelier("chat", "--persona", "nobody", env={"ATELIER_CACHE_DIR": str(cache_dir)})
    assert result.returncode == 1 and "no persona 'nobody'" in result.stderr and "haeun" in result.stderr


def test_unreachable_vllm_is_a_clear_error_in_chat(cache_dir):
    result = atelier(
        "chat",
        env={"ATELIER_CACHE_DIR": str(cache_dir), "ATELIER_DIALOGUE__BACKEND": "openai", "ATELIER_DIALOGUE__BASE_URL": "http://127.0.0.1:9/v1"},
        stdin="hello\n",
    )
    assert "cannot reach the dialogue server at http://127.0.0.1:9/v1" in result.stderr


def test_bad_config_value_names_the_variable():
    result = atelier("persona", "list", env={"ATELIER_DIALOGUE__BACKEND": "llama"})
    assert result.returncode == 1 and "ATELIER_DIALOGUE__BACKEND" in result.stderr


def test_persona_validate(tmp_path):
    ok = atelier("persona", "validate")
    assert ok.returncode == 0 and "ok      haeun" in ok.stdout
    data = yaml.safe_load((PERSONAS / "haeun.yaml").read_text())
    data["voice"]["formality"] = "posh"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    bad = atelier("persona", "validate", str(tmp_path / "bad.yaml"))
    assert bad.returncode == 1 and "voice.formality" in bad.stdout


def test_persona_export_then_import(tmp_path):
    env = {"ATELIER_PERSONAS_DIR": str(tmp_path / "personas")}
    (tmp_path / "personas").mkdir()
    (tmp_path / "personas" / "haeun.yaml").write_text((PERSONAS / "haeun.yaml").read_text())
    for suffix in ("json", "png"):
        exported = atelier("persona", "export", "haeun", str(tmp_path / f"haeun.{suffix}"), env=env)
        assert exported.returncode == 0, exported.stderr
    assert json.loads((tmp_path / "haeun.json").read_text())["spec"] == "chara_card_v3"
    refused = atelier("persona", "import", str(tmp_path / "haeun.png"), env=env)
    assert refused.returncode == 1 and "already exists" in refused.stderr
    imported = atelier("persona", "import", str(tmp_path / "haeun.png"), "--id", "haeun-copy", env=env)
    assert imported.returncode == 0, imported.stderr
    original = load_persona("haeun", tmp_path / "personas")
    copy = load_persona("haeun-copy", tmp_path / "personas")
    assert copy == original.model_copy(update={"id": "haeun-copy"})


def test_import_of_a_corrupt_card_fails_clearly(tmp_path):
    (tmp_path / "card.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage")
    result = atelier("persona", "import", str(tmp_path / "card.png"), env={"ATELIER_PERSONAS_DIR": str(tmp_path)})
    assert result.returncode == 1 and result.stderr.startswith("error: ") and "PNG" in result.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "card.png"], "nothing half-written is left behind"


def test_a_budget_too_small_for_constant_canon_fails_clearly(cache_dir, model_dir):
    result = atelier("chat", env={"ATELIER_CACHE_DIR": str(cache_dir), "ATELIER_DIALOGUE__CONTEXT_TOKENS": "300"}, stdin="hello\n")
    assert result.returncode == 1
    assert "constant canon" in result.stderr and "dialogue.context_tokens" in result.stderr and "Traceback" not in result.stderr


def test_design_makes_a_collection_from_a_brief(tmp_path):
    import zipfile

    import pypdf

    result = atelier("design", "flowers on Venus", "--looks", "3", "--candidates", "9", "--seed", "4", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    folder = tmp_path / "flowers-on-venus"
    assert summary["collection"] == str(folder) and summary["looks"] == 3 and summary["candidates"] == 9
    assert len(list((folder / "looks").iterdir())) == 3 and len(pypdf.PdfReader(folder / "lookbook.pdf").pages) == 4
    assert zipfile.ZipFile(tmp_path / "flowers-on-venus.zip").testzip() is None
    again = atelier("design", "flowers on Venus", "--looks", "3", "--candidates", "9", "--seed", "4", "--out", str(tmp_path))
    assert again.returncode != 0 and "already exists" in again.stderr
    assert "--looks must be between" in atelier("design", "x", "--looks", "0", "--out", str(tmp_path)).stderr


def test_prints_makes_seamless_tiles_that_carry_their_spec(tmp_path):
    from PIL import Image

    from pipelines.fashion.metadata import read_png_metadata
    from pipelines.fashion.prints import is_seamless

    result = atelier("prints", "celestial garden", "--count", "3", "--size", "128", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    tiles = sorted((tmp_path / "celestial-garden").glob("*.png"))
    assert len(tiles) == 3 and json.loads(result.stdout)["tiles"] == 3
    for path in tiles:
        spec, parameters = read_png_metadata(path)
        assert spec.print.type in path.name and spec.print.type != "solid" and "Seed:" in parameters
        assert Image.open(path).size == (128, 128) and is_seamless(Image.open(path).convert("RGB"))
