"""The studio as a designer uses it: Debian's headless Chromium signs in and goes through every
tab. Screenshots of each step are saved in tests/artifacts/studio/."""

from __future__ import annotations

import time
from pathlib import Path

from studio_helpers import browser, screenshot, studio_page  # noqa: F401  (fixtures)

DATA = Path(__file__).resolve().parent / "data"


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()
    page.get_by_role("tab", name=name, exact=True).and_(page.locator("[aria-selected=true]")).wait_for()


def test_persona_card_validates_imports_a_character_card_and_inspects_memory(studio_page):
    page = studio_page
    page.get_by_text("Monsoon Indigo").wait_for()  # her palette, as swatches
    page.locator(".cm-content").get_by_text("id: haeun").wait_for()  # the card, loaded after sign-in
    screenshot(page, "01-persona-card")
    page.get_by_role("button", name="Validate").click()
    page.get_by_text("Valid: Haeun").wait_for()

    page.locator("input[type=file]").first.set_input_files(str(DATA / "seraphina_v2.json"))
    page.get_by_text("Imported", exact=False).wait_for()
    page.locator(".cm-content").get_by_text("name: Seraphina", exact=True).wait_for()
    page.get_by_role("button", name="Validate").click()
    page.get_by_text("Valid: Seraphina").wait_for()
    screenshot(page, "02-persona-imported-card")

    open_tab(page, "Memory")
    page.get_by_label("Fan id", exact=True).fill("nobody-yet")
    page.get_by_role("button", name="Show", exact=True).click()
    page.get_by_text("0 memories of").wait_for()
    screenshot(page, "03-persona-memory-inspector")


def watch_reply(page, replies_before: int, turn: int, timeout: float = 180) -> list[str]:
    """Every text the newest reply showed while it streamed, until the turn's summary appears."""
    seen: list[str] = []
    bots = page.locator('[data-testid="bot"]')
    info = page.locator("#chat-turn-info")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bots.count() > replies_before:
            text = bots.last.inner_text().strip()
            if text and (not seen or text != seen[-1]):
                seen.append(text)
        if info.inner_text().startswith(f"Turn {turn} "):
            seen.append(bots.last.inner_text().strip())
            return seen
        page.wait_for_timeout(15)
    raise TimeoutError(f"turn {turn} did not finish in {timeout} s (saw {seen!r})")


def test_chat_three_turns_stream_and_are_remembered(studio_page):
    page = studio_page
    open_tab(page, "Chat")
    page.get_by_label("Talk as fan id").fill("browser-fan")
    page.get_by_label("Fan's name (optional)").fill("Dana")
    box = page.get_by_placeholder("Message Haeun…")
    streams = []
    for turn, text in enumerate(["Hi Haeun! I live in Busan.", "I have a cat named Mochi.", "What colours suit a rainy day?"], start=1):
        replies_before = page.locator('[data-testid="bot"]').count()
        box.fill(text)
        page.get_by_role("button", name="Send").click()
        page.locator('[data-testid="user"]').get_by_text(text).wait_for()
        streams.append(watch_reply(page, replies_before, turn))
        assert streams[-1][-1], f"turn {turn}: no reply text"
        screenshot(page, f"04-chat-turn-{turn}")
    assert page.locator('[data-testid="user"]').count() == 3
    assert page.locator('[data-testid="bot"]').count() == 4  # her greeting and three replies
    # Streamed: the reply was seen part-written before it was whole, in at least one turn.
    assert any(len(set(seen)) > 1 and seen[0] != seen[-1] for seen in streams), streams

    page.get_by_role("button", name="Save conversation to the library").click()
    page.get_by_text("Saved as").wait_for()

    open_tab(page, "Persona")
    open_tab(page, "Memory")
    page.get_by_label("Fan id", exact=True).fill("browser-fan")
    page.get_by_role("button", name="Show", exact=True).click()
    page.get_by_text("memories of").wait_for()
    page.get_by_text("Hi Haeun! I live in Busan.").first.wait_for()
    screenshot(page, "05-memory-after-chat")


def test_library_finds_opens_and_reopens_a_saved_conversation(studio_page, studio_server):
    client = studio_server.client()
    client.predict("Hello from the library!", "reopen-fan", "Kai", api_name="/chat")
    artifact_id = client.predict("reopen-fan", "Kai", api_name="/chat_save").split("`")[1]

    page = studio_page
    open_tab(page, "Library")
    page.get_by_test_id("cell-0-0").get_by_text(artifact_id).wait_for()  # newest first, fresh whenever the tab opens
    page.get_by_label("Search").fill("Kai")
    page.get_by_role("button", name="Search").click()
    row = page.get_by_test_id("cell-0-0").get_by_text(artifact_id)
    page.get_by_test_id("cell-1-0").wait_for(state="detached")  # only the one that matches "Kai"
    row.wait_for()
    screenshot(page, "06-library-search")
    row.click()
    artifact_box = page.get_by_label("Artifact id")
    page.wait_for_function("id => [...document.querySelectorAll('textarea, input')].some(e => e.value === id)", arg=artifact_id)
    assert artifact_box.input_value() == artifact_id
    page.get_by_role("button", name="Open", exact=True).click()
    page.get_by_text("transcript.json").first.wait_for()
    screenshot(page, "07-library-open")

    page.get_by_role("button", name="Reopen in its tab").click()
    page.get_by_role("tab", name="Chat", exact=True).and_(page.locator("[aria-selected=true]")).wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('textarea, input')].some(e => e.value === 'reopen-fan')")
    assert page.get_by_label("Talk as fan id").input_value() == "reopen-fan"
    assert page.get_by_label("Fan's name (optional)").input_value() == "Kai"
    screenshot(page, "08-library-reopened-in-chat")


def test_fashion_and_music_tabs_open(studio_page):
    page = studio_page
    for number, name in ((9, "Fashion"), (10, "Music")):
        open_tab(page, name)
        page.wait_for_timeout(500)
        assert page.locator(".toast-body.error").count() == 0
        screenshot(page, f"{number:02d}-{name.lower()}")
