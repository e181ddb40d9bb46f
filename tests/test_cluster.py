"""Atelier on a real local Ray Serve (serving/cluster.py) on 127.0.0.1: two gateway replicas behind
Ray's proxy sharing sessions in a real Redis and her memory in the real PostgreSQL, the embedded
model as the dialogue deployment (the gateways reach it as an `openai` backend through the proxy),
and the Fashion and Music worker deployments. A fan streaming through one replica loses it
(SIGKILL of its worker), reconnects through the proxy to the other and resumes: every missed
frame once, `cut_off` for the turn in flight, a fresh answer on resend. What a fan tells one
replica, the other recalls; a print asked for through a gateway is made on a Fashion replica."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
from pathlib import Path

import pytest
import websockets

from persona.engine.artifacts import ArtifactStore
from postgres_server import postgres_dsn  # noqa: F401  (the real PostgreSQL for the session)
from redis_server import redis_url  # noqa: F401  (a real redis-server for the session)
from server_process import free_port
from serving_server import SECRET, Client, token

JOBS = {"accepts": ["jobs"]}
ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def gateway(cache_dir, model_dir, redis_url, postgres_dsn, tmp_path_factory):  # noqa: F811
    try:
        from serving import cluster
    except ImportError as error:
        if os.environ.get("ATELIER_REQUIRE_RAY"):
            pytest.fail(f"Ray Serve is not installed: {error}")
        pytest.skip(f"Ray Serve is not installed: {error}")
    settings = {
        "ATELIER_CACHE_DIR": str(cache_dir), "ATELIER_MEMORY__DATA_DIR": str(tmp_path_factory.mktemp("cluster")),
        "ATELIER_SERVING__TOKEN_SECRET": SECRET, "ATELIER_SESSIONS__BACKEND": "redis", "ATELIER_SESSIONS__REDIS_URL": redis_url,
        "ATELIER_DIALOGUE__GENERATION__MAX_TOKENS": "48", "ATELIER_DIALOGUE__GENERATION__TEMPERATURE": "0",
        "ATELIER_DIALOGUE__ADAPTER": "none", "ATELIER_STUDIO__ENABLED": "false", "ATELIER_SERVING__TORCH_THREADS": "1",
        "ATELIER_MEMORY__BACKEND": "postgres", "ATELIER_MEMORY__DSN": postgres_dsn, "ATELIER_CREATIONS__SONG_SECONDS": "8",
    }
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)  # each replica is told them through Ray's runtime environment
    port = free_port()
    try:
        cluster.connect(None, num_cpus=2)
        # Reservations sized for these 2 cores; each replica is a process of its own.
        layout = cluster.Layout(gateways=2, gateway_cpus=0.25, dialogue=1, dialogue_cpus=0.5, fashion=1, fashion_cpus=0.25, music=1, music_cpus=0.25)
        cluster.run(layout, "127.0.0.1", port)
        yield Proxy(port, settings)
    finally:
        import ray

        cluster.shutdown()
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Proxy:
    """Ray's proxy, addressed like an AtelierServer by serving_server.Client."""

    def __init__(self, port: int, settings: dict[str, str]):
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/ws/chat"
        self.env = {**os.environ, **settings}


@pytest.mark.parametrize("name", ["serve.yaml", "gpu.yaml"])
def test_the_serve_configs_are_ones_ray_accepts_and_build_every_application(name):
    """configs/ray/*.yaml pass Ray's own schema and each of our import paths builds its
    application (`serve deploy` would fail on either); the gateways are told where the dialogue
    is and that workers make pieces, and those settings load."""
    import importlib

    import yaml

    from persona.engine.settings import load_settings

    schema = pytest.importorskip("ray.serve.schema") if not os.environ.get("ATELIER_REQUIRE_RAY") else importlib.import_module("ray.serve.schema")
    config = yaml.safe_load((ROOT / "configs" / "ray" / name).read_text())
    deploy = schema.ServeDeploySchema.model_validate(config)
    routes = {application.name: application.route_prefix for application in deploy.applications}
    assert routes == {"dialogue": "/dialogue", "fashion": None, "music": None, "atelier": "/"}
    for application in deploy.applications:
        module, _, function = application.import_path.partition(":")
        if module == "serving.cluster":
            assert type(getattr(importlib.import_module(module), function)(application.args)).__name__ == "Application", application.name
    gateway = next(application for application in deploy.applications if application.name == "atelier")
    environ = gateway.runtime_env["env_vars"]
    config_file = environ.get("ATELIER_CONFIG", "").replace("/app/", f"{ROOT}/")
    settings = load_settings(config_file or None, environ={key: value for key, value in environ.items() if key != "ATELIER_CONFIG"})
    assert settings.dialogue.backend == "openai" and settings.dialogue.base_url.endswith(":8400/dialogue/v1")
    assert settings.creations.workers == "ray" and settings.sessions.backend == "redis" and settings.memory.backend == "postgres"
    assert settings.dialogue.json_schema is (name == "gpu.yaml")  # vLLM holds a reply to a schema; the embedded model cannot


def test_every_deployment_is_running(gateway):
    from serving import cluster

    status = cluster.status()
    assert {app: sorted(deployments) for app, deployments in status.items()} == {
        "atelier": ["Gateway"], "dialogue": ["Dialogue"], "fashion": ["Fashion"], "music": ["Music"]}
    assert all(deployment["status"] == "HEALTHY" for deployments in status.values() for deployment in deployments.values()), status


def gateway_of(client: Client) -> str:
    return client.ws.response.headers["x-atelier-gateway"]


async def test_the_proxy_spreads_fans_over_both_replicas(gateway):
    seen = set()
    for attempt in range(24):
        async with websockets.connect(gateway.ws_url) as ws:
            await ws.send(json.dumps({"type": "hello", "token": token(f"spread-{attempt}"), "persona": "haeun"}))
            assert json.loads(await ws.recv())["type"] == "ready"
            seen.add(ws.response.headers["x-atelier-gateway"])
        if len(seen) == 2:
            break
    assert len(seen) == 2, seen


async def connect_to(gateway: Proxy, fan: str, away_from: str | None = None, **options) -> Client:
    """A connection for `fan` through the proxy, landing on a replica other than `away_from`."""
    for _ in range(24):
        client = await Client.connect(gateway, fan, **options)
        await client.until("ready")
        if gateway_of(client) != away_from:
            return client
        await client.close()
    raise AssertionError(f"the proxy kept sending {fan} to {away_from}")


async def test_what_a_fan_tells_one_replica_goes_into_a_print_another_has_made_on_a_fashion_worker(gateway, postgres_dsn):  # noqa: F811
    """Her memory is PostgreSQL, not a replica's: the fact learned through one gateway is in the
    fan's profile when the other starts their session, and a piece made for them names it."""
    import httpx
    from PIL import Image

    first = await connect_to(gateway, "cluster-memory")
    await first.send(type="message", id="m1", text="I have a cat named Mochi and I live in Busan.")
    await first.until("end")
    told = gateway_of(first)
    await first.close()
    await learned(postgres_dsn, "cluster-memory", "Mochi")

    later = await connect_to(gateway, "cluster-memory", away_from=told, hello=JOBS)
    await later.send(type="message", id="p1", text="Can you make me a print with lemons on it?")
    await later.until("end")
    while (frame := await later.until("job", "artifact", "error"))["type"] != "artifact":
        assert frame["type"] == "job" and frame["status"] not in ("failed", "cancelled"), frame
    await later.close()
    assert "Mochi" in frame["title"], frame["title"]  # a known pet's name goes into the title

    store = ArtifactStore(Path(gateway.env["ATELIER_MEMORY__DATA_DIR"]) / "artifacts", max_bytes_per_fan=2**30)
    assert store.get("cluster-memory", frame["artifact"]).provenance["made_on"].startswith("Fashion replica ")
    image = next(file for file in frame["files"] if file["name"].endswith(".png"))
    with httpx.Client(timeout=60) as client:  # the signed URL works through the proxy, on any replica
        png = client.get(f"{gateway.url}{image['url']}")
    assert png.status_code == 200 and Image.open(io.BytesIO(png.content)).size[0] >= 256


async def learned(dsn: str, fan: str, word: str, tries: int = 120) -> None:
    """Wait until the fan's facts in PostgreSQL name `word`: learning runs on the replica's memory
    thread just after the turn."""
    from persona.memory.postgres_store import PostgresStore
    from persona.memory.records import MemoryKind

    store = PostgresStore(dsn)
    try:
        for _ in range(tries):
            if any(word in memory.text for memory in store.export_fan(fan) if memory.kind is MemoryKind.FAN_FACT):
                return
            await asyncio.sleep(0.5)
    finally:
        store.close()
    raise AssertionError(f"no fact of {fan}'s names {word} after {tries} looks")


# Last: the replica it kills comes back only after a while.
async def test_a_fan_whose_replica_is_killed_resumes_through_the_proxy_on_the_other(gateway):
    fan = await Client.connect(gateway, "ray-fan")
    session = (await fan.until("ready"))["session"]
    await fan.send(type="message", id="1", text="Hi there!")
    committed = await fan.until("end")
    await fan.send(type="message", id="2", text="Tell me about your studio and the music you make there.")
    await fan.until("delta")
    dead = gateway_of(fan)
    os.kill(int(dead.rsplit(":", 1)[1]), signal.SIGKILL)  # the replica's worker dies mid-reply

    back = await Client.connect(gateway, "ray-fan", resume={"session": session, "last_seq": fan.last_seq})
    assert gateway_of(back) != dead
    missed = []
    while (frame := await back.receive())["type"] != "ready":  # Client.receive fails on a seq seen twice or skipped
        missed.append(frame["type"])
    assert frame["resumed"] and set(missed) <= {"delta"}
    assert (await back.receive())["code"] == "cut_off"
    await back.send(type="message", id="1", text="Hi there!")
    again = await back.until("end")
    assert again["repeated"] and again["text"] == committed["text"]
    await back.send(type="message", id="2", text="Tell me about your studio and the music you make there.")
    fresh = await back.until("end")
    assert not fresh["repeated"] and fresh["text"]
    await back.close()
