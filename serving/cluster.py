"""Atelier on Ray Serve: the gateway (the ASGI app of `atelier serve`: /ws/chat, /v1, /healthz,
/readyz, /metrics, /artifacts, /portfolio) as a deployment of many replicas behind Ray's proxy.

    atelier cluster run --replicas 2 --port 8400     a local Ray (or --address of a running one)
    atelier cluster status                           the application's deployments and replicas
    atelier cluster shutdown                         the application and Serve go away
    serve deploy configs/ray/serve.yaml                  the same application from a Serve config file

Each replica builds its own app from the settings (ATELIER_* variables travel in the runtime
environment), so replicas share nothing in memory: what they must share lives outside them.
Run them with `sessions.backend: redis` (frames, resume, idempotent replies, rate limits),
`memory.backend: postgres` with a DSN (her memory), `serving.token_secret` (fan tokens) and
artifact folders every replica reads; a fan whose replica dies reconnects through the proxy to
any other and resumes. With `sessions.backend: sqlite` each replica keeps its own log, which is
only right for a single replica.
"""

from __future__ import annotations

import os
from typing import Any

APP_NAME = "atelier"
GATEWAY = "Gateway"


def build_gateway():
    """The ASGI app of one gateway replica, from the settings its environment gives."""
    from persona.engine.settings import load_settings
    from serving.app import create_app

    return create_app(load_settings(os.environ.get("ATELIER_CONFIG")))


def gateway_app(replicas: int = 2, num_cpus: float = 0.5, max_ongoing_requests: int = 5000) -> Any:
    """The Serve application: one gateway deployment of `replicas` replicas. WebSockets count as
    ongoing requests while they are open, so the bound is the fans one replica may hold."""
    from ray import serve

    ingress = serve.ingress(build_gateway)(type(GATEWAY, (), {"__doc__": "The fans' gateway: /ws/chat, /v1 and the rest of `atelier serve`."}))
    deployment = serve.deployment(ingress, name=GATEWAY, num_replicas=replicas, max_ongoing_requests=max_ongoing_requests,
                                  ray_actor_options={"num_cpus": num_cpus}, health_check_period_s=5, health_check_timeout_s=30)
    return deployment.bind()


def app(args: dict[str, Any]) -> Any:
    """`import_path: serving.cluster:app` in a Serve config file; `args` may set replicas and num_cpus."""
    return gateway_app(int(args.get("replicas", 2)), float(args.get("num_cpus", 0.5)))


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


def run(replicas: int, host: str, port: int, address: str | None = None, num_cpus: float = 0.5) -> None:
    """Deploy the gateway and return once every replica is ready."""
    from ray import serve

    connect(address)
    serve.start(http_options={"host": host, "port": port})
    serve.run(gateway_app(replicas, num_cpus), name=APP_NAME, route_prefix="/")


def status() -> dict[str, Any]:
    """{deployment: {status, replicas by state}} of the running application; {} when none runs."""
    from ray import serve

    applications = serve.status().applications
    if APP_NAME not in applications:
        return {}
    return {name: {"status": str(deployment.status.value if hasattr(deployment.status, "value") else deployment.status),
                   "replicas": {str(getattr(state, "value", state)): count for state, count in deployment.replica_states.items()}}
            for name, deployment in applications[APP_NAME].deployments.items()}


def shutdown() -> None:
    from ray import serve

    serve.shutdown()
