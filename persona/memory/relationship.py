"""Relationship state per fan: familiarity, trust, affinity, recent mood, and a stage.

Updated after every turn from the fan's own words: every turn adds familiarity, sharing
something about themself adds trust, warm or hostile words move affinity and mood. Stages
only move forward; one bad day does not make a friend a stranger.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

STAGES = ("stranger", "acquaintance", "friend", "close friend")
# (familiarity, trust) needed for each stage after the first
THRESHOLDS = {"acquaintance": (0.15, 0.15), "friend": (0.45, 0.35), "close friend": (0.75, 0.6)}

POSITIVE = set(
    "love loved lovely like liked great good glad happy thanks thank amazing awesome beautiful wonderful excited "
    "fun nice cute yay best favourite favorite proud enjoy enjoyed sweet cool perfect brilliant gorgeous".split()
) | {"♥", "❤", "😊", "😍", "🥰", "😄", "😁", "🙂", "✨", "🎉"}
NEGATIVE = set(
    "hate hated sad angry annoyed awful terrible bad worst boring tired lonely upset stressed anxious "
    "ugly stupid horrible sick cry crying hurt disappointed worried scared".split()
) | {"😢", "😭", "😡", "😞", "💔"}
WORD = re.compile(r"[\w']+|[^\w\s]", re.UNICODE)


def valence(text: str) -> float:
    """-1 (hostile or sad) .. 1 (warm or happy), from a small word list."""
    tokens = WORD.findall(text.lower())
    score = sum(token in POSITIVE for token in tokens) - sum(token in NEGATIVE for token in tokens)
    return max(-1.0, min(1.0, score / 3))


class Relationship(BaseModel):
    turns: int = 0
    familiarity: float = Field(default=0.0, ge=0, le=1)
    trust: float = Field(default=0.1, ge=0, le=1)
    affinity: float = Field(default=0.0, ge=-1, le=1)
    mood: float = Field(default=0.0, ge=-1, le=1, description="moving average of the fan's recent tone")
    stage: str = "stranger"

    def after_turn(self, fan_text: str, facts_shared: int) -> Relationship:
        tone = valence(fan_text)
        familiarity = self.familiarity + (1 - self.familiarity) * 0.04
        trust = self.trust + (1 - self.trust) * 0.08 * min(facts_shared, 3)
        stage = self.stage
        for candidate in STAGES[STAGES.index(stage) + 1 :]:
            need_familiarity, need_trust = THRESHOLDS[candidate]
            if familiarity >= need_familiarity and trust >= need_trust:
                stage = candidate
        return Relationship(
            turns=self.turns + 1,
            familiarity=round(familiarity, 4),
            trust=round(trust, 4),
            affinity=round(max(-1.0, min(1.0, self.affinity + 0.05 * tone)), 4),
            mood=round(0.7 * self.mood + 0.3 * tone, 4),
            stage=stage,
        )

    def describe(self) -> str:
        """One line for the fan's slow-changing prompt block: it changes with the stage and a
        coarse warmth only, so the prompt prefix stays stable between changes."""
        warmth = "warm" if self.affinity > 0.2 else "guarded" if self.affinity < -0.2 else "easy"
        return {
            "stranger": f"You have only just met this fan; the mood between you is {warmth}.",
            "acquaintance": f"You know this fan a little; the mood between you is {warmth}.",
            "friend": f"This fan is a friend of yours; the mood between you is {warmth}.",
            "close friend": f"This fan is a close friend; the mood between you is {warmth}.",
        }[self.stage]
