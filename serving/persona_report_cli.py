"""``atelier persona report ID``: her voice fingerprint, compared with her example dialogue.

    atelier persona report haeun                    her newest 200 replies in her memory, every fan
    atelier persona report haeun --fan jisoo        one fan's conversations
    atelier persona report haeun --sample 20        20 fresh replies from the configured model
    atelier persona report haeun --json             the same figures as one JSON object

The figures and the drift warnings are persona/voice_fingerprint.py's. Stored replies are read
once and the store is closed before anything is measured; `--sample` talks to the dialogue
backend through her director with memory off, so nothing it says is remembered by anyone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict

from persona.card import PersonaCard, load_persona
from persona.engine.settings import Settings
from persona.voice_fingerprint import VoiceFingerprint, compare, reference_fingerprint, report_lines
from serving.cli_checks import CommandError, UsageError, fan_id_argument, persona_id_argument

DEFAULT_LIMIT = 200
MAX_SAMPLE = 200

# What `--sample` says to her, one fresh conversation each: a spread of what fans bring (hellos,
# her work, their own making, music, Korean, something personal, a complaint), so her voice is
# heard across moods and not only answering canon questions. Cycled with a new seed past the end.
SAMPLE_MESSAGES: list[tuple[str, str]] = [  # (the fan's name, their message)
    ("", "hey!! just found your channel last night"),
    ("Dami", "I'm sewing my first jacket and the sleeves look like tubes. Help?"),
    ("", "what does a good morning in your studio sound like?"),
    ("Hyunwoo", "I make lo-fi beats in my bedroom. Any tips for making drums feel less stiff?"),
    ("", "오늘 비 와서 너무 우울해"),
    ("", "What would you wear to a friend's wedding in October?"),
    ("Sora", "I thrifted a wool coat but it smells like mothballs, can I save it?"),
    ("", "Do you ever get tired of designing?"),
    ("", "honestly your last song was kind of boring"),
    ("Eunji", "I'm choosing between grey and navy for a winter suit. Thoughts?"),
    ("", "What's something small that made you happy this week?"),
    ("", "Can you recommend a playlist for a long night train?"),
    ("Min", "I have a fashion school interview tomorrow and I'm so nervous"),
    ("", "How do you pick a name for a song?"),
    ("", "is it weird that I talk to my plants"),
    ("Jun", "Mending my dad's old denim jacket. Visible patches or invisible?"),
]


def positive_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number: give e.g. 200") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"give at least 1, got {value}")
    return value


def add_command(personas: argparse._SubParsersAction) -> None:
    report = personas.add_parser(
        "report", help="her voice fingerprint, compared with her example dialogue",
        description="Measure her voice in her replies (catchphrases, Korean words, sentence length, emoji, banned phrases, "
                    "questions) beside her card's example dialogue, and warn where a figure drifts. By default her stored "
                    "replies are measured; --sample makes fresh ones with the configured dialogue backend.",
    )
    report.add_argument("persona", type=persona_id_argument, help="persona id")
    report.add_argument("--fan", type=fan_id_argument, help="only her replies to this fan (default: every fan)")
    report.add_argument("--limit", type=positive_count, metavar="N", help=f"her newest N stored replies (default: {DEFAULT_LIMIT})")
    report.add_argument("--sample", type=positive_count, metavar="N",
                        help=f"measure N fresh replies to a fixed set of fan messages instead (at most {MAX_SAMPLE}); nothing is stored")
    report.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    report.set_defaults(run=run_persona_report)


def run_persona_report(args: argparse.Namespace, settings: Settings) -> int:
    if args.sample is not None:
        if args.fan or args.limit:
            raise UsageError("--sample makes fresh replies, --fan and --limit choose stored ones: give one or the other")
        if args.sample > MAX_SAMPLE:
            raise UsageError(f"--sample must be between 1 and {MAX_SAMPLE}, got {args.sample}")
    card = load_persona(args.persona, settings.personas_dir)  # a typo is an error, not an empty report
    if args.sample is not None:
        settings.check_model_folders(dialogue=True, tokenizer=True)
        samples = asyncio.run(sample_replies(settings, card, args.sample))
        replies = [reply for _, reply in samples]
        source = {"source": "sample", "messages": len(samples)}
        label = "fresh replies"
    else:
        limit = args.limit or DEFAULT_LIMIT
        replies = stored_replies(settings, card, limit, args.fan)
        samples = []
        source = {"source": "memory", "fan": args.fan, "limit": limit}
        label = f"to {args.fan[:15]}" if args.fan else "her replies"
    measured = VoiceFingerprint.measure(replies, card) if replies else None
    reference = reference_fingerprint(card)
    drifts = compare(measured, reference, card) if measured else []
    pieces = pieces_report(settings, args.fan, args.limit or DEFAULT_LIMIT) if args.sample is None else None
    if args.json:
        print(json.dumps({
            "persona": card.id, **source,
            **({"pieces": pieces} if pieces is not None else {}),
            "measured": measured.model_dump() if measured else None,
            "reference": reference.model_dump(),
            "drift": [asdict(drift) for drift in drifts],
            **({"samples": [{"message": message, "reply": reply} for message, reply in samples]} if samples else {}),
        }, ensure_ascii=False, indent=2))
        return 0
    print(heading(card, source, len(replies)))
    for line in report_lines(measured, reference, drifts, label=label):
        print(line)
    if pieces:
        print(f"\nPieces she made for {'this fan' if args.fan else 'fans'}: {pieces['count']} ({pieces['off_her_dna']} off her DNA)")
        for piece in pieces["drifted"]:
            print(f"  {piece['kind']} '{piece['title']}' ({piece['created'][:10]}): " + "; ".join(piece["drift"]))
    return 0


def pieces_report(settings: Settings, fan_id: str | None, limit: int) -> dict:
    """Her newest pieces for fans beside her DNA: how many, and each one's drift warnings (the
    fingerprint every piece keeps: ΔE of its colours to her palette, her motifs; a song's
    signature report)."""
    from persona.engine.runtime import artifact_store

    store = artifact_store(settings)
    artifacts = (store.list(fan_id) if fan_id else store.everyone())[:limit]
    drifted = [{"kind": artifact.kind, "title": artifact.title, "created": artifact.created.isoformat(), "drift": list(artifact.fingerprint.get("drift", []))}
               for artifact in artifacts if artifact.fingerprint.get("drift")]
    return {"count": len(artifacts), "off_her_dna": len(drifted), "drifted": drifted}


def heading(card: PersonaCard, source: dict, count: int) -> str:
    if source["source"] == "sample":
        return f"{card.name}'s voice in {count} fresh replies from the dialogue model, beside her example dialogue"
    whose = f"to {source['fan']}" if source["fan"] else "to every fan"
    if not count:
        to_whom = f"to {source['fan']}" if source["fan"] else "to any fan"
        return f"{card.name} has no stored replies {to_whom} yet (chat with her, or use --sample N for fresh ones)"
    replies = "her one stored reply" if count == 1 else f"her newest {count} stored replies"
    return f"{card.name}'s voice in {replies} {whose} (at most {source['limit']}), beside her example dialogue"


def stored_replies(settings: Settings, card: PersonaCard, limit: int, fan_id: str | None) -> list[str]:
    """Her stored reply lines, oldest first; the store is open only while they are read."""
    from persona.memory import open_store

    with open_store(settings.memory, card.id) as store:
        replies = store.persona_replies(limit, fan_id)
        if fan_id is not None and not replies and not store.recent(fan_id, 1):
            raise CommandError(f"--fan {fan_id}: {card.name} has nothing stored about this fan; "
                               f"check the id (`atelier memory show --fan ID --persona {card.id}` lists what she keeps about a fan)")
    return replies


async def sample_replies(settings: Settings, card: PersonaCard, count: int) -> list[tuple[str, str]]:
    """`count` fresh replies, each in a conversation of its own, with a fixed seed per reply."""
    from persona.engine.runtime import start_runtime

    runtime = await start_runtime(settings, card.id, remember=False, log=log)
    samples = []
    try:
        director = runtime.director
        for index in range(count):
            name, message = SAMPLE_MESSAGES[index % len(SAMPLE_MESSAGES)]
            session = await director.start_session(None, name)
            started = time.perf_counter()
            pieces = [piece async for piece in director.reply(session, message, director.params.model_copy(update={"seed": index}))]
            samples.append((message, "".join(pieces).strip()))
            log(f"[{index + 1}/{count}] {time.perf_counter() - started:.1f} s  {message[:48]}")
    finally:
        await runtime.aclose()
    return samples


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
