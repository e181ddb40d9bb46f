"""Fans' artifacts: the files a fan receives from her (a song's audio, MIDI and bundle; a look's
or a print's images), stored under that fan and handed out to that fan only.

    <root>/<owner key>/<artifact id>/<file>           one artifact's files, as the fan receives them
    <root>/<owner key>/<artifact id>/.artifact.json   what it is: a FanArtifact
    <root>/.staging/   <root>/.trash/                 artifacts being copied in or deleted

An artifact is copied into a staging folder and appears with one rename, and disappears with
one rename before it is deleted, so nothing half-written or half-deleted is ever listed. Each
fan may keep `max_bytes_per_fan` bytes of files; past that their oldest artifacts go first.

    store = ArtifactStore(Path("data/artifacts"), max_bytes_per_fan=200 * 2**20)
    song = store.add("fan-7", "song", "Violet Hour", [wav, preview, midi, bundle], brief="a slow song about rain")
    url = UrlSigner(secret).url("fan-7", song.id, "preview.ogg", ttl_s=3600)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import math
import os
import re
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator

log = logging.getLogger(__name__)

PORTFOLIO = "portfolio"  # the owner of her published work (persona/portfolio.py), kept in a store of its own
ArtifactKind = Literal["look", "print", "song", "collection"]  # a collection: published from the studio only

MEDIA_TYPES = {
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".mid": "audio/midi",
    ".png": "image/png",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".pdf": "application/pdf",
    ".zip": "application/zip",
    ".json": "application/json",
}
ROLES = {  # what a file is for, unless add() is told otherwise
    ".wav": "audio",
    ".ogg": "audio_preview",
    ".opus": "audio_preview",
    ".mp3": "audio_preview",
    ".mid": "midi",
    ".png": "image",
    ".webp": "image",
    ".svg": "image",
    ".pdf": "document",
    ".zip": "bundle",
    ".json": "manifest",
}

# A name that is one path component everywhere (no '/', no NUL, never '.' or '..') and never
# hidden, so it cannot meet the metadata file or the staging folders.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
ARTIFACT_ID = re.compile(r"[0-9a-f]{16}-[0-9a-f]{8}")  # creation time in ns, then chance: sorts oldest first
OWNER_KEY = re.compile(r"[0-9a-f]{32}")
METADATA = ".artifact.json"
PROVISIONAL_ID = "0" * 16 + "-" + "0" * 8  # until the artifact lands
STALE_AFTER_S = 3600  # leftovers of a process that stopped mid-copy; younger ones may be in flight


def owner_key(owner: str) -> str:
    """The folder and URL name of a fan: a hash, because fan ids may hold any characters."""
    if not isinstance(owner, str) or not owner:
        raise ValueError(f"an artifact's owner must be a non-empty fan id, got {owner!r}")
    return hashlib.sha256(b"atelier-artifacts\0" + owner.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def is_safe_name(name: object) -> bool:
    return isinstance(name, str) and SAFE_NAME.fullmatch(name) is not None


def is_artifact_id(artifact_id: object) -> bool:
    return isinstance(artifact_id, str) and ARTIFACT_ID.fullmatch(artifact_id) is not None


def is_owner_key(key: object) -> bool:
    return isinstance(key, str) and OWNER_KEY.fullmatch(key) is not None


class ArtifactFile(BaseModel):
    """One file of an artifact, as the fan receives it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=SAFE_NAME.pattern)
    media_type: str
    size: int = Field(ge=0, description="bytes")
    role: str = Field(min_length=1, description="audio_preview, audio, midi, image, bundle, manifest, document, ...")


class FanArtifact(BaseModel):
    """Something she made for one fan: what it is, what was asked, and its files."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ARTIFACT_ID.pattern)
    owner: str = Field(min_length=1, description="the fan id")
    kind: ArtifactKind
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000, description="her short text about it")
    summary: dict[str, JsonValue] = Field(default_factory=dict, description="the spec's or plan's facts")
    brief: str = Field(max_length=4000, description="the fan's words")
    created: AwareDatetime
    files: list[ArtifactFile]
    preview: str | None = Field(default=None, description="the name of a preview image among the files")
    provenance: dict[str, JsonValue] = Field(default_factory=dict)
    fingerprint: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("created")
    @classmethod
    def in_utc(cls, created: dt.datetime) -> dt.datetime:
        return created.astimezone(dt.timezone.utc)

    @property
    def size(self) -> int:
        return sum(file.size for file in self.files)

    def file(self, name: str) -> ArtifactFile | None:
        return next((file for file in self.files if file.name == name), None)


class ArtifactStore:
    """Fans' artifacts on disk, each fan in a folder of their own. Safe to use from many threads."""

    def __init__(self, root: Path, max_bytes_per_fan: int):
        if max_bytes_per_fan <= 0:
            raise ValueError(f"max_bytes_per_fan must be positive, got {max_bytes_per_fan}")
        self.root = Path(root)
        self.max_bytes_per_fan = max_bytes_per_fan
        self.staging = self.root / ".staging"
        self.trash = self.root / ".trash"
        for folder in (self.staging, self.trash):
            folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._last_id_ns = 0
        self._sweep_leftovers()

    def owner_key(self, owner: str) -> str:
        return owner_key(owner)

    def add(
        self, owner: str, kind: ArtifactKind, title: str, files: list[Path], *, brief: str, description: str = "",
        summary: dict | None = None, provenance: dict | None = None, fingerprint: dict | None = None,
        preview: str | None = None, roles: dict[str, str] | None = None,
    ) -> FanArtifact:
        """Copy `files` in as one new artifact of `owner` and return it.

        Each file keeps its name, which must be a plain safe name (letters, digits, '.', '_',
        '-'), unique within the artifact, with a suffix in MEDIA_TYPES; `roles` overrides the
        role a suffix implies. Then the owner's oldest artifacts are deleted until they are
        within the bound again. Raises ValueError, keeping nothing, for a bad file or an artifact
        bigger than the bound on its own.
        """
        folder = self.root / owner_key(owner)
        sources = [Path(source) for source in files]
        checked_files(sources)
        names = {source.name for source in sources}
        unknown_roles = sorted(set(roles or {}) - names)
        if unknown_roles:
            raise ValueError(f"roles names {unknown_roles}, which are not among the artifact's files {sorted(names)}")
        if preview is not None and (preview not in names or not MEDIA_TYPES[Path(preview).suffix.lower()].startswith("image/")):
            raise ValueError(f"preview {preview!r} must name one of the artifact's image files")
        self._check_fits(title, sum(source.stat().st_size for source in sources))
        try:  # everything the fan and she wrote is checked before a byte is copied
            artifact = FanArtifact(
                id=PROVISIONAL_ID, owner=owner, kind=kind, title=title, description=description, summary=summary or {},
                brief=brief, created=dt.datetime.now(dt.timezone.utc), files=[], preview=preview,
                provenance=provenance or {}, fingerprint=fingerprint or {},
            )
        except ValidationError as error:
            raise ValueError(f"artifact {title!r} of {kind!r}: {error}") from None

        staging = self.staging / secrets.token_hex(8)
        staging.mkdir()
        try:
            stored = [copy_in(source, staging, (roles or {}).get(source.name)) for source in sources]
            self._check_fits(title, sum(file.size for file in stored))  # again: a file may have grown while it was copied
            with self._lock:
                # The id is taken as it lands, so ids sort in the order artifacts arrive and the
                # new one is always the newest, whichever copy finished first.
                artifact_id, created = self._new_id()
                artifact = artifact.model_copy(update={"id": artifact_id, "created": created, "files": stored})
                (staging / METADATA).write_text(artifact.model_dump_json(indent=2), encoding="utf-8")
                folder.mkdir(exist_ok=True)
                os.rename(staging, folder / artifact.id)
                self._evict_oldest(owner, keep=artifact.id)
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # already gone when the rename happened
        return artifact

    def get(self, owner: str, artifact_id: str) -> FanArtifact | None:
        if not is_artifact_id(artifact_id):
            return None
        with self._lock:
            return self._read(owner_key(owner), artifact_id)

    def file_path(self, owner: str, artifact_id: str, name: str) -> Path | None:
        """Where one file of the owner's artifact lies; None for anything else."""
        found = self.find_file(owner_key(owner), artifact_id, name)
        return found[0] if found else None

    def find_file(self, key: str, artifact_id: str, name: str) -> tuple[Path, ArtifactFile] | None:
        """A file by the owner's key, as URLs name it: its path and description, or None.

        Only names the artifact lists are found, so neither its metadata nor anything outside
        the owner's folder can be reached, whatever the arguments hold.
        """
        if not (is_owner_key(key) and is_artifact_id(artifact_id) and is_safe_name(name)):
            return None
        with self._lock:
            artifact = self._read(key, artifact_id)
            file = artifact.file(name) if artifact else None
            path = self.root / key / artifact_id / name
            if file is None or not path.is_file():
                return None
            return path, file

    def list(self, owner: str) -> list[FanArtifact]:
        """The owner's artifacts, newest first."""
        with self._lock:
            return self._artifacts(owner_key(owner))[::-1]

    def everyone(self) -> list[FanArtifact]:
        """Every owner's artifacts, newest first (for reports across fans, never for a fan)."""
        with self._lock:
            keys = [entry.name for entry in self.root.iterdir() if entry.is_dir() and is_owner_key(entry.name)]
            return sorted((artifact for key in keys for artifact in self._artifacts(key)), key=lambda artifact: artifact.id, reverse=True)

    def usage(self, owner: str) -> int:
        """Bytes of files the owner keeps."""
        with self._lock:
            return sum(artifact.size for artifact in self._artifacts(owner_key(owner)))

    def remove(self, owner: str, artifact_id: str) -> bool:
        """Delete one artifact of the owner's; False when there is none with this id."""
        if not is_artifact_id(artifact_id):
            return False
        folder = self.root / owner_key(owner) / artifact_id
        with self._lock:
            if not folder.is_dir():
                return False
            self._delete(folder)
        return True

    def forget(self, owner: str) -> int:
        """Delete every artifact and file of the owner; returns how many artifacts there were."""
        key = owner_key(owner)
        with self._lock:
            count = len(self._artifacts(key))
            folder = self.root / key
            if folder.exists():
                self._delete(folder)
        return count

    def _check_fits(self, title: str, size: int) -> None:
        if size > self.max_bytes_per_fan:
            raise ValueError(
                f"artifact {title!r} is {size:,} bytes, more than a fan may keep ({self.max_bytes_per_fan:,} bytes); nothing was kept"
            )

    def _new_id(self) -> tuple[str, dt.datetime]:
        """A new id that sorts after every earlier one of this store, and its creation time."""
        self._last_id_ns = max(time.time_ns(), self._last_id_ns + 1)
        created = dt.datetime.fromtimestamp(self._last_id_ns / 1e9, dt.timezone.utc)
        return f"{self._last_id_ns:016x}-{secrets.token_hex(4)}", created

    def _artifacts(self, key: str) -> list[FanArtifact]:
        """The owner's artifacts, oldest first."""
        folder = self.root / key
        if not folder.is_dir():
            return []
        ids = sorted(entry.name for entry in folder.iterdir() if is_artifact_id(entry.name))
        return [artifact for artifact in (self._read(key, artifact_id) for artifact_id in ids) if artifact]

    def _read(self, key: str, artifact_id: str) -> FanArtifact | None:
        metadata = self.root / key / artifact_id / METADATA
        try:
            artifact = FanArtifact.model_validate_json(metadata.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            log.warning("skipping artifact %s: its metadata %s cannot be read (%s)", artifact_id, metadata, error)
            return None
        return artifact if owner_key(artifact.owner) == key and artifact.id == artifact_id else None

    def _evict_oldest(self, owner: str, keep: str) -> None:
        key = owner_key(owner)
        artifacts = self._artifacts(key)
        total = sum(artifact.size for artifact in artifacts)
        for oldest in artifacts:
            if total <= self.max_bytes_per_fan:
                break
            if oldest.id != keep:
                log.info("fan %s is over %s bytes: deleting their oldest artifact %s", key, self.max_bytes_per_fan, oldest.id)
                self._delete(self.root / key / oldest.id)
                total -= oldest.size

    def _delete(self, folder: Path) -> None:
        """Out of sight with one rename, then removed."""
        doomed = self.trash / f"{folder.name}-{secrets.token_hex(4)}"
        os.rename(folder, doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    def _sweep_leftovers(self) -> None:
        cutoff = time.time() - STALE_AFTER_S
        for folder in (self.staging, self.trash):
            for entry in folder.iterdir():
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)


def checked_files(sources: list[Path]) -> None:
    """Every file exists, has a plain safe name with a known suffix, and no name repeats."""
    if not sources:
        raise ValueError("an artifact needs at least one file")
    seen: set[str] = set()
    for source in sources:
        name = source.name
        if not is_safe_name(name):
            raise ValueError(
                f"file name {name!r} ({source}) is not a plain safe name: use 1-128 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        if source.suffix.lower() not in MEDIA_TYPES:
            raise ValueError(f"file {name!r} has a suffix a fan cannot receive; expected one of {', '.join(MEDIA_TYPES)}")
        if name in seen:
            raise ValueError(f"file name {name!r} appears twice in one artifact")
        if not source.is_file():
            raise ValueError(f"file {name!r} does not exist: {source}")
        seen.add(name)


def copy_in(source: Path, folder: Path, role: str | None) -> ArtifactFile:
    target = folder / source.name
    try:
        shutil.copyfile(source, target)
    except OSError as error:
        raise ValueError(f"file {source.name!r} could not be copied in from {source}: {error.strerror or error}") from None
    suffix = source.suffix.lower()
    return ArtifactFile(name=source.name, media_type=MEDIA_TYPES[suffix], size=target.stat().st_size, role=role or ROLES[suffix])


class UrlSigner:
    """Signed, expiring URLs for artifact files: what her reply links to, so a phone's player
    or an <img> can fetch a file without sending the fan's token.

    The signature is HMAC-SHA256 over the owner key, artifact id, file name and expiry, so a
    URL opens that one file until it expires and nothing else.
    """

    def __init__(self, secret: bytes):
        if not isinstance(secret, bytes) or len(secret) < 16:
            raise ValueError("the URL signing secret must be at least 16 bytes")
        self._secret = secret

    def url(self, owner: str, artifact_id: str, name: str, ttl_s: float, now: float | None = None) -> str:
        if ttl_s <= 0:
            raise ValueError(f"a URL's lifetime must be positive, got {ttl_s} s")
        if not is_artifact_id(artifact_id):
            raise ValueError(f"{artifact_id!r} is not an artifact id")
        if not is_safe_name(name):
            raise ValueError(f"{name!r} is not an artifact file name")
        key = owner_key(owner)
        expires = math.ceil((time.time() if now is None else now) + ttl_s)
        return f"/artifacts/{key}/{artifact_id}/{name}?expires={expires}&sig={self._signature(key, artifact_id, name, expires)}"

    def check(self, owner_key: str, artifact_id: str, name: str, expires: int | str, sig: str, now: float | None = None) -> bool:
        """True only for an unexpired signature this signer made for exactly this file."""
        if not (is_owner_key(owner_key) and is_artifact_id(artifact_id) and is_safe_name(name)):
            return False
        if not (isinstance(sig, str) and re.fullmatch(r"[0-9a-f]{64}", sig)):
            return False
        if isinstance(expires, str):
            if not re.fullmatch(r"[0-9]{1,15}", expires):
                return False
            expires = int(expires)
        if not isinstance(expires, int) or expires <= (time.time() if now is None else now):
            return False
        return hmac.compare_digest(self._signature(owner_key, artifact_id, name, expires), sig)

    def _signature(self, key: str, artifact_id: str, name: str, expires: int) -> str:
        # No part can hold a newline, so the message reads back one way only; the prefix keeps
        # these signatures apart from anything else signed with the same secret.
        message = f"artifact-url\n{key}\n{artifact_id}\n{name}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()
