"""The Persona tab: her card (view, edit with validation, Character Card import and export)
and the memory inspector (what she remembers about a fan, their relationship, why each
memory is recalled, export and forget). The inspector reads and forgets through the chat
runtime's memory, on the director's memory thread, as turns do: it recalls exactly what a
turn would, and never uses the store or the embedder from a thread of its own."""

from __future__ import annotations

import asyncio
import html
import json
from pathlib import Path
from typing import Any

import gradio as gr
import yaml

from persona.card import PersonaCard, PersonaError, avatar_path, save_persona
from persona.interchange import export_card, import_card_with_avatar, save_avatar
from persona.memory import MemoryStoreError
from persona.memory.records import check_fan_id
from persona.memory.retrieval import Recall
from studio.context import StudioContext
from studio.jobs import scratch_dir
from studio.theme import swatches_html

MEMORY_HEADERS = ["id", "when", "kind", "author", "importance", "text"]
RECALL_HEADERS = ["use", "kind", "author", "score", "why", "text"]
DEFAULT_FAN = "studio"


def build_persona_tab(context: StudioContext, studio: gr.Blocks) -> None:
    """`studio` is the app being built: the card is filled in when a signed-in page loads,
    never baked into the page (Gradio's login page lists every input's default value)."""
    card = context.persona
    with gr.Tab("Card", id="persona-card"):
        summary = gr.HTML(card_summary(card))
        with gr.Row():
            with gr.Column(scale=3):
                editor = gr.Code("", language="yaml", label=f"{card.id}.yaml", lines=24, max_lines=40, interactive=True)
            with gr.Column(scale=1, min_width=260):
                status = gr.Markdown()
                validate = gr.Button("Validate")
                save = gr.Button("Save", variant="primary")
                reload = gr.Button("Reload from disk")
                gr.Markdown("#### Character Card")
                upload = gr.File(label="Import (.json or .png)", file_types=[".json", ".png"], type="filepath")
                spec = gr.Radio(["v3", "v2"], value="v3", label="Spec")
                file_format = gr.Radio(["json", "png"], value="png", label="Format")
                export = gr.Button("Export")
                exported = gr.File(label="Exported card", interactive=False)
        picture = gr.State(None)  # the last imported card's own picture: {"id": ..., "png": bytes}

    def validate_card(text: str) -> str:
        try:
            parsed = parse_card(text)
        except PersonaError as error:
            return problem(error)
        return f"✅ Valid: **{parsed.name}** (`{parsed.id}`), {len(parsed.canon)} canon entries."

    def save_card(text: str, imported_picture: dict | None) -> tuple[str, str]:
        try:
            parsed = parse_card(text)
        except PersonaError as error:
            return problem(error, "Not saved: the card has problems"), gr.skip()
        path = save_persona(parsed, context.settings.personas_dir)
        if imported_picture and imported_picture["id"] == parsed.id:  # the imported card's picture is kept beside it
            save_avatar(imported_picture["png"], avatar_path(parsed.id, context.settings.personas_dir))
        if parsed.id == context.persona.id:
            context.persona = parsed
        return f"✅ Saved to `{path}`. The chat uses it from the next start.", card_summary(parsed)

    def reload_card() -> tuple[str, str, str]:
        from persona.card import load_persona

        fresh = load_persona(context.persona.id, context.settings.personas_dir)
        return card_yaml(fresh), card_summary(fresh), f"`{fresh.id}.yaml` as saved. Edit, then validate or save; saved changes reach the chat at the next start."

    def import_file(path: str | None) -> tuple[str, str, dict | None]:
        if not path:
            raise gr.Error("Choose a Character Card file (.json or .png) first.")
        try:
            imported, png = import_card_with_avatar(Path(path))
        except PersonaError as error:
            raise gr.Error(f"Not a card Atelier can read: {error}") from None
        kept = f" and her picture as `{imported.id}.png`" if png else ""
        message = f"Imported **{imported.name}** (`{imported.id}`) into the editor; Save keeps it as `{imported.id}.yaml`{kept}."
        return card_yaml(imported), message, {"id": imported.id, "png": png} if png else None

    def export_file(text: str, spec_name: str, suffix: str, imported_picture: dict | None) -> str:
        try:
            parsed = parse_card(text)
        except PersonaError as error:
            raise gr.Error(str(error)) from None
        if suffix not in ("json", "png") or spec_name not in ("v2", "v3"):
            raise gr.Error("Format is json or png, spec is v2 or v3.")
        # Her own picture: the card just imported, else the one kept beside her card; else one drawn from her palette.
        avatar = None
        if imported_picture and imported_picture["id"] == parsed.id:
            avatar = imported_picture["png"]
        elif avatar_path(parsed.id, context.settings.personas_dir).is_file():
            avatar = avatar_path(parsed.id, context.settings.personas_dir)
        folder = scratch_dir("card")
        try:
            return str(export_card(parsed, folder / f"{parsed.id}.{suffix}", spec=spec_name, avatar=avatar if suffix == "png" else None))
        except PersonaError as error:
            raise gr.Error(str(error)) from None

    studio.load(reload_card, None, [editor, summary, status], api_visibility="private")
    validate.click(validate_card, editor, status, api_name="persona_validate")
    save.click(save_card, [editor, picture], [status, summary], api_name="persona_save")
    reload.click(reload_card, None, [editor, summary, status], api_name="persona_card")
    upload.upload(import_file, upload, [editor, status, picture], api_name="persona_import")
    export.click(export_file, [editor, spec, file_format, picture], exported, api_name="persona_export")

    with gr.Tab("Memory", id="persona-memory"):
        gr.Markdown("What she remembers about one fan, how she feels about them, and why memories come back in a turn.")
        with gr.Row():
            fan = gr.Textbox(DEFAULT_FAN, label="Fan id", scale=2)
            show = gr.Button("Show", variant="primary", scale=1)
            export_memory = gr.Button("Export JSON", scale=1)
        with gr.Row():
            relationship = gr.JSON(label="Relationship and state", scale=1)
            memory_file = gr.File(label="Export", interactive=False, scale=1)
        memories = gr.Dataframe(headers=MEMORY_HEADERS, label="Memories", interactive=False, wrap=True, max_height=360)
        with gr.Row():
            query = gr.Textbox(label="A message from this fan", placeholder="What would she recall if the fan said…", scale=3)
            why = gr.Button("Why recalled?", scale=1)
        recalled = gr.Dataframe(headers=RECALL_HEADERS, label="Recall for that message", interactive=False, wrap=True, max_height=360)
        with gr.Row():
            confirm = gr.Checkbox(label="Yes, delete everything stored about this fan", value=False)
            forget = gr.Button("Forget fan", variant="stop")
        memory_status = gr.Markdown()

    async def on_memory_thread(function_name: str, *args: Any) -> Any:
        """The runtime's PersonaMemory method `function_name`, run on the director's memory thread."""
        runtime = context.runtime
        if runtime is None or runtime.memory is None:
            raise gr.Error("The memory inspector reads through the chat runtime's memory; it is still starting (or memory is off).")
        return await runtime.director.on_memory_thread(getattr(runtime.memory, function_name), *args)

    async def show_memory(fan_id: str) -> tuple[dict, list[list[Any]], str]:
        fan_id = checked_fan(fan_id)
        state, stored = await on_memory_thread("inspect", fan_id)
        rows = [[m.id, f"{m.created_at:%Y-%m-%d %H:%M}", m.kind.value, m.author.value, round(m.importance, 2), m.text] for m in stored]
        return state, rows, f"{len(rows)} memories of `{fan_id}`."

    async def why_recalled(fan_id: str, text: str) -> list[list[Any]]:
        fan_id = checked_fan(fan_id)
        if not text.strip():
            raise gr.Error("Write a message to see what it would recall.")
        return recall_rows(await on_memory_thread("recall", fan_id, text))

    async def export_fan(fan_id: str) -> str:
        fan_id = checked_fan(fan_id)
        state, stored = await on_memory_thread("inspect", fan_id)
        data = {"fan_id": fan_id, "state": state, "memories": [m.model_dump(mode="json") for m in stored]}
        return str(await asyncio.to_thread(write_json, scratch_dir("memory") / f"memory-{fan_id}.json", data))

    async def forget_fan(fan_id: str, confirmed: bool) -> tuple[str, dict, list, bool]:
        fan_id = checked_fan(fan_id)
        if not confirmed:
            raise gr.Error("Tick the box to confirm: forgetting a fan cannot be undone.")
        pieces = await asyncio.to_thread(forget_pieces, fan_id)
        count = await on_memory_thread("forget", fan_id)
        return f"Forgot {count} memories of `{fan_id}` and {pieces} piece{'' if pieces == 1 else 's'} made for them.", {}, [], False

    def forget_pieces(fan_id: str) -> int:
        """The fan's pieces: those being made are cancelled, those made are deleted."""
        runtime = context.runtime
        if runtime.jobs is not None:
            for job in runtime.jobs.jobs(fan_id):
                runtime.jobs.cancel(job.id)
        return runtime.artifacts.forget(fan_id) if runtime.artifacts is not None else 0

    show.click(show_memory, fan, [relationship, memories, memory_status], api_name="memory_show")
    why.click(why_recalled, [fan, query], recalled, api_name="memory_recall")
    export_memory.click(export_fan, fan, memory_file, api_name="memory_export")
    forget.click(forget_fan, [fan, confirm], [memory_status, relationship, memories, confirm], api_name="memory_forget")


class _CardDumper(yaml.SafeDumper):
    """Multi-line text as literal blocks, so the biography reads as it was written."""


_CardDumper.add_representer(
    str, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)
)


def card_yaml(card: PersonaCard) -> str:
    return yaml.dump(card.to_data(), Dumper=_CardDumper, allow_unicode=True, sort_keys=False, width=100)


def parse_card(text: str) -> PersonaCard:
    try:
        data = yaml.safe_load(text or "")
    except yaml.YAMLError as error:
        raise PersonaError(f"card: not valid YAML: {error}") from None
    return PersonaCard.from_data(data, "card")


def card_summary(card: PersonaCard) -> str:
    identity = card.identity
    facts = " · ".join(html.escape(part) for part in (identity.occupation, identity.home) if part)
    tagline = f"<em>{html.escape(identity.tagline)}</em> · " if identity.tagline else ""
    return (
        f"<h2 style='margin:0'>{html.escape(card.name)}</h2>"
        f"<p style='margin:.2em 0 .6em'>{tagline}{facts}</p>"
        f"{swatches_html(card.visual.palette)}"
    )


def problem(error: Exception, what: str = "The card has problems") -> str:
    lines = str(error).splitlines()
    return f"❌ **{what}**\n\n" + "\n".join(f"- `{line.strip()}`" for line in lines if line.strip())


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def checked_fan(fan_id: str) -> str:
    try:
        return check_fan_id((fan_id or "").strip())
    except MemoryStoreError as error:
        raise gr.Error(str(error)) from None


def recall_rows(recall: Recall | None) -> list[list[Any]]:
    """One row per memory the recall looked at: used in the prompt, triggered as lore, or skipped."""
    if recall is None:
        return []
    rows = []
    for use, items in (("in prompt", recall.memories), ("lore", recall.lore), ("skipped", recall.skipped)):
        for item in items:
            rows.append([use, item.memory.kind.value, item.memory.author.value, item.score, item.why, item.memory.text])
    return rows
