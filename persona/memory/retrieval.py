"""Recall for one turn: which memories and which lore go into the prompt, and why.

Each candidate (this fan's memories from the store and visible canon, nearest first) is
scored by relevance (cosine similarity), recency (halving every ``half_life_days``) and
importance. Canon that is close enough in meaning triggers as lore, beside the lore that
keys and regexes trigger in the prompt builder. Constant canon is not recalled here: it is
always in the static persona block. Canon and its stored vectors are read once and searched
in memory: canon changes only when the persona's canon is synced, and a few dozen vectors
compare faster than a query. Her own past lines are not recalled word for word: what she
said about herself comes back as PERSONA memories, which her canon has checked.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import numpy as np

from persona.memory.embeddings import Embedder
from persona.memory.records import Author, Memory, MemoryKind
from persona.memory.store import MemoryStore, ScoredMemory

CANON_CHECK_S = 2.0  # how often recall looks whether another process changed canon
FAN_KINDS = {MemoryKind.FAN_FACT, MemoryKind.PERSONA, MemoryKind.SUMMARY, MemoryKind.EPISODIC, MemoryKind.ARTIFACT}  # recalled from the store


@dataclass(frozen=True)
class RecallSettings:
    k: int = 6  # memories that go into the prompt
    candidates: int = 24  # nearest neighbours fetched before scoring
    min_similarity: float = 0.20  # below this a memory is not about the turn (0.30 missed paraphrases: hit rate 87% vs 94%)
    lore_similarity: float = 0.35  # canon this close triggers as lore without a key...
    lore_k: int = 2  # ...the nearest few only (MiniLM: a clear paraphrase scores 0.35-0.5)
    half_life_days: float = 30.0
    relevance_weight: float = 1.0
    recency_weight: float = 0.25
    importance_weight: float = 0.25


@dataclass(frozen=True)
class Recalled:
    memory: Memory
    score: float
    why: str


@dataclass
class Recall:
    memories: list[Recalled] = field(default_factory=list)
    lore: list[Recalled] = field(default_factory=list)  # canon memories; their key is the canon entry id
    vector: np.ndarray | None = None  # the message's embedding: what else reads the message (its intent) uses it too
    skipped: list[Recalled] = field(default_factory=list)  # fetched but not relevant enough

    @property
    def lore_ids(self) -> list[str]:
        return [item.memory.key for item in self.lore]

    @property
    def studio_lore(self) -> list[str]:
        """The recalled lore the studio wrote (her published work): not in her card, so its text."""
        return [item.memory.text for item in self.lore if item.memory.author is Author.STUDIO]

    @property
    def texts(self) -> list[str]:
        return [item.memory.text for item in self.memories]


class Recaller:
    def __init__(self, store: MemoryStore, embedder: Embedder, settings: RecallSettings = RecallSettings()):
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self._canon: tuple[list[Memory], np.ndarray] | None = None  # read from the store at the first recall
        self._canon_version: tuple[int, int] | None = None
        self._canon_checked = 0.0  # monotonic time of the last look at the store's canon version

    def canon_changed(self) -> None:
        """The store's canon was replaced: read it again at the next recall."""
        self._canon = None

    def _nearest_canon(self, vector: np.ndarray, today: dt.date) -> list[ScoredMemory]:
        if self._canon is not None and time.monotonic() - self._canon_checked > CANON_CHECK_S:
            # Another process may have replaced some (`atelier portfolio publish` beside a running server).
            self._canon_checked = time.monotonic()
            if self.store.canon_version() != self._canon_version:
                self._canon = None
        if self._canon is None:
            self._canon_version = self.store.canon_version()
            self._canon = self.store.canon_index()
            self._canon_checked = time.monotonic()
        canon, vectors = self._canon
        similarities = vectors @ vector
        return [ScoredMemory(memory, float(similarity)) for memory, similarity in zip(canon, similarities)
                if memory.embargo_until is None or memory.embargo_until <= today]

    def recall(self, fan_id: str, query: str, now: dt.datetime | None = None, vector: np.ndarray | None = None) -> Recall:
        """What to remember for this turn (`vector`: the query's embedding, when the caller has
        it already). Memories already visible in the prompt's history are left out by the
        prompt builder, which sees the history."""
        now = now or dt.datetime.now(dt.timezone.utc)
        settings = self.settings
        if vector is None:
            vector = self.embedder.embed([query])[0]
        hits = self.store.search(fan_id, vector, settings.candidates, FAN_KINDS) + self._nearest_canon(vector, now.date())
        hits = sorted(hits, key=lambda hit: -hit.similarity)[: settings.candidates]
        result = Recall(vector=vector)
        scored = []
        for hit in hits:
            memory = hit.memory
            age_days = max((now - memory.created_at).total_seconds() / 86400, 0.0)
            recency = 0.5 ** (age_days / settings.half_life_days)
            score = (
                settings.relevance_weight * hit.similarity
                + settings.recency_weight * recency
                + settings.importance_weight * memory.importance
            )
            why = f"similarity {hit.similarity:.2f}, {age_days:.1f} days old, importance {memory.importance:.2f}"
            item = Recalled(memory, round(score, 4), why)
            if memory.kind is MemoryKind.EPISODIC and memory.author is Author.PERSONA:
                # Her own past lines come back only as PERSONA memories, which canon has checked.
                result.skipped.append(item)
            elif memory.kind is MemoryKind.CANON:
                close = hit.similarity >= settings.lore_similarity and len(result.lore) < settings.lore_k
                (result.lore if close else result.skipped).append(item)
            elif hit.similarity >= settings.min_similarity:
                scored.append(item)
            else:
                result.skipped.append(item)
        scored.sort(key=lambda item: -item.score)
        result.memories = scored[: settings.k]
        result.skipped += scored[settings.k :]
        return result
