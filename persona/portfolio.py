"""Her portfolio: work a designer publishes from the studio's library, for every fan.

    portfolio = Portfolio(root, max_bytes=2 * 2**30, timezone="Asia/Seoul")
    piece = portfolio.publish(library.get("20261207-101500-1a2b3c4d"), card, release=dt.date(2027, 3, 1))
    portfolio.pieces()                  # newest first
    portfolio.canon()                   # one canon memory a piece, written by the studio, under embargo until release
    portfolio.working_on(today)         # lines for her "now": what is under embargo is named by kind and month only
    portfolio.show("the moon tide collection", today)   # what she says and shows when a fan asks to see her work
    portfolio.unpublish(piece.id)

A published piece is a public artifact: the files a phone shows (images, an Ogg/Opus preview of
a song, its MIDI, a lookbook's PDF; never the stems bundle) copied into an artifact store of its
own under the owner PORTFOLIO, with her short description from the piece's real spec or plan.
Before its release day (in her time zone) it is under embargo: nobody is shown it, its files
are not served, recall leaves its canon out, and her "now" says only that something is coming.

Whoever publishes also replaces the studio's canon with `canon()` (PersonaMemory.sync_studio_canon),
so what she remembers of her work is always what the portfolio holds.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from persona.creations import (
    article,
    fabric_words,
    garment_words,
    joined,
    spoken_duration,
)
from persona.engine.artifacts import PORTFOLIO, ArtifactStore, FanArtifact
from persona.memory.records import MemoryKind, NewMemory

if TYPE_CHECKING:
    from persona.card import PersonaCard
    from persona.engine.library import Artifact

CANON_KEY = "portfolio:"  # + the piece's id: the key of its canon memory
# The studio library's kinds a piece can be published from, and what the piece is then.
PUBLISHABLE = {"collection": "collection", "look": "look", "print": "print", "composition": "song"}
KIND_WORDS = {"collection": "collection", "look": "look", "print": "print run", "song": "song"}
SHOWN_FILES = {".png", ".webp", ".svg", ".pdf", ".mid", ".ogg"}  # what a fan is shown of a library artifact
RECENT_IN_NOW = 1  # released pieces her "now" names (it rides on every turn)

_WORDS = re.compile(r"[\w'’]+")
_NAMED_KIND = {
    "collection": re.compile(r"\b(?:collection|line|lookbook|runway|season)\b|컬렉션", re.IGNORECASE),
    "look": re.compile(r"\b(?:look|outfit|dress|design|sketch(?:es)?)\b|룩|옷", re.IGNORECASE),
    "print": re.compile(r"\b(?:prints?|patterns?|tiles?|textiles?)\b|프린트|패턴", re.IGNORECASE),
    "song": re.compile(r"\b(?:song|track|tune|music|composing|compose|hear|listen)\b|노래|곡|들려", re.IGNORECASE),
}
_COMMON = frozenset(["a", "an", "the", "my", "your", "her", "his", "of", "in", "on", "for", "and", "to", "me", "you", "it", "this", "that", "what", "show", "see", "new", "latest"])


class PortfolioError(ValueError):
    """A piece could not be published or unpublished; the message names what was wrong."""


@dataclass(frozen=True)
class Piece:
    """A published piece: the public artifact and when it may be shown."""

    artifact: FanArtifact

    @property
    def id(self) -> str:
        return self.artifact.id

    @property
    def kind(self) -> str:
        return self.artifact.kind

    @property
    def title(self) -> str:
        return self.artifact.title

    @property
    def release(self) -> dt.date | None:
        release = self.artifact.provenance.get("release")
        return dt.date.fromisoformat(release) if isinstance(release, str) else None

    @property
    def library_id(self) -> str:
        return str(self.artifact.provenance.get("library_id", ""))

    def is_released(self, today: dt.date) -> bool:
        return self.release is None or today >= self.release


class Portfolio:
    def __init__(self, root: Path, max_bytes: int, timezone: str = "UTC"):
        self.store = ArtifactStore(root, max_bytes_per_fan=max_bytes)
        self.max_bytes = max_bytes
        self.timezone = ZoneInfo(timezone)
        self._cache: tuple[int, list[Piece]] | None = None  # (the owner folder's mtime, its pieces)

    def today(self) -> dt.date:
        """Her date: releases are in her time."""
        return dt.datetime.now(self.timezone).date()

    # --- reading --------------------------------------------------------------------------

    def pieces(self) -> list[Piece]:
        """Every published piece, newest first. Read again only when the folder changed, so a
        turn pays a stat, and a piece published by another process shows up at once."""
        folder = self.store.root / self.store.owner_key(PORTFOLIO)
        try:
            stamp = os.stat(folder).st_mtime_ns
        except FileNotFoundError:
            return []
        if self._cache is None or self._cache[0] != stamp:
            self._cache = (stamp, [Piece(artifact) for artifact in self.store.list(PORTFOLIO)])
        return list(self._cache[1])

    def get(self, piece_id: str) -> Piece | None:
        return next((piece for piece in self.pieces() if piece.id == piece_id), None)

    def released(self, today: dt.date) -> list[Piece]:
        return [piece for piece in self.pieces() if piece.is_released(today)]

    def upcoming(self, today: dt.date) -> list[Piece]:
        """Pieces under embargo, the soonest first."""
        return sorted((piece for piece in self.pieces() if not piece.is_released(today)), key=lambda piece: piece.release)

    def public_file(self, piece_id: str, name: str) -> tuple[Path, Any] | None:
        """A released piece's file (its path and description), or None: unknown, or under embargo."""
        piece = self.get(piece_id)
        if piece is None or not piece.is_released(self.today()):
            return None
        return self.store.find_file(self.store.owner_key(PORTFOLIO), piece_id, name)

    # --- publishing -----------------------------------------------------------------------

    def publish(self, source: Artifact, card: PersonaCard, release: dt.date | None = None, title: str | None = None) -> Piece:
        """Publish a studio library artifact (a collection, a look, a print run or a composition),
        shown from `release` on (None: at once). Publishing one already published replaces it."""
        kind = PUBLISHABLE.get(source.kind)
        if kind is None:
            raise PortfolioError(f"a {source.kind!r} cannot be published: only {', '.join(sorted(PUBLISHABLE))} from the studio's library can "
                                 f"(library artifact {source.id})")
        title = " ".join((title or _default_title(source)).split())
        if not title or len(title) > 120:
            raise PortfolioError(f"title: expected 1-120 characters, got {len(title)}")
        if release is not None and not isinstance(release, dt.date):
            raise PortfolioError(f"release: expected a date such as 2027-03-01, got {release!r}")
        scratch = Path(tempfile.mkdtemp(prefix="atelier-portfolio-"))
        try:
            files, preview, summary, fingerprint = _prepared(kind, source, scratch, card)
            size = sum(path.stat().st_size for path in files)
            earlier = [piece for piece in self.pieces() if piece.library_id == source.id]
            kept = sum(piece.artifact.size for piece in self.pieces()) - sum(piece.artifact.size for piece in earlier)
            if kept + size > self.max_bytes:
                raise PortfolioError(f"the portfolio keeps at most {self.max_bytes:,} bytes and holds {kept:,}; {title!r} needs {size:,} more "
                                     "(unpublish something, or raise creations.portfolio_bytes)")
            summary = {**summary, "title": title}
            provenance = {"library_id": source.id, "library_kind": source.kind, "release": release.isoformat() if release else None,
                          "published": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "persona": card.id}
            artifact = self.store.add(PORTFOLIO, kind, title, files, brief=str(source.settings.get("brief") or ""), description=describe(kind, title, summary),
                                      summary=summary, provenance=provenance, fingerprint=fingerprint, preview=preview)
        except ValueError as error:
            raise PortfolioError(str(error)) from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        for piece in earlier:
            self._remove(piece.id)
        return Piece(artifact)

    def unpublish(self, piece_id: str) -> Piece:
        """Take a piece out of the portfolio (by its id, or the library id it was published from)."""
        piece = self.get(piece_id) or next((piece for piece in self.pieces() if piece.library_id == piece_id), None)
        if piece is None:
            known = ", ".join(piece.id for piece in self.pieces()[:5]) or "none"
            raise PortfolioError(f"{piece_id!r} is not a published piece nor the library id of one (published: {known})")
        self._remove(piece.id)
        return piece

    def _remove(self, piece_id: str) -> None:
        self.store.remove(PORTFOLIO, piece_id)

    # --- what she knows and says ----------------------------------------------------------

    def canon(self) -> list[NewMemory]:
        """Her lore about her published work, one memory a piece, each under embargo until its
        release: the studio's whole canon (PersonaMemory.sync_studio_canon replaces it with this)."""
        return [NewMemory(kind=MemoryKind.CANON, key=CANON_KEY + piece.id, text=canon_text(piece), embargo_until=piece.release, importance=0.7)
                for piece in reversed(self.pieces())]

    def working_on(self, today: dt.date) -> list[str]:
        """Her "now" from the studio: what is coming, by kind and month only (its name is never
        given, so it cannot be said), and her newest released work. Short facts, not orders: a
        small model repeats what its context says, and these read well repeated."""
        lines = [f"In your studio: a new {KIND_WORDS[piece.kind]} for {piece.release:%B %Y}, not yet announced." for piece in self.upcoming(today)]
        lines += [f"Out now: your {KIND_WORDS[piece.kind]} “{piece.title}”." for piece in self.released(today)[:RECENT_IN_NOW]]
        return lines

    def show(self, asked: str, today: dt.date) -> tuple[str, Piece | None] | None:
        """What she says when a fan asks to see her work, and the piece she shows: the released
        piece the words name (its title, else its kind), else the newest. With nothing released
        she says what is coming without detail; with nothing at all, None (the model answers)."""
        released, upcoming = self.released(today), self.upcoming(today)
        if not released and not upcoming:
            return None
        coming = ""
        if upcoming:
            soonest = upcoming[0]
            coming = f"a new {KIND_WORDS[soonest.kind]} for {soonest.release:%B}, but it stays a secret until it's out."
        if not released:
            return f"I'm working on {coming} I can't show you anything yet!", None
        piece = _asked_for(asked, released)
        answer = f"Here's what I've been working on: {piece.artifact.description}"
        if coming:
            answer += f" And there's {coming}"
        return answer, piece


def canon_text(piece: Piece) -> str:
    """What she knows of a piece, in the third person like the rest of her lore."""
    day = piece.release or dt.date.fromisoformat(str(piece.artifact.provenance["published"])[:10])
    return f"Her {KIND_WORDS[piece.kind]} “{piece.title}” came out on {day:%-d %B %Y}. In her words: {piece.artifact.description}"


def describe(kind: str, title: str, summary: dict[str, Any]) -> str:
    """Her one or two sentences about a published piece, every fact from its summary."""
    name = f"“{title}”"
    if kind == "song":
        return (f"{name}, my song of {spoken_duration(summary['duration_s'])} in {summary['key']} at {summary['bpm']:g} BPM, "
                f"with {joined(summary['instruments'][:4])}.")
    if kind == "print":
        count = summary["count"]
        tiles = "a seamless print" if count == 1 else f"{count} seamless prints"
        return f"{name}, {tiles} I drew from “{summary['brief']}”." if summary["brief"] else f"{name}, {tiles} of mine."
    if kind == "look":
        garment, colours = garment_words(summary), joined([colour["name"] for colour in summary["colours"][:3]])
        return f"{name}, my look: {article(garment)} {garment} in {fabric_words(summary['fabric'])}, in {colours}."
    garments = list(dict.fromkeys(garment_words(look) for look in summary["looks"]))
    colours = list(dict.fromkeys(colour["name"] for look in summary["looks"] for colour in look["colours"][:2]))
    count = len(summary["looks"])
    among = f"{joined([f'{article(g)} {g}' for g in garments[:3]])}" + (" among them" if len(garments) > 3 else "")
    return f"{name}, my collection of {count} look{'s' if count != 1 else ''}: {among}, in {joined(colours[:3])}."


def _default_title(source: Artifact) -> str:
    settings = source.settings
    if source.kind == "collection":
        return str(settings.get("name") or source.title.removeprefix("Lookbook: "))
    if source.kind == "look":
        return str(settings.get("spec", {}).get("name") or source.title.removesuffix(": look"))
    if source.kind == "print":
        return source.title.split(": ", 1)[-1][:120] if ": " in source.title else source.title
    return source.title


def _prepared(kind: str, source: Artifact, scratch: Path, card: PersonaCard) -> tuple[list[Path], str | None, dict, dict]:
    """The files a fan is shown (copied under safe names), the preview image, the summary and the fingerprint."""
    from persona.creations import fashion_fingerprint
    from pipelines.fashion.spec import DesignSpec

    missing = [str(path) for path in source.files if not path.is_file()]
    if missing:
        raise PortfolioError(f"library artifact {source.id} has lost files: {', '.join(missing)}")
    files = [_copied(path, scratch) for path in source.files if path.suffix.lower() in SHOWN_FILES]
    fingerprint: dict[str, Any] = {}
    try:
        if kind == "song":
            summary, files, fingerprint = _song(source, scratch, files)
        elif kind == "print":
            summary = {"kind": "print", "brief": str(source.settings.get("brief") or ""), "count": sum(path.suffix == ".png" for path in files)}
        else:
            specs = [source.settings["spec"]] if kind == "look" else source.settings["looks_specs"]
            looks = [DesignSpec.model_validate(spec) for spec in specs]
            summaries = [_look_summary(look) for look in looks]
            summary = summaries[0] if kind == "look" else {"kind": "collection", "looks": summaries}
            prints = [fashion_fingerprint(look, card) for look in looks]
            fingerprint = prints[0] if kind == "look" else {"looks": prints}
    except (KeyError, TypeError, ValueError) as error:
        raise PortfolioError(f"library artifact {source.id} ({source.kind}) does not hold what its settings should: {error}") from None
    images = [path for path in files if path.suffix.lower() in (".png", ".webp")]
    if not images and kind != "song":
        raise PortfolioError(f"library artifact {source.id} has no image to show")
    return files, images[0].name if images else None, summary, fingerprint


def _song(source: Artifact, scratch: Path, files: list[Path]) -> tuple[dict, list[Path], dict]:
    from pipelines.music.plan import CompositionPlan
    from pipelines.music.preview import write_audio_preview

    plan = CompositionPlan.model_validate(source.settings["plan"])
    masters = [path for path in source.files if path.suffix.lower() == ".wav"]
    if not masters:
        raise PortfolioError(f"library artifact {source.id} has no master WAV to make a preview from")
    preview = write_audio_preview(masters[0], scratch, name="preview")
    summary = {"kind": "song", "key": str(plan.key), "bpm": plan.bpm, "duration_s": round(plan.duration_s, 1), "genre": plan.genre,
               "instruments": [part.name for part in plan.instruments]}
    signature = source.settings.get("signature")
    return summary, [preview, *files], signature if isinstance(signature, dict) else {}


def _look_summary(spec) -> dict[str, Any]:
    return {"name": spec.name, "garment": spec.category, "silhouette": spec.silhouette,
            "fabric": {"type": spec.fabric.type, "finish": spec.fabric.finish},
            "colours": [{"name": entry.name, "hex": entry.hex, "share": entry.share} for entry in sorted(spec.palette, key=lambda entry: -entry.share)]}


def _copied(path: Path, scratch: Path) -> Path:
    """A copy under a name an artifact may have: letters, digits, '.', '_', '-'."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-._")[:100] or "file"
    target = scratch / f"{stem}{path.suffix.lower()}"
    number = 2
    while target.exists():
        target, number = scratch / f"{stem}-{number}{path.suffix.lower()}", number + 1
    shutil.copyfile(path, target)
    return target


def _asked_for(asked: str, released: list[Piece]) -> Piece:
    words = {word.lower() for word in _WORDS.findall(asked)} - _COMMON
    by_title = [piece for piece in released if words & {word.lower() for word in _WORDS.findall(piece.title)}]
    if by_title:
        return max(by_title, key=lambda piece: len(words & {word.lower() for word in _WORDS.findall(piece.title)}))
    kinds = {kind for kind, named in _NAMED_KIND.items() if named.search(asked)}
    return next((piece for piece in released if piece.kind in kinds), released[0])

