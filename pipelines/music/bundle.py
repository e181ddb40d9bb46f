"""DAW-ready bundle: everything a producer needs to open a piece, in one folder and one zip.

    <slug>/
      <slug>.mid          Type-1 MIDI: tempo, key, time signature, section markers, a track a part
      stems/01-<part>.wav 48 kHz 24-bit, all the same length from sample 0; they sum to the mix
      master.wav          the mix at -14 LUFS, true peak <= -1 dBTP
      piano-roll.png      the parts at a glance
      manifest.json       plan, tempo, key, sections (bars, seconds, samples), every file's
                          sha256, renderer or model and licence, loudness measurements
    <slug>.zip            the same folder, zipped

Sections marked `loop` are loop points in every WAV's 'smpl' chunk. The bundle is built in a
hidden sibling folder and renamed into place only when complete, so a failed export leaves
nothing behind; an existing bundle is replaced only with `overwrite=True`.

    export_bundle(score, Path("exports"), progress=lambda stage, fraction: print(stage, fraction))
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import resample_poly

from pipelines.music.bundle_writer import BundleWriter
from pipelines.music.master import MasterResult, master
from pipelines.music.midi import midi_bytes
from pipelines.music.pianoroll import piano_roll_png
from pipelines.music.render import SAMPLE_RATE, RenderResult, render_stems
from pipelines.music.score import Score
from pipelines.names import slugify  # letters of any script are kept: '봄비 Spring' -> '봄비-spring'

MANIFEST_FORMAT = "atelier-music-bundle/1"
BITS = 24
GENERATED_LICENCE = "generated, no third-party material"
NON_COMMERCIAL = re.compile(r"\bNC\b|non[-\s]?commercial", re.IGNORECASE)

Progress = Callable[[str, float], None]


class BundleExistsError(FileExistsError):
    """A bundle of that name is already there and `overwrite` was not asked for."""


class LicenceError(ValueError):
    """A commercial export would include audio whose licence forbids commercial use."""


@dataclass
class GeneratedStem:
    """Audio from a generative model (MusicGen, say) to ship beside the rendered parts."""

    name: str
    audio: np.ndarray  # (frames,) or (frames, channels), -1..1
    sample_rate: int
    model: str  # e.g. 'facebook/musicgen-melody'
    licence: str  # e.g. 'CC-BY-NC-4.0'


@dataclass
class StemFile:
    path: str  # inside the bundle, e.g. 'stems/01-piano.wav'
    audio: np.ndarray  # (frames, 2) float32
    licence: str
    about: dict[str, Any] = field(default_factory=dict)  # part, role, program, renderer or model


@dataclass(frozen=True)
class Bundle:
    """What `export_bundle` made: the folder, its zip and the manifest as written."""

    folder: Path
    archive: Path
    manifest: dict[str, Any]

    @property
    def midi(self) -> Path:
        return self.folder / f"{self.folder.name}.mid"

    @property
    def master(self) -> Path:
        return self.folder / "master.wav"

    @property
    def piano_roll(self) -> Path:
        return self.folder / "piano-roll.png"

    @property
    def manifest_path(self) -> Path:
        return self.folder / "manifest.json"

    @property
    def stems(self) -> list[dict[str, Any]]:
        """The manifest's stem entries (path inside the folder, part, role, licence...)."""
        return [entry for entry in self.manifest["files"] if entry["kind"] == "stem"]


def export_bundle(
    score: Score,
    out_dir: Path,
    *,
    soundfont: Path | None = None,
    rendered: RenderResult | None = None,
    musicgen: Sequence[GeneratedStem] = (),
    commercial: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> Bundle:
    """Write `<out_dir>/<slug>/` and `<out_dir>/<slug>.zip`.

    `rendered` skips rendering (stems made elsewhere, at 48 kHz); `musicgen` stems are added
    to the stems and the mix. With `commercial=True`, any stem under a non-commercial
    licence stops the export before anything is written.
    """
    report = progress or (lambda stage, fraction: None)
    slug = slugify(score.plan.title)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not overwrite:
        refuse_existing(out_dir, slug)
    if commercial:
        refuse_non_commercial([(generated_stem_path(score, index, stem), stem.licence) for index, stem in enumerate(musicgen)])
    staging = Path(tempfile.mkdtemp(prefix=f".{slug}.", suffix=".partial", dir=out_dir))
    try:
        manifest = build_bundle(staging / slug, staging / f"{slug}.zip", score, soundfont, rendered, musicgen, commercial, report)
        if not overwrite:
            refuse_existing(out_dir, slug)  # another export may have finished meanwhile
        publish(staging, slug, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report("done", 1.0)
    return Bundle(out_dir / slug, out_dir / f"{slug}.zip", manifest)


def build_bundle(
    folder: Path, zip_path: Path, score: Score, soundfont: Path | None, rendered: RenderResult | None,
    musicgen: Sequence[GeneratedStem], commercial: bool, report: Progress,
) -> dict[str, Any]:
    slug = folder.name
    folder.mkdir()
    with BundleWriter(folder, zip_path, SAMPLE_RATE, BITS) as writer:
        report("midi", 0.0)
        writer.add(f"{slug}.mid", midi_bytes(score))

        report("render", 0.05)
        result = rendered if rendered is not None else render_stems(score, soundfont, SAMPLE_RATE)
        if result.sample_rate != SAMPLE_RATE:
            raise ValueError(f"rendered stems are at {result.sample_rate} Hz; the bundle is {SAMPLE_RATE} Hz")
        stems = stem_files(score, result, musicgen)
        if commercial:
            refuse_non_commercial([(stem.path, stem.licence) for stem in stems])

        report("stems", 0.5)  # written in the background while the master is made
        loops = section_loops(score)
        for stem in stems:
            writer.add_wav(stem.path, stem.audio, loops)

        report("master", 0.6)
        mastered = master(sum_stems([stem.audio for stem in stems]), SAMPLE_RATE)
        writer.add_wav("master.wav", mastered.audio, loops)

        report("piano roll", 0.85)
        writer.add("piano-roll.png", piano_roll_png(score))

        report("manifest", 0.9)
        manifest = build_manifest(writer.written(), slug, score, result, stems, mastered)
        writer.add("manifest.json", (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return manifest


def stem_files(score: Score, result: RenderResult, musicgen: Sequence[GeneratedStem]) -> list[StemFile]:
    """Rendered parts, then generated stems, all stereo, 48 kHz and padded to one length."""
    stems = [
        StemFile(
            f"stems/{index + 1:02d}-{slugify(stem.name)}.wav", stem.audio, result.licence,
            {"part": stem.name, "role": stem.role, "program": stem.program, "renderer": result.renderer},
        )
        for index, stem in enumerate(result.stems)
    ]
    for index, generated in enumerate(musicgen):
        stems.append(StemFile(
            generated_stem_path(score, index, generated), as_bundle_audio(generated), generated.licence,
            {"part": generated.name, "model": generated.model},
        ))
    frames = max(stem.audio.shape[0] for stem in stems)
    for stem in stems:
        if stem.audio.shape[0] < frames:
            stem.audio = np.pad(stem.audio, ((0, frames - stem.audio.shape[0]), (0, 0)))
    return stems


def generated_stem_path(score: Score, index: int, stem: GeneratedStem) -> str:
    return f"stems/{len(score.parts) + index + 1:02d}-{slugify(stem.name)}.wav"


def as_bundle_audio(stem: GeneratedStem) -> np.ndarray:
    """(frames, 2) float32 at the bundle's rate: mono doubled, other rates resampled."""
    audio = np.asarray(stem.audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2 or audio.shape[1] not in (1, 2) or audio.shape[0] == 0:
        raise ValueError(f"generated stem {stem.name!r}: expected audio shaped (frames,) or (frames, 1 or 2), got {audio.shape}")
    if stem.sample_rate != SAMPLE_RATE:
        common = gcd(SAMPLE_RATE, stem.sample_rate)
        audio = resample_poly(audio, SAMPLE_RATE // common, stem.sample_rate // common, axis=0).astype(np.float32)
    return np.repeat(audio, 2, axis=1) if audio.shape[1] == 1 else audio


def sum_stems(stems: Sequence[np.ndarray]) -> np.ndarray:
    """The mix: the stems added, in order (planar rows add fastest)."""
    planar = np.zeros((2, stems[0].shape[0]), dtype=np.float32)
    for audio in stems:
        planar += audio.T
    return planar.T


def section_loops(score: Score) -> list[tuple[int, int]]:
    return [(to_sample(score, span.start_beat), to_sample(score, span.end_beat)) for span in score.sections if span.loop]


def to_sample(score: Score, beat: float) -> int:
    return round(score.seconds(beat) * SAMPLE_RATE)


def build_manifest(
    hashes: dict[str, tuple[str, int]], slug: str, score: Score, result: RenderResult, stems: list[StemFile], mastered: MasterResult,
) -> dict[str, Any]:
    plan = score.plan
    licences = sorted({stem.licence for stem in stems})

    def entry(path: str, kind: str, licence: str, **about: Any) -> dict[str, Any]:
        sha256, size = hashes[path]
        return {"path": path, "kind": kind, "sha256": sha256, "bytes": size, **about, "licence": licence}

    files = [
        entry(f"{slug}.mid", "midi", GENERATED_LICENCE),
        *[entry(stem.path, "stem", stem.licence, **stem.about) for stem in stems],
        entry("master.wav", "master", "; ".join(licences), made_from="the stems, summed and mastered"),
        entry("piano-roll.png", "image", GENERATED_LICENCE),
    ]
    return {
        "format": MANIFEST_FORMAT,
        "title": plan.title,
        "seed": plan.seed,
        "bpm": plan.bpm,
        "key": str(plan.key),
        "time_signature": f"{plan.time_signature.numerator}/{plan.time_signature.denominator}",
        "sample_rate": SAMPLE_RATE,
        "bits": BITS,
        "frames": int(stems[0].audio.shape[0]),
        "duration_s": plan.duration_s,
        "sections": section_entries(score),
        "renderer": {
            "name": result.renderer,
            "licence": result.licence,
            "fallback": result.fallback_reason and f"the built-in synth rendered the stems because {result.fallback_reason}",
        },
        "loudness": {
            "standard": "ITU-R BS.1770-4; true peak 4x oversampled",
            "mix_lufs": round(mastered.input_lufs, 2),
            "integrated_lufs": round(mastered.lufs, 2),
            "true_peak_dbtp": round(mastered.true_peak_dbtp, 2),
            "target_lufs": mastered.target_lufs,
            "ceiling_dbtp": mastered.ceiling_dbtp,
            "master_gain_db": round(mastered.gain_db, 2),
            "limiter_reduction_db": round(mastered.limiter_reduction_db, 2),
        },
        "commercial_use": not any(NON_COMMERCIAL.search(licence) for licence in licences),
        "files": files,
        "plan": plan.model_dump(mode="json"),
    }


def section_entries(score: Score) -> list[dict[str, Any]]:
    beats_per_bar = score.plan.time_signature.beats_per_bar
    return [
        {
            "name": span.name,
            "loop": span.loop,
            "bar_offset": round(span.start_beat / beats_per_bar),
            "bars": round((span.end_beat - span.start_beat) / beats_per_bar),
            "start_beat": span.start_beat,
            "end_beat": span.end_beat,
            "start_s": score.seconds(span.start_beat),
            "end_s": score.seconds(span.end_beat),
            "start_sample": to_sample(score, span.start_beat),
            "end_sample": to_sample(score, span.end_beat),
        }
        for span in score.sections
    ]


def refuse_non_commercial(files: list[tuple[str, str]]) -> None:
    refused = [f"{path} ({licence})" for path, licence in files if NON_COMMERCIAL.search(licence)]
    if refused:
        raise LicenceError(
            f"a commercial export cannot include non-commercial audio: {', '.join(refused)}; "
            "leave these stems out or export with commercial=False"
        )


def refuse_existing(out_dir: Path, slug: str) -> None:
    for name in (slug, f"{slug}.zip"):
        if (out_dir / name).exists():
            raise BundleExistsError(f"{out_dir / name} already exists; pass overwrite=True to replace it")


def publish(staging: Path, slug: str, out_dir: Path) -> None:
    """Rename the finished folder and zip into place; what they replace goes only after."""
    names = (slug, f"{slug}.zip")
    replaced = staging / "replaced"
    replaced.mkdir()
    moved_aside, published = [], []
    try:
        for name in names:
            if (out_dir / name).exists():
                os.rename(out_dir / name, replaced / name)
                moved_aside.append(name)
        for name in names:
            os.rename(staging / name, out_dir / name)
            published.append(name)
    except OSError:
        for name in published:  # take the half-published bundle out, put the old one back
            shutil.rmtree(out_dir / name) if (out_dir / name).is_dir() else (out_dir / name).unlink()
        for name in moved_aside:
            os.rename(replaced / name, out_dir / name)
        raise
