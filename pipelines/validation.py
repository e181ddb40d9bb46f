"""Readable messages for invalid input: the field's path and what was expected."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError


def describe_validation_error(error: ValidationError, source: str | Callable[[str], str]) -> str:
    """One line per problem, e.g. ``haeun.yaml: voice.formality: Input should be 'casual' ...``.

    ``source`` names where the data came from; a function gets the field's dotted path,
    for data merged from several places (a file and environment variables).
    """
    lines = []
    for problem in error.errors():
        path = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown field (check the spelling)"
        shown = problem.get("input")
        quiet = problem["type"] in ("missing", "extra_forbidden") or isinstance(shown, (dict, list))
        if quiet:
            got = ""
        elif isinstance(shown, str) and len(shown) > 80:  # a 15,000-character value is not echoed back whole
            got = f" (got {shown[:40]!r}... ({len(shown):,} characters))"
        else:
            got = f" (got {shown!r})"
        where = source(path) if callable(source) else source
        lines.append(f"{where}: {path}: {message}{got}")
    return "\n".join(lines)
