"""Pieces she makes for the fans who ask: a request read from a message (or sent by a UI button)
becomes a job on the job runner the studio shares; the job makes the piece from the fan's
words, her DNA and that fan's own remembered facts (persona/creations.py), keeps it under that
fan (the artifact store) and remembers it as a memory of theirs.

    commissions = Commissions(card, runner, artifacts, config, reader, remember=...)
    intent = await commissions.read(message, recall_vector)  # look, print, song, show_work or none
    order = commissions.order(fan_id, facts, intent, request="msg-7")
    order.answer      # what she says at once, in character ("give me a few minutes ...")
    order.job         # the job's first snapshot (None when refused: quota, queue full)
    commissions.again(fan_id, "could you send me the song again?")   # her newest song for them

The job's result is the FanArtifact; the front ends learn of it through the runner's listeners.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from persona.card import PersonaCard
from persona.creations import FanFacts
from persona.engine.artifacts import ArtifactStore, FanArtifact
from persona.engine.jobs import JobRefused, JobRunner, JobSnapshot, Progress
from persona.engine.settings import CreationsConfig
from persona.engine.workers import LocalMaker, PieceMaker
from persona.intents import Intent, IntentReader, ToolCallIntentReader
from persona.memory.summary import PREFIX as SUMMARY_PREFIX
from persona.prompt import FanProfile

# What she says at once when she takes a piece on; where the job waits behind others, a line follows.
TAKEN = {
    "song": "Oh, I'd love to. Give me a few minutes at the piano, and I'll send you the song right here.",
    "look": "Yes! Give me a few minutes at the cutting table; I'll sketch a look for you and send it here.",
    "print": "I'm on it. Give me a few minutes with my colours, and I'll send you the print here.",
}
WAITING = " There {verb} {count} piece{s} on my table before yours, so it may take a little longer."
REFUSED = {
    "quota": "I've made you {quota} pieces today already, and my hands need a rest. Ask me again tomorrow?",
    "queue_full": "My table is full right now, so I can't start yours yet. Ask me again in a few minutes?",
    "closed": "I'm closing the studio for now, so I can't start anything new. Ask me again later?",
}
KIND_WORDS = {"song": "a song", "look": "a look", "print": "a print"}
SENT_AGAIN = "Here it is again: “{title}”, the {kind} I made for you on {day}."

# "Could you send me the song again?": a piece she made, asked for once more (not a new one).
_AGAIN = re.compile(r"\b(?:again|one more time|once more)\b|다시", re.IGNORECASE)
_SHOWING = re.compile(r"\b(?:send|share|show|play|give|hear|see|have|get|link|resend)\b|보내|들려|보여|줘", re.IGNORECASE)
_FRESH = re.compile(r"\b(?:new|another|different|next|other)\b|새로|다른", re.IGNORECASE)
_NAMED_KIND = {
    "song": re.compile(r"\b(?:song|track|tune|music|melody|lullaby)\b|노래|곡", re.IGNORECASE),
    "look": re.compile(r"\b(?:look|outfit|dress|design|clothes|jacket|coat|skirt|suit)\b|옷|룩|드레스", re.IGNORECASE),
    "print": re.compile(r"\b(?:print|pattern|tile)\b|패턴|프린트", re.IGNORECASE),
}


@dataclass(frozen=True)
class Order:
    """How she took a request: her answer, and the job (None when she could not take it on)."""

    intent: Intent
    answer: str
    job: JobSnapshot | None = None
    refused: str = ""  # the runner's refusal code: quota, queue_full, closed



class Commissions:
    def __init__(self, card: PersonaCard, runner: JobRunner, artifacts: ArtifactStore, config: CreationsConfig, reader: IntentReader | ToolCallIntentReader,
                 remember: Callable[[str, str, str], None] | None = None, maker: PieceMaker | None = None):
        """`remember(fan_id, artifact_id, text)` keeps a finished piece as a memory of the fan's
        (the director passes one that runs on its memory thread); `maker` makes the piece (this
        process by default, or a creative-worker deployment: persona/engine/workers.py)."""
        self.card = card
        self.runner = runner
        self.artifacts = artifacts
        self.config = config
        self.reader = reader
        self.remember = remember
        self.maker = maker or LocalMaker(card, config.song_seconds)

    async def read(self, text: str, vector: np.ndarray | None = None) -> Intent:
        """The request in a fan's message, if any. The embedded reader answers here, in well under
        a millisecond; a tool-call reader asks its server from a thread."""
        if isinstance(self.reader, ToolCallIntentReader):
            return await asyncio.to_thread(self.reader.read, text, vector)
        return self.reader.read(text, vector)

    def again(self, fan_id: str, text: str) -> FanArtifact | None:
        """The piece of this fan's that `text` asks to have again ("send me the song again"), the
        newest of the kind it names (or of any kind, for "send it again"); None when the message
        asks for no piece again, or asks for a new one, or the fan has none."""
        if not (_AGAIN.search(text) and _SHOWING.search(text)) or _FRESH.search(text):
            return None
        kinds = {kind for kind, named in _NAMED_KIND.items() if named.search(text)}
        return next((artifact for artifact in self.artifacts.list(fan_id) if not kinds or artifact.kind in kinds), None)

    def order(self, fan_id: str, facts: FanFacts, intent: Intent, request: str | None = None) -> Order:
        """Start the piece `intent` asks for (a look, a print or a song) for this fan."""
        if intent.kind not in TAKEN:
            raise ValueError(f"intent kind {intent.kind!r} is not a piece she makes (look, print or song)")
        work = self._work(fan_id, intent.kind, intent.brief, facts)
        try:
            job = self.runner.submit(intent.kind, work, owner=fan_id, title=intent.brief[:120], request=request)
        except JobRefused as refused:
            return Order(intent, REFUSED[refused.code].format(quota=self.config.fan_daily_quota), refused=refused.code)
        answer = TAKEN[intent.kind]
        ahead = (job.position or 1) - 1
        if ahead:
            answer += WAITING.format(verb="is" if ahead == 1 else "are", count=ahead, s="" if ahead == 1 else "s")
        return Order(intent, answer, job)

    def _work(self, fan_id: str, kind: str, brief: str, facts: FanFacts) -> Callable[[Progress], FanArtifact]:
        def work(progress: Progress) -> FanArtifact:
            scratch = Path(tempfile.mkdtemp(prefix=f"atelier-{kind}-"))
            try:
                creation = self.maker(kind, brief, facts, scratch, lambda step, fraction: progress(step, 0.95 * fraction))
                progress("keeping it for you", 0.99)
                artifact = self.artifacts.add(fan_id, kind, creation.title, creation.files, brief=brief, description=creation.description,
                                              summary=creation.summary, provenance=creation.provenance, fingerprint=creation.fingerprint,
                                              preview=creation.preview)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            if self.remember is not None:
                self.remember(fan_id, artifact.id, memory_text(artifact))
            return artifact

        return work


def facts_of(fan: FanProfile) -> FanFacts:
    """What she knows of this fan that may help a piece: their name and remembered facts (not the
    summary of older turns)."""
    return FanFacts(name=fan.name, notes=[note for note in fan.notes if not note.startswith(SUMMARY_PREFIX)])


def sent_again(artifact: FanArtifact) -> str:
    """What she says as she sends a piece again."""
    return SENT_AGAIN.format(title=artifact.title, kind=artifact.kind, day=artifact.created.astimezone(dt.timezone.utc).strftime("%-d %B"))


def memory_text(artifact: FanArtifact) -> str:
    """How she remembers a piece she made for the fan: kind, title, the fan's words, the day."""
    day = artifact.created.astimezone(dt.timezone.utc).strftime("%-d %B %Y")
    return f"I made {KIND_WORDS[artifact.kind]} for this fan, '{artifact.title}', on {day}, from their words: \"{artifact.brief[:200]}\""
