"""Errors and argument checks shared by every ``atelier`` command.

A wrong argument is a UsageError: ``atelier`` prints one line, ``error: <the argument>: <what is
wrong> ... <what to give instead>``, and exits with status 2, as argparse does for the values it
checks itself (the ``type=`` functions below). A command that cannot go on for another reason
(an existing bundle, a licence, a model that fails to load) raises CommandError and exits with 1.
Both are for the user's mistakes only; a bug still shows its traceback.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from pydantic import ValidationError

from persona.card import PERSONA_ID


class CommandError(Exception):
    """A command cannot go on; the message says why and what to do."""

    exit_status = 1


class UsageError(CommandError):
    """A command-line argument is wrong; the message names it and says what to give instead."""

    exit_status = 2


def shown(value: object, limit: int = 40) -> str:
    """``repr(value)``, cut short: a 15,000-character argument is not echoed back whole."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value):,} characters)"
    return repr(value)


def check_brief(text: str, example: str) -> str:
    """A brief with words in it (an empty one is usually an unset shell variable)."""
    if not text.strip():
        raise UsageError(f"the brief is empty: say what you want in a few words, e.g. {example}")
    return text


def check_range(flag: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise UsageError(f"{flag} must be between {low} and {high}, got {value}")


def brief_problems(error: ValidationError, flags: dict[str, str]) -> UsageError:
    """A brief model's validation error in the command line's words: ``--seed: ...`` for the field
    ``seed``, ``the brief: ...`` for ``text``; `flags` renames fields (``{"n": "--count"}``)."""
    messages = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "text"
        flag = flags.get(name, "the brief" if name == "text" else f"--{name.replace('_', '-')}")
        messages.append(f"{flag}: {problem['msg'].removeprefix('Value error, ')} (got {shown(problem.get('input'))})")
    return UsageError("; ".join(messages))


def check_output_folder(path: Path, flag: str = "--out") -> None:
    """`path` is a folder, or can be made: nothing on the way to it is a file, and it can be written."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path} is a file, not a folder: give a folder to write into (a missing one is made)")
    _check_writable(path, flag)


def check_output_file(path: Path, flag: str, suffixes: tuple[str, ...]) -> None:
    """`path` can be written as a file ending in one of `suffixes`."""
    wanted = " or ".join(suffixes)
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder: give a file name ending in {wanted}, e.g. {path / ('card' + suffixes[-1])}")
    if path.suffix.lower() not in suffixes:
        raise UsageError(f"{flag} {path}: the file name must end in {wanted}, got {path.suffix or 'no suffix'!r}")
    _check_writable(path.parent, flag, path)


def _check_writable(folder: Path, flag: str, given: Path | None = None) -> None:
    """The nearest existing folder on the way to `folder` is a folder this process can write in."""
    given = given or folder
    nearest = next(candidate for candidate in (folder.absolute(), *folder.absolute().parents) if candidate.exists())
    if not nearest.is_dir():
        raise UsageError(f"{flag} {given}: {nearest} is a file, so nothing can be written under it; give another path")
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {given}: no permission to write in {nearest}; give a path you can write to")


# ------------------------------------------------------------ argparse types (exit status 2)


def port_argument(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a port number: give 1-65535, e.g. 8400") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, got {value}")
    return value


def persona_id_argument(text: str) -> str:
    if not PERSONA_ID.match(text):
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a persona id: lower-case letters, digits, '-' or '_' "
                                         "(at most 64), e.g. haeun; `atelier persona list` shows them")
    return text


def fan_id_argument(text: str) -> str:
    from persona.memory.records import FAN_ID

    if not FAN_ID.match(text):
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a fan id: 1-128 letters, digits, '_', '.', '@' or '-', "
                                         "starting with a letter or digit")
    return text


def host_argument(text: str) -> str:
    if not text.strip() or any(character.isspace() for character in text):
        raise argparse.ArgumentTypeError(f"{shown(text)} is not an address: give e.g. 127.0.0.1, 0.0.0.0 or localhost")
    return text


MAX_DURATION_S = 10 * 365 * 86400


def duration(text: str) -> float:
    """Seconds, or a number with a unit: 90s, 30m, 12h, 7d."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a duration: use seconds or 90s, 30m, 12h, 7d") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"a duration must be a positive number, got {shown(text)}")
    if seconds > MAX_DURATION_S:
        raise argparse.ArgumentTypeError(f"a duration must be at most 10 years (3650d), got {shown(text)}")
    return seconds
