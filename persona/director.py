"""The director runs one turn of a conversation: recall, build the prompt, stream the
reply, record the turn, learn about the fan. Serving and the CLI call it; it calls memory
and the dialogue backend."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from persona.card import PersonaCard
from persona.memory.persona_memory import PersonaMemory
from persona.memory.retrieval import Recall
from persona.memory.summary import PREFIX as SUMMARY_PREFIX
from persona.memory.summary import summarise_exchanges
from persona.prompt import FanProfile, PromptBuilder, PromptReport
from pipelines.dialogue import ChatMessage, DialogueBackend, GenerationParams, TextDelta, Usage


@dataclass
class ChatSession:
    """One fan's conversation so far (in memory for now)."""

    fan: FanProfile = field(default_factory=FanProfile)
    fan_id: str | None = None  # with a fan id and a memory, the conversation is remembered
    history: list[ChatMessage] = field(default_factory=list)
    last_report: PromptReport | None = None
    last_recall: Recall | None = None
    last_usage: Usage | None = None


class Director:
    def __init__(self, persona: PersonaCard, backend: DialogueBackend, prompts: PromptBuilder, params: GenerationParams, memory: PersonaMemory | None = None):
        self.persona = persona
        self.backend = backend
        self.prompts = prompts
        self.params = params
        self.memory = memory
        # Memory work runs on one thread, in order: the store's connection is never shared
        # mid-transaction, and learning queued after a turn finishes before the next recall.
        self._memory_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="atelier-memory")

    async def _in_memory_thread(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self._memory_thread, function, *args)

    async def start_session(self, fan_id: str | None = None, name: str = "", recent_turns: int = 6) -> ChatSession:
        """A session for a fan; a remembered fan picks up where the last session ended
        (learning left queued by a crash runs first)."""
        session = ChatSession(fan=FanProfile(name=name), fan_id=fan_id)
        if self.memory and fan_id:
            await self._in_memory_thread(self.memory.process_jobs)
            session.history = await self._in_memory_thread(self.memory.recent_history, fan_id, recent_turns)
        return session

    async def close(self) -> None:
        await asyncio.to_thread(self._memory_thread.shutdown)

    def greeting(self) -> str:
        return self.persona.voice.greetings[0]

    async def reply(self, session: ChatSession, user_text: str) -> AsyncIterator[str]:
        """Stream the persona's reply. The turn is recorded even if the stream is closed
        early, with the part of the reply that was produced."""
        remembering = self.memory is not None and session.fan_id is not None
        recall = Recall()
        if remembering:
            recall = await self._in_memory_thread(self.memory.recall, session.fan_id, user_text)
            session.fan = await self._in_memory_thread(self.memory.fan_profile, session.fan_id, session.fan.name)
        session.last_recall = recall
        prompt = self.prompts.build(session.history, user_text, session.fan, remembered=recall.texts, recalled_lore=recall.lore_ids)
        if prompt.report.history_dropped:
            await self._summarise(session, session.history[: prompt.report.history_dropped])
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
            reply = "".join(parts).strip()
            session.history += [
                prompt.messages[-1],  # as sent, with its context, so the next prompt extends this one
                ChatMessage(role="assistant", content=reply),
            ]
            if remembering:
                await self._in_memory_thread(self.memory.remember_turn, session.fan_id, user_text, reply)
                # Learning runs after the reply, off its latency path; it is queued durably.
                self._memory_thread.submit(self._learn_quietly)

    async def _summarise(self, session: ChatSession, dropped: list[ChatMessage]) -> None:
        """Keep what the fan said in the dropped history as a summary in their block; the next
        prompt carries it (this one was already built)."""
        previous = next((note for note in session.fan.notes if note.startswith(SUMMARY_PREFIX)), "")
        summary = summarise_exchanges(dropped, previous)
        if not summary:
            return
        session.fan.notes = [note for note in session.fan.notes if not note.startswith(SUMMARY_PREFIX)] + [summary]
        if self.memory is not None and session.fan_id is not None:
            await self._in_memory_thread(self.memory.remember_summary, session.fan_id, summary)

    def _learn_quietly(self) -> None:
        try:
            self.memory.process_jobs()
        except Exception:  # the jobs stay queued and run again at the next session start
            logging.getLogger(__name__).exception("learning from a turn failed")
