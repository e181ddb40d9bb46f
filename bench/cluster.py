"""The gateway through Ray Serve's proxy against the single-process server: prints one JSON
object. Loopback only, bounded in time; a local Ray that this script starts and stops.

The WebSocket load of bench/ws_load.py (its `load`: --fans fans connect, all send one message
at once, replies stream from a constant-rate token source, a load instrument and not a model,
a sentence a frame; once every reply streams, frames are counted for --seconds) runs in one go,
with the same fans, seconds and rate, against:

  single_process   the Atelier app in its own process (ws_load's `ours` server, uvicorn)
  ray_1_replica    the same app as the gateway deployment of serving/cluster.py, one replica
                   behind Ray's proxy (a local Ray: `cluster.connect`, then `serve.run`)
  ray_2_replicas   the same with two replicas (Serve is shut down and started again between
                   the two, so each setup has a fresh proxy)

Before the load, fans say hello until every server process (each replica) has answered one, so
its first-connection costs are not counted per connection; through Ray this also checks that the
replicas answering through the proxy (x-atelier-gateway: host:pid) are the processes read.

Reported per setup: frames/s, p50/p99 frame latency; server memory per connection (RSS growth
from before the first connect to every fan connected, over the fans: the server process, or
the replica workers summed and the proxy apart) and each process' whole RSS then; CPU seconds
per 1,000 frames counted and cores busy, over the frame window, for the server, or the replicas
(with each one's share), the proxy and the rest of Ray (raylet, GCS, Serve's controller: a
steady background that does not grow with frames, so per frame it looks large in small runs),
and the clients (this process). Then ratios: each Ray setup / single process.
Each replica keeps sessions in its own SQLite data folder (sessions.backend: sqlite): right
here, since no replica is killed, so no fan resumes on another.

Where the overhead goes: Ray's proxy is an extra hop in another process. It ends the fans'
WebSockets (its own uvicorn) and calls the replica through a Ray handle, a streaming call that
lasts as long as the connection. Every ASGI message the replica's app sends (each frame) is
pickled, sent as an item of that stream (gRPC from the replica's worker to the proxy's: a
socket write and read more than the single process makes), unpickled in the proxy and written
to the fan's socket by the proxy's Python; a fan's messages go the other way by the replica
calling the proxy back. So the replica does the app's work plus the pickling and Ray's send,
and the proxy relays every frame: `cpu_s_per_1000_frames` of the replicas and of the proxy,
against the single process', measures both. On a 2-core machine the clients, the proxy and the
replicas share the cores, so a second replica adds no CPU to spend: frames/s cannot grow with
it there.

Run: .venv/bin/python bench/cluster.py [--fans 2000] [--seconds 10] [--rate 10] [--sentence-tokens 12]
     (needs ray[serve]: pip install -e '.[cluster]'; a minute or two at --fans 50 --seconds 4)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import resource
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

import ws_load  # noqa: E402

from pipelines.cpu import describe_cpu  # noqa: E402

APP_NAME = "atelier-bench"  # not `atelier`: another Serve application on this machine stays apart
REPLICA_CPUS = 0.5  # Ray's logical CPUs a replica asks for (serving/cluster.py's default)


# ---- the replicas' app ------------------------------------------------------------------------

def instrument_builder(rate: float, tokens: int, sentence_tokens: int, data_dir: str) -> Callable[[], Any]:
    """A builder for `cluster.gateway_app`: a plain function (Serve calls only functions as
    builders, not partials), pickled with its arguments and called in each replica's worker."""

    def build() -> Any:
        return ws_load.instrument_app(rate, tokens, sentence_tokens, data_dir=data_dir)

    return build


# ---- reading the servers' processes -----------------------------------------------------------

def reading(pids: list[int]) -> dict[int, tuple[int, float]]:
    """{pid: (RSS bytes, CPU seconds user + system)} of the processes still alive."""
    import psutil

    found = {}
    for pid in pids:
        try:
            process = psutil.Process(pid)
            with process.oneshot():
                times = process.cpu_times()
                found[pid] = (process.memory_info().rss, times.user + times.system)
        except psutil.NoSuchProcess:
            pass
    return found


def between(groups: dict[str, list[int]], readings: dict[str, dict], first: str, last: str, field: int) -> dict[str, float]:
    """Per group, the growth of `field` (0: RSS, 1: CPU) from reading `first` to `last`, over
    the processes present in both."""
    return {group: sum(readings[last][pid][field] - readings[first][pid][field] for pid in pids if pid in readings[first] and pid in readings[last])
            for group, pids in groups.items()}


async def warm_up(url: str, gateways: int) -> set[str]:
    """Fans say hello (holding their connections) until `gateways` different gateway processes
    have answered (each names itself: x-atelier-gateway, host:pid), so that what a server does
    once, on its first connection, is not counted per connection. Their pids."""
    import websockets

    from persona.engine.auth import issue_token

    seen: set[str] = set()
    async with contextlib.AsyncExitStack() as held:
        for attempt in range(8 * gateways):
            ws = await held.enter_async_context(websockets.connect(url, compression=None, open_timeout=120))
            await ws.send(json.dumps({"type": "hello", "token": issue_token(ws_load.SECRET.encode(), f"warm-up-{attempt}", 3600), "persona": "haeun"}))
            if json.loads(await ws.recv())["type"] != "ready":
                raise RuntimeError(f"{url} did not answer the hello")
            seen.add(ws.response.headers["x-atelier-gateway"].rsplit(":", 1)[1])
            if len(seen) == gateways:
                break
    return seen


def measured_load(url: str, fans: int, seconds: float, groups: dict[str, list[int]], apart: tuple[str, ...] = ()) -> dict:
    """ws_load.load against `url`, reading the processes of `groups` at its moments: before the
    first connect, once every fan is connected, at the start and the end of the frame window.
    load reads one process' RSS itself; the readings here replace its memory figure. For the
    groups `apart`, each process' share of the group's CPU in the window too (how evenly the
    proxy spread the fans)."""
    readings: dict[str, dict] = {}
    every_pid = [pid for pids in groups.values() for pid in pids]

    def read(moment: str) -> None:
        readings[moment] = reading(every_pid)

    result = asyncio.run(ws_load.load(url, fans, seconds, every_pid[0], moment=read))
    frames = result["frames_counted"]
    memory = between(groups, readings, "before", "connected", 0)
    cpu = between(groups, readings, "window_start", "window_end", 1)
    result["memory_per_connection_kib"] = {group: round(grown / 1024 / fans, 1) for group, grown in memory.items() if group not in ("clients", "ray_other")}
    result["rss_mib_with_every_fan_connected"] = {group: round(sum(readings["connected"][pid][0] for pid in pids if pid in readings["connected"]) / 2**20, 1)
                                                  for group, pids in groups.items()}
    result["cpu_s_per_1000_frames"] = {group: round(1000 * spent / frames, 4) if frames else None for group, spent in cpu.items()}
    result["cores_busy"] = {group: round(spent / seconds, 2) for group, spent in cpu.items()}
    for group in apart:
        each = between({str(pid): [pid] for pid in groups[group]}, readings, "window_start", "window_end", 1)
        result[f"{group}_cpu_shares"] = {pid: round(spent / max(cpu[group], 1e-9), 2) for pid, spent in each.items()}
    return result


# ---- the setups -------------------------------------------------------------------------------

def single_process(fans: int, seconds: float, rate: float, tokens: int, sentence_tokens: int) -> dict:
    process, port = ws_load.start_server("ours", rate, tokens, sentence_tokens)
    url = f"ws://127.0.0.1:{port}/ws/chat"
    try:
        asyncio.run(warm_up(url, 1))
        return measured_load(url, fans, seconds, {"server": [process.pid], "clients": [os.getpid()]})
    finally:
        process.kill()
        process.wait(timeout=30)


def serve_processes(replicas: int) -> dict[str, list[int]]:
    """The replica workers, the proxy and the rest of the Ray this script started (its
    descendants, by process title: `ray::ServeReplica:<app>:Gateway`, `ray::ProxyActor`)."""
    import psutil

    from serving.cluster import GATEWAY

    groups: dict[str, list[int]] = {"replicas": [], "proxy": [], "ray_other": []}
    for child in psutil.Process().children(recursive=True):
        try:
            title = " ".join(child.cmdline())
        except psutil.NoSuchProcess:
            continue
        if f"ServeReplica:{APP_NAME}:{GATEWAY}" in title:
            groups["replicas"].append(child.pid)
        elif "ProxyActor" in title:
            groups["proxy"].append(child.pid)
        else:
            groups["ray_other"].append(child.pid)
    if len(groups["replicas"]) != replicas or len(groups["proxy"]) != 1:
        raise RuntimeError(f"expected {replicas} replica(s) and one proxy among this script's processes, found {groups}")
    return groups


def through_ray(replicas: int, fans: int, seconds: float, rate: float, tokens: int, sentence_tokens: int, data_dir: str) -> dict:
    """Serve started afresh (a new proxy), the gateway deployed with `replicas` replicas of the
    instrument app, the load through the proxy; Serve shut down again."""
    from ray import serve

    from serving.cluster import gateway_app

    port = ws_load.free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        serve.run(gateway_app(replicas, REPLICA_CPUS, max(5000, 2 * fans), builder=instrument_builder(rate, tokens, sentence_tokens, data_dir)),
                  name=APP_NAME, route_prefix="/")
        groups = serve_processes(replicas)
        url = f"ws://127.0.0.1:{port}/ws/chat"
        answered = asyncio.run(warm_up(url, replicas))
        if answered != {str(pid) for pid in groups["replicas"]}:
            raise RuntimeError(f"the replicas that answered through the proxy ({answered}) are not the ones found ({groups['replicas']})")
        result = measured_load(url, fans, seconds, {**groups, "clients": [os.getpid()]}, apart=("replicas",))
        memory = result["memory_per_connection_kib"]
        memory["replicas_and_proxy"] = round(memory["replicas"] + memory["proxy"], 1)
        return result
    finally:
        serve.shutdown()


def ratios(ray: dict, single: dict) -> dict:
    ray_cpu, single_cpu = ray["cpu_s_per_1000_frames"], single["cpu_s_per_1000_frames"]["server"]
    return {
        "throughput": round(ray["frames_per_s"] / single["frames_per_s"], 3),
        "p50": round(ray["latency_p50_ms"] / single["latency_p50_ms"], 2),
        "p99": round(ray["latency_p99_ms"] / single["latency_p99_ms"], 2),
        "memory_per_connection_replicas": round(ray["memory_per_connection_kib"]["replicas"] / single["memory_per_connection_kib"]["server"], 2),
        "memory_per_connection_replicas_and_proxy": round(ray["memory_per_connection_kib"]["replicas_and_proxy"] / single["memory_per_connection_kib"]["server"], 2),
        "cpu_per_frame_replicas": round(ray_cpu["replicas"] / single_cpu, 2),
        "cpu_per_frame_replicas_and_proxy": round((ray_cpu["replicas"] + ray_cpu["proxy"]) / single_cpu, 2),
    }


def ours(started_before: set[int]) -> list:
    """The processes this script started (its descendants) since `started_before` was taken."""
    import psutil

    return [child for child in psutil.Process().children(recursive=True) if child.pid not in started_before]


def stop_leftovers(started: list) -> None:
    """After ray.shutdown: wait for the processes this script started (taken before the
    shutdown, while Ray's workers were still its descendants) to go, and kill any that stay;
    never another Ray on the machine."""
    import psutil

    _, alive = psutil.wait_procs(started, timeout=15)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fans", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to count frames once every reply streams")
    parser.add_argument("--rate", type=float, default=10.0, help="tokens a second per fan")
    parser.add_argument("--sentence-tokens", type=int, default=12, help="tokens a sentence, so a frame")
    args = parser.parse_args()
    import psutil
    import ray

    from serving import cluster

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.fans + 1024)), hard))  # Ray's proxy inherits it
    tokens = int(args.rate * 3600)  # replies outlast the measurement; the clients hang up
    ray_cpus = os.cpu_count() or 2
    result: dict = {
        "date": dt.date.today().isoformat(), "machine": describe_cpu(),
        "parameters": {"fans": args.fans, "tokens_per_s_per_fan": args.rate, "tokens_per_frame": args.sentence_tokens, "measured_s": args.seconds,
                       "ray_num_cpus": ray_cpus, "replica_num_cpus": REPLICA_CPUS,
                       "sessions": "sqlite, a data folder per replica (no replica is killed here, so none is shared)",
                       "processes": "clients in this process; single process: one server process; Ray: a proxy and the replica workers on this machine"},
    }
    result["single_process"] = single_process(args.fans, args.seconds, args.rate, tokens, args.sentence_tokens)
    # The replicas unpickle builders that import this folder's modules; a local Ray's workers
    # inherit this environment.
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), str(BENCH), *filter(None, [os.environ.get("PYTHONPATH")])])
    started_before = {child.pid for child in psutil.Process().children(recursive=True)}
    try:  # Ray's driver prints its workers' errors to stdout (Serve's shutdown makes some): stdout is for the JSON
        with contextlib.redirect_stdout(sys.stderr), tempfile.TemporaryDirectory(prefix="atelier-bench-cluster-") as data_dir:
            cluster.connect(None, num_cpus=ray_cpus)
            for replicas in (1, 2):
                name = f"ray_{replicas}_replica{'s' if replicas > 1 else ''}"
                result[name] = through_ray(replicas, args.fans, args.seconds, args.rate, tokens, args.sentence_tokens, data_dir)
    finally:
        started = ours(started_before)
        with contextlib.redirect_stdout(sys.stderr):
            if ray.is_initialized():
                ray.shutdown()
            stop_leftovers(started + ours(started_before))
    result["ray_over_single_process"] = {name: ratios(result[name], result["single_process"]) for name in ("ray_1_replica", "ray_2_replicas")}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
