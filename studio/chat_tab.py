"""The Chat tab: talk to her as a chosen fan, streaming, with that fan's memory, through the
same runtime (director, backend, memory) that serves /ws/chat. A piece the fan asks for (a
look, a print, a song) shows its progress in the chat and then the piece itself, as a fan sees it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from persona.director import ChatSession
from pipelines.dialogue import DialogueError
from studio.context import Reopener, StudioContext
from studio.jobs import scratch_dir
from studio.persona_tab import DEFAULT_FAN, RECALL_HEADERS, checked_fan, recall_rows

CHAT_GROUP = "chat"  # studio chats share the dialogue backend with fans, not the GPU group
CHAT_CONCURRENCY = 4
JOB_POLL_S = 1.0  # how often a piece's progress is shown while it is made


@dataclass
class StudioChat:
    """One studio conversation: the director's session and what the chat window shows."""

    session: ChatSession
    shown: list[dict[str, str]] = field(default_factory=list)


def build_chat_tab(context: StudioContext) -> None:
    card = context.persona
    greeting = [{"role": "assistant", "content": card.voice.greetings[0]}]
    with gr.Row():
        fan = gr.Textbox(DEFAULT_FAN, label="Talk as fan id", info="She remembers each fan; a new id is a stranger.", scale=2)
        fan_name = gr.Textbox("", label="Fan's name (optional)", scale=2)
        new = gr.Button("New session", scale=1)
    chatbot = gr.Chatbot(greeting, label=card.name, height=380, buttons=["copy"])
    turn_info = gr.Markdown(elem_id="chat-turn-info")
    with gr.Row():
        message = gr.Textbox(placeholder=f"Message {card.name}…", show_label=False, scale=6, autofocus=True)
        send = gr.Button("Send", variant="primary", scale=1, min_width=90)
        stop = gr.Button("Stop", variant="stop", scale=1, min_width=90)
    with gr.Accordion("Why she recalled what she did (last turn)", open=False):
        recalled = gr.Dataframe(headers=RECALL_HEADERS, interactive=False, wrap=True, max_height=300)
    with gr.Row():
        save = gr.Button("Save conversation to the library", scale=1)
        saved = gr.Markdown()
    state = gr.State(None)

    async def chat(text: str, fan_id: str, name: str, current: StudioChat | None):
        text = (text or "").strip()
        if not text:
            raise gr.Error("Write a message first.")
        fan_id = checked_fan(fan_id)
        runtime = context.runtime
        if runtime is None:
            raise gr.Error("The chat runtime is still starting; try again in a moment.")
        if current is None or current.session.fan_id != fan_id:
            session = await runtime.director.start_session(fan_id, name.strip(), context.settings.memory.recent_turns)
            current = StudioChat(session, [*greeting, *({"role": m.role, "content": m.content} for m in session.history)])
        current.session.fan.name = name.strip()
        current.shown += [{"role": "user", "content": text}, {"role": "assistant", "content": ""}]
        yield "", current.shown, current, gr.skip(), gr.skip()
        reply = ""
        try:
            async for piece in runtime.director.reply(current.session, text):
                reply += piece
                current.shown[-1] = {"role": "assistant", "content": reply}
                yield "", current.shown, current, gr.skip(), gr.skip()
        except DialogueError as error:
            raise gr.Error(f"The dialogue model failed: {error}") from None
        ending = current.session.last_turn
        piece = ending.sent if ending is not None else None
        if ending is not None and ending.order is not None and ending.order.job is not None and runtime.jobs is not None:
            # A piece she took on: its progress in the chat, as a fan's app shows it, then the piece.
            job = ending.order.job
            current.shown.append({"role": "assistant", "content": job_line(job)})
            yield "", current.shown, current, recall_rows(current.session.last_recall), turn_summary(current)
            while not job.ended:
                try:
                    job = await asyncio.to_thread(runtime.jobs.wait, job.id, JOB_POLL_S)
                except TimeoutError:
                    job = runtime.jobs.get(job.id) or job
                current.shown[-1] = {"role": "assistant", "content": job_line(job)}
                yield "", current.shown, current, gr.skip(), gr.skip()
            piece = job.result if job.status == "done" else None
        if piece is not None:
            current.shown += piece_messages(runtime.artifacts, current.session.fan_id, piece)
        yield "", current.shown, current, recall_rows(current.session.last_recall), turn_summary(current)

    def new_session() -> tuple[list, None, list, str, str]:
        return greeting, None, [], "", ""

    def save_conversation(fan_id: str, name: str, current: StudioChat | None) -> str:
        if current is None or len(current.shown) <= len(greeting):
            raise gr.Error("Nothing to save yet: chat first.")
        fan_id = checked_fan(fan_id)
        folder = scratch_dir("chat")
        transcript = folder / "transcript.json"
        transcript.write_text(json.dumps({"persona": card.id, "fan_id": fan_id, "messages": current.shown}, ensure_ascii=False, indent=2), encoding="utf-8")
        turns = sum(1 for m in current.shown if m["role"] == "user")
        title = f"Chat with {name.strip() or fan_id}, {dt.datetime.now():%Y-%m-%d %H:%M}"
        artifact = context.library.add("chat", title, {"fan_id": fan_id, "fan_name": name.strip(), "turns": turns}, [transcript])
        return f"Saved as `{artifact.id}` ({turns} turns)."

    turn = dict(fn=chat, inputs=[message, fan, fan_name, state], outputs=[message, chatbot, state, recalled, turn_info],
                concurrency_id=CHAT_GROUP, concurrency_limit=CHAT_CONCURRENCY, show_progress="minimal")
    sent = send.click(**turn, api_name="chat")
    submitted = message.submit(**turn, api_visibility="private")
    stop.click(None, None, None, cancels=[sent, submitted], api_visibility="private")
    new.click(new_session, None, [chatbot, state, recalled, saved, turn_info], api_name="chat_new_session")
    save.click(save_conversation, [fan, fan_name, state], saved, api_name="chat_save")

    def reopen(settings: dict[str, Any]) -> list[Any]:
        return [settings.get("fan_id", DEFAULT_FAN), settings.get("fan_name", "")]

    context.reopeners.append(Reopener(kinds={"chat"}, tab_id="chat", outputs=[fan, fan_name], fill=reopen))


def job_line(job) -> str:
    """A job as the chat shows it while it runs."""
    if job.status == "queued":
        return f"*{job.kind}: waiting, place {job.position} in the queue*"
    if job.status == "running":
        return f"*{job.kind}: {job.step or 'working'}, {job.progress:.0%}*"
    return f"*{job.kind}: {job.status}{': ' + job.error if job.error else ''}*"


def piece_messages(artifacts, fan_id: str, piece) -> list[dict[str, Any]]:
    """Her description, then the piece's preview image and (a song) its audio preview."""
    messages: list[dict[str, Any]] = [{"role": "assistant", "content": piece.description}]
    shown = [piece.preview] + [file.name for file in piece.files if file.role == "audio_preview" or file.name.endswith(".ogg")]
    for name in dict.fromkeys(name for name in shown if name):
        path = artifacts.file_path(fan_id, piece.id, name)
        if path is not None:
            messages.append({"role": "assistant", "content": {"path": str(path)}})
    return messages


def turn_summary(chat: StudioChat) -> str:
    """Under the chat: which turn this was, what it cost and what she recalled for it."""
    session = chat.session
    turns = sum(1 for m in chat.shown if m["role"] == "user")
    recall = session.last_recall
    remembered = f"{len(recall.memories)} memories and {len(recall.lore)} lore entries recalled" if recall else "nothing recalled"
    usage = session.last_usage
    tokens = f"{usage.prompt_tokens} prompt + {usage.completion_tokens} reply tokens" if usage else ""
    ending = session.last_turn
    note = " · refused by her input policy" if ending and ending.refused else " · cut short by her output guard" if ending and ending.guarded else ""
    return f"Turn {turns} with `{session.fan_id}` · {tokens} · {remembered}{note}"
