"""``atelier cluster``: Atelier on Ray Serve (serving/cluster.py).

    atelier cluster run [--replicas 2] [--host H] [--port P]   a local Ray in this process, until Ctrl-C
    atelier cluster run --dialogue 1 --fashion 1 --music 1     with the CPU dialogue and creative workers
    atelier cluster run --address ray://head:10001              deploy to a running cluster and return
    atelier cluster status  [--address auto]                    deployments and their replicas
    atelier cluster shutdown [--address auto]                   the application and Serve go away
"""

from __future__ import annotations

import argparse
import json
import signal
import threading

from persona.engine.settings import Settings
from serving.cli_checks import CommandError, host_argument, port_argument, shown


def replicas_argument(text: str, least: int = 1) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a whole number of replicas: give e.g. 2") from None
    if not least <= value <= 64:
        raise argparse.ArgumentTypeError(f"give {least} to 64 replicas, got {value}")
    return value


def optional_replicas(text: str) -> int:
    return replicas_argument(text, least=0)


def add_command(commands: argparse._SubParsersAction) -> None:
    cluster = commands.add_parser("cluster", help="Atelier on Ray Serve: run, status, shutdown").add_subparsers(dest="action", required=True, metavar="ACTION")
    run = cluster.add_parser("run", help="deploy the gateway (many replicas behind Ray's proxy) and, if asked, the dialogue and creative workers")
    run.add_argument("--replicas", type=replicas_argument, default=2, help="gateway replicas (default: 2)")
    run.add_argument("--dialogue", type=optional_replicas, default=0,
                     help="replicas of the embedded model as a dialogue deployment (default: 0, the gateways use dialogue.* as configured)")
    run.add_argument("--fashion", type=optional_replicas, default=0, help="creative workers for looks and prints (default: 0, gateways make them)")
    run.add_argument("--music", type=optional_replicas, default=0, help="creative workers for songs (default: 0, gateways make them)")
    run.add_argument("--host", type=host_argument, help="the proxy's address (default: serving.host)")
    run.add_argument("--port", type=port_argument, help="the proxy's port (default: serving.port)")
    run.add_argument("--address", help="a running Ray cluster (e.g. auto, ray://head:10001); without it a local Ray runs in this process until Ctrl-C")
    status = cluster.add_parser("status", help="the application's deployments and replicas, as JSON")
    shutdown = cluster.add_parser("shutdown", help="take the application and Serve down")
    for command in (status, shutdown):
        command.add_argument("--address", default="auto", help="the Ray cluster (default: auto, the one running here)")
    for command in (run, status, shutdown):
        command.set_defaults(run=run_cluster)


def run_cluster(args: argparse.Namespace, settings: Settings) -> int:
    try:
        from serving import cluster
    except ImportError:
        raise CommandError("Ray Serve is not installed: pip install 'atelier[cluster]'") from None
    if args.action == "run":
        settings.check_model_folders(dialogue=True, tokenizer=True)
        if settings.sessions.backend != "redis" and args.replicas > 1:
            raise CommandError(f"{args.replicas} replicas need sessions.backend: redis (set in {settings.source_of('sessions.backend')}): "
                               "with sqlite each replica keeps its own frame log, so a fan could not resume on another")
        host, port = args.host or settings.serving.host, args.port or settings.serving.port
        if bool(args.fashion) != bool(args.music):
            raise CommandError("give --fashion and --music together: with creations.workers: ray every piece goes to a worker")
        layout = cluster.Layout(gateways=args.replicas, dialogue=args.dialogue, fashion=args.fashion, music=args.music)
        print(f"Deploying {layout.gateways} gateway, {layout.dialogue} dialogue, {layout.fashion} fashion and {layout.music} music replica(s).", flush=True)
        cluster.run(layout, host, port, address=args.address)
        print(f"Atelier is ready behind Ray's proxy: ws://{host}:{port}/ws/chat, http://{host}:{port}/v1", flush=True)
        if args.address is None:  # the local Ray lives in this process
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                stop.wait()
            except KeyboardInterrupt:
                pass
            cluster.shutdown()
        return 0
    cluster.connect(args.address)
    if args.action == "status":
        print(json.dumps(cluster.status(), indent=2))
    else:
        cluster.shutdown()
        print("Atelier's applications and Serve are shut down")
    return 0
