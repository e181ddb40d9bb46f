"""The gateway on a real local Ray Serve (serving/cluster.py): two replicas behind Ray's proxy on
127.0.0.1, sharing sessions in a real Redis. A fan streaming through one replica loses it
(SIGKILL of its worker), reconnects through the proxy to the other and resumes: every missed
frame once, `cut_off` for the turn in flight, a fresh answer on resend."""

from __future__ import annotations

import json
import os
import signal

import pytest
import websockets

from redis_server import redis_url  # noqa: F401  (a real redis-server for the session)
from server_process import free_port
from serving_server import SECRET, Client, token

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def gateway(cache_dir, model_dir, redis_url, tmp_path_factory):  # noqa: F811
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
    }
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)  # each replica is told them through Ray's runtime environment
    port = free_port()
    try:
        cluster.connect(None, num_cpus=2)
        cluster.run(2, "127.0.0.1", port, num_cpus=0.5)
        yield Proxy(port)
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

    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/ws/chat"


def test_the_serve_config_is_one_ray_accepts_and_builds_the_gateway():
    """configs/ray/serve.yaml passes Ray's own schema, and its import path builds the application
    (`serve deploy` would fail on either)."""
    import importlib
    from pathlib import Path

    import yaml

    schema = pytest.importorskip("ray.serve.schema") if not os.environ.get("ATELIER_REQUIRE_RAY") else importlib.import_module("ray.serve.schema")
    config = yaml.safe_load((Path(__file__).resolve().parent.parent / "configs" / "ray" / "serve.yaml").read_text())
    deploy = schema.ServeDeploySchema.model_validate(config)
    application = deploy.applications[0]
    module, _, name = application.import_path.partition(":")
    built = getattr(importlib.import_module(module), name)(application.args)
    assert type(built).__name__ == "Application" and [d.name for d in deploy.applications[0].deployments] == ["Gateway"]


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
