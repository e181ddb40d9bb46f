"""The Music tab: a producer's brief in, a plan to read and edit (sections, tempo, key, parts),
then the piece: a master and a player per stem, the piano roll and the DAW-ready bundle.

Every action is an API endpoint as well (gradio_client):

    plan_music      brief, minutes, seed, bpm, key, genre, meter
                    -> title, bpm, tonic, mode, meter, genre, seed, sections, instruments, summary
    compose_music   title, bpm, tonic, mode, meter, genre, seed, sections, instruments, commercial
                    -> master, 17 stem players (unused ones hidden), piano roll, bundle zip, MIDI, stems table,
                       summary (loudness, licences, her signature report)

The plan is validated by CompositionPlan, whose errors name the field ("plan: sections.1.bars: ...").
The work is the pipelines' (pipelines/music/); this module lays it out and saves each piece to
the library with the plan that reopens it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import gradio as gr

from pipelines.music.bundle import export_bundle
from pipelines.music.composer import compose
from pipelines.music.plan import MODES, ROLES, TONICS, CompositionPlan, PlanError
from pipelines.music.planner import METER, MusicBrief, ProceduralPlanner
from pipelines.music.score import Score
from pipelines.music.signature import SignatureCatalogue
from pipelines.progress import Cancelled
from studio.context import GPU_GROUP, Reopener, StudioContext
from studio.jobs import CancelFlags, JobCancelled, pipeline_errors, reporter, save, saved_note, scratch_dir

MAX_STEMS = 17  # a plan has at most 16 parts (15 pitched and a drum kit), and MusicGen may add one
SECTION_COLUMNS = ["name", "bars", "chords", "energy", "loop"]
INSTRUMENT_COLUMNS = ["name", "role", "program"]
STEM_COLUMNS = ["file", "part", "role", "program", "licence"]


class MusicTab:
    def __init__(self, context: StudioContext):
        self.context = context
        self.card = context.persona
        self.flags = CancelFlags()
        self._catalogue: SignatureCatalogue | None = None
        self._musicgen = None
        self._lock = threading.Lock()

    def plan_music(self, text: str, minutes: float, seed: float, bpm: float | None, key: str | None, genre: str | None,
                   meter: str | None) -> tuple:
        with pipeline_errors("brief"):
            brief = MusicBrief(text=text or "", minutes=minutes, seed=seed, bpm=bpm or None, key=_blank(key), genre=_blank(genre), meter=_blank(meter))
            plan = ProceduralPlanner(self.card.music, persona=self.card.name).plan(brief)
        return (*plan_fields(plan), {**_extras(plan), "brief": brief.text}, plan_summary(plan))

    def compose_music(self, title: str, bpm: float, tonic: str, mode: str, meter: str, genre: str, seed: float,
                      sections: Any, instruments: Any, commercial: bool, extras: dict | None,
                      request: gr.Request | None = None, progress: gr.Progress = gr.Progress()) -> tuple:
        extras = dict(extras or {})
        brief = extras.pop("brief", None)
        plan = plan_from_fields(title, bpm, tonic, mode, meter, genre, seed, sections, instruments, extras)
        cancelled = self.flags.start(request)
        config = self.context.settings.music.musicgen

        def work(step: Callable[[str, float], None]) -> tuple:
            step("composing", 0.0)
            score = compose(plan)
            generated = self.musicgen_stems(score, brief, bool(commercial), cancelled, step) if config is not None else []
            start = 0.5 if generated else 0.05
            bundle = export_bundle(score, scratch_dir("music"), soundfont=self.context.settings.music.soundfont, musicgen=generated,
                                   commercial=bool(commercial), progress=lambda stage, fraction: step(stage, start + (1.0 - start) * fraction))
            return self.catalogue().report(score), generated, bundle

        with pipeline_errors("plan"):
            report, generated, bundle = self.context.run_model_bound("compose", work, reporter(progress, cancelled))
        manifest, stems, folder = bundle.manifest, bundle.stems, bundle.folder
        archive, midi, master, roll = bundle.archive, bundle.midi, bundle.master, bundle.piano_roll
        settings = {"plan": plan.model_dump(mode="json"), "brief": brief, "commercial": bool(commercial), "signature": report.model_dump(mode="json")}
        artifact = save(self.context, "composition", plan.title, settings, [archive, master, midi, roll, bundle.manifest_path], seed=plan.seed)
        players = [
            gr.update(value=str(folder / entry["path"]), label=f"{index + 1:02d} {entry.get('part', '')} ({entry.get('role') or entry.get('model', '')})", visible=True)
            if entry is not None else gr.update(value=None, visible=False)
            for index, entry in enumerate((stems + [None] * MAX_STEMS)[:MAX_STEMS])
        ]
        table = [[entry["path"], entry.get("part", ""), entry.get("role", ""), entry.get("program", ""), entry["licence"]] for entry in stems]
        loudness = manifest["loudness"]
        summary = (f"**{plan.title}**: {manifest['duration_s']:.1f} s, {len(stems)} stems ({manifest['renderer']['name']}"
                   + (f" and {generated[0].model}" if generated else "") + f"), master at {loudness['integrated_lufs']:.1f} LUFS, "
                   f"true peak {loudness['true_peak_dbtp']:.1f} dBTP, {'cleared' if manifest['commercial_use'] else 'not cleared'} for commercial use. "
                   f"{saved_note(artifact)}\n\n{_sentence(report.summary())}")
        summary += "".join(f"\n- off her signature: {warning}" for warning in report.drift)
        if manifest["renderer"].get("fallback"):
            summary += f"\n\n*{manifest['renderer']['fallback']}.*"
        return (str(master), *players, str(roll), str(archive), str(midi), table, summary)

    def catalogue(self) -> SignatureCatalogue:
        """Her signature: reference pieces from her music DNA, made once."""
        with self._lock:
            if self._catalogue is None:
                self._catalogue = SignatureCatalogue.from_dna(self.card.music, persona=self.card.name)
            return self._catalogue

    def musicgen_stems(self, score: Score, brief: str | None, commercial: bool, cancelled: threading.Event, step: Callable[[str, float], None]) -> list:
        """MusicGen's melody-conditioned stem, when music.musicgen is configured (loaded on first use).
        Non-commercial weights in a commercial export are refused before the model is loaded."""
        from pipelines.music.musicgen import MusicgenError, musicgen_prompt

        config = self.context.settings.music.musicgen
        if commercial:
            config.refuse_commercial_use()
        try:
            with self._lock:
                if self._musicgen is None:
                    step("loading MusicGen", 0.05)
                    self._musicgen = config.load()
            stem = self._musicgen.render(score, musicgen_prompt(self.card.music, brief, score.plan), cancel=cancelled,
                                         progress=lambda done, total: step(f"MusicGen window {done} of {total}", 0.05 + 0.45 * done / max(total, 1)))
        except Cancelled:
            raise JobCancelled() from None
        except MusicgenError as error:
            raise gr.Error(str(error), print_exception=False) from None
        return [stem]

    def musicgen_note(self) -> str:
        config = self.context.settings.music.musicgen
        if config is None:
            return "Stems are rendered from the MIDI with a General MIDI soundfont. MusicGen stems are off (set music.musicgen.model_dir to add one)."
        return (f"Stems from the soundfont, plus a MusicGen stem from `{config.model_dir}` (loaded on first use; licence {config.licence}: "
                "a commercial export refuses it).")

    def cancel(self, request: gr.Request | None = None) -> str:
        self.flags.cancel(request)
        return "Cancelled."


def build_music_tab(context: StudioContext) -> MusicTab:
    tab = MusicTab(context)
    gpu = {"concurrency_id": GPU_GROUP, "concurrency_limit": context.settings.studio.gpu_concurrency}
    extras = gr.State(None)  # what the plan keeps that the editor does not show: mood, her motif, persona

    gr.Markdown(f"Tell {tab.card.name} what the piece is for; she plans it first (tempo, key, sections, parts), "
                "you edit the plan, then she composes it into a DAW-ready bundle.")
    with gr.Row():
        brief = gr.Textbox(label="Brief", placeholder="rainy Seoul night, hopeful", lines=2, scale=3, elem_id="music-brief")
        with gr.Column(scale=2):
            minutes = gr.Slider(0.25, 10, value=1, step=0.25, label="Minutes", elem_id="music-minutes")
            seed = gr.Number(0, precision=0, label="Seed")
    with gr.Accordion("Fix in advance (optional)", open=False):
        with gr.Row():
            fixed_bpm = gr.Number(None, label="BPM")
            fixed_key = gr.Textbox(label="Key", placeholder="D dorian")
            fixed_genre = gr.Textbox(label="Genre", placeholder="city pop")
            fixed_meter = gr.Textbox(label="Time signature", placeholder="4/4")
    plan_button = gr.Button("Plan", variant="primary", elem_id="music-plan")

    gr.Markdown("### Plan")
    with gr.Row():
        title = gr.Textbox(label="Title", scale=2, elem_id="music-title")
        bpm = gr.Number(label="BPM (quarter notes)")
        tonic = gr.Dropdown(list(TONICS), value="C", label="Tonic")
        mode = gr.Dropdown(list(MODES), value="major", label="Mode")
        meter = gr.Textbox("4/4", label="Time signature")
        genre = gr.Textbox(label="Genre")
        plan_seed = gr.Number(0, precision=0, label="Seed")
    sections = gr.Dataframe(headers=SECTION_COLUMNS, datatype=["str", "number", "str", "number", "bool"], type="array", interactive=True,
                            label="Sections (chords: Roman numerals, one a bar, repeated to fill the section)", column_count=5)
    instruments = gr.Dataframe(headers=INSTRUMENT_COLUMNS, datatype=["str", "str", "number"], type="array", interactive=True,
                               label=f"Instruments (role: {', '.join(ROLES)}; program: General MIDI 0-127)", column_count=3)
    plan_info = gr.Markdown(elem_id="music-plan-info")
    with gr.Row():
        commercial = gr.Checkbox(False, label="Commercial export (refuses anything under a non-commercial licence)")
        gr.Markdown(tab.musicgen_note())
    with gr.Row():
        compose_button = gr.Button("Compose", variant="primary", elem_id="music-compose")
        compose_cancel = gr.Button("Cancel", variant="stop")

    master = gr.Audio(label="Master (-14 LUFS)", type="filepath", interactive=False, elem_id="music-master")
    roll = gr.Image(label="Piano roll", type="filepath", interactive=False, buttons=["download", "fullscreen"])
    with gr.Row():
        bundle = gr.File(label="Bundle (zip: MIDI, stems, master, manifest)", interactive=False, elem_id="music-bundle")
        midi = gr.File(label="MIDI", interactive=False)
    with gr.Accordion("Stems", open=False):
        stem_table = gr.Dataframe(headers=STEM_COLUMNS, type="array", interactive=False, label="Stems")
        players = [gr.Audio(label=f"Stem {index + 1}", type="filepath", interactive=False, visible=False) for index in range(MAX_STEMS)]
    summary = gr.Markdown(elem_id="music-summary")

    plan_inputs = [title, bpm, tonic, mode, meter, genre, plan_seed, sections, instruments]
    plan_button.click(tab.plan_music, [brief, minutes, seed, fixed_bpm, fixed_key, fixed_genre, fixed_meter], [*plan_inputs, extras, plan_info],
                      api_name="plan_music")
    composing = compose_button.click(tab.compose_music, [*plan_inputs, commercial, extras], [master, *players, roll, bundle, midi, stem_table, summary],
                                     api_name="compose_music", **gpu)
    compose_cancel.click(tab.cancel, None, summary, cancels=[composing], api_name="cancel_compose", queue=False)

    def fill_composition(settings: dict[str, Any]) -> list[Any]:
        plan = CompositionPlan.from_data(settings["plan"], source="library")
        hidden = [gr.update(value=None, visible=False)] * MAX_STEMS
        return [*plan_fields(plan), {**_extras(plan), "brief": settings.get("brief")}, plan_summary(plan) + " Reopened from the library: press **Compose** to render it again.",
                None, *hidden, None, None, None, [], ""]

    context.reopeners.append(Reopener({"composition"}, "music", [*plan_inputs, extras, plan_info, master, *players, roll, bundle, midi, stem_table, summary],
                                      fill_composition))
    return tab


# --- the plan in the editor, and back ------------------------------------------------------

def plan_fields(plan: CompositionPlan) -> list[Any]:
    """title, bpm, tonic, mode, meter, genre, seed, sections rows, instruments rows."""
    sections = [[section.name, section.bars, " ".join(section.chords), section.energy, section.loop] for section in plan.sections]
    instruments = [[part.name, part.role, part.program] for part in plan.instruments]
    meter = f"{plan.time_signature.numerator}/{plan.time_signature.denominator}"
    return [plan.title, plan.bpm, plan.key.tonic, plan.key.mode, meter, plan.genre, plan.seed, sections, instruments]


def plan_from_fields(title: str, bpm: Any, tonic: str, mode: str, meter: str, genre: str, seed: Any,
                     sections: Any, instruments: Any, extras: dict | None) -> CompositionPlan:
    """The edited plan, validated; a gr.Error naming the field when it is not a valid plan."""
    match = METER.match(meter or "")
    if match is None:
        raise gr.Error(f"plan: time_signature: expected a time signature such as '4/4', '3/4' or '6/8', got {meter!r}")
    data = {
        "title": title, "bpm": bpm, "key": {"tonic": tonic or "", "mode": mode or ""},
        "time_signature": {"numerator": int(match["numerator"]), "denominator": int(match["denominator"])},
        "sections": [
            {"name": _text(row[0]), "bars": row[1], "chords": _chords(row[2]), "energy": row[3] if row[3] not in ("", None) else 0.5,
             "loop": _flag(row[4])}
            for row in _rows(sections, len(SECTION_COLUMNS))
        ],
        "instruments": [{"name": _text(row[0]), "role": _text(row[1]).lower(), "program": row[2]} for row in _rows(instruments, len(INSTRUMENT_COLUMNS))],
        "genre": genre or "", "seed": seed if seed is not None else 0, **(extras or {}),
    }
    try:
        return CompositionPlan.from_data(data, source="plan")
    except PlanError as error:
        raise gr.Error(str(error), title="The plan is not valid", print_exception=False) from None


def plan_summary(plan: CompositionPlan) -> str:
    minutes, seconds = divmod(round(plan.duration_s), 60)
    form = " – ".join(f"{section.name} ({section.bars})" for section in plan.sections)
    return (f"**{plan.title}**: {plan.genre or 'no genre'}, {plan.key}, {plan.bpm:g} BPM, "
            f"{plan.time_signature.numerator}/{plan.time_signature.denominator}, {plan.total_bars} bars, {minutes}:{seconds:02d}. {form}.")


def _extras(plan: CompositionPlan) -> dict[str, Any]:
    return {"mood": list(plan.mood), "signature": [note.model_dump(mode="json") for note in plan.signature], "persona": plan.persona}


def _rows(table: Any, width: int) -> list[list[Any]]:
    """Rows of a Dataframe value (a list of lists, or {'data': ...} from an API client), blank rows left out."""
    if isinstance(table, dict):
        table = table.get("data", [])
    if hasattr(table, "values") and hasattr(table, "columns"):  # a pandas DataFrame
        table = table.values.tolist()
    rows = []
    for row in table or []:
        row = list(row) + [None] * (width - len(row))
        if any(cell not in ("", None) for cell in row[:width]):
            rows.append(row[:width])
    return rows


def _chords(cell: Any) -> list[str]:
    """'i VI III VII', 'i, VI, III, VII' or 'i - VI - III - VII'."""
    if isinstance(cell, list):
        return [str(chord) for chord in cell]
    return [chord for chord in re.split(r"[\s,|]+", str(cell or "")) if chord and chord != "-"]


def _flag(cell: Any) -> Any:
    if cell in ("", None):
        return False
    if isinstance(cell, str):
        return {"yes": True, "y": True, "✓": True, "no": False, "n": False}.get(cell.strip().lower(), cell)
    return cell


def _text(cell: Any) -> str:
    return "" if cell is None else str(cell).strip()


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _blank(text: str | None) -> str | None:
    return text.strip() if text and text.strip() else None
