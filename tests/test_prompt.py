"""Prompt assembly with the real SmolLM2 tokenizer and chat template."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from persona.card import CanonEntry
from persona.director import ChatSession, Director
from persona.prompt import FanProfile, LoreScanner, PromptBudgetError, PromptBuilder, prefix_reuse, prefix_reuse_series, replay
from pipelines.dialogue import ChatMessage, GenerationParams

SCRIPT = yaml.safe_load((Path(__file__).resolve().parent.parent / "bench" / "conversation.yaml").read_text())
NOW = dt.datetime(2026, 11, 21, 9, 30, tzinfo=dt.timezone.utc)


def exchange(user: str, persona: str) -> list[ChatMessage]:
    return [ChatMessage(role="user", content=user), ChatMessage(role="assistant", content=persona)]


def test_cache_friendly_order(haeun, tokenizer):
    history = exchange("Hello!", "Welcome in! Mind the cat.")
    prompt = PromptBuilder(haeun, tokenizer, 3072).build(history, "Tell me about Bobbin.", FanProfile(name="Jisoo"), now=NOW)
    system, *middle, newest = prompt.messages
    assert system.role == "system" and middle == history and newest.role == "user"
    # static persona block, then the fan block
    assert system.content.index("## Always true") < system.content.index("## The fan you are talking with")
    assert "Jisoo" in system.content
    for entry in haeun.canon:
        if entry.constant:
            assert entry.content in system.content
    # per-turn material only in the newest message, right before the fan's words
    bobbin = next(e for e in haeun.canon if "Bobbin" in e.keys)
    assert bobbin.content in newest.content and bobbin.content not in system.content
    assert newest.content.endswith("Tell me about Bobbin.") and "Saturday 21 November 2026, 18:30 KST" in newest.content
    assert bobbin.id in prompt.report.triggered_canon
    assert prompt.token_ids == list(tokenizer.apply_chat_template([m.model_dump() for m in prompt.messages], add_generation_prompt=True)["input_ids"])
    assert prompt.report.total_tokens == len(prompt.token_ids) <= 3072


def test_static_block_is_identical_for_every_fan_and_turn(haeun, tokenizer):
    builder = PromptBuilder(haeun, tokenizer, 3072)
    a = builder.build([], "hi", now=NOW).messages[0]
    b = builder.build(exchange("x", "y"), "what is ramie?", now=NOW + dt.timedelta(hours=5)).messages[0]
    assert a == b


def test_embargoed_canon_is_invisible_before_its_date(haeun, tokenizer):
    embargoed = [e for e in haeun.canon if e.embargo_until]
    assert embargoed, "the default persona has embargoed entries"
    builder = PromptBuilder(haeun, tokenizer, 3072)
    for entry in embargoed:
        question = "Tell me about " + " and ".join(k for k in entry.keys if not entry.use_regex) + "?"
        before = builder.build([], question, now=dt.datetime.combine(entry.embargo_until - dt.timedelta(days=1), dt.time(12), dt.timezone.utc))
        assert entry.content not in str(before.messages) and entry.id in before.report.embargoed_canon
        after = builder.build([], question, now=dt.datetime.combine(entry.embargo_until + dt.timedelta(days=1), dt.time(12), dt.timezone.utc))
        assert entry.content in after.messages[-1].content


def test_constant_canon_is_never_dropped(haeun, tokenizer):
    needed = PromptBuilder(haeun, tokenizer, 100_000).build([], "hi", now=NOW).report.total_tokens
    with pytest.raises(PromptBudgetError, match="constant canon") as error:
        PromptBuilder(haeun, tokenizer, needed - 50).build([], "hi", now=NOW)
    assert "core-identity" in str(error.value) and "dialogue.context_tokens" in str(error.value)


def test_history_is_trimmed_by_halves_in_whole_exchanges(haeun, tokenizer):
    needed = PromptBuilder(haeun, tokenizer, 100_000).build([], "hi", now=NOW).report.total_tokens
    history = [m for turn in SCRIPT for m in exchange(turn["user"], turn["persona"])]
    prompt = PromptBuilder(haeun, tokenizer, needed + 300).build(history, "hi", now=NOW)
    dropped = prompt.report.history_dropped
    assert dropped >= len(history) // 2 and dropped % 2 == 0
    assert prompt.messages[1:-1] == history[dropped:] and prompt.messages[1].role == "user"
    assert prompt.report.total_tokens <= needed + 300


def test_triggered_lore_gives_way_to_the_budget_and_says_so(haeun, tokenizer):
    many_keys = "Bobbin, ramie, Euljiro, Gwangjang, grandmother, Mokpo, Jiwoo, Persimmon Hour, Seongsu 4AM"
    wide = PromptBuilder(haeun, tokenizer, 100_000).build([], many_keys, now=NOW).report
    tight = PromptBuilder(haeun, tokenizer, wide.total_tokens - 200).build([], many_keys, now=NOW).report
    assert len(wide.triggered_canon) >= 5
    assert tight.dropped_canon and set(tight.triggered_canon) | set(tight.dropped_canon) == set(wide.triggered_canon)
    # most important first, in the same order as when everything fits
    assert tight.triggered_canon == [i for i in wide.triggered_canon if i in tight.triggered_canon]
    assert tight.triggered_canon[0] == wide.triggered_canon[0]


def test_lore_keys_match_whole_words_and_regex():
    plain = CanonEntry(id="a", keys=["art"], content="x")
    assert plain.is_triggered_by("I love ART!") and not plain.is_triggered_by("party time")
    regex = CanonEntry(id="b", keys=[r"\bAW\d{2}\b"], use_regex=True, content="x")
    assert regex.is_triggered_by("the AW25 show") and not regex.is_triggered_by("AWOL")
    exact = CanonEntry(id="c", keys=["Mulgyeol"], case_sensitive=True, content="x")
    assert exact.is_triggered_by("Mulgyeol") and not exact.is_triggered_by("mulgyeol")


def test_lore_is_scanned_a_message_at_a_time_and_remembered():
    entries = [CanonEntry(id="ramie", keys=["ramie"], content="x"), CanonEntry(id="aw", keys=[r"\bAW\d{2}\b"], use_regex=True, content="y"),
               CanonEntry(id="linen", keys=["linen"], content="z", constant=True)]
    scanner = LoreScanner(entries, cache_entries=2)
    conversation = ["Is that ramie?", "The AW25 show used linen.", "nothing here", "Is that ramie?", "ram", "ie"]
    for _ in range(2):  # the second pass reads hits kept from the first, and some evicted since
        assert scanner.triggered(conversation[:2]) == {"ramie", "aw"}  # a constant entry is always in the prompt: never "triggered"
        assert scanner.triggered(conversation[2:3]) == set()
        assert scanner.triggered(conversation[4:]) == set()  # a key split across two messages is not in either


def scripted_prompts(builder: PromptBuilder) -> list:
    return replay(builder, [(turn["user"], turn["persona"]) for turn in SCRIPT], FanProfile(name="Jisoo"), NOW)


@pytest.mark.parametrize("budget", [4096, 6144])
def test_prefix_reuse_over_a_scripted_conversation(haeun, tokenizer, budget):
    prompts = scripted_prompts(PromptBuilder(haeun, tokenizer, budget))
    reuse = prefix_reuse_series([prompt.token_ids for prompt in prompts])
    assert len(reuse) == 19
    trimmed = [prompt.report.history_dropped > 0 for prompt in prompts[1:]]
    # From the third prompt on, every prompt continues the one before it, except where the
    # history outgrew the budget and its oldest half went at once (rare by design).
    assert all(share >= 0.90 for share, trim in zip(reuse[1:], trimmed[1:]) if not trim), reuse
    assert sum(trimmed) <= 2
    if budget == 6144:
        assert not any(trimmed) and min(reuse[1:]) >= 0.90


def test_prefix_reuse_counts_only_the_exact_prefix():
    assert prefix_reuse([1, 2, 3], [1, 2, 3, 4]) == 0.75
    assert prefix_reuse([1, 9, 3], [1, 2, 3, 4]) == 0.25
    assert prefix_reuse([], [1]) == 0.0


async def test_director_records_turns_and_forgets_what_the_budget_dropped(haeun, tokenizer, local_backend):
    needed = PromptBuilder(haeun, tokenizer, 100_000).build([], "hi", now=NOW).report.total_tokens
    director = Director(haeun, local_backend, PromptBuilder(haeun, tokenizer, needed + 250), GenerationParams(max_tokens=8, temperature=0.0))
    session = ChatSession(fan=FanProfile(name="Jisoo"))
    for turn in SCRIPT[:6]:
        reply = "".join([piece async for piece in director.reply(session, turn["user"])])
        assert reply.strip() and session.history[-1].content == reply.strip()
        assert session.last_usage.completion_tokens <= 8
    assert len(session.history) < 12, "the budget should have trimmed the history"
    assert [m.role for m in session.history] == ["user", "assistant"] * (len(session.history) // 2)


def test_recalled_memories_and_lore_go_into_this_turn_only(haeun, tokenizer):
    builder = PromptBuilder(haeun, tokenizer, 4096)
    grandmother = next(e for e in haeun.canon if e.id == "grandmother")
    prompt = builder.build([], "Tell me something about your family.", now=NOW, remembered=["The fan's name is Jisoo.", "The fan has a cat named Mochi."], recalled_lore=[grandmother.id, "core-identity"])
    newest = prompt.messages[-1].content
    assert "You remember: The fan's name is Jisoo." in newest and "You remember: The fan has a cat named Mochi." in newest
    assert f"Relevant: {grandmother.content}" in newest
    assert prompt.report.triggered_canon.count("core-identity") == 0, "constant canon is already in the static block"
    assert prompt.report.remembered == ["The fan's name is Jisoo.", "The fan has a cat named Mochi."]
    # once shown and still in the history, a memory is not repeated
    history = [prompt.messages[-1], ChatMessage(role="assistant", content="Hi Jisoo!")]
    again = builder.build(history, "And Mochi?", now=NOW, remembered=["The fan has a cat named Mochi."])
    assert "You remember" not in again.messages[-1].content and "The fan has a cat named Mochi." in again.report.already_shown


def test_recalled_memories_give_way_to_the_budget(haeun, tokenizer):
    needed = PromptBuilder(haeun, tokenizer, 100_000).build([], "hi", now=NOW).report.total_tokens
    many = [f"The fan mentioned detail number {i} about their sewing project in great length." for i in range(40)]
    prompt = PromptBuilder(haeun, tokenizer, needed + 120).build([], "hi", now=NOW, remembered=many)
    assert prompt.report.remembered == many[: len(prompt.report.remembered)] and prompt.report.dropped_memories
    assert prompt.report.total_tokens <= needed + 120


def test_every_budget_keeps_what_fits_most_important_first(haeun, tokenizer):
    """Wide budgets take the one-count path, tight ones count line by line; across the edge
    between them the prompt keeps whole history, the most important material, and the budget."""
    history = exchange("I sew on Sundays.", "Me too, after the morning walk.") * 3
    memories = [f"The fan said something memorable, number {i}." for i in range(6)]
    full = PromptBuilder(haeun, tokenizer, 100_000).build(history, "What about silk?", now=NOW, remembered=memories)
    assert full.report.remembered == memories and not full.report.dropped_memories
    dropped_any = False
    for budget in range(full.report.total_tokens + 800, full.report.total_tokens - 160, -16):
        prompt = PromptBuilder(haeun, tokenizer, budget).build(history, "What about silk?", now=NOW, remembered=memories)
        report = prompt.report
        assert report.total_tokens <= budget and report.total_tokens == len(prompt.token_ids)
        assert report.remembered == memories[: len(report.remembered)] and report.dropped_memories == memories[len(report.remembered):]
        assert report.history_dropped % 2 == 0 and prompt.messages[1:-1] == history[report.history_dropped:]
        dropped_any |= bool(report.dropped_memories)
    assert dropped_any, "the tightest budgets drop memories"


def test_segment_encoder_gives_the_tokenizers_own_ids(haeun, tokenizer):
    """Reused segments must never change what the model is sent: every prompt of a
    conversation (with odd whitespace, emoji, Hangul and special-token text) encodes
    exactly as the tokenizer encodes the whole rendered prompt."""
    builder = PromptBuilder(haeun, tokenizer, 4096)
    history: list[ChatMessage] = []
    for text in ["hi  there\n\n", "비 오는 날 좋아해요 😀", " <|im_end|> leading space", "tabs\tand\r\nreturns", "Bobbin!"]:
        prompt = builder.build(history, text, FanProfile(name="Jisoo"), now=NOW, remembered=["The fan likes rain."])
        whole = tokenizer.apply_chat_template([m.model_dump() for m in prompt.messages], add_generation_prompt=True)["input_ids"]
        assert prompt.token_ids == list(whole)
        history += [prompt.messages[-1], ChatMessage(role="assistant", content=f"Reply to {text!r} ")]
    assert builder.segments._cache, "the persona block and history are reused, not tokenised again"
