"""The director runs one turn of a conversation: input policy, recall, build the prompt,
stream the reply through the output guard, commit the turn, queue learning about the fan.
Serving and the CLI call it; it calls memory and the dialogue backend."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from persona.card import PersonaCard
from persona.memory.consistency import CanonChecker
from persona.memory.persona_memory import PersonaMemory, TurnRequest
from persona.memory.records import MemoryStoreError
from persona.memory.retrieval import Recall
from persona.memory.summary import PREFIX as SUMMARY_PREFIX
from persona.memory.summary import summarise_exchanges
from persona.prompt import FanProfile, PromptBuilder, PromptReport
from persona.safety import FanContext, GuardRules, InputPolicy, OutputGuard
from persona.sentence_gate import Dropped, SentenceGate, fan_facts
from pipelines.dialogue import ChatMessage, DialogueBackend, GenerationParams, TextDelta, Usage
from pipelines.dialogue.base import shared_prefix_length

if TYPE_CHECKING:
    from persona.commissions import Commissions, Order
    from persona.engine.artifacts import FanArtifact
    from persona.portfolio import Portfolio

INTERRUPTED = " —"  # marks a reply the fan cut off, in history and memory


@dataclass
class TurnResult:
    """How the last turn ended, for the serving layer's `end` frame and the inspector."""

    text: str  # as committed: what the fan received (or heard, when interrupted)
    usage: Usage
    interrupted: bool = False
    refused: str = ""  # the input policy's reason when the model was not asked
    guarded: str = ""  # the output guard's reason when it cut the reply short
    finish_reason: str = "stop"  # stop (the model ended it), length (token limit), loop or max_sentences (the sentence gate), guard
    dropped: list[Dropped] = field(default_factory=list)  # sentences the gate kept from the fan, with why
    order: Order | None = None  # a piece the fan asked for: her answer was how she took it on
    sent: FanArtifact | None = None  # a piece sent with her answer (one she made for them, asked for again, or one of her portfolio's)


async def _to_the_end(work) -> None:
    """Await `work` to its end even if this task is cancelled meanwhile (an interrupt that lands
    as the turn is being committed), then let the cancel go on: a turn is never half-kept."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


@dataclass
class ChatSession:
    """One fan's conversation so far (in memory for now)."""

    fan: FanProfile = field(default_factory=FanProfile)
    fan_id: str | None = None  # with a fan id and a memory, the conversation is remembered
    history: list[ChatMessage] = field(default_factory=list)
    last_report: PromptReport | None = None
    last_recall: Recall | None = None
    last_usage: Usage | None = None
    last_turn: TurnResult | None = None
    heard: str | None = None  # set by interrupt(): the part of the reply the fan saw or heard
    last_persona_s: float = 0.0  # time the last turn spent in the persona layer before the model was asked


class Director:
    def __init__(self, persona: PersonaCard, backend: DialogueBackend, prompts: PromptBuilder, params: GenerationParams, memory: PersonaMemory | None = None,
                 commissions: Commissions | None = None):
        self.persona = persona
        self.backend = backend
        self.prompts = prompts
        self.params = params
        self.memory = memory
        self.commissions = commissions  # with it (and a remembered fan), a request for a piece becomes a job
        self.portfolio: Portfolio | None = None  # her published work: shown when a fan asks, and in her "now"
        self.policy = InputPolicy(persona)
        self.checker = CanonChecker(persona)
        self._rules_key: tuple | None = None
        self._rules: GuardRules | None = None
        # Memory work runs on one thread, in order: the store's connection is never shared
        # mid-transaction, and learning queued after a turn finishes before the next recall.
        self._memory_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="atelier-memory")
        self._waiting_turns: queue.SimpleQueue[tuple[TurnRequest, asyncio.Future]] = queue.SimpleQueue()

    async def on_memory_thread(self, function, *args):
        """`function(*args)` on the memory thread, after the memory work queued before it. Turns
        read and write memory through here; so does anything else that reads it (the studio's
        memory inspector), never from a thread of its own."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._memory_thread, function, *args)
        except self.memory.store.failures if self.memory is not None else () as error:
            raise MemoryStoreError(f"the memory store failed: {error}") from error

    def on_memory_thread_from_worker(self, function, *args):
        """`function(*args)` on the memory thread, for a worker thread (a finished job keeping its
        piece as a memory of the fan): blocks that thread until it has run."""
        return self._memory_thread.submit(function, *args).result()

    async def start_session(self, fan_id: str | None = None, name: str = "", recent_turns: int = 6) -> ChatSession:
        """A session for a fan; a remembered fan picks up where the last session ended
        (learning left queued by a crash runs first)."""
        session = ChatSession(fan=FanProfile(name=name), fan_id=fan_id)
        if self.memory and fan_id:
            await self.on_memory_thread(self.memory.process_jobs)
            session.history = await self.on_memory_thread(self.memory.recent_history, fan_id, recent_turns)
        return session

    async def close(self) -> None:
        await asyncio.to_thread(self._memory_thread.shutdown)

    def greeting(self) -> str:
        return self.persona.voice.greetings[0]

    def interrupt(self, session: ChatSession, heard: str) -> None:
        """The fan cut the reply off having seen or heard `heard`; close the reply's stream
        next. History and memory keep only that part (never more than she said), marked."""
        session.heard = heard

    async def reply(self, session: ChatSession, user_text: str, params: GenerationParams | None = None, request: str | None = None) -> AsyncIterator[str]:
        """Stream the persona's reply (`params` overrides the configured generation settings).
        The turn is committed to memory before this generator finishes, even if the stream is
        closed early (with the part the fan received). A message asking her for a piece (a look,
        a print, a song) starts a job, tagged with `request` (the message's id), and her answer
        says she has taken it on; one asking to see her work is shown her portfolio's; the model
        is not asked for either."""
        session.heard = None
        started = time.perf_counter()
        decision = self.policy.check(user_text)
        if not decision.allowed:  # in character, and the model is not asked at all
            async for piece in self._answer_without_the_model(session, user_text, decision.reply, refused=decision.reason):
                yield piece
            return
        remembering = self.memory is not None and session.fan_id is not None
        recall = Recall()
        if remembering:
            recall, session.fan = await self._prepare_turn(TurnRequest(session.fan_id, user_text, session.fan.name))
        session.last_recall = recall
        if remembering and self.commissions is not None:
            from persona.commissions import facts_of, sent_again  # the pipelines load with the first fan

            answer, ending = None, {}
            if (again := self.commissions.again(session.fan_id, user_text)) is not None:
                answer, ending = sent_again(again), {"sent": again}
            elif (intent := await self.commissions.read(user_text, recall.vector)).kind in ("look", "print", "song"):
                order = self.commissions.order(session.fan_id, facts_of(session.fan), intent, request)
                answer, ending = order.answer, {"order": order}
            elif intent.kind == "show_work" and self.portfolio is not None and (shown := self.portfolio.show(user_text, self.prompts.today())):
                answer, piece = shown
                ending = {"sent": piece.artifact if piece is not None else None}
            if answer is not None:
                session.last_persona_s = time.perf_counter() - started
                async for piece in self._answer_without_the_model(session, user_text, answer, **ending):
                    yield piece
                return
        working_on = self.portfolio.working_on(self.prompts.today()) if self.portfolio is not None else []
        prompt = self.prompts.build(session.history, user_text, session.fan, remembered=recall.texts, recalled_lore=recall.lore_ids,
                                    working_on=working_on, studio_lore=recall.studio_lore)
        if prompt.report.history_dropped:
            await self._summarise(session, session.history[: prompt.report.history_dropped])
            # Forget what the budget dropped, so the next prompt starts from the same prefix.
            del session.history[: prompt.report.history_dropped]
        session.last_report = prompt.report
        fan = FanContext(session.fan_id, self.memory.private_terms, "\n".join(m.content for m in prompt.messages)) if remembering else None
        guard = OutputGuard(self._guard_rules(prompt.messages[0].content), fan)
        params = params or self.params
        # The fan's facts are read at the gate's first check, while the model writes: not before it starts.
        gate = SentenceGate(self.checker, self.prompts.today(), partial(fan_facts, session.fan.name, user_text, list(session.fan.notes)), params.max_sentences)
        session.last_usage = Usage(prompt.report.total_tokens, 0)
        session.last_persona_s = time.perf_counter() - started  # policy, recall and prompt: before the model is asked
        stream = self.backend.stream(prompt.messages, params)
        sent: list[str] = []  # what the fan received
        finish_reason = "length"  # until the backend says otherwise; a stop on our side leaves the last sentence unfinished
        try:
            async for event in stream:
                if isinstance(event, TextDelta):
                    if (safe := guard.feed(event.text)) and (released := gate.feed(safe)):
                        sent.append(released)
                        yield released
                    if guard.tripped or gate.ended:
                        break  # closing the stream stops generation, upstream too
                else:
                    session.last_usage = event.usage
                    finish_reason = event.finish_reason
            tail = gate.feed(guard.feed("", final=True)) + gate.finish("length" if guard.tripped else finish_reason)
            if not "".join(sent + [tail]).strip():
                tail = self.persona.safety.redirect  # the card's redirect, when nothing she can say is left
            if tail:
                sent.append(tail)
                yield tail
        finally:
            await stream.aclose()
            reply = "".join(sent).strip()
            interrupted = session.heard is not None
            if interrupted:
                seen = reply[: shared_prefix_length(reply, session.heard.strip())]
                reply = (seen.rstrip() + INTERRUPTED).strip()
            ended = "guard" if guard.tripped else gate.ended or finish_reason
            session.last_turn = TurnResult(reply, session.last_usage, interrupted=interrupted, guarded=guard.tripped,
                                           finish_reason=ended, dropped=gate.dropped)
            await _to_the_end(self._commit(session, prompt.messages[-1], user_text, reply, session.last_usage))

    async def _answer_without_the_model(self, session: ChatSession, user_text: str, answer: str, **ending) -> AsyncIterator[str]:
        """An answer the persona layer gives itself (a refusal, a piece taken on, a piece sent
        again): sent whole and committed like any turn, with how it ended in `ending`."""
        yield answer
        await _to_the_end(self._commit(session, ChatMessage(role="user", content=user_text), user_text, answer, Usage(0, 0)))
        session.last_turn = TurnResult(answer, Usage(0, 0), **ending)

    async def _prepare_turn(self, request: TurnRequest) -> tuple[Recall, FanProfile]:
        """Recall and the fan's block, in one trip to the memory thread. Turns that wait for
        that thread together go together: the first trip to run takes every waiting turn,
        embeds their messages in small batches and hands each turn its memory as soon as it
        is read, so the sixteenth of sixteen fans does not wait for fifteen embeddings one
        after another, and the first does not wait for fifteen recalls."""
        loop = asyncio.get_running_loop()
        prepared = loop.create_future()
        self._waiting_turns.put((request, prepared))
        self._memory_thread.submit(self._prepare_waiting_turns, loop)
        return await prepared

    def _prepare_waiting_turns(self, loop: asyncio.AbstractEventLoop) -> None:
        waiting = []
        while not self._waiting_turns.empty():
            waiting.append(self._waiting_turns.get_nowait())
        if not waiting:
            return  # an earlier trip took them
        try:
            for (_, prepared), result in zip(waiting, self.memory.prepare_turns([request for request, _ in waiting])):
                loop.call_soon_threadsafe(_settle, prepared, result)
        except Exception as error:  # noqa: BLE001 - the batch's embedding failed: every waiting turn fails with it
            for _, prepared in waiting:
                loop.call_soon_threadsafe(_settle, prepared, error)

    def _guard_rules(self, system_prompt: str) -> GuardRules:
        """Compiled once and reused while the static block and the day stay the same (every fan shares them)."""
        key = (system_prompt, self.prompts.today())
        if self._rules_key != key:
            self._rules = GuardRules.build(self.persona, *key)
            self._rules_key = key
        return self._rules

    async def _commit(self, session: ChatSession, sent: ChatMessage, user_text: str, reply: str, usage: Usage) -> None:
        """Into history (the user message as sent, with its context, so the next prompt
        extends this one) and into memory; learning is queued durably, off the reply's path."""
        session.history += [sent, ChatMessage(role="assistant", content=reply)]
        session.last_usage = usage
        if self.memory is not None and session.fan_id is not None:
            await self.on_memory_thread(self.memory.remember_turn, session.fan_id, user_text, reply)
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
            await self.on_memory_thread(self.memory.remember_summary, session.fan_id, summary)

    def _learn_quietly(self) -> None:
        """One queued learning job, then to the back of the memory thread's queue: a fan
        waiting for recall does not wait for other fans' learning."""
        try:
            more = self.memory.process_jobs(limit=1) > 0
        except Exception:  # the jobs stay queued and run again at the next session start
            logging.getLogger(__name__).exception("learning from a turn failed")
            return
        if more:
            with contextlib.suppress(RuntimeError):  # shutting down: the rest waits for the next start
                self._memory_thread.submit(self._learn_quietly)


def _settle(future: asyncio.Future, result) -> None:
    if future.done():
        return  # the turn was cancelled while its memory was read (or was settled already)
    if isinstance(result, Exception):
        future.set_exception(result)
    else:
        future.set_result(result)
