"""Atelier on Ray Serve: four applications, each deployment scaled on its own.

    atelier      Gateway    the ASGI app of `atelier serve` (/ws/chat, /v1, /healthz, /readyz,
                            /metrics, /artifacts, /portfolio), many replicas behind Ray's proxy at /
    dialogue     Dialogue   the embedded model as an OpenAI-compatible server at /dialogue/v1 (CPU);
                            on GPUs this application is ray.serve.llm's (configs/ray/gpu.yaml)
    fashion      Fashion    creative workers: looks and prints (diffusers on a GPU, else procedural)
    music        Music      creative workers: songs (FluidSynth, MusicGen on a GPU)

    atelier cluster run --replicas 2 --dialogue 1 --fashion 1 --music 1 --port 8400
    atelier cluster status | shutdown
    serve deploy configs/ray/serve.yaml          the same applications from a Serve config file

Gateways reach the dialogue deployment as an `openai` backend through the proxy, and send fans'
pieces to the worker deployments (creations.workers: ray, persona/engine/workers.py); a worker
replica takes one piece at a time, the others wait in Serve's queue. Each replica builds itself
from the settings (ATELIER_* variables travel in the runtime environment), so replicas share
nothing in memory: what they must share lives outside them. Run gateways with `sessions.backend:
redis` (frames, resume, idempotent replies, rate limits), `memory.backend: postgres` with a DSN,
`serving.token_secret` (fan tokens) and artifact folders every replica reads; a fan whose
replica dies reconnects through the proxy to any other and resumes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from persona.engine.workers import WORKER_FOR, CreativeWorker

APP_NAME = "atelier"
GATEWAY = "Gateway"
DIALOGUE_APP, DIALOGUE, DIALOGUE_ROUTE = "dialogue", "Dialogue", "/dialogue"
WORKER_FOR_APP = {deployment: app_name for app_name, deployment in WORKER_FOR.values()}  # Fashion -> fashion


@dataclass(frozen=True)
class Layout:
    """How many replicas of each deployment, and what each replica reserves. A count of 0 leaves
    that deployment out (the gateways then use dialogue.* as configured, or make pieces
    themselves)."""

    gateways: int = 2
    gateway_cpus: float = 0.5
    dialogue: int = 0
    dialogue_cpus: float = 1.0
    fashion: int = 0
    fashion_cpus: float = 1.0
    fashion_gpus: float = 0.0
    music: int = 0
    music_cpus: float = 1.0
    music_gpus: float = 0.0


def build_gateway():
    """The ASGI app of one gateway replica, from the settings its environment gives."""
    from persona.engine.settings import load_settings
    from serving.app import create_app

    return create_app(load_settings(os.environ.get("ATELIER_CONFIG")))


def gateway_app(replicas: int = 2, num_cpus: float = 0.5, max_ongoing_requests: int = 5000, builder: Callable[[], Any] = build_gateway,
                env: dict[str, str] | None = None) -> Any:
    """The gateway application: one deployment of `replicas` replicas. WebSockets count as
    ongoing requests while they are open, so the bound is the fans one replica may hold.
    `builder` makes each replica's ASGI app (a benchmark passes one with a load instrument);
    `env` adds settings for the gateways alone (where the dialogue and the workers are)."""
    from ray import serve

    options: dict[str, Any] = {"num_cpus": num_cpus}
    if env:
        options["runtime_env"] = {"env_vars": env}
    ingress = serve.ingress(builder)(type(GATEWAY, (), {"__doc__": "The fans' gateway: /ws/chat, /v1 and the rest of `atelier serve`."}))
    deployment = serve.deployment(ingress, name=GATEWAY, num_replicas=replicas, max_ongoing_requests=max_ongoing_requests,
                                  ray_actor_options=options, health_check_period_s=5, health_check_timeout_s=30)
    return deployment.bind()


def build_dialogue():
    """The ASGI app of one dialogue replica: the local model, OpenAI-compatible."""
    from serving.model_server import build_model_app

    return build_model_app()


def dialogue_app(replicas: int = 1, num_cpus: float = 1.0) -> Any:
    """The CPU dialogue application. A replica answers one reply at a time, so requests beyond
    a few wait in Serve's queue rather than slowing every reply on its cores."""
    from ray import serve

    ingress = serve.ingress(build_dialogue)(type(DIALOGUE, (), {"__doc__": "Her model, OpenAI-compatible at /dialogue/v1."}))
    return serve.deployment(ingress, name=DIALOGUE, num_replicas=replicas, max_ongoing_requests=4,
                            ray_actor_options={"num_cpus": num_cpus}, health_check_timeout_s=60).bind()


def worker_app(name: str, replicas: int = 1, num_cpus: float = 1.0, num_gpus: float = 0.0) -> Any:
    """A creative-worker application (Fashion or Music): each replica makes one piece at a time."""
    from ray import serve

    options = {"num_cpus": num_cpus, "num_gpus": num_gpus} if num_gpus else {"num_cpus": num_cpus}
    return serve.deployment(CreativeWorker, name=name, num_replicas=replicas, max_ongoing_requests=1, ray_actor_options=options).bind()


def gateway_settings(layout: Layout, port: int) -> dict[str, str]:
    """What the gateways must be told of the other deployments: the dialogue behind this node's
    proxy, pieces made by the workers."""
    env = {}
    if layout.dialogue:
        env |= {"ATELIER_DIALOGUE__BACKEND": "openai", "ATELIER_DIALOGUE__BASE_URL": f"http://127.0.0.1:{port}{DIALOGUE_ROUTE}/v1",
                "ATELIER_DIALOGUE__JSON_SCHEMA": "false"}  # the embedded model cannot be held to a schema
    if layout.fashion or layout.music:
        env["ATELIER_CREATIONS__WORKERS"] = "ray"
    return env


# `import_path` entries of a Serve config file (configs/ray/serve.yaml); `args` as named.
def app(args: dict[str, Any]) -> Any:
    """serving.cluster:app: the gateway; args: replicas, num_cpus."""
    return gateway_app(int(args.get("replicas", 2)), float(args.get("num_cpus", 0.5)))


def dialogue(args: dict[str, Any]) -> Any:
    """serving.cluster:dialogue: the CPU dialogue; args: replicas, num_cpus."""
    return dialogue_app(int(args.get("replicas", 1)), float(args.get("num_cpus", 1.0)))


def fashion(args: dict[str, Any]) -> Any:
    """serving.cluster:fashion; args: replicas, num_cpus, num_gpus."""
    return worker_app("Fashion", int(args.get("replicas", 1)), float(args.get("num_cpus", 1.0)), float(args.get("num_gpus", 0.0)))


def music(args: dict[str, Any]) -> Any:
    """serving.cluster:music; args: replicas, num_cpus, num_gpus."""
    return worker_app("Music", int(args.get("replicas", 1)), float(args.get("num_cpus", 1.0)), float(args.get("num_gpus", 0.0)))


def settings_environment() -> dict[str, str]:
    """What each replica must be told: every ATELIER_* variable of this process."""
    return {key: value for key, value in os.environ.items() if key.startswith("ATELIER_")}


def connect(address: str | None, num_cpus: int | None = None, object_store_bytes: int = 256 * 2**20) -> None:
    """Join the Ray cluster at `address`, or start a local one bounded to `num_cpus` (default: this
    machine's) and a small object store (gateways pass frames over sockets, not through Ray)."""
    import ray

    if ray.is_initialized():
        return
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "runtime_env": {"env_vars": settings_environment()}}
    if address:
        ray.init(address=address, **options)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count(), object_store_memory=object_store_bytes, **options)


def run(layout: Layout, host: str, port: int, address: str | None = None) -> None:
    """Deploy every application the layout asks for, the gateway last (it is what fans reach),
    and return once every replica is ready."""
    from ray import serve

    connect(address)
    serve.start(http_options={"host": host, "port": port})
    if layout.dialogue:
        serve.run(dialogue_app(layout.dialogue, layout.dialogue_cpus), name=DIALOGUE_APP, route_prefix=DIALOGUE_ROUTE)
    for name, replicas, cpus, gpus in (("Fashion", layout.fashion, layout.fashion_cpus, layout.fashion_gpus),
                                       ("Music", layout.music, layout.music_cpus, layout.music_gpus)):
        if replicas:
            serve.run(worker_app(name, replicas, cpus, gpus), name=WORKER_FOR_APP[name], route_prefix=None)
    serve.run(gateway_app(layout.gateways, layout.gateway_cpus, env=gateway_settings(layout, port)), name=APP_NAME, route_prefix="/")


def status() -> dict[str, Any]:
    """{application: {deployment: {status, replicas by state}}} of what runs; {} when nothing does."""
    from ray import serve

    return {app_name: {name: {"status": str(getattr(deployment.status, "value", deployment.status)),
                              "replicas": {str(getattr(state, "value", state)): count for state, count in deployment.replica_states.items()}}
                       for name, deployment in application.deployments.items()}
            for app_name, application in serve.status().applications.items()}


def shutdown() -> None:
    from ray import serve

    serve.shutdown()
