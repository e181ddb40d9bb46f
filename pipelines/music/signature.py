"""Her signature: how a new piece compares with the music the persona has made before.

Three metrics, computed as MusPy (Dong et al., ISMIR 2020) defines them, on a Score's notes
quantised to MusPy's default grid of 24 steps a quarter note:

- pitch-class entropy: the Shannon entropy, in bits, of the normalised 12-bin histogram of
  the pitch classes of the non-drum notes (0 = one pitch class only, log2(12) = all twelve
  equally often);
- scale consistency: the largest fraction of the non-drum notes that lies in one scale, over
  the 24 major and natural-minor scales (1.0 = every note in one diatonic scale);
- groove consistency: 1 minus the mean Hamming distance between the onset patterns (every
  part, drums too) of neighbouring bars, divided by the steps in a bar (1.0 = every bar
  starts notes at the same places). As in MusPy, the bars run to the end of the last note,
  plus one: a piece whose last note ends on a bar line is compared with an empty bar too.

Beside the metrics, a piece is a few histograms (pitch classes counted from the key's tonic,
so keys compare by their shape; the melody's interval sizes; where notes start within the
beat; note lengths). Each histogram is scaled to unit length and put end to end, so the
cosine similarity of two pieces is the mean of the four histograms' cosine similarities.

The catalogue is her earlier pieces: a few composed from her music DNA with fixed briefs and
seeds, plus any bundles she has exported (their manifests hold the plan, and composing a
plan always gives the same notes). A report compares a piece with the catalogue and lists,
in plain words, where it strays from her signature:

    catalogue = SignatureCatalogue.from_dna(card.music, persona=card.name)
    catalogue.add_bundles(Path("exports"))
    report = catalogue.report(score)
    report.similarity, report.drift  # e.g. 0.93, []
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from pipelines.music.composer import compose
from pipelines.music.plan import CompositionPlan, PlanError
from pipelines.music.planner import MusicBrief, ProceduralPlanner
from pipelines.music.score import Note, Part, Score
from pipelines.style import MusicDNA

RESOLUTION = 24  # time steps a quarter note: MusPy's default resolution
MAJOR = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)  # C major, as a pitch-class mask
MINOR = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0], bool)  # C natural minor
SCALES = np.array([np.roll(mask, root) for mask in (MAJOR, MINOR) for root in range(12)])  # 24 x 12

ONSET_STEPS = 12  # where notes start within the beat: sixteenths (every 3rd step) and triplets (every 4th)
LENGTH_EDGES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)  # note lengths in beats: 7 bins, each twice the last
MAX_INTERVAL = 12  # melodic leaps of an octave or more share the last bin

# Her catalogue before anything is exported: each of her genres in her keys, with these seeds.
REFERENCE_SEEDS = (0, 1)
REFERENCE_MINUTES = 2.0

# Where a piece counts as off her signature, and why.
# Measured on 150 pieces planned from her DNA with random mood words, seeds and lengths: none fell
# below 0.91 overall or 0.92 on any one histogram; chromatic random notes score about 0.5.
SIMILARITY_FLOOR = 0.85
SCALE_CONSISTENCY_FLOOR = 0.9  # she writes in modes and keys: 99% or more of her notes sit in one diatonic scale
ENTROPY_MARGIN_BITS = 0.3  # beyond her catalogue's range by this much, the palette of notes is another one
GROOVE_MARGIN = 0.03  # the metric lives near 1; three hundredths below her loosest piece is a different groove
SHAPE_FLOOR = 0.7  # one histogram (pitch, intervals, onsets, lengths) this unlike hers is worth naming

SHAPES = ("pitch_classes", "intervals", "onsets", "lengths")
SHAPE_WORDS = {
    "pitch_classes": "the notes it uses (counted from the key's tonic)",
    "intervals": "the melody's leaps",
    "onsets": "where notes fall within the beat",
    "lengths": "its note lengths",
}


# --- the three MusPy metrics -------------------------------------------------------------------

def pitched_notes(score: Score) -> list[Note]:
    return [note for part in score.parts if not part.is_drums for note in part.notes]


def pitch_class_histogram(score: Score, tonic: int = 0) -> np.ndarray:
    """Counts of the non-drum notes' pitch classes, counted from `tonic` (0 = C)."""
    counts = np.zeros(12)
    for note in pitched_notes(score):
        counts[(note.pitch - tonic) % 12] += 1
    return counts


def entropy_bits(counts: np.ndarray) -> float:
    total = counts.sum()
    if total < 1:
        return math.nan
    probabilities = counts[counts > 0] / total
    return float(-(probabilities * np.log2(probabilities)).sum())


def pitch_class_entropy(score: Score) -> float:
    """MusPy's pitch_class_entropy: bits, 0 to log2(12); NaN without pitched notes."""
    return entropy_bits(pitch_class_histogram(score))


def scale_consistency(score: Score) -> float:
    """MusPy's scale_consistency: the largest in-scale fraction over 24 major and minor scales."""
    counts = pitch_class_histogram(score)
    total = counts.sum()
    if total < 1:
        return math.nan
    return float((SCALES @ counts).max() / total)


def onset_steps(part: Part, resolution: int = RESOLUTION) -> list[int]:
    return [round(note.start * resolution) for note in part.notes]


def groove_consistency(score: Score, resolution: int = RESOLUTION) -> float:
    """MusPy's groove_consistency, with its count of bars: up to the end of the last note, plus
    one (so a piece that ends on a bar line is compared with one empty bar more). NaN under two bars."""
    bar_steps = round(score.plan.time_signature.beats_per_bar * resolution)
    end = max((round((note.start + note.duration) * resolution) for part in score.parts for note in part.notes), default=0)
    bars = end // bar_steps + 1
    if bars < 2:
        return math.nan
    patterns = np.zeros((bars, bar_steps), bool)
    for part in score.parts:
        for step in onset_steps(part, resolution):
            bar, position = divmod(step, bar_steps)
            patterns[bar, position] = True
    distance = np.count_nonzero(patterns[:-1] != patterns[1:])
    return float(1 - distance / (bar_steps * (bars - 1)))


# --- the piece's shape -------------------------------------------------------------------------

def melody_line(score: Score) -> list[Note]:
    """The melody part's notes (else the highest pitched part's), the top note at each onset."""
    part = score.melody
    if part is None or not part.notes:
        pitched = [part for part in score.parts if not part.is_drums and part.notes]
        if not pitched:
            return []
        part = max(pitched, key=lambda candidate: sum(note.pitch for note in candidate.notes) / len(candidate.notes))
    tops: dict[int, Note] = {}
    for note in part.notes:
        step = round(note.start * RESOLUTION)
        if step not in tops or note.pitch > tops[step].pitch:
            tops[step] = note
    return [tops[step] for step in sorted(tops)]


def interval_histogram(score: Score) -> np.ndarray:
    counts = np.zeros(MAX_INTERVAL + 1)
    line = melody_line(score)
    for before, after in zip(line, line[1:]):
        counts[min(abs(after.pitch - before.pitch), MAX_INTERVAL)] += 1
    return counts


def onset_histogram(score: Score) -> np.ndarray:
    """Where notes start within the beat, every part, in twelfths of a beat."""
    counts = np.zeros(ONSET_STEPS)
    for part in score.parts:
        for note in part.notes:
            counts[round(note.start * ONSET_STEPS) % ONSET_STEPS] += 1
    return counts


def length_histogram(score: Score) -> np.ndarray:
    counts = np.zeros(len(LENGTH_EDGES) + 1)
    for note in pitched_notes(score):
        counts[np.searchsorted(LENGTH_EDGES, note.duration, side="right")] += 1
    return counts


def unit(vector: np.ndarray) -> list[float]:
    norm = float(np.linalg.norm(vector))
    return [float(value) / norm for value in vector] if norm > 0 else [0.0] * len(vector)


class SignatureModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignatureFeatures(SignatureModel):
    """One piece's metrics and histograms (each histogram scaled to unit length)."""

    title: str = ""
    pitch_class_entropy: float
    scale_consistency: float
    groove_consistency: float
    pitch_classes: list[float]
    intervals: list[float]
    onsets: list[float]
    lengths: list[float]

    @classmethod
    def of(cls, score: Score) -> SignatureFeatures:
        return cls(
            title=score.plan.title,
            pitch_class_entropy=pitch_class_entropy(score),
            scale_consistency=scale_consistency(score),
            groove_consistency=groove_consistency(score),
            pitch_classes=unit(pitch_class_histogram(score, score.plan.key.pitch_class)),
            intervals=unit(interval_histogram(score)),
            onsets=unit(onset_histogram(score)),
            lengths=unit(length_histogram(score)),
        )

    def shape(self, name: str) -> np.ndarray:
        return np.asarray(getattr(self, name))

    @property
    def vector(self) -> np.ndarray:
        """The four histograms end to end; its cosine with another is the mean of theirs."""
        return np.concatenate([self.shape(name) for name in SHAPES])


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norms if norms > 0 else 0.0


# --- the catalogue and the report --------------------------------------------------------------

class MetricRange(SignatureModel):
    value: float
    low: float  # her catalogue's range
    high: float


class SignatureReport(SignatureModel):
    """A piece against her catalogue: the numbers, and `drift` in plain words (empty: on signature)."""

    title: str
    catalogue_size: int
    similarity: float  # cosine with the catalogue piece most like it, 0..1
    nearest: str  # that piece's title
    mean_similarity: float  # cosine with the catalogue's mean shape (her average piece)
    shapes: dict[str, float]  # each histogram's cosine with the closest catalogue piece's
    pitch_class_entropy: MetricRange
    scale_consistency: MetricRange
    groove_consistency: MetricRange
    drift: list[str]

    @property
    def on_signature(self) -> bool:
        return not self.drift

    def summary(self) -> str:
        """One line for a terminal."""
        return (f"signature: similarity {self.similarity:.2f} to the closest of her {self.catalogue_size} pieces ({self.nearest}), "
                f"{self.mean_similarity:.2f} to her average; pitch-class entropy {self.pitch_class_entropy.value:.2f} bits, "
                f"scale consistency {self.scale_consistency.value:.2f}, groove consistency {self.groove_consistency.value:.3f}")


class SignatureCatalogue:
    """Her earlier pieces' features; `report` compares a new piece with them."""

    def __init__(self, pieces: Iterable[SignatureFeatures] = ()):
        self.pieces: list[SignatureFeatures] = list(pieces)

    @classmethod
    def from_dna(cls, music: MusicDNA, persona: str = "", seeds: Sequence[int] = REFERENCE_SEEDS,
                 minutes: float = REFERENCE_MINUTES) -> SignatureCatalogue:
        """Pieces composed from her DNA alone (no mood words): every genre of hers with every seed,
        her keys taken in turn so each one appears (about 30 ms a piece)."""
        return cls(
            SignatureFeatures.of(compose(plan)).model_copy(update={"title": f"her {plan.genre or 'sketch'} in {plan.key} (seed {plan.seed})"})
            for plan in reference_plans(music, persona, seeds, minutes)
        )

    def add(self, features: SignatureFeatures) -> None:
        self.pieces.append(features)

    def add_score(self, score: Score) -> None:
        self.add(SignatureFeatures.of(score))

    def add_bundles(self, folder: Path, exclude: Iterable[Path] = ()) -> list[Path]:
        """Add every bundle in `folder` (`*/manifest.json` with a plan) but those in `exclude`;
        a manifest that cannot be read is skipped. Returns the bundles added."""
        skipped = {Path(path).resolve() for path in exclude}
        added = []
        for manifest in sorted(Path(folder).glob("*/manifest.json")):
            bundle = manifest.parent
            if bundle.resolve() in skipped:
                continue
            try:
                plan = CompositionPlan.from_data(json.loads(manifest.read_text(encoding="utf-8"))["plan"], source=str(manifest))
            except (OSError, ValueError, KeyError, TypeError, PlanError):
                continue
            self.add_score(compose(plan))
            added.append(bundle)
        return added

    def to_json(self) -> str:
        return json.dumps([piece.model_dump(mode="json") for piece in self.pieces], indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> SignatureCatalogue:
        return cls(SignatureFeatures.model_validate(piece) for piece in json.loads(text))

    def mean_shape(self, name: str) -> np.ndarray:
        return np.mean([piece.shape(name) for piece in self.pieces], axis=0)

    def metric_range(self, name: str, value: float) -> MetricRange:
        values = [getattr(piece, name) for piece in self.pieces if not math.isnan(getattr(piece, name))]
        return MetricRange(value=value, low=min(values, default=math.nan), high=max(values, default=math.nan))

    def report(self, piece: Score | SignatureFeatures) -> SignatureReport:
        if not self.pieces:
            raise ValueError("the signature catalogue is empty: add pieces (from_dna, add_bundles) before comparing")
        features = piece if isinstance(piece, SignatureFeatures) else SignatureFeatures.of(piece)
        mean = np.concatenate([unit(self.mean_shape(name)) for name in SHAPES])
        nearest = max(self.pieces, key=lambda other: cosine(features.vector, other.vector))
        # Each histogram against the piece of hers it is most like: her range spans genres.
        shapes = {name: max(cosine(features.shape(name), other.shape(name)) for other in self.pieces) for name in SHAPES}
        report = SignatureReport(
            title=features.title,
            catalogue_size=len(self.pieces),
            similarity=round(cosine(features.vector, nearest.vector), 4),
            nearest=nearest.title,
            mean_similarity=round(cosine(features.vector, mean), 4),
            shapes={name: round(value, 4) for name, value in shapes.items()},
            pitch_class_entropy=self.metric_range("pitch_class_entropy", features.pitch_class_entropy),
            scale_consistency=self.metric_range("scale_consistency", features.scale_consistency),
            groove_consistency=self.metric_range("groove_consistency", features.groove_consistency),
            drift=[],
        )
        report.drift = drift_warnings(report)
        return report


def reference_plans(music: MusicDNA, persona: str = "", seeds: Sequence[int] = REFERENCE_SEEDS,
                    minutes: float = REFERENCE_MINUTES) -> list[CompositionPlan]:
    planner = ProceduralPlanner(music, persona)
    genres = music.genres or [None]
    keys = music.keys or [None]
    plans = []
    for turn, seed in enumerate(seeds):
        for index, genre in enumerate(genres):
            key = keys[(index + turn * len(genres)) % len(keys)]
            plans.append(planner.plan(MusicBrief(minutes=minutes, genre=genre, key=key, seed=seed)))
    return plans


def drift_warnings(report: SignatureReport) -> list[str]:
    """Plain-language warnings, each with the number, her range and why it matters."""
    warnings = []
    if report.similarity < SIMILARITY_FLOOR:
        warnings.append(
            f"overall it is unlike any of her pieces: similarity {report.similarity:.2f} to the closest (her own pieces score "
            f"{SIMILARITY_FLOOR:.2f} or more), so listeners may not hear her in it"
        )
    for name in SHAPES:
        if report.shapes[name] < SHAPE_FLOOR:
            warnings.append(f"{SHAPE_WORDS[name]} differ from hers: similarity {report.shapes[name]:.2f} (below {SHAPE_FLOOR:.2f})")
    scale = report.scale_consistency
    if scale.value < SCALE_CONSISTENCY_FLOOR:
        warnings.append(
            f"only {scale.value:.0%} of the notes fit one major or minor scale (hers: {scale.low:.0%}-{scale.high:.0%}); "
            f"she writes in keys and modes, so this will sound chromatic rather than hers"
        )
    entropy = report.pitch_class_entropy
    if entropy.value > entropy.high + ENTROPY_MARGIN_BITS:
        warnings.append(
            f"it spreads over the twelve notes too evenly: pitch-class entropy {entropy.value:.2f} bits (hers: "
            f"{entropy.low:.2f}-{entropy.high:.2f}; {math.log2(12):.2f} is all twelve alike), which blurs her tonal centre"
        )
    elif entropy.value < entropy.low - ENTROPY_MARGIN_BITS:
        warnings.append(
            f"it keeps to very few notes: pitch-class entropy {entropy.value:.2f} bits (hers: {entropy.low:.2f}-{entropy.high:.2f}), "
            f"sparser harmony than she writes"
        )
    groove = report.groove_consistency
    if groove.value < groove.low - GROOVE_MARGIN:
        warnings.append(
            f"the rhythm changes from bar to bar more than hers: groove consistency {groove.value:.3f} (hers: "
            f"{groove.low:.3f}-{groove.high:.3f}); her pieces hold a steady groove"
        )
    return warnings
