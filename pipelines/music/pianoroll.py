"""A piano-roll picture of a score: beats across, pitch up, one colour per part.

Drums get their own lane at the bottom (their note numbers are sounds, not pitches);
the title sits top left, sections are marked and named along the top, bars numbered
underneath. Text is set in `pipelines.fonts` (DejaVu Sans, Hangul from the Korean font).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

from pipelines.fonts import TextFont, draw_text, text_font
from pipelines.music.score import Score

WIDTH, HEIGHT = 1600, 720
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 52, 64  # margins for the title, labels and the legend
TITLE_SIZE, LABEL_SIZE = 16, 13
DRUM_LANE = 70
BACKGROUND = (250, 249, 246)
GRID = (225, 222, 215)
INK = (40, 40, 48)
SECTION_LINE = (150, 60, 60)
PART_COLOURS = (
    (214, 69, 65), (52, 120, 198), (60, 160, 90), (230, 150, 40), (140, 80, 180),
    (30, 170, 170), (200, 90, 150), (120, 120, 60), (90, 90, 200), (200, 120, 90),
)
Scale = Callable[[float], float]  # beats to x, or pitch to y, in pixels
Font = TextFont
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def draw_piano_roll(score: Score, path: Path) -> Path:
    path = Path(path)
    path.write_bytes(piano_roll_png(score))
    return path


def piano_roll_png(score: Score) -> bytes:
    buffer = io.BytesIO()
    piano_roll(score).save(buffer, format="PNG")
    return buffer.getvalue()


def piano_roll(score: Score) -> Image.Image:
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = label_font()
    draw_text(draw, (8, 5), score.plan.title, text_font(TITLE_SIZE), fill=INK)
    total_beats = max([score.total_beats] + [note.start + note.duration for part in score.parts for note in part.notes])
    plot_right = WIDTH - RIGHT
    pitched_bottom = HEIGHT - BOTTOM - (DRUM_LANE if any(part.is_drums for part in score.parts) else 0)

    def x_of(beat: float) -> float:
        return LEFT + beat / total_beats * (plot_right - LEFT)

    low, high = pitch_range(score)
    row = (pitched_bottom - TOP) / (high - low + 1)

    def y_of(pitch: int) -> float:
        return pitched_bottom - (pitch - low + 1) * row

    drum_rows = sorted({note.pitch for part in score.parts if part.is_drums for note in part.notes})
    drum_row = (DRUM_LANE - 12) / max(len(drum_rows), 1)

    draw_grid(draw, font, score, x_of, y_of, low, high, pitched_bottom)
    for index, part in enumerate(score.parts):
        colour = PART_COLOURS[index % len(PART_COLOURS)]
        for note in part.notes:
            x0, x1 = x_of(note.start), max(x_of(note.start + note.duration) - 1, x_of(note.start) + 1)
            if part.is_drums:  # one row per drum sound, kick at the bottom
                y0 = pitched_bottom + 6 + (len(drum_rows) - 1 - drum_rows.index(note.pitch)) * drum_row
                draw.rectangle((x0, y0, x1, y0 + max(drum_row - 1, 1)), fill=colour)
            else:
                y0 = y_of(note.pitch)
                draw.rectangle((x0, y0, x1, y0 + max(row - 1, 1)), fill=colour)
    draw_sections(draw, font, score, x_of, pitched_bottom)
    draw_legend(draw, font, score)
    return image


def label_font() -> Font:
    return text_font(LABEL_SIZE)


def pitch_range(score: Score) -> tuple[int, int]:
    pitches = [note.pitch for part in score.parts if not part.is_drums for note in part.notes]
    if not pitches:
        return 48, 72
    return min(pitches) - 2, max(pitches) + 2


def draw_grid(draw: ImageDraw.ImageDraw, font: Font, score: Score, x_of: Scale, y_of: Scale, low: int, high: int, pitched_bottom: float) -> None:
    """Octave lines labelled C2, C3, ..., and a bar line every bar, numbered where they fit."""
    for pitch in range(low, high + 1):
        if pitch % 12 == 0:
            y = y_of(pitch)
            draw.line((LEFT, y, WIDTH - RIGHT, y), fill=GRID)
            draw_text(draw, (6, y - 8), f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}", font, fill=INK)
    beats_per_bar = score.plan.time_signature.beats_per_bar
    bars = score.plan.total_bars
    label_every = max(1, round(bars / 24))
    for bar in range(bars + 1):
        x = x_of(bar * beats_per_bar)
        draw.line((x, TOP, x, pitched_bottom), fill=GRID)
        if bar % label_every == 0 and bar < bars:
            draw_text(draw, (x + 2, HEIGHT - BOTTOM + 4), str(bar + 1), font, fill=INK)


def draw_sections(draw: ImageDraw.ImageDraw, font: Font, score: Score, x_of: Scale, pitched_bottom: float) -> None:
    for section in score.sections:
        x = x_of(section.start_beat)
        draw.line((x, TOP - 18, x, pitched_bottom), fill=SECTION_LINE, width=2)
        name = section.name + (" (loop)" if section.loop else "")
        draw_text(draw, (x + 4, TOP - 20), name, font, fill=SECTION_LINE)


def draw_legend(draw: ImageDraw.ImageDraw, font: Font, score: Score) -> None:
    x = LEFT
    for index, part in enumerate(score.parts):
        colour = PART_COLOURS[index % len(PART_COLOURS)]
        y = HEIGHT - 28
        draw.rectangle((x, y, x + 14, y + 12), fill=colour)
        label = f"{part.name} ({part.role})"
        draw_text(draw, (x + 20, y - 1), label, font, fill=INK)
        x += 20 + font.length(label) + 24
