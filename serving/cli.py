"""The ``atelier`` command line.

    atelier up [--host H] [--port P]              everything on one port: the studio, /ws/chat and /v1
    atelier chat [--persona ID] [--name NAME]     chat in the terminal, streaming
    atelier persona list|validate|import|export   manage persona cards
    atelier models prepare                        convert the embedded model once
    atelier design "brief" --looks 12 --out DIR   a fashion collection (serving/fashion_cli.py)
    atelier prints "brief" --count 100 --out DIR  seamless print tiles
    atelier compose "brief" --minutes 3 --out DIR a DAW-ready music bundle (serving/music_cli.py)
    atelier doctor                                what this machine has and lacks (serving/doctor.py)
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from functools import partial
from pathlib import Path

from persona.card import PersonaError, avatar_path, list_personas, load_persona, persona_path, read_persona_file, save_persona
from persona.engine.artifacts import PORTFOLIO
from persona.engine.auth import AuthError
from persona.engine.settings import ConfigError, Settings, load_settings
from persona.memory import MemoryStoreError, open_store
from pipelines.dialogue import DialogueError, prepare_embedded_model
from serving import cluster_cli, doctor, fashion_cli, music_cli, persona_cli, portfolio_cli
from serving.cli_checks import CommandError, UsageError, check_output_file, duration, fan_id_argument, host_argument, persona_id_argument, port_argument


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atelier", description="Atelier: an AI virtual human who chats, designs fashion and composes music.")
    parser.add_argument("--config", help="settings file (default: $ATELIER_CONFIG or configs/default.yaml)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    chat = commands.add_parser("chat", help="chat with the persona in the terminal", description="Chat with the persona in the terminal; replies stream as they are written. Type /help inside.")
    chat.add_argument("--persona", type=persona_id_argument, help="persona id (default: the configured persona)")
    chat.add_argument("--name", default="", help="your name, so she can use it")
    chat.add_argument("--fan", type=fan_id_argument, help="your fan id: she remembers you across sessions (without it, nothing is stored)")
    chat.set_defaults(run=run_chat)

    personas = commands.add_parser("persona", help="list, validate, import and export persona cards").add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = personas.add_parser("list", help="list the personas in the personas folder")
    listing.set_defaults(run=run_persona_list)
    validate = personas.add_parser("validate", help="check persona files; exit 1 if any is invalid")
    validate.add_argument("targets", nargs="*", help="persona ids or YAML files (default: every persona)")
    validate.set_defaults(run=run_persona_validate)
    importing = personas.add_parser("import", help="import a Character Card V2/V3 (.json or .png) as a persona; a PNG card's picture is kept beside it")
    importing.add_argument("card", type=Path, help="the card file")
    importing.add_argument("--id", type=persona_id_argument, help="persona id to save as (default: from the card)")
    importing.add_argument("--force", action="store_true", help="replace an existing persona with the same id")
    importing.set_defaults(run=run_persona_import)
    exporting = personas.add_parser("export", help="export a persona as a Character Card (.json or .png)")
    exporting.add_argument("persona", type=persona_id_argument, help="persona id")
    exporting.add_argument("output", type=Path, help="output file: .json or .png")
    exporting.add_argument("--spec", choices=["v2", "v3"], default="v3", help="card version (default: v3)")
    exporting.add_argument("--avatar", type=Path, help="image for a .png card (default: her own picture, <id>.png beside her card, else one drawn from her palette)")
    exporting.set_defaults(run=run_persona_export)
    persona_cli.add_commands(personas)

    memory = commands.add_parser("memory", help="what she remembers about a fan: show, export, forget").add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, helptext in (("show", "list what is stored about a fan"), ("export", "everything stored about a fan, as JSON"), ("forget", "delete everything stored about a fan")):
        command = memory.add_parser(action, help=helptext)
        command.add_argument("--fan", required=True, type=fan_id_argument, help="fan id")
        command.add_argument("--persona", type=persona_id_argument, help="persona id (default: the configured persona)")
        command.set_defaults(run=run_memory)

    portfolio_cli.add_command(commands)
    cluster_cli.add_command(commands)

    up = commands.add_parser("up", help="start everything: the studio at /studio, the fan chat endpoint and the OpenAI-compatible API",
                             description="Serve the Gradio studio at /studio (behind a login) beside /ws/chat and /v1 on one port; prints the URLs and the login.")
    up.add_argument("--host", type=host_argument, help="address to listen on (default: serving.host)")
    up.add_argument("--port", type=port_argument, help="port (default: serving.port)")
    up.set_defaults(run=run_up)

    serve = commands.add_parser("serve", help="serve the fan chat endpoint and the OpenAI-compatible API",
                                description="Serve /ws/chat, /v1/chat/completions, /v1/models, /healthz, /readyz and /metrics.")
    serve.add_argument("--host", type=host_argument, help="address to listen on (default: serving.host)")
    serve.add_argument("--port", type=port_argument, help="port (default: serving.port)")
    serve.set_defaults(run=run_serve)

    tokens = commands.add_parser("token", help="fan tokens for the chat endpoint").add_subparsers(dest="action", required=True, metavar="ACTION")
    issue = tokens.add_parser("issue", help="print a signed token that lets a client speak as one fan")
    issue.add_argument("--fan", required=True, type=fan_id_argument, help="fan id")
    issue.add_argument("--ttl", type=duration, help="lifetime: seconds, or with a unit: 90s, 30m, 12h, 7d (default: serving.token_ttl_s)")
    issue.set_defaults(run=run_token_issue)

    protocol_commands = commands.add_parser("protocol", help="the chat protocol").add_subparsers(dest="action", required=True, metavar="ACTION")
    schema = protocol_commands.add_parser("schema", help="print the JSON Schema of the client's or the server's frames")
    schema.add_argument("direction", choices=["client", "server"])
    schema.set_defaults(run=run_protocol_schema)

    doctor.add_commands(commands)
    fashion_cli.add_commands(commands)
    music_cli.add_commands(commands)

    models = commands.add_parser("models", help="prepare local models").add_subparsers(dest="action", required=True, metavar="ACTION")
    prepare = models.add_parser("prepare", help="convert the embedded SmolLM2 to bf16 safetensors in the cache (once)")
    prepare.set_defaults(run=run_models_prepare)
    _accept_config_after_the_command(parser)
    return parser


def _accept_config_after_the_command(parser: argparse.ArgumentParser) -> None:
    """`atelier chat --config gpu.yaml` as well as `atelier --config gpu.yaml chat`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in dict.fromkeys(action.choices.values()):
                command.add_argument("--config", default=argparse.SUPPRESS, help="settings file (as before the command)")
                _accept_config_after_the_command(command)


def main(argv: list[str] | None = None) -> int:
    """Run one command. A wrong argument exits with 2 (as argparse does), any other problem the
    user can fix (settings, a persona card, a missing model folder, ...) with 1; either way the
    message is one `error: ...` line on stderr that names the argument or setting."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        return args.run(args, settings) or 0
    except CommandError as error:
        log(f"error: {error}")
        return error.exit_status
    except (ConfigError, PersonaError, DialogueError, MemoryStoreError, AuthError) as error:
        log(f"error: {error}")
        return 1


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    settings.check_model_folders(dialogue=True, tokenizer=True)
    from serving.app import serve

    serve(settings, args.host, args.port, front_ends=())
    return 0


def run_up(args: argparse.Namespace, settings: Settings) -> int:
    settings.check_model_folders(dialogue=True, tokenizer=True, diffusion=True, musicgen=True)  # the studio uses all three
    from serving.app import front_end, serve

    settings = settings.model_copy(update={"studio": settings.studio.model_copy(update={"enabled": True})})
    host, port = args.host or settings.serving.host, args.port or settings.serving.port
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown_host}:{port}"
    print(f"Atelier is starting ({settings.persona}); the model loads first.", flush=True)
    for line in front_end("studio").describe(settings, base):
        print(f"  {line}", flush=True)
    print(f"  fan chat    ws://{shown_host}:{port}/ws/chat   (fan tokens: atelier token issue --fan ID)", flush=True)
    print(f"  OpenAI API  {base}/v1", flush=True)
    serve(settings, host, port, front_ends=("studio",))
    return 0


def run_token_issue(args: argparse.Namespace, settings: Settings) -> int:
    from persona.engine.service import token_secret
    from persona.engine.auth import issue_token

    print(issue_token(token_secret(settings), args.fan, args.ttl or settings.serving.token_ttl_s))
    return 0


def run_protocol_schema(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from serving.protocol import json_schema

    print(json.dumps(json_schema(args.direction), indent=2))
    return 0


def run_models_prepare(args: argparse.Namespace, settings: Settings) -> int:
    started = time.perf_counter()
    folder = prepare_embedded_model(settings.cache_path, log=log)
    print(folder)
    log(f"Ready in {time.perf_counter() - started:.1f} s.")
    return 0


def run_persona_list(args: argparse.Namespace, settings: Settings) -> int:
    for persona_id in list_personas(settings.personas_dir):
        print(persona_id)
    return 0


def run_persona_validate(args: argparse.Namespace, settings: Settings) -> int:
    targets = args.targets or list_personas(settings.personas_dir)
    failures = 0
    for target in targets:
        try:
            if target.endswith((".yaml", ".yml")):
                card = read_persona_file(Path(target))
            else:
                card = load_persona(target, settings.personas_dir)
            print(f"ok      {target}: {card.name}, {len(card.canon)} canon entries")
        except PersonaError as error:
            failures += 1
            print(f"invalid {target}:\n{error}")
    return 1 if failures else 0


def run_persona_import(args: argparse.Namespace, settings: Settings) -> int:
    from persona.interchange import import_card_with_avatar, save_avatar

    card, picture = import_card_with_avatar(args.card)
    if args.id:
        card = card.model_copy(update={"id": args.id})
        card = type(card).from_data(card.to_data(), f"--id {args.id}")
    target = persona_path(card.id, settings.personas_dir)
    if target.exists() and not args.force:
        raise PersonaError(f"persona {card.id!r} already exists at {target}; use --force to replace it or --id to save under another id")
    print(save_persona(card, settings.personas_dir))
    kept = avatar_path(card.id, settings.personas_dir)
    if picture is not None:
        log(f"her picture: {save_avatar(picture, kept)}")
    elif kept.is_file():
        log(f"her picture stays {kept} (the card has none of its own); delete it to draw one from her palette")
    return 0


def run_persona_export(args: argparse.Namespace, settings: Settings) -> int:
    from persona.interchange import export_card

    check_output_file(args.output, "output", (".json", ".png"))
    if args.avatar is not None and args.output.suffix.lower() != ".png":
        raise UsageError(f"--avatar: a {args.output.suffix} card holds no picture; export to a .png file to include {args.avatar}")
    card = load_persona(args.persona, settings.personas_dir)
    avatar = args.avatar
    if avatar is None and args.output.suffix.lower() == ".png" and avatar_path(card.id, settings.personas_dir).is_file():
        avatar = avatar_path(card.id, settings.personas_dir)  # her own picture, kept when her card was imported
    export_card(card, args.output, spec=args.spec, avatar=avatar)
    print(args.output)
    return 0


def run_memory(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from persona.engine.runtime import artifact_store

    persona = load_persona(args.persona or settings.persona, settings.personas_dir).id  # a typo is not an empty memory
    artifacts = artifact_store(settings)
    with open_store(settings.memory, persona) as store:
        if args.action == "forget":
            pieces = artifacts.forget(args.fan)  # the files first: a memory never points at a piece that is gone
            print(f"forgot {store.forget_fan(args.fan)} memories of {args.fan} and {pieces} piece{'' if pieces == 1 else 's'} made for them")
            return 0
        memories = store.export_fan(args.fan)
        state = store.get_state(args.fan)
    if args.action == "export":
        print(json.dumps({"fan_id": args.fan, "state": state, "memories": [m.model_dump(mode="json") for m in memories],
                          "artifacts": [artifact.model_dump(mode="json") for artifact in artifacts.list(args.fan)]}, ensure_ascii=False, indent=2))
    else:
        if state.get("relationship"):
            print("relationship:", ", ".join(f"{key} {value}" for key, value in state["relationship"].items()))
        for memory in memories:
            print(f"{memory.id:>6}  {memory.created_at:%Y-%m-%d %H:%M}  {memory.kind.value:<17} {memory.author.value:<8} {memory.text}")
        print(f"({len(memories)} memories)")
    return 0


def run_chat(args: argparse.Namespace, settings: Settings) -> int:
    settings.check_model_folders(dialogue=True, tokenizer=True)
    return asyncio.run(chat_loop(settings, args.persona or settings.persona, args.name, args.fan))


async def chat_loop(settings: Settings, persona_id: str, fan_name: str, fan_id: str | None = None) -> int:
    from transformers.utils import logging as transformers_logging

    from persona.memory.records import check_fan_id
    from persona.engine.runtime import start_runtime

    if fan_id:
        check_fan_id(fan_id)
    transformers_logging.disable_progress_bar()  # the chat screen is for the conversation
    runtime = await start_runtime(settings, persona_id, remember=fan_id is not None, log=log)
    card, director = runtime.persona, runtime.director
    session = await director.start_session(fan_id, fan_name, settings.memory.recent_turns)
    if session.history:
        log(f"(picking up with {fan_id}: {len(session.history) // 2} earlier turns)")
    print(f"\n{card.name}: {director.greeting()}\n")
    log("(/help for commands; Ctrl-C stops a reply, Ctrl-D leaves)")
    if runtime.jobs is not None and runtime.artifacts is not None:
        runtime.jobs.listen(partial(print_piece, runtime, card.name, fan_id))

    loop = asyncio.get_running_loop()
    try:
        while True:
            try:
                text = (await asyncio.to_thread(input, "you> ")).strip()
            except EOFError:
                print()
                return 0
            if not text:
                continue
            if text in ("/quit", "/exit"):
                return 0
            if text == "/help":
                print("/reset  forget this conversation\n/prompt  what went into the last prompt\n/quit  leave")
                continue
            if text == "/reset":
                session.history.clear()
                print("(conversation forgotten)")
                continue
            if text == "/prompt":
                print(session.last_report)
                if session.last_recall:
                    for item in session.last_recall.memories + session.last_recall.lore:
                        print(f"  recalled {item.memory.kind.value}: {item.memory.text[:70]!r} ({item.why})")
                continue
            reply = asyncio.create_task(print_reply(director, session, text, card.name))
            loop.add_signal_handler(signal.SIGINT, reply.cancel)
            try:
                await reply
            except asyncio.CancelledError:
                print(" [stopped]")
            except DialogueError as error:
                log(f"\nerror: {error}")
            finally:
                loop.remove_signal_handler(signal.SIGINT)
    finally:
        await runtime.aclose()


def print_piece(runtime, name: str, fan_id: str, job) -> None:
    """A piece the fan asked for, when it is made: her description and the files' paths."""
    if job.owner != fan_id or job.status not in ("done", "failed"):
        return
    if job.status == "failed":
        print(f"\n({name} could not finish the {job.kind}: {job.error})", flush=True)
        return
    artifact = job.result
    paths = [runtime.artifacts.file_path(fan_id, artifact.id, file.name) for file in artifact.files]
    print(f"\n{name}: {artifact.description}\n" + "".join(f"  {path}\n" for path in paths if path is not None), flush=True)


async def print_reply(director, session, text: str, name: str) -> None:
    print(f"{name}: ", end="", flush=True)
    async for piece in director.reply(session, text):
        print(piece, end="", flush=True)
    print("\n")
    if (sent := session.last_turn.sent) is not None:  # a piece sent again or shown from her portfolio: where its files are
        store = director.portfolio.store if sent.owner == PORTFOLIO else director.commissions.artifacts
        paths = [store.file_path(sent.owner, sent.id, file.name) for file in sent.files]
        print("".join(f"  {path}\n" for path in paths if path is not None), flush=True)


if __name__ == "__main__":
    sys.exit(main())
