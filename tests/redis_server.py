"""A real Redis for the tests (Debian's `redis-server`), started once per session on 127.0.0.1
with nothing written to disk, and stopped at the end. Without `redis-server` the tests that use
it skip, or fail where ATELIER_REQUIRE_REDIS is set (`make test` sets it)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from server_process import free_port


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (Debian: apt-get install redis-server; `make test` installs it)"
        if os.environ.get("ATELIER_REQUIRE_REDIS"):
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    folder = tempfile.mkdtemp(prefix="atelier-redis-")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "redis-server exited at start"
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "redis-server did not start within 30 s"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
