"""The studio inside the serving app (`atelier up`): behind its login, every action callable
from gradio_client, and the fans' endpoints beside it untouched by that login."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest
import yaml
from gradio_client import Client, handle_file
from PIL import Image

from serving_server import Client as FanClient
from serving_server import token
from studio_helpers import HTTP_TIMEOUT

STUDIO_API = {
    "/persona_card", "/persona_validate", "/persona_save", "/persona_import", "/persona_export",
    "/memory_show", "/memory_recall", "/memory_export", "/memory_forget",
    "/chat", "/chat_new_session", "/chat_save",
    "/library_search", "/library_open", "/library_reopen",
}


@pytest.fixture(scope="module")
def client(studio_server) -> Client:
    return studio_server.client()


def test_up_prints_the_studio_url_and_a_login_kept_owner_only(studio_server):
    output = studio_server.output()
    assert studio_server.studio_url in output
    assert f"designer / {studio_server.password}" in output
    assert f"ws://127.0.0.1:{studio_server.port}/ws/chat" in output and f"{studio_server.url}/v1" in output
    password_file = studio_server.data_dir / "studio-password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600 and len(studio_server.password) >= 16


def test_the_studio_refuses_everyone_who_has_not_signed_in(studio_server):
    options = {"verbose": False, "httpx_kwargs": {"timeout": HTTP_TIMEOUT}}
    with pytest.raises(Exception, match="(?i)login|credentials|auth"):
        Client(studio_server.studio_url, **options)
    with pytest.raises(Exception, match="(?i)login|credentials|auth|incorrect"):
        Client(studio_server.studio_url, auth=("designer", "not-the-password"), **options)
    for path in ("config", "gradio_api/info", "gradio_api/file=/etc/passwd"):
        assert httpx.get(studio_server.studio_url + path, timeout=HTTP_TIMEOUT).status_code == 401, path
    refused = httpx.post(studio_server.studio_url + "gradio_api/call/library_search", json={"data": ["", "all"]}, timeout=HTTP_TIMEOUT)
    assert refused.status_code == 401
    # The login page Gradio serves to strangers lists the API with its default inputs: her card is not one of them.
    page = httpx.get(studio_server.studio_url, timeout=HTTP_TIMEOUT).text
    assert "auth_required" in page and "Mokpo" not in page and "biography" not in page


def test_every_studio_action_has_an_api_name(client):
    named = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert STUDIO_API <= named, STUDIO_API - named


async def test_fans_chat_beside_the_studio_with_their_own_tokens(studio_server):
    fan = await FanClient.connect(studio_server, "beside-the-studio")
    assert (await fan.receive())["type"] == "ready"
    await fan.send(type="message", id="m1", text="Hello Haeun!")
    end = await fan.until("end")
    assert end["text"]
    await fan.close()
    request = {"model": "haeun", "messages": [{"role": "user", "content": "Hi!"}], "max_tokens": 8}
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
        models = await http.get(f"{studio_server.url}/v1/models")
        assert models.status_code == 200 and models.json()["data"][0]["id"] == "haeun"
        headers = {"Authorization": f"Bearer {token('beside-the-studio')}"}
        answer = await http.post(f"{studio_server.url}/v1/chat/completions", json=request, headers=headers)
        assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"]
        studio_login = httpx.BasicAuth(studio_server.username, studio_server.password)  # not a fan token
        assert (await http.post(f"{studio_server.url}/v1/chat/completions", json=request, auth=studio_login)).status_code == 401


def test_the_card_is_shown_validated_and_saved_to_the_personas_folder(client, studio_server):
    text, _, _ = client.predict(api_name="/persona_card")
    card = yaml.safe_load(text)
    assert card["id"] == "haeun" and card["name"] == "Haeun"
    bad = dict(card, voice={**card["voice"], "formality": "posh"})
    message = client.predict(yaml.safe_dump(bad, allow_unicode=True), api_name="/persona_validate")
    assert "voice.formality" in message and "posh" in message
    assert "Valid" in client.predict(text, api_name="/persona_validate")
    message, _ = client.predict(yaml.safe_dump(bad, allow_unicode=True), api_name="/persona_save")
    assert "Not saved" in message
    edited = dict(card, identity={**card["identity"], "tagline": "I sew sounds, compose clothes and test studios."})
    message, summary = client.predict(yaml.safe_dump(edited, allow_unicode=True, sort_keys=False), api_name="/persona_save")
    assert "Saved" in message and "test studios" in summary
    saved = yaml.safe_load((studio_server.personas_dir / "haeun.yaml").read_text())
    assert saved["identity"]["tagline"] == "I sew sounds, compose clothes and test studios."
    client.predict(text, api_name="/persona_save")  # as it was


@pytest.mark.parametrize(("spec", "suffix"), [("v3", "png"), ("v2", "json")])
def test_a_character_card_exports_and_imports_back_into_the_editor(client, spec, suffix):
    text, _, _ = client.predict(api_name="/persona_card")
    exported = Path(client.predict(text, spec, suffix, api_name="/persona_export"))
    assert exported.name == f"haeun.{suffix}"
    if suffix == "json":
        assert json.loads(exported.read_text())["spec"] == "chara_card_v2"
    else:
        assert exported.read_bytes().startswith(b"\x89PNG")
    imported, message = client.predict(handle_file(str(exported)), api_name="/persona_import")
    assert "Imported" in message and yaml.safe_load(imported) == yaml.safe_load(text)


def test_chat_streams_remembers_the_fan_and_the_inspector_explains_it(client):
    fan = "studio-api-fan"
    client.predict(api_name="/chat_new_session")
    job = client.submit("Hi! I live in Busan and I have a cat named Mochi.", fan, "Jisoo", api_name="/chat")
    final = job.result(timeout=180)
    updates = job.outputs()
    assert len(updates) >= 3  # the fan's line, then the reply as it grows
    message, history, recall, info = final
    assert info.startswith(f"Turn 1 with `{fan}`")
    assert message == "" and [m["role"] for m in history][-2:] == ["user", "assistant"]
    assert history[-1]["content"][0]["text"].strip()
    assert recall["headers"][0] == "use"
    # A second turn continues the same session.
    _, history, _, info = client.predict("What should I wear in the rain?", fan, "Jisoo", api_name="/chat")
    assert info.startswith("Turn 2")
    assert sum(m["role"] == "user" for m in history) == 2

    state, memories, summary = client.predict(fan, api_name="/memory_show")
    texts = [row[-1] for row in memories["data"]]
    assert "Hi! I live in Busan and I have a cat named Mochi." in texts and f"{len(texts)} memories" in summary
    assert state["relationship"]["turns"] >= 1
    assert any("Busan" in text for row, text in zip(memories["data"], texts) if row[2] == "fan_fact")
    recall = client.predict(fan, "Do you remember where I live?", api_name="/memory_recall")
    assert {"in prompt", "skipped"} & {row[0] for row in recall["data"]}
    assert all("similarity" in row[4] for row in recall["data"])
    exported = json.loads(Path(client.predict(fan, api_name="/memory_export")).read_text())
    assert exported["fan_id"] == fan and len(exported["memories"]) == len(memories["data"])

    with pytest.raises(Exception, match="confirm"):
        client.predict(fan, False, api_name="/memory_forget")
    message, *_ = client.predict(fan, True, api_name="/memory_forget")
    assert f"Forgot {len(memories['data'])} memories" in message
    assert client.predict(fan, api_name="/memory_show")[1]["data"] == []


def test_a_piece_asked_for_in_the_chat_shows_its_progress_then_the_piece(client):
    client.predict(api_name="/chat_new_session")
    job = client.submit("Please make me a print with lemons on it", "studio-piece-fan", "Ara", api_name="/chat")
    _, history, _, _ = job.result(timeout=300)
    texts = [part["text"] for message in history for part in message["content"] if part.get("text")]
    assert any("colours" in text for text in texts)  # she took it on at once
    assert any(str(update[1][-1]["content"][0].get("text", "")).startswith("*print:") for update in job.outputs() if update[1])
    files = [part["file"] for message in history for part in message["content"] if part.get("type") == "file"]  # downloaded by the client
    assert files and all(Path(path).suffix == ".png" for path in files)
    with Image.open(files[0]) as tile:
        assert tile.size[0] >= 512  # the print itself, as the fan gets it


def test_a_conversation_saved_to_the_library_is_found_opened_and_reopened(client):
    fan = "library-fan"
    client.predict(api_name="/chat_new_session")
    client.predict("Hello from the library test!", fan, "Minho", api_name="/chat")
    saved = client.predict(fan, "Minho", api_name="/chat_save")
    artifact_id = saved.split("`")[1]
    table, _ = client.predict("Minho", "chat", api_name="/library_search")
    assert table["data"][0][:2] == [artifact_id, "chat"]
    details, files, _, _ = client.predict(artifact_id, api_name="/library_open")
    assert details["settings"] == {"fan_id": fan, "fan_name": "Minho", "turns": 1}
    transcript = json.loads(Path(files[0]).read_text())
    assert transcript["messages"][-2]["content"] == "Hello from the library test!"
    status, reopened_fan, reopened_name, *_ = client.predict(artifact_id, api_name="/library_reopen")
    assert "Reopened" in status and (reopened_fan, reopened_name) == (fan, "Minho")
    with pytest.raises(Exception, match="no artifact"):
        client.predict("20200101-000000-00000000", api_name="/library_open")


def test_a_cancelled_reply_leaves_the_chat_usable(client):
    fan = "cancelling-fan"
    client.predict(api_name="/chat_new_session")
    asked = "Tell me everything about Persimmon Hour, every garment."
    job = client.submit(asked, fan, "", api_name="/chat")
    # Cancelled at a known point: the first update has shown the fan's line (the session's state
    # holds it) and the reply is being made. The cancel returns once the server has stopped it.
    shown = next(job, None)
    assert shown is not None and shown[1][-2]["content"][0]["text"] == asked
    job.cancel()
    _, history, _, info = client.predict("Are you still there?", fan, "", api_name="/chat")
    assert history[-2]["content"][0]["text"] == "Are you still there?" and history[-1]["content"][0]["text"].strip()
    assert info.startswith(f"Turn 2 with `{fan}`")
