"""A dialogue model as the planner: it drafts the CompositionPlan under a JSON schema.

A dialogue backend that answers under a JSON schema is asked for the plan, with the brief, the
persona's MusicDNA and the procedural planner's plan as an example of the form. What is easy
to mend in its answer is mended (bars that do not fit the progression, chord spellings, a
piece of the wrong length) and the brief's fixed choices are kept; any other failure falls
back to the procedural plan (planner.py), so a brief always gets a plan.

    plan = await LLMPlanner(backend, card.music, persona=card.name).plan(brief)
    plan = await plan_piece(brief, card.music, backend, persona=card.name)  # procedural without a capable backend
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import math
import re
from typing import Any

from pipelines.dialogue import ChatMessage, DialogueBackend, DialogueError, GenerationParams
from pipelines.music.plan import CHORD, MAX_BARS, MODES, TONICS, CompositionPlan, Key, PlanError
from pipelines.music.planner import METER, MusicBrief, ProceduralPlanner, fit_bars, title_of
from pipelines.style import MusicDNA

log = logging.getLogger(__name__)

OWN_FIELDS = ("seed", "signature", "persona")  # the planner fills these in itself


def draft_schema() -> dict[str, Any]:
    """CompositionPlan's JSON schema without the fields the planner fills in, with the key's
    tonic and mode and the chord spellings spelled out for constrained decoding."""
    schema = copy.deepcopy(CompositionPlan.model_json_schema())
    for own in OWN_FIELDS:
        schema["properties"].pop(own, None)
    schema["$defs"].pop("MotifNote", None)
    key = schema["$defs"]["Key"]["properties"]
    key["tonic"]["enum"] = list(TONICS)
    key["mode"]["enum"] = list(MODES)
    chords = schema["$defs"]["Section"]["properties"]["chords"]
    chords["items"]["pattern"] = re.sub(r"\?P<\w+>", "", CHORD.pattern)  # JSON Schema patterns have no named groups
    schema["properties"]["mood"].update(maxItems=8, items={"type": "string", "maxLength": 40})
    return schema


PLAN_SCHEMA = draft_schema()
INSTRUCTIONS = (
    "You are a composer and arranger. Plan a piece for the brief, in the artist's style, as JSON: title, bpm, "
    "key (tonic and mode), time_signature, sections, instruments, genre, mood. Each section has a name (intro, "
    "verse, chorus, bridge, outro...), a number of bars, chords as Roman numerals relative to the key (i, IV, "
    "bVII, V7, iisus4), one chord a bar repeated to fill the section so the bars are a multiple of the number "
    "of chords, an energy from 0 (sparse, quiet) to 1 (every part, loud), and loop true on the one section to loop. "
    "Each instrument has a role (melody, chords, bass, drums, pad, arpeggio, counter) and a General MIDI program."
)
CHORD_SPELLINGS = (  # what models write -> the plan's spelling
    ("♭", "b"), ("♯", "#"), ("dim7", "°7"), ("dim", "°"), ("ø7", "°7"), ("ø", "°"), ("o7", "°7"), ("aug", "+"),
    ("Δ7", "maj7"), ("Δ", "maj7"), ("M7", "maj7"), ("maj9", "maj7"), ("min7", "7"), ("m7", "7"), ("add2", "add9"),
)
CHORD_START = re.compile(r"^(?P<head>[b#]?(?:VII|VI|IV|V|III|II|I|vii|vi|iv|v|iii|ii|i))(?P<tail>.*)$")


def mend_chord(text: Any) -> str | None:
    """'viio' -> 'vii°', 'iim7' -> 'ii7', 'bVII maj7' -> 'bVIImaj7'; None when it cannot be read."""
    if not isinstance(text, str):
        return None
    symbol = "".join(text.split())
    match = CHORD_START.match(symbol.replace("♭", "b").replace("♯", "#"))
    if match is None:
        return None
    head, tail = match["head"], match["tail"]
    for written, meant in CHORD_SPELLINGS:
        tail = tail.replace(written, meant)
    if tail in ("o", "0"):
        tail = "°"
    if tail in ("9", "11", "13"):
        tail = "7"
    if tail == "sus":
        tail = "sus4"
    symbol = head + tail
    return symbol if CHORD.match(symbol) else None


def mend_section(section: Any) -> Any:
    """Chords spelled as the plan spells them, unreadable ones left out, bars rounded up to a
    whole number of progressions, the energy kept within 0..1 and the name short."""
    if not isinstance(section, dict):
        return section
    section = dict(section)
    if isinstance(section.get("name"), str):
        section["name"] = " ".join(section["name"].split())[:40]
    if isinstance(section.get("energy"), (int, float)) and not isinstance(section.get("energy"), bool):
        section["energy"] = min(max(section["energy"], 0.0), 1.0)
    chords = section.get("chords")
    if isinstance(chords, str):
        chords = chords.replace(",", " ").replace("-", " ").split()
    if isinstance(chords, list):
        mended = [symbol for symbol in (mend_chord(chord) for chord in chords) if symbol]
        section["chords"] = mended[:32] or chords
    bars = section.get("bars")
    if isinstance(bars, (int, float)) and not isinstance(bars, bool) and isinstance(section.get("chords"), list) and section["chords"]:
        size = len(section["chords"])
        section["bars"] = max(size, math.ceil(round(bars) / size) * size)
    return section


def mend_key(key: Any) -> Any:
    if isinstance(key, str):
        try:
            return Key.parse(key).model_dump()
        except ValueError:
            return key
    return key


def mend_time_signature(value: Any) -> Any:
    if isinstance(value, str) and (match := METER.match(value)):
        return {"numerator": int(match["numerator"]), "denominator": int(match["denominator"])}
    return value


def mend_instruments(instruments: Any) -> Any:
    """Programs clamped into 0..127; a second drums part plays as a counter-line; parts beyond
    MIDI's sixteen channels left out."""
    if not isinstance(instruments, list):
        return instruments
    mended, drums = [], False
    for item in instruments:
        if not isinstance(item, dict):
            continue
        item = dict(item)
        if isinstance(item.get("program"), (int, float)) and not isinstance(item.get("program"), bool):
            item["program"] = min(max(int(item["program"]), 0), 127)
        if item.get("role") == "drums":
            if drums:
                item["role"] = "counter"
            drums = True
        mended.append(item)
    pitched = [i for i, item in enumerate(mended) if item.get("role") != "drums"]
    extra = set(pitched[15:])
    return [item for i, item in enumerate(mended) if i not in extra]


class LLMPlanner:
    """Asks a dialogue model that can answer under a JSON schema for the plan; the procedural
    planner's plan is its example and its fallback."""

    def __init__(self, backend: DialogueBackend, music: MusicDNA, persona: str = "", timeout_s: float = 90.0,
                 max_tokens: int = 1500, temperature: float = 0.7):
        if not backend.supports_json_schema:
            raise DialogueError(f"the {backend.name} backend cannot constrain a reply to a JSON schema")
        self.backend = backend
        self.music = music
        self.persona = persona
        self.procedural = ProceduralPlanner(music, persona)
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens
        self.temperature = temperature

    def messages(self, brief: MusicBrief) -> list[ChatMessage]:
        example = self.procedural.plan(brief).model_dump(mode="json", exclude=set(OWN_FIELDS))
        music = self.music
        fixed = [f"{name}: {value}" for name, value in (("bpm", brief.bpm), ("key", brief.key), ("genre", brief.genre),
                                                        ("time signature", brief.meter)) if value is not None]
        lines = [
            f"Brief: {brief.text or '(open)'}",
            f"Length: about {brief.minutes:g} minutes (bars x beats per bar / bpm x 60 seconds).",
            *([f"Keep exactly: {'; '.join(fixed)}"] if fixed else []),
            f"The artist{' ' + self.persona if self.persona else ''}'s music:",
            f"- genres: {'; '.join(music.genres) or '(open)'}",
            f"- tempo: {music.tempo_range[0]}-{music.tempo_range[1]} bpm",
            f"- keys: {'; '.join(music.keys) or '(open)'}",
            f"- instruments: {'; '.join(music.instruments) or '(open)'}",
            f"A plan in this form: {json.dumps(example, ensure_ascii=False)}",
            "Now answer with your own plan for the brief.",
        ]
        return [ChatMessage(role="system", content=INSTRUCTIONS), ChatMessage(role="user", content="\n".join(lines))]

    def params(self, brief: MusicBrief) -> GenerationParams:
        return GenerationParams(max_tokens=self.max_tokens, temperature=self.temperature, top_p=0.95, seed=brief.seed,
                                json_schema=PLAN_SCHEMA)

    def parse(self, reply: str, brief: MusicBrief) -> CompositionPlan:
        """The model's plan, mended where that is easy and with the brief's fixed choices kept.
        Raises PlanError (a ValueError) when it is not a plan."""
        try:
            data = json.loads(reply)
        except json.JSONDecodeError as error:
            raise PlanError(f"the plan reply is not JSON: {error.msg} ({reply[:120]!r})") from None
        if not isinstance(data, dict):
            raise PlanError(f"the plan reply is not a JSON object ({reply[:120]!r})")
        data = {name: value for name, value in data.items() if name not in OWN_FIELDS}
        data["key"] = mend_key(data.get("key"))
        if "time_signature" in data:
            data["time_signature"] = mend_time_signature(data["time_signature"])
        if isinstance(data.get("sections"), list):
            data["sections"] = [mend_section(section) for section in data["sections"]]
        if "instruments" in data:
            data["instruments"] = mend_instruments(data["instruments"])
        if isinstance(data.get("title"), str) and data["title"].strip():
            data["title"] = " ".join(data["title"].split())[:80]
        else:
            data["title"] = title_of(brief.text, Key())
        data.update({name: value for name, value in (("bpm", brief.bpm), ("genre", brief.genre)) if value is not None})
        if brief.key:
            data["key"] = Key.parse(brief.key).model_dump()
        if brief.time_signature:
            data["time_signature"] = brief.time_signature.model_dump()
        data.update(seed=brief.seed, signature=[note.model_dump() for note in self.music.signature_motif], persona=self.persona)
        plan = CompositionPlan.from_data(data, source="model plan")
        return self.fitted(plan, brief)

    def fitted(self, plan: CompositionPlan, brief: MusicBrief) -> CompositionPlan:
        """A plan much shorter or longer than the brief asked for, resized by whole progressions."""
        target = min(brief.minutes * plan.bpm / plan.time_signature.beats_per_bar, MAX_BARS)
        if abs(plan.total_bars - target) <= max(2, 0.15 * target):
            return plan
        steps = [len(section.chords) for section in plan.sections]
        scale = target / plan.total_bars
        scaled = [max(step, round(section.bars * scale / step) * step) for section, step in zip(plan.sections, steps)]
        bars = fit_bars(scaled, steps, target)
        sections = [section.model_copy(update={"bars": count}) for section, count in zip(plan.sections, bars)]
        log.info("the model planned %d bars for %.0f; resized to %d", plan.total_bars, target, sum(bars))
        return CompositionPlan.from_data({**plan.model_dump(), "sections": [s.model_dump() for s in sections]}, source="model plan")

    async def plan(self, brief: MusicBrief | str) -> CompositionPlan:
        brief = MusicBrief.of(brief)
        try:
            reply, _ = await asyncio.wait_for(self.backend.complete(self.messages(brief), self.params(brief)), self.timeout_s)
            return self.parse(reply, brief)
        except (DialogueError, ValueError, TimeoutError, asyncio.TimeoutError) as error:
            log.warning("model plan failed (%s); planning procedurally", str(error).replace("\n", "; "))
            return self.procedural.plan(brief)


async def plan_piece(brief: MusicBrief | str, music_dna: MusicDNA, backend: DialogueBackend | None = None,
                     persona: str = "") -> CompositionPlan:
    """The plan for a brief: the model's when ``backend`` can answer under a JSON schema (falling
    back to the procedural plan when it fails), otherwise the procedural plan."""
    brief = MusicBrief.of(brief)
    if backend is not None and backend.supports_json_schema:
        return await LLMPlanner(backend, music_dna, persona).plan(brief)
    return ProceduralPlanner(music_dna, persona).plan(brief)
