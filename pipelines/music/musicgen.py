"""MusicGen stems: the composed piece played again by MusicGen-Melody, in the persona's sound.

The GPU backend of the music pipeline. It uses transformers' own MusicGen-Melody
(`MusicgenMelodyForConditionalGeneration`): audiocraft cannot be installed beside torch 2.13,
and the weights are the same. Weights come from a local folder only; nothing is fetched:

    renderer = MusicgenRenderer.from_pretrained("/models/musicgen-melody")   # or MusicgenConfig(...).load()
    prompt = musicgen_prompt(card.music, brief, score.plan)
    stem = renderer.render(score, prompt, progress=lambda done, total: ..., cancel=event)
    export_bundle(score, Path("exports"), musicgen=[stem])    # commercial=True refuses it: CC-BY-NC

How a piece is made:

1. Text: `musicgen_prompt` writes genre, mood words, tempo, key, meter and instruments from
   the persona's music DNA, the brief and the plan; each window adds its section and energy.
2. Melody: MusicGen-Melody is conditioned on a chromagram, one pitch class a frame (its
   feature extractor keeps only the strongest bin). The composed melody is known note by
   note, so the chromagram is read straight off the score instead of being estimated from
   audio: no torchaudio, no transcription error.
3. Windows: MusicGen drifts over long spans and was trained on 30 s, so the piece is made
   section by section (a long section is split at bar lines), one `generate()` call a window,
   each conditioned on its own stretch of the melody. Every window is placed at its
   section's exact sample offset on the bundle's 48 kHz grid and starts a little early, so
   it fades in under the end of the previous one and is at full level on the downbeat. The
   last window runs to the end of the bundle, so the stem lines up with the MIDI and the
   rendered stems from sample 0 and has exactly their length.
4. Output: resampled to 48 kHz (scipy's polyphase `resample_poly`) window by window and
   normalised to `stem_lufs` with the true peak under -1 dBTP (the master's own loudness
   code). The stem records the model and its licence; MusicGen weights are CC-BY-NC, so a
   commercial export refuses the stem (see `bundle.export_bundle`).

Progress is reported as (windows done, windows in all); a cancel signal is checked between
windows and at every generated frame, and a cancelled call raises `Cancelled` (pipelines/progress.py).

`save_random_musicgen` writes a MusicGen-Melody folder with random weights (tests use a tiny
one; `real_size_config` gives the published architectures for a GPU benchmark).
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from scipy.signal import butter, resample_poly, sosfiltfilt
from transformers import (
    AutoTokenizer,
    EncodecConfig,
    MusicgenMelodyConfig,
    MusicgenMelodyDecoderConfig,
    MusicgenMelodyForConditionalGeneration,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
    T5Config,
    T5Tokenizer,
)

from pipelines.model_folder import read_model_folder
from pipelines.music.bundle import GeneratedStem
from pipelines.music.master import MasterError, master
from pipelines.music.midi import playable_notes
from pipelines.music.plan import CompositionPlan
from pipelines.music.planner import MusicBrief, read_mood
from pipelines.music.render import SAMPLE_RATE, piece_frames
from pipelines.music.score import Part, Score
from pipelines.progress import CancelSignal, Cancelled, ProgressCallback, is_cancelled
from pipelines.style import MusicDNA

if TYPE_CHECKING:
    from pipelines.music.config import MusicgenConfig

DEFAULT_LICENCE = "CC-BY-NC-4.0"  # Meta's MusicGen weights
CROSSFADE_S = 0.25  # each window starts this early and fades in under the previous one
DC_CUTOFF_HZ = 20.0  # below music; EnCodec's output can carry an offset that wastes headroom and steps at seams
TRUE_PEAK_CEILING_DBTP = -1.0
# MusicgenMelodyFeatureExtractor's defaults, used when a folder has no preprocessor_config.json.
CHROMA_SAMPLE_RATE = 32_000
CHROMA_HOP_LENGTH = 4096
# Where a melody is missing, the part that best stands in for it, best first.
MELODY_STAND_INS = ("melody", "counter", "arpeggio", "chords", "pad", "bass")
_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
_TOKENIZER_FILES = ("tokenizer.json", "spiece.model")


class MusicgenError(RuntimeError):
    """Something went wrong making a MusicGen stem."""


class MusicgenModelError(MusicgenError):
    """A model folder is missing, incomplete or of the wrong kind; the message says what to configure."""


# --- the text prompt ---------------------------------------------------------------------------

def musicgen_prompt(music: MusicDNA | None, brief: MusicBrief | str | None, plan: CompositionPlan) -> str:
    """What MusicGen is asked for, in the words its training captions use.

    'lo-fi chamber instrumental, rainy Seoul night, hopeful, mood: rainy, night, hopeful,
    84 bpm, D dorian, 4/4, featuring detuned upright piano, clarinet, brushed drums'.
    The plan decides tempo, key and parts; the brief adds the producer's own words; the
    persona's music DNA fills in what the plan leaves open.
    """
    brief = MusicBrief.of(brief) if brief is not None else None
    genre = plan.genre or (brief.genre if brief and brief.genre else "") or (music.genres[0] if music and music.genres else "")
    moods = list(dict.fromkeys([*plan.mood, *(read_mood(brief.text).words if brief else ())]))
    instruments = list(dict.fromkeys(part.name for part in plan.instruments)) or (list(music.instruments) if music else [])
    meter = plan.time_signature
    pieces = [
        f"{genre} instrumental" if genre else "instrumental",
        " ".join(brief.text.split()) if brief and brief.text.strip() else "",
        f"mood: {', '.join(moods)}" if moods else "",
        f"{round(plan.bpm)} bpm",
        str(plan.key),
        f"{meter.numerator}/{meter.denominator}",
        f"featuring {', '.join(instruments)}" if instruments else "",
    ]
    return ", ".join(piece for piece in pieces if piece)


def section_prompt(prompt: str, section: str, energy: float) -> str:
    """The piece's prompt with what this window is: 'verse, steady' or 'chorus, full and loud'."""
    kind = re.sub(r"\s*\d+$", "", section).strip() or section
    if energy < 0.3:
        feel = "sparse and quiet"
    elif energy < 0.6:
        feel = "steady"
    elif energy < 0.8:
        feel = "full"
    else:
        feel = "full and loud"
    return f"{prompt}, {kind}, {feel}"


# --- windows on the tempo grid -----------------------------------------------------------------

@dataclass(frozen=True)
class Window:
    """One generate() call: the piece from `start_beat` to `end_beat`, placed at 48 kHz samples
    [start_sample, end_sample); it is generated from `lead_in` samples earlier, to fade in."""

    index: int
    section: str
    energy: float
    start_beat: float
    end_beat: float
    start_sample: int
    end_sample: int
    lead_in: int  # samples generated before start_sample (0 for the first window)

    @property
    def first_sample(self) -> int:
        return self.start_sample - self.lead_in

    @property
    def samples(self) -> int:
        """Samples this window's audio covers, lead-in included."""
        return self.end_sample - self.first_sample


def plan_windows(score: Score, max_seconds: float, frames: int | None = None, crossfade_s: float = CROSSFADE_S) -> list[Window]:
    """The windows that cover the piece: one per section, a long section split at bar lines
    (at beats if a bar alone is too long), none longer than `max_seconds` with its lead-in.

    Window starts are the sections' start samples exactly as the bundle's manifest computes
    them; the last window runs to `frames` (default: the rendered stems' length).
    """
    frames = piece_frames(score, SAMPLE_RATE) if frames is None else frames
    seconds_per_beat = score.plan.seconds_per_beat
    beats_per_bar = score.plan.time_signature.beats_per_bar
    end_of_audio_beat = frames / SAMPLE_RATE / seconds_per_beat
    lead_in = round(crossfade_s * SAMPLE_RATE)
    limit_s = max_seconds - crossfade_s
    if limit_s < 2 * seconds_per_beat:
        raise MusicgenError(f"max_seconds_per_call {max_seconds:g} s is too short for windows of whole beats at {score.plan.bpm:g} bpm")

    # The score's sections are the plan's, in order: each span takes its section's energy.
    spans = [(span.name, section.energy, span.start_beat, span.end_beat) for span, section in zip(score.sections, score.plan.sections)]
    if not spans:
        spans = [("piece", 0.5, 0.0, score.total_beats)]
    name, energy, start, _ = spans[-1]
    spans[-1] = (name, energy, start, max(end_of_audio_beat, start + 1e-9))  # the release tail belongs to the last section

    def to_sample(beat: float) -> int:
        return round(beat * seconds_per_beat * SAMPLE_RATE)

    windows: list[Window] = []
    for name, energy, start, end in spans:
        for piece_start, piece_end in split_span(start, end, limit_s / seconds_per_beat, beats_per_bar):
            index = len(windows)
            start_sample = to_sample(piece_start)
            end_sample = frames if piece_end >= end_of_audio_beat else to_sample(piece_end)
            windows.append(Window(
                index, name, energy, piece_start, piece_end, start_sample, min(end_sample, frames),
                lead_in=min(lead_in, start_sample) if index else 0,
            ))
    return [window for window in windows if window.end_sample > window.start_sample]


def split_span(start: float, end: float, limit_beats: float, beats_per_bar: float) -> list[tuple[float, float]]:
    """[start, end) in beats cut into the fewest pieces of at most `limit_beats`, cutting on
    bar lines of the piece where that works, else on beats."""
    length = end - start
    fewest = max(1, math.ceil(length / limit_beats - 1e-9))

    def cut(count: int, grid: float | None) -> list[tuple[float, float]] | None:
        cuts = [start + length * step / count for step in range(1, count)]
        if grid is not None:
            cuts = [round(point / grid) * grid for point in cuts]  # onto the piece's grid, counted from beat 0
        edges = [start, *cuts, end]
        pieces = list(zip(edges, edges[1:]))
        return pieces if all(0 < b - a <= limit_beats + 1e-9 for a, b in pieces) else None

    for grid in (beats_per_bar, 1.0):  # a window more, rather than a cut inside a bar
        for count in range(fewest, fewest + 4):
            if pieces := cut(count, grid):
                return pieces
    return cut(fewest, None)  # even cuts always fit


# --- the melody as MusicGen hears it -----------------------------------------------------------

def melody_part(score: Score) -> Part | None:
    """The melody, or the part that best stands in for it; None when nothing is pitched."""
    for role in MELODY_STAND_INS:
        for part in score.parts:
            if part.role == role and not part.is_drums and part.notes:
                return part
    return None


def melody_chroma(part: Part | None, score: Score, start_s: float, frames: int, frames_per_second: float) -> np.ndarray:
    """(frames, 12) one-hot chroma from `start_s`, as MusicgenMelodyFeatureExtractor makes it.

    Frame k is the instant start_s + k / frames_per_second (the extractor's STFT is centred).
    Its pitch class is the highest melody note sounding then; in a rest the last note is
    held (a rest has no pitch, and the extractor would report the strongest leftover bin);
    before the first note, the key's tonic.
    """
    chroma = np.zeros((frames, 12), dtype=np.float32)
    times = start_s + np.arange(frames) / frames_per_second
    pitch_classes = np.full(frames, score.plan.key.pitch_class)
    notes = playable_notes(part) if part is not None else []
    if notes:
        seconds_per_beat = score.plan.seconds_per_beat
        starts = np.array([note.start for note in notes]) * seconds_per_beat
        ends = np.array([note.start + note.duration for note in notes]) * seconds_per_beat
        pitches = np.array([note.pitch for note in notes])
        sounding = (starts[None, :] <= times[:, None]) & (times[:, None] < ends[None, :])
        highest = np.where(sounding, pitches[None, :], -1).max(axis=1)
        last_started = np.searchsorted(starts, times, side="right") - 1  # notes are in time order
        held = np.where(last_started >= 0, pitches[np.maximum(last_started, 0)], -1)
        chosen = np.where(highest >= 0, highest, held)
        pitch_classes = np.where(chosen >= 0, chosen % 12, pitch_classes)
    chroma[np.arange(frames), pitch_classes] = 1.0
    return chroma


# --- the renderer ------------------------------------------------------------------------------

def choose_device() -> tuple[str, torch.dtype]:
    """cuda in half precision when there is a GPU, else cpu in float32."""
    if torch.cuda.is_available():
        return "cuda", torch.float16
    return "cpu", torch.float32


def check_model_folder(model_dir: str | Path | None) -> Path:
    """The folder as a Path, or MusicgenModelError saying what is missing and what to configure."""
    expected = "a local MusicGen-melody folder in transformers format (config.json, model weights, tokenizer), e.g. facebook/musicgen-melody saved with save_pretrained"
    folder, config = read_model_folder(model_dir, "config.json", "music.musicgen.model_dir", "MusicGen model", "transformers model folder",
                                       expected, MusicgenModelError)
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type != "musicgen_melody":
        hint = " (a text-only MusicGen: melody conditioning needs a musicgen-melody model)" if model_type == "musicgen" else ""
        raise MusicgenModelError(
            f"{folder} holds a {model_type or 'model of unknown type'}{hint}, not musicgen_melody: point music.musicgen.model_dir at {expected}"
        )
    missing = []
    if not any((folder / name).is_file() for name in _WEIGHT_FILES):
        missing.append(f"model weights ({' or '.join(_WEIGHT_FILES[::2])})")
    if not any((folder / name).is_file() for name in _TOKENIZER_FILES):
        missing.append(f"the T5 tokenizer ({' or '.join(_TOKENIZER_FILES)})")
    if missing:
        raise MusicgenModelError(f"{folder} is incomplete: missing {' and '.join(missing)} (expected {expected})")
    return folder


def chroma_settings(folder: Path) -> tuple[int, int]:
    """(sampling rate, hop length) of the folder's feature extractor: its chroma frame rate."""
    try:
        settings = json.loads((folder / "preprocessor_config.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        settings = {}
    return int(settings.get("sampling_rate", CHROMA_SAMPLE_RATE)), int(settings.get("hop_length", CHROMA_HOP_LENGTH))


class StopWhenCancelled(StoppingCriteria):
    """Ends generate() at the next frame once the cancel signal is set."""

    def __init__(self, cancel: CancelSignal):
        self.cancel = cancel

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), is_cancelled(self.cancel), dtype=torch.bool, device=input_ids.device)


class MusicgenRenderer:
    """Turns a Score into a MusicGen stem aligned with its MIDI and rendered stems.

    Calls are serialised: one model generates one window at a time (run one renderer per
    GPU for more).
    """

    def __init__(
        self,
        model: MusicgenMelodyForConditionalGeneration,
        tokenizer: PreTrainedTokenizerBase,
        model_name: str,
        *,
        licence: str = DEFAULT_LICENCE,
        chroma_frames_per_second: float = CHROMA_SAMPLE_RATE / CHROMA_HOP_LENGTH,
        guidance_scale: float = 3.0,
        top_k: int = 250,
        temperature: float = 1.0,
        max_seconds_per_call: float = 30.0,
        stem_lufs: float = -18.0,
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.model_name = model_name
        self.licence = licence
        self.chroma_frames_per_second = chroma_frames_per_second
        self.guidance_scale = guidance_scale
        self.top_k = top_k
        self.temperature = temperature
        # The melody conditioning covers config.chroma_length frames (30 s for the released
        # models); a longer window would lose the end of its melody.
        chroma_seconds = (model.config.chroma_length - 1) / chroma_frames_per_second
        self.max_seconds_per_call = min(max_seconds_per_call, chroma_seconds)
        self.stem_lufs = stem_lufs
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(
        cls,
        model_dir: str | Path | None,
        *,
        model_name: str | None = None,
        licence: str = DEFAULT_LICENCE,
        device: str | None = None,
        dtype: torch.dtype | str | None = None,
        **settings,
    ) -> MusicgenRenderer:
        """Load the tokenizer and model in `model_dir` (local files only); device and dtype
        default to cuda + float16 when there is a GPU, else cpu + float32. `settings` are
        the sampling and window settings of `__init__`."""
        folder = check_model_folder(model_dir)
        device = device or choose_device()[0]
        if isinstance(dtype, str):
            dtype = _DTYPES[dtype]
        dtype = dtype or (torch.float16 if device.startswith("cuda") else torch.float32)
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = MusicgenMelodyForConditionalGeneration.from_pretrained(folder, local_files_only=True, dtype=dtype)
        except (OSError, ValueError) as error:
            raise MusicgenModelError(f"could not load the MusicGen-melody model in {folder}: {error}") from error
        sample_rate, hop_length = chroma_settings(folder)
        return cls(
            model.to(device), tokenizer, model_name or folder.name, licence=licence,
            chroma_frames_per_second=sample_rate / hop_length, **settings,
        )

    @classmethod
    def from_config(cls, config: MusicgenConfig) -> MusicgenRenderer:
        return cls.from_pretrained(
            config.model_dir, model_name=config.model_name, licence=config.licence, device=config.device, dtype=config.dtype,
            guidance_scale=config.guidance_scale, top_k=config.top_k, temperature=config.temperature,
            max_seconds_per_call=config.max_seconds_per_call, stem_lufs=config.stem_lufs,
        )

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def sample_rate(self) -> int:
        """The rate the model generates at (32 kHz for the released models)."""
        return int(self.model.config.audio_encoder.sampling_rate)

    @property
    def samples_per_frame(self) -> int:
        """Audio samples per generated code frame (640 at 32 kHz: 50 frames a second)."""
        return int(np.prod(self.model.config.audio_encoder.upsampling_ratios))

    def windows(self, score: Score, frames: int | None = None) -> list[Window]:
        return plan_windows(score, self.max_seconds_per_call, frames)

    def render(
        self,
        score: Score,
        prompt: str,
        *,
        name: str = "MusicGen",
        seed: int | None = None,
        frames: int | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelSignal | None = None,
    ) -> GeneratedStem:
        """A stem of `frames` samples at 48 kHz (default: as long as the rendered stems),
        window by window; `seed` (default: the plan's) makes it repeatable on one device."""
        frames = piece_frames(score, SAMPLE_RATE) if frames is None else frames
        windows = self.windows(score, frames)
        seed = score.plan.seed if seed is None else seed
        melody = melody_part(score)
        stem = np.zeros((frames, self.model.config.decoder.audio_channels), dtype=np.float32)
        with self._lock:
            for window in windows:
                if is_cancelled(cancel):
                    raise Cancelled(f"cancelled after {window.index} of {len(windows)} windows")
                audio = self.generate_window(score, melody, window, section_prompt(prompt, window.section, window.energy), seed + window.index, cancel)
                following = windows[window.index + 1] if window.index + 1 < len(windows) else None
                place_window(stem, audio, window, fade_out=following.lead_in if following else 0)
                if progress is not None:
                    progress(window.index + 1, len(windows))
        return GeneratedStem(name, self.normalised(stem), SAMPLE_RATE, self.model_name, self.licence)

    def generate_window(
        self, score: Score, melody: Part | None, window: Window, prompt: str, seed: int, cancel: CancelSignal | None,
    ) -> np.ndarray:
        """(window.samples, channels) float32 at 48 kHz: one generate() call, resampled."""
        start_s = window.first_sample / SAMPLE_RATE
        model_samples = math.ceil(window.samples * self.sample_rate / SAMPLE_RATE)
        # Enough code frames to cover the window, plus one for the resampler's edge; MusicGen's
        # delay pattern costs (codebooks - 1) extra steps before the last frame is complete.
        code_frames = math.ceil(model_samples / self.samples_per_frame) + 1
        steps = code_frames + self.model.config.decoder.num_codebooks - 1
        chroma_frames = min(math.floor(window.samples / SAMPLE_RATE * self.chroma_frames_per_second) + 1, self.model.config.chroma_length)
        chroma = melody_chroma(melody, score, start_s, chroma_frames, self.chroma_frames_per_second)

        text = self.tokenizer([prompt], return_tensors="pt", truncation=True).to(self.device)
        input_features = torch.from_numpy(chroma)[None].to(self.device, self.model.dtype)
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        try:
            with torch.inference_mode(), torch.random.fork_rng(devices=devices):
                torch.manual_seed(seed)  # per window, so a piece comes out the same every time
                audio_values = self.model.generate(
                    **text,
                    input_features=input_features,
                    max_new_tokens=steps,  # MusicGen has no end token: it always makes them all
                    do_sample=True,
                    guidance_scale=self.guidance_scale,
                    top_k=self.top_k,
                    temperature=self.temperature,
                    stopping_criteria=StoppingCriteriaList([StopWhenCancelled(cancel)] if cancel is not None else []),
                )
        except RuntimeError:
            # Stopped part-way, the codes may not undo MusicGen's delay pattern; that is the cancel.
            if not is_cancelled(cancel):
                raise
        if is_cancelled(cancel):
            raise Cancelled(f"cancelled during window {window.index + 1}")
        audio = audio_values[0].float().cpu().numpy().T  # (channels, samples) -> (samples, channels)
        if audio.shape[0] < model_samples:
            raise MusicgenError(f"MusicGen made {audio.shape[0]} samples for window {window.index + 1}; {model_samples} were needed")
        return without_dc(to_bundle_rate(audio[:model_samples], self.sample_rate, window.samples))

    def normalised(self, stem: np.ndarray) -> np.ndarray:
        """The stem at `stem_lufs`, true peak at most -1 dBTP: the master's loudness code, reused."""
        try:
            return master(stem, SAMPLE_RATE, target_lufs=self.stem_lufs, ceiling_dbtp=TRUE_PEAK_CEILING_DBTP).audio
        except MasterError as error:
            raise MusicgenError(f"MusicGen's output cannot be loudness-normalised: {error}") from error


def to_bundle_rate(audio: np.ndarray, sample_rate: int, samples: int) -> np.ndarray:
    """(samples, channels) float32 at 48 kHz, cut or padded to exactly `samples`."""
    if sample_rate != SAMPLE_RATE:
        common = math.gcd(SAMPLE_RATE, sample_rate)
        audio = resample_poly(audio, SAMPLE_RATE // common, sample_rate // common, axis=0)
    audio = np.asarray(audio[:samples], dtype=np.float32)
    if audio.shape[0] < samples:
        audio = np.pad(audio, ((0, samples - audio.shape[0]), (0, 0)))
    return audio


def without_dc(audio: np.ndarray) -> np.ndarray:
    """A zero-phase high-pass at DC_CUTOFF_HZ: no offset, and no shift in time."""
    if audio.shape[0] < 64:  # too short to filter; a window is never this short in practice
        return audio - audio.mean(axis=0)
    highpass = butter(2, DC_CUTOFF_HZ, btype="highpass", fs=SAMPLE_RATE, output="sos")
    return sosfiltfilt(highpass, audio, axis=0).astype(np.float32)


def place_window(stem: np.ndarray, audio: np.ndarray, window: Window, fade_out: int) -> None:
    """Add a window's audio at its samples, fading in over its lead-in and out over the last
    `fade_out` samples (the next window's lead-in): equal-power fades, so the level holds."""
    audio = audio.copy()
    if window.lead_in:
        audio[: window.lead_in] *= np.sin(np.linspace(0, np.pi / 2, window.lead_in, endpoint=False))[:, None]
    if fade_out:
        audio[audio.shape[0] - fade_out :] *= np.cos(np.linspace(0, np.pi / 2, fade_out, endpoint=False))[:, None]
    stem[window.first_sample : window.end_sample] += audio


# --- random models for tests and benchmarks ----------------------------------------------------

# The published MusicGen decoders (hidden size, layers, attention heads); all use t5-base as
# text encoder and the 32 kHz EnCodec with 4 codebooks of 2048 codes.
REAL_SIZES = {
    "musicgen-small": (1024, 24, 16),
    "musicgen-medium": (1536, 48, 24),
    "musicgen-melody": (1536, 48, 24),
    "musicgen-large": (2048, 48, 32),
    "musicgen-melody-large": (2048, 48, 32),
}


def tiny_t5_tokenizer() -> T5Tokenizer:
    """A T5 (Unigram) tokenizer of letters, digits and punctuation, built in code."""
    characters = "abcdefghijklmnopqrstuvwxyz0123456789"
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    pieces += [(character, -2.0) for character in characters + ",.:/-'#"] + [("▁" + character, -2.5) for character in characters]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def tiny_config(vocab_size: int = 100, codebooks: int = 2, codebook_size: int = 64, sampling_rate: int = 32_000) -> MusicgenMelodyConfig:
    """A MusicGen-Melody a few hundred kilobytes big: the real layout (32 kHz EnCodec at 50
    frames a second, T5 text encoder, chroma conditioning), tiny widths."""
    text_encoder = T5Config(vocab_size=vocab_size, d_model=16, d_ff=32, d_kv=8, num_layers=1, num_heads=2)
    bits = int(math.log2(codebook_size))
    audio_encoder = EncodecConfig(
        sampling_rate=sampling_rate, audio_channels=1, num_filters=4, hidden_size=16, codebook_size=codebook_size,
        codebook_dim=16, upsampling_ratios=[8, 5, 4, 4], num_residual_layers=1, num_lstm_layers=1, compress=2,
        kernel_size=3, last_kernel_size=3, residual_kernel_size=3,
        # EnCodec derives its number of codebooks from the bandwidth: codebooks x 50 frames/s x bits.
        target_bandwidths=[codebooks * (sampling_rate / 640) * bits / 1000],
    )
    decoder = MusicgenMelodyDecoderConfig(
        vocab_size=codebook_size, hidden_size=16, ffn_dim=32, num_hidden_layers=2, num_attention_heads=2,
        num_codebooks=codebooks, pad_token_id=codebook_size, bos_token_id=codebook_size,  # pad/bos = vocab size
    )
    return MusicgenMelodyConfig(text_encoder=text_encoder.to_dict(), audio_encoder=audio_encoder.to_dict(), decoder=decoder.to_dict())


def real_size_config(name: Literal["musicgen-small", "musicgen-medium", "musicgen-melody", "musicgen-large", "musicgen-melody-large"] = "musicgen-melody") -> MusicgenMelodyConfig:
    """The architecture of a published MusicGen as a MusicGen-Melody (for musicgen-small,
    the same decoder with a chroma input): random weights of it time like the real ones."""
    hidden_size, layers, heads = REAL_SIZES[name]
    text_encoder = T5Config(vocab_size=32128, d_model=768, d_ff=3072, d_kv=64, num_layers=12, num_heads=12)  # t5-base
    audio_encoder = EncodecConfig(  # facebook/encodec_32khz
        sampling_rate=32_000, audio_channels=1, num_filters=64, hidden_size=128, codebook_size=2048, codebook_dim=128,
        upsampling_ratios=[8, 5, 4, 4], target_bandwidths=[2.2], num_lstm_layers=2, normalize=False, use_causal_conv=False,
        norm_type="weight_norm", kernel_size=7, last_kernel_size=7, residual_kernel_size=3, num_residual_layers=1,
        compress=2, dilation_growth_rate=2, pad_mode="reflect", trim_right_ratio=1.0,
    )
    decoder = MusicgenMelodyDecoderConfig(
        vocab_size=2048, hidden_size=hidden_size, ffn_dim=4 * hidden_size, num_hidden_layers=layers,
        num_attention_heads=heads, num_codebooks=4, pad_token_id=2048, bos_token_id=2048,
    )
    return MusicgenMelodyConfig(text_encoder=text_encoder.to_dict(), audio_encoder=audio_encoder.to_dict(), decoder=decoder.to_dict())


def random_musicgen(config: MusicgenMelodyConfig | None = None, seed: int = 0) -> tuple[MusicgenMelodyForConditionalGeneration, T5Tokenizer]:
    """A MusicGen-Melody with random weights (tiny unless `config` says otherwise) and a tokenizer."""
    tokenizer = tiny_t5_tokenizer()
    config = config or tiny_config(vocab_size=len(tokenizer))
    config.decoder_start_token_id = config.decoder.bos_token_id
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MusicgenMelodyForConditionalGeneration(config).eval()
        # EnCodec starts with all-zero codebooks (they are learnt), which would decode every
        # code to the same sound: random ones make the audio depend on what was generated.
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_()
            layer.codebook.embed_avg.copy_(layer.codebook.embed)
            layer.codebook.cluster_size.fill_(1.0)
    model.generation_config.decoder_start_token_id = config.decoder.bos_token_id
    model.generation_config.pad_token_id = config.decoder.pad_token_id
    return model, tokenizer


def save_random_musicgen(folder: str | Path, config: MusicgenMelodyConfig | None = None, seed: int = 0) -> Path:
    """Write a loadable MusicGen-Melody folder with random weights: the model, the tokenizer
    and the feature extractor's settings (written as JSON: the extractor itself needs torchaudio)."""
    folder = Path(folder)
    model, tokenizer = random_musicgen(config, seed)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    preprocessor = {
        "feature_extractor_type": "MusicgenMelodyFeatureExtractor", "processor_class": "MusicgenMelodyProcessor",
        "feature_size": 12, "num_chroma": 12, "sampling_rate": CHROMA_SAMPLE_RATE, "hop_length": CHROMA_HOP_LENGTH,
        "chunk_length": 30, "n_fft": 16384, "padding_side": "left", "padding_value": 0.0, "return_attention_mask": True,
        "stem_indices": [3, 2],
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n", encoding="utf-8")
    return folder
