"""Local model folders named in the settings: the folder checked and its JSON description read,
with errors that say what is missing and which setting to change."""

from __future__ import annotations

import json
from pathlib import Path


def read_model_folder(model_dir: str | Path | None, description_file: str, setting: str, model: str, layout: str,
                      expected: str, error: type[Exception]) -> tuple[Path, object]:
    """(the folder, its parsed `description_file`), or `error`: `model` names the model ('MusicGen
    model'), `layout` the folder format ('transformers model folder'), `expected` what belongs there."""
    if model_dir is None:
        raise error(f"no {model} configured: set {setting} to {expected}")
    folder = Path(model_dir).expanduser()
    if not folder.is_dir():
        raise error(f"{model} folder {folder} does not exist: set {setting} to {expected}")
    path = folder / description_file
    try:
        return folder, json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{folder} is not a {layout} (no {description_file}): set {setting} to {expected}") from None
    except json.JSONDecodeError as json_error:
        raise error(f"{path} is not valid JSON: {json_error}") from None


def folder_problem(model_dir: str | Path, setting: str, model: str, layout: str, markers: tuple[str, ...], expected: str) -> str | None:
    """What is wrong with the folder named by `setting`, in the words of `read_model_folder`, or None
    when it exists and holds one of `markers` (any file when there are none). Cheap: nothing is read."""
    folder = Path(model_dir).expanduser()
    if not folder.is_dir():
        state = "is a file, not a folder" if folder.exists() else "does not exist"
        return f"{model} folder {folder} {state}: set {setting} to {expected}"
    if markers and not any((folder / marker).is_file() for marker in markers):
        return f"{folder} is not a {layout} (no {' or '.join(markers)}): set {setting} to {expected}"
    if not markers and not any(folder.iterdir()):
        return f"{model} folder {folder} is empty: set {setting} to {expected}"
    return None
