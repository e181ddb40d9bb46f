"""The studio's library: every artifact made in the studio, kept across restarts.

    library = Library(root)
    artifact = library.add("print", "Celestial garden", {"brief": "...", "size": 1024}, [tile_png], seed=7)
    library.get(artifact.id).files            # absolute paths under root/<id>/
    library.search("garden", kind="print")   # newest first

Each artifact is one row in ``root/library.db`` (SQLite, WAL) and one folder ``root/<id>/``
holding copies of its files. Adding is all or nothing: files are copied into a staging
folder, the row is written and the folder renamed into place in one transaction, and
leftovers of an add that crashed are removed when the library is next opened.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import shutil
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KIND = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
ARTIFACT_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{8}$")
STAGING_PREFIX = ".staging-"
MAX_TITLE_CHARS = 200

SCHEMA = """
create table if not exists artifacts (
    id text primary key,
    kind text not null,
    title text not null,
    created_at text not null,
    seed integer,
    settings text not null,
    files text not null
);
create index if not exists artifacts_by_time on artifacts (created_at desc);
"""


class LibraryError(ValueError):
    """An artifact could not be added: the message names the argument and what was expected."""


class ArtifactNotFound(LookupError):
    """No artifact has this id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0] if self.args else "artifact not found"


@dataclass(frozen=True)
class Artifact:
    id: str
    kind: str
    title: str
    created_at: dt.datetime  # UTC
    seed: int | None
    settings: dict[str, Any]
    files: list[Path]  # absolute, inside the library

    @property
    def folder(self) -> Path:
        return self.files[0].parent if self.files else Path()


class Library:
    def __init__(self, root: Path):
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # studio handlers run on several threads; one connection
        self._db = sqlite3.connect(self.root / "library.db", check_same_thread=False, isolation_level=None)
        self._db.execute("pragma journal_mode=wal")
        self._db.executescript(SCHEMA)
        self._remove_leftovers()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def add(self, kind: str, title: str, settings: dict, files: list[Path], seed: int | None = None) -> Artifact:
        """Copy `files` in and record them with the settings that made them (all or nothing)."""
        kind, title, settings_json, sources, seed = _checked(kind, title, settings, files, seed)
        artifact_id = _new_id()
        staging = self.root / f"{STAGING_PREFIX}{artifact_id}"
        final = self.root / artifact_id
        names = _file_names(sources)
        try:
            staging.mkdir()
            for source, name in zip(sources, names):
                shutil.copy2(source, staging / name)
            created_at = dt.datetime.now(dt.timezone.utc)
            with self._lock:
                self._db.execute("begin immediate")
                try:
                    self._db.execute(
                        "insert into artifacts (id, kind, title, created_at, seed, settings, files) values (?, ?, ?, ?, ?, ?, ?)",
                        (artifact_id, kind, title, created_at.isoformat(), seed, settings_json, json.dumps(names)),
                    )
                    staging.rename(final)
                    self._db.execute("commit")
                except BaseException:
                    self._db.execute("rollback")
                    if final.exists():
                        final.rename(staging)
                    raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return Artifact(artifact_id, kind, title, created_at, seed, json.loads(settings_json), [final / name for name in names])

    def _remove_leftovers(self) -> None:
        """Staging folders of adds that crashed, and folders whose row was never committed."""
        known = {row[0] for row in self._db.execute("select id from artifacts")}
        for path in self.root.iterdir():
            if path.is_dir() and (path.name.startswith(STAGING_PREFIX) or (ARTIFACT_ID.match(path.name) and path.name not in known)):
                shutil.rmtree(path, ignore_errors=True)

    # ------------------------------------------------------------------ reading

    def get(self, artifact_id: str) -> Artifact:
        if not isinstance(artifact_id, str) or not ARTIFACT_ID.match(artifact_id.strip()):
            raise ArtifactNotFound(f"{artifact_id!r} is not an artifact id (expected e.g. '20261104-153012-1a2b3c4d')")
        with self._lock:
            row = self._db.execute("select * from artifacts where id = ?", (artifact_id.strip(),)).fetchone()
        if row is None:
            raise ArtifactNotFound(f"no artifact {artifact_id!r} in the library at {self.root}")
        return self._artifact(row)

    def search(self, text: str = "", kind: str | None = None, limit: int = 100) -> list[Artifact]:
        """Artifacts whose title, kind, id or settings contain every word of `text`, newest first."""
        clauses, values = [], []
        for word in (text or "").split():
            clauses.append("(title || ' ' || kind || ' ' || id || ' ' || settings) like ? escape '\\'")
            values.append("%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        if kind:
            clauses.append("kind = ?")
            values.append(kind)
        where = f"where {' and '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._db.execute(f"select * from artifacts {where} order by created_at desc, rowid desc limit ?", (*values, max(0, int(limit)))).fetchall()
        return [self._artifact(row) for row in rows]

    def kinds(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._db.execute("select distinct kind from artifacts order by kind")]

    def _artifact(self, row: tuple) -> Artifact:
        artifact_id, kind, title, created_at, seed, settings, files = row
        folder = self.root / artifact_id
        return Artifact(artifact_id, kind, title, dt.datetime.fromisoformat(created_at), seed, json.loads(settings), [folder / name for name in json.loads(files)])


def _new_id() -> str:
    """Sortable by time, unique without coordination: '20261104-153012-1a2b3c4d'."""
    return f"{dt.datetime.now(dt.timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"


def _checked(kind: Any, title: Any, settings: Any, files: Any, seed: Any) -> tuple[str, str, str, list[Path], int | None]:
    if not isinstance(kind, str) or not KIND.match(kind):
        raise LibraryError(f"kind: expected a short lower-case name such as 'print' or 'composition', got {kind!r}")
    if not isinstance(title, str) or not title.strip():
        raise LibraryError("title: expected a non-empty text")
    if len(title) > MAX_TITLE_CHARS:
        raise LibraryError(f"title: expected at most {MAX_TITLE_CHARS} characters, got {len(title)}")
    if not isinstance(settings, dict):
        raise LibraryError(f"settings: expected a dict of the settings that made the artifact, got {type(settings).__name__}")
    try:
        settings_json = json.dumps(settings, ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise LibraryError(f"settings: must be JSON data (text, numbers, lists, dicts): {error}") from None
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise LibraryError(f"seed: expected an integer or None, got {seed!r}")
    if isinstance(files, (str, Path)) or not isinstance(files, (list, tuple)):
        raise LibraryError(f"files: expected a list of paths, got {type(files).__name__}")
    sources = []
    for index, file in enumerate(files):
        path = Path(file)
        if not path.is_file():
            raise LibraryError(f"files[{index}]: {path} is not a file")
        sources.append(path)
    return kind, title.strip(), settings_json, sources, seed


def _file_names(sources: list[Path]) -> list[str]:
    """Each file keeps its name; a name seen before gets a number in front."""
    names: list[str] = []
    for index, source in enumerate(sources):
        name = source.name.lstrip(".") or "file"  # no hidden files
        candidate, number = name, index + 1
        while candidate in names:
            candidate, number = f"{number}-{name}", number + 1
        names.append(candidate)
    return names
