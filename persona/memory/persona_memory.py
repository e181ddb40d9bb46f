"""What a conversation needs from memory: the persona's canon indexed for recall, recall
for a turn, the turn recorded, facts about the fan learned and kept up to date, and what
she says about herself kept once it is checked against her canon."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import NamedTuple
from zoneinfo import ZoneInfo

from persona.card import PersonaCard
from persona.memory.consistency import CanonChecker, Claim
from persona.memory.embeddings import Embedder
from persona.memory.extraction import RuleExtractor, reconcile
from persona.memory.records import Author, Memory, MemoryKind, NewMemory
from persona.memory.relationship import Relationship
from persona.memory.retrieval import Recall, Recaller, RecallSettings
from persona.memory.store import MemoryStore
from persona.prompt import FanProfile
from persona.safety import CAPITALISED, PrivateTerms
from pipelines.dialogue import ChatMessage

FACT_LIMIT = 1000  # the fan facts a reconciliation looks at
PROFILE_FACTS = 8  # the most important fan facts, always in the fan's prompt block
REFUSED_CLAIMS_KEPT = 20  # the latest claims of hers that canon refused, in the fan's state for inspection
EMBED_BATCH = 4  # fans' messages embedded together when fans ask at once (1.6 ms a sentence instead of 3.1; 16 at once: 1.2)


class TurnRequest(NamedTuple):
    fan_id: str
    text: str  # the fan's message
    name: str = ""  # the fan's display name, for their prompt block


class PersonaMemory:
    def __init__(self, store: MemoryStore, embedder: Embedder, persona: PersonaCard, settings: RecallSettings = RecallSettings(), extractor=None):
        """`extractor` reads fan facts from a message: rules by default, or a
        `JsonSchemaExtractor` where the dialogue backend can constrain its output."""
        self.store = store
        self.extractor = extractor or RuleExtractor()
        self.embedder = embedder
        self.persona = persona
        self.recaller = Recaller(store, embedder, settings)
        her_world = " ".join([persona.name, persona.identity.full_name, *(entry.content for entry in persona.canon)])
        self.private_terms = PrivateTerms(common=CAPITALISED.findall(her_world))
        self.checker = CanonChecker(persona)

    def sync_canon(self) -> bool:
        """Index the persona's triggerable canon for recall by meaning; returns whether it changed.
        Constant canon is not indexed: it is in every prompt already."""
        entries = [entry for entry in self.persona.canon if entry.enabled and not entry.constant]
        wanted = [(entry.id, entry.content, entry.embargo_until) for entry in entries]
        if wanted == [(m.key, m.text, m.embargo_until) for m in self.store.canon() if m.author is Author.OPERATOR]:
            return False  # unchanged: no re-embedding at every start
        memories = [
            NewMemory(kind=MemoryKind.CANON, text=entry.content, key=entry.id, embargo_until=entry.embargo_until, importance=min(entry.priority / 300, 1.0))
            for entry in entries
        ]
        self.store.replace_canon(memories, self.embedder.embed([entry.content for entry in entries]))
        self.recaller.canon_changed()
        return True

    def sync_studio_canon(self, memories: list[NewMemory]) -> bool:
        """The studio's canon (her published work, persona/portfolio.py) becomes exactly these
        memories; returns whether it changed. Her card's canon is not touched."""
        wanted = [(m.key, m.text, m.embargo_until) for m in memories]
        if wanted == [(m.key, m.text, m.embargo_until) for m in self.store.canon() if m.author is Author.STUDIO]:
            return False
        self.store.replace_canon(memories, self.embedder.embed([m.text for m in memories]), Author.STUDIO)
        self.recaller.canon_changed()
        return True

    def recall(self, fan_id: str, text: str, now: dt.datetime | None = None) -> Recall:
        return self.recaller.recall(fan_id, text, now)

    def prepare_turns(self, turns: list[TurnRequest]) -> Iterator[tuple[Recall, FanProfile] | Exception]:
        """What several fans' turns need from memory (recall and the fan's block), each turn's
        as soon as it is ready. Messages are embedded EMBED_BATCH at a time: four short
        sentences at once take half the time of four one by one, and the first fans of a
        burst need not wait for the last fans' embeddings. One fan's failure is yielded in
        its place; a failed embedding raises."""
        for start in range(0, len(turns), EMBED_BATCH):
            batch = turns[start : start + EMBED_BATCH]
            for turn, vector in zip(batch, self.embedder.embed([turn.text for turn in batch])):
                try:
                    yield self.recaller.recall(turn.fan_id, turn.text, vector=vector), self.fan_profile(turn.fan_id, turn.name)
                except Exception as error:  # noqa: BLE001 - handed to that fan's turn, which raises it
                    yield error

    def remember_turn(self, fan_id: str, fan_text: str, reply: str) -> list[Memory]:
        """Both sides of a turn in one transaction: never half a turn. Learning from it is
        queued first, so a crash at any point delays it but never loses it."""
        self.store.enqueue(fan_id, "learn", {"text": fan_text, "reply": reply})
        turn = [NewMemory(kind=MemoryKind.EPISODIC, fan_id=fan_id, text=fan_text)]
        authors = [Author.FAN]
        if reply.strip():
            turn.append(NewMemory(kind=MemoryKind.EPISODIC, fan_id=fan_id, text=reply))
            authors.append(Author.PERSONA)
        return self.store.add(turn, self.embedder.embed([m.text for m in turn]), authors)

    def process_jobs(self, limit: int = 100) -> int:
        """Run queued learning: facts about the fan, the relationship, then what she said
        about herself. Returns how many jobs ran."""
        jobs = self.store.pending_jobs(limit)
        for job in jobs:
            if job.kind == "learn":
                counts = self.learn(job.fan_id, job.payload["text"])
                relationship = self.relationship(job.fan_id).after_turn(job.payload["text"], counts.get("add", 0) + counts.get("update", 0))
                self.store.put_state(job.fan_id, {**self.store.get_state(job.fan_id), "relationship": relationship.model_dump()})
                self.learn_from_reply(job.fan_id, job.payload.get("reply", ""))
            self.store.finish_job(job.id)
        return len(jobs)

    def learn_from_reply(self, fan_id: str, reply: str, today: dt.date | None = None) -> list[Claim]:
        """Keep what she said about herself that canon is silent on, as a PERSONA memory of this
        fan's conversation; the first thing she said on a subject stands. Claims canon refuses
        are noted in the fan's state (for the memory inspector) and never stored as memories."""
        today = today or dt.datetime.now(ZoneInfo(self.persona.identity.timezone)).date()  # embargoes are in her time
        claims = self.checker.claims(reply, today)
        said = {m.key for m in self.store.recent(fan_id, FACT_LIMIT, {MemoryKind.PERSONA})}
        new = [claim for claim in claims if claim.keep and claim.fact.key not in said]
        if new:
            memories = [NewMemory(kind=MemoryKind.PERSONA, fan_id=fan_id, text=claim.text, key=claim.fact.key, importance=0.4) for claim in new]
            self.store.add(memories, self.embedder.embed([m.text for m in memories]), Author.PERSONA)
        refused = [{"text": c.text, "verdict": c.verdict, "why": c.why, "on": today.isoformat()} for c in claims if c.verdict not in ("new", "canon")]
        if refused:
            state = self.store.get_state(fan_id)
            state["refused_claims"] = (state.get("refused_claims", []) + refused)[-REFUSED_CLAIMS_KEPT:]
            self.store.put_state(fan_id, state)
        return claims

    def relationship(self, fan_id: str) -> Relationship:
        return Relationship(**self.store.get_state(fan_id).get("relationship", {}))

    def fan_profile(self, fan_id: str, name: str = "") -> FanProfile:
        """The fan's slow-changing prompt block: the relationship, the key facts and the
        summary of history that no longer fits."""
        facts = self.store.recent(fan_id, FACT_LIMIT, {MemoryKind.FAN_FACT})
        self.private_terms.learn(fan_id, [(m.key, m.text) for m in facts])
        top = sorted(facts, key=lambda m: (-m.importance, m.key))[:PROFILE_FACTS]
        summary = [m.text for m in self.store.recent(fan_id, 1, {MemoryKind.SUMMARY})]
        return FanProfile(name=name, notes=[self.relationship(fan_id).describe(), *(m.text for m in sorted(top, key=lambda m: m.key)), *summary])

    def inspect(self, fan_id: str) -> tuple[dict, list[Memory]]:
        """Everything stored about a fan, for the memory inspector and its export: their state
        (relationship, refused claims) and their memories, oldest first."""
        return self.store.get_state(fan_id), self.store.export_fan(fan_id)

    def forget(self, fan_id: str) -> int:
        """Delete everything stored about a fan (memories, state, queued learning); returns how
        many memories went."""
        return self.store.forget_fan(fan_id)

    def remember_artifact(self, fan_id: str, artifact_id: str, text: str) -> Memory:
        """A piece she made for the fan, in words she can recall ("a song, 'Rain on Hangang', made
        for them on 7 December from their words ..."); keyed by the artifact id to send it again."""
        memory = NewMemory(kind=MemoryKind.ARTIFACT, fan_id=fan_id, text=text, key=artifact_id, importance=0.8)
        return self.store.add([memory], self.embedder.embed([memory.text]), Author.SYSTEM)[0]

    def remember_summary(self, fan_id: str, summary: str) -> Memory:
        memory = NewMemory(kind=MemoryKind.SUMMARY, fan_id=fan_id, text=summary, importance=0.6)
        return self.store.add([memory], self.embedder.embed([memory.text]), Author.SYSTEM)[0]

    def learn(self, fan_id: str, fan_text: str) -> dict[str, int]:
        """Extract facts the fan states about themself and reconcile them with those stored:
        add new ones, update changed ones (the new one is written before the old one goes,
        so a crash never loses a fact), delete retracted ones."""
        existing = self.store.recent(fan_id, FACT_LIMIT, {MemoryKind.FAN_FACT})
        facts, retractions = self.extractor.extract(fan_text, existing)
        if not facts and not retractions:
            return {}
        decisions = reconcile(facts, retractions, existing)
        writes = [d for d in decisions if d.action in ("add", "update") and d.fact is not None]
        if writes:
            new = [NewMemory(kind=MemoryKind.FAN_FACT, fan_id=fan_id, text=d.fact.text, key=d.key, importance=d.fact.importance) for d in writes]
            self.store.add(new, self.embedder.embed([m.text for m in new]), Author.SYSTEM)
            self.private_terms.learn(fan_id, [(m.key, m.text) for m in new])
        gone = [d.existing_id for d in decisions if d.action in ("update", "delete") and d.existing_id is not None]
        self.store.delete(fan_id, gone)
        counts: dict[str, int] = {}
        for decision in decisions:
            counts[decision.action] = counts.get(decision.action, 0) + 1
        return counts

    def recent_history(self, fan_id: str, turns: int) -> list[ChatMessage]:
        """The last turns of earlier sessions, as chat messages, starting with the fan's."""
        if turns <= 0:
            return []
        lines = self.store.recent(fan_id, 2 * turns, {MemoryKind.EPISODIC})
        history = []
        for said, answer in zip(lines, lines[1:]):  # whole exchanges only
            if said.author is Author.FAN and answer.author is Author.PERSONA:
                history += [ChatMessage(role="user", content=said.text), ChatMessage(role="assistant", content=answer.text)]
        return history
