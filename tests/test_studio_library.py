"""The studio's library: artifacts with their settings and seed, kept across restarts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from persona.engine.library import Artifact, ArtifactNotFound, Library, LibraryError


def files(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = folder / name
        path.write_bytes(f"contents of {name}".encode())
        paths.append(path)
    return paths


def test_an_artifact_survives_a_restart_with_its_settings_seed_and_files(tmp_path):
    sources = files(tmp_path / "made", "tile.png", "spec.json")
    with Library(tmp_path / "library") as library:
        added = library.add("print", "Celestial garden", {"brief": "flowers on Venus", "size": 1024, "palette": ["#2E3A5C"]}, sources, seed=7)
    sources[0].unlink()  # the library keeps its own copies
    with Library(tmp_path / "library") as reopened:
        artifact = reopened.get(added.id)
    assert isinstance(artifact, Artifact)
    assert (artifact.id, artifact.kind, artifact.title, artifact.seed) == (added.id, "print", "Celestial garden", 7)
    assert artifact.settings == {"brief": "flowers on Venus", "size": 1024, "palette": ["#2E3A5C"]}
    assert artifact.created_at == added.created_at and artifact.created_at.tzinfo is not None
    assert [path.name for path in artifact.files] == ["tile.png", "spec.json"]
    assert all(path.is_absolute() and path.is_relative_to(tmp_path / "library") for path in artifact.files)
    assert artifact.files[0].read_bytes() == b"contents of tile.png"


def test_search_matches_every_word_in_title_kind_or_settings_newest_first(tmp_path):
    made = tmp_path / "made"
    with Library(tmp_path / "library") as library:
        first = library.add("print", "Rain on Seongsu", {"brief": "monsoon puddles"}, files(made, "a.png"), seed=1)
        second = library.add("composition", "Boiled Wool", {"brief": "rain and wool", "mood": "hopeful"}, files(made, "mix.wav"), seed=2)
        third = library.add("look", "Persimmon coat", {"brief": "autumn"}, files(made, "look.png"))
        assert [a.id for a in library.search()] == [third.id, second.id, first.id]
        assert [a.id for a in library.search("rain")] == [second.id, first.id]
        assert [a.id for a in library.search("RAIN wool")] == [second.id]
        assert [a.id for a in library.search("rain", kind="print")] == [first.id]
        # Only in the settings. (A number would be a poor probe: ids hold digits and hex.)
        assert [a.id for a in library.search("hopeful")] == [second.id]
        assert [a.id for a in library.search(kind="composition")] == [second.id]
        assert [a.id for a in library.search(limit=1)] == [third.id]
        assert library.search("100%") == [] and library.search("_") == []  # wildcards are literal
        assert library.kinds() == ["composition", "look", "print"]


def test_same_file_names_are_kept_apart(tmp_path):
    one = files(tmp_path / "one", "front.svg")[0]
    two = files(tmp_path / "two", "front.svg")[0]
    with Library(tmp_path / "library") as library:
        artifact = library.add("design", "Two fronts", {}, [one, two])
    assert [path.name for path in artifact.files] == ["front.svg", "2-front.svg"]
    assert artifact.files[1].read_bytes() == b"contents of front.svg"


@pytest.mark.parametrize(("arguments", "field"), [
    (dict(kind="Print!", title="t", settings={}, files=[]), "kind"),
    (dict(kind="print", title="  ", settings={}, files=[]), "title"),
    (dict(kind="print", title="t", settings={"when": object()}, files=[]), "settings"),
    (dict(kind="print", title="t", settings=[1], files=[]), "settings"),
    (dict(kind="print", title="t", settings={}, files=[], seed="7"), "seed"),
    (dict(kind="print", title="t", settings={}, files="tile.png"), "files"),
    (dict(kind="print", title="t", settings={}, files=[Path("/no/such/tile.png")]), "files[0]"),
])
def test_bad_arguments_are_refused_by_name_and_leave_nothing(tmp_path, arguments, field):
    with Library(tmp_path / "library") as library:
        with pytest.raises(LibraryError, match=rf"^{field.replace('[', '.').replace(']', '.')}:"):
            library.add(**arguments)
        assert library.search() == []
    assert sorted(p.name for p in (tmp_path / "library").iterdir() if p.is_dir()) == []


def test_a_failed_add_leaves_no_row_and_no_folder(tmp_path, monkeypatch):
    sources = files(tmp_path / "made", "a.png", "b.png")
    library = Library(tmp_path / "library")
    library.add("print", "kept", {}, sources[:1])
    copies = []

    def copy_then_fail(source, target):
        copies.append(target)
        if len(copies) == 2:
            raise OSError("disk full")
        Path(target).write_bytes(Path(source).read_bytes())

    monkeypatch.setattr("persona.engine.library.shutil.copy2", copy_then_fail)
    with pytest.raises(OSError, match="disk full"):
        library.add("print", "lost", {}, sources)
    monkeypatch.undo()
    assert [a.title for a in library.search()] == ["kept"]
    folders = [p for p in (tmp_path / "library").iterdir() if p.is_dir()]
    assert len(folders) == 1 and not copies[0].exists()
    library.close()


def test_a_failed_commit_leaves_nothing_and_a_crash_mid_add_is_cleaned_at_open(tmp_path):
    sources = files(tmp_path / "made", "a.png")
    library = Library(tmp_path / "library")
    library._db.execute("create trigger refuse before insert on artifacts begin select raise(abort, 'refused'); end")
    with pytest.raises(sqlite3.DatabaseError, match="refused"):
        library.add("print", "refused", {}, sources)
    assert library.search() == [] and [p for p in library.root.iterdir() if p.is_dir()] == []
    library.close()
    # A crash after the copy, before the commit: a staging folder, or a folder with no row.
    (tmp_path / "library" / ".staging-20260101-000000-00000000").mkdir()
    (tmp_path / "library" / "20260101-000000-0000beef").mkdir()
    with Library(tmp_path / "library") as reopened:
        assert [p for p in reopened.root.iterdir() if p.is_dir()] == []


@pytest.mark.parametrize("artifact_id", ["20260101-000000-00000000", "../../etc", "", "nope", None])
def test_an_unknown_or_malformed_id_is_a_clear_not_found_error(tmp_path, artifact_id):
    with Library(tmp_path / "library") as library:
        with pytest.raises(ArtifactNotFound) as error:
            library.get(artifact_id)
    assert repr(artifact_id) in str(error.value) and not str(error.value).startswith('"')
    assert isinstance(error.value, LookupError)
