"""Servers the tests and benchmarks start as real processes on 127.0.0.1: a free port, and
waiting until one answers."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(process: subprocess.Popen, url: str, timeout_s: float, name: str, log: str,
                     on_timeout: Callable[[], None] = lambda: None) -> None:
    """Poll `url` until it answers 200. Raises RuntimeError naming `log` when the process exits
    first or `timeout_s` passes (then `on_timeout` runs first, e.g. to stop the process)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode}; see {log}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    on_timeout()
    raise RuntimeError(f"{name} was not ready after {timeout_s:.0f} s; see {log}")


@contextlib.contextmanager
def serving_in_thread(app) -> Iterator[int]:
    """uvicorn serving the ASGI `app` on 127.0.0.1 in a thread of this process, lifespan included;
    yields its port. The socket listens before uvicorn starts, so a first request simply waits
    to be accepted."""
    import uvicorn

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()
