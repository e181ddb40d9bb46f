"""Summaries of history the prompt budget let go of.

When the history outgrows the budget its oldest half goes at once; what the fan said in it
is kept as one extractive summary (the first sentence of each of their messages), which
rides in the fan's slow-changing prompt block and is stored as a summary memory. It changes
only when the history is trimmed again, so the prompt prefix stays stable in between.
"""

from __future__ import annotations

import re

from persona.prompt import fan_words
from pipelines.dialogue import ChatMessage

SENTENCE_END = re.compile(r"(?<=[.!?])\s")
MAX_WORDS = 80


def summarise_exchanges(messages: list[ChatMessage], previous: str = "") -> str:
    """'Earlier in this conversation the fan said: ...', carrying the previous summary on."""
    said = [previous.removeprefix(PREFIX).rstrip(".")] if previous else []
    for message in messages:
        if message.role == "user":
            first = SENTENCE_END.split(fan_words(message).strip(), 1)[0].strip()
            if first:
                said.append(first.rstrip(".!?"))
    words = "; ".join(said).split()
    if len(words) > MAX_WORDS:  # keep the most recent part
        words = ["…", *words[-MAX_WORDS:]]
    return PREFIX + " ".join(words) + "." if words else ""


PREFIX = "Earlier in this conversation the fan said: "
