"""The director runs one turn of a conversation: build the prompt, stream the reply,
record the turn. Serving and the CLI call it; it calls the dialogue backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from persona.card import PersonaCard
from persona.prompt import FanProfile, PromptBuilder, PromptReport
from pipelines.dialogue import ChatMessage, DialogueBackend, GenerationParams, TextDelta, Usage


@dataclass
class ChatSession:
    """One fan's conversation so far (in memory for now)."""

    fan: FanProfile = field(default_factory=FanProfile)
    history: list[ChatMessage] = field(default_factory=list)
    last_report: PromptReport | None = None
    last_usage: Usage | None = None


class Director:
    def __init__(self, persona: PersonaCard, backend: DialogueBackend, prompts: PromptBuilder, params: GenerationParams):
        self.persona = persona
        self.backend = backend
        self.prompts = prompts
        self.params = params

    def greeting(self) -> str:
        return self.persona.voice.greetings[0]

    async def reply(self, session: ChatSession, user_text: str) -> AsyncIterator[str]:
        """Stream the persona's reply. The turn is recorded even if the stream is closed
        early, with the part of the reply that was produced."""
        prompt = self.prompts.build(session.history, user_text, session.fan)
        # Forget what the budget dropped, so the next prompt starts from the same prefix.
        del session.history[: prompt.report.history_dropped]
        session.last_report = prompt.report
        parts: list[str] = []
        try:
            async for event in self.backend.stream(prompt.messages, self.params):
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                    yield event.text
                else:
                    session.last_usage = event.usage
        finally:
            session.history += [
                prompt.messages[-1],  # as sent, with its context, so the next prompt extends this one
                ChatMessage(role="assistant", content="".join(parts).strip()),
            ]
