"""`atelier serve` as a real process on 127.0.0.1 for the tests, and a small protocol client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import websockets

from server_process import free_port, wait_until_ready

SECRET = "test-secret-0123456789abcdef0123456789"


class AtelierServer:
    command = "serve"  # the `atelier` subcommand that runs the server

    def __init__(self, cache_dir: Path, data_dir: Path, **settings: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws/chat"
        self.env = {
            **os.environ,
            "ATELIER_CACHE_DIR": str(cache_dir),
            "ATELIER_MEMORY__DATA_DIR": str(data_dir),
            "ATELIER_SERVING__PORT": str(self.port),
            "ATELIER_SERVING__TOKEN_SECRET": SECRET,
            "ATELIER_DIALOGUE__GENERATION__MAX_TOKENS": "24",
            "ATELIER_DIALOGUE__GENERATION__TEMPERATURE": "0",
            # The protocol and the studio are tested on the base model, whose greedy replies these
            # tests know; her adapter has tests of its own (test_adapter_serving.py).
            "ATELIER_DIALOGUE__ADAPTER": "none",
            **{f"ATELIER_{key.upper()}": value for key, value in settings.items()},
        }
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 180) -> AtelierServer:
        self.log = open(Path(self.env["ATELIER_MEMORY__DATA_DIR"]) / f"server-{self.port}.log", "ab")
        command = [str(Path(sys.executable).parent / "atelier"), self.command]
        self.process = subprocess.Popen(command, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until_ready(self.process, f"{self.url}/readyz", timeout, f"atelier {self.command}", self.log.name)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=60)
        self.log.close()

    def __enter__(self) -> AtelierServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def token(fan: str, ttl_s: float = 3600, now: float | None = None) -> str:
    from persona.engine.auth import issue_token

    return issue_token(SECRET.encode(), fan, ttl_s, now)


class Client:
    """A fan's connection: the `websockets` client library, speaking the protocol."""

    def __init__(self, ws):
        self.ws = ws
        self.last_seq = 0
        self.frames: list[dict] = []

    @classmethod
    async def connect(cls, server: AtelierServer, fan: str, resume: dict | None = None, hello: dict | None = None) -> Client:
        ws = await websockets.connect(server.ws_url, max_size=2**22)
        client = cls(ws)
        client.last_seq = resume["last_seq"] if resume else 0
        frame = {"type": "hello", "token": token(fan), "persona": "haeun", **({"resume": resume} if resume else {}), **(hello or {})}
        await ws.send(json.dumps(frame))
        return client

    async def send(self, **frame) -> None:
        await self.ws.send(json.dumps(frame))

    async def receive(self, timeout: float = 120) -> dict:
        import asyncio

        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        if frame["seq"]:
            assert frame["seq"] == self.last_seq + 1 or self.last_seq == 0, (self.last_seq, frame)
            self.last_seq = frame["seq"]
        self.frames.append(frame)
        return frame

    async def until(self, *types: str) -> dict:
        while (frame := await self.receive())["type"] not in types:
            pass
        return frame

    async def close(self) -> None:
        await self.ws.close()
