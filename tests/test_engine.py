"""The layer under both front ends: serving/ and studio/ never import each other, and the one
turn routine answers the same way on the WebSocket and on /v1 when her memory store fails."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import websockets

from canned_backend import CannedBackend
from persona.director import Director
from persona.engine.auth import issue_token
from persona.engine.runtime import Runtime
from persona.engine.settings import load_settings
from persona.memory.persona_memory import PersonaMemory
from persona.memory.sqlite_store import SQLiteStore
from persona.prompt import PromptBuilder
from pipelines.dialogue import GenerationParams
from server_process import serving_in_thread
from serving.app import create_app

ROOT = Path(__file__).resolve().parent.parent
SECRET = "engine-test-secret-0123456789abcdef0123"


def imported_packages(package: str) -> dict[str, set[str]]:
    """{file: top-level packages it imports} for every module of `package`."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize(("package", "forbidden"), [("serving", "studio"), ("studio", "serving"), ("persona", "serving"), ("persona", "studio"),
                                                    ("pipelines", "serving"), ("pipelines", "studio")])
def test_the_front_ends_never_import_each_other_and_the_layers_below_import_neither(package, forbidden):
    offenders = [file for file, names in imported_packages(package).items() if forbidden in names]
    assert offenders == [], f"{package}/ imports {forbidden}/ in {offenders}"


def test_the_studio_is_found_as_an_installed_front_end():
    from serving.app import front_end

    studio = front_end("studio")
    assert studio.path == "/studio"
    with pytest.raises(Exception, match="no front end named 'gallery'"):
        front_end("gallery")


@pytest.fixture
def broken_memory_server(tmp_path, haeun, tokenizer):
    """The serving app on 127.0.0.1 whose memory store has failed (its database connection is
    gone), with a model that would answer if it were asked."""
    settings = load_settings(environ={"ATELIER_SERVING__TOKEN_SECRET": SECRET, "ATELIER_MEMORY__DATA_DIR": str(tmp_path), "ATELIER_STUDIO__ENABLED": "false"})
    store = SQLiteStore(tmp_path / "memory.db")
    memory = PersonaMemory(store, embedder=None, persona=haeun)  # opening a chat reads history only: nothing is embedded
    backend = CannedBackend("Hello from the cutting table.")
    director = Director(haeun, backend, PromptBuilder(haeun, tokenizer, 2048), GenerationParams(max_tokens=16), memory)
    app = create_app(settings, Runtime(haeun, backend, director, memory))
    store.db.close()  # the store fails from here on, as a lost disk or database would
    with serving_in_thread(app) as port:
        yield SimpleNamespace(port=port, backend=backend)


async def test_a_failed_memory_store_answers_unavailable_on_both_endpoints(broken_memory_server):
    port = broken_memory_server.port
    token = issue_token(SECRET.encode(), "fan-a", 3600)
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/chat") as ws:
        await ws.send(json.dumps({"type": "hello", "token": token, "persona": "haeun"}))
        frame = json.loads(await ws.recv())
        assert frame["type"] == "error" and frame["code"] == "unavailable" and "memory" in frame["message"]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == 1013  # try again later

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        response = await client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {token}"},
                                     json={"model": "haeun", "messages": [{"role": "user", "content": "Hi!"}]})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert broken_memory_server.backend.requests == []  # the model was never asked
