"""`atelier up` as a real process for the studio tests, and a headless browser signed in to it.

The browser is Debian's Chromium (`apt-get install chromium`), driven by Playwright; no browser
is downloaded. Screenshots go to tests/artifacts/studio/ (git-ignored), one per step, so a
person can look at what the test saw.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from serving_server import AtelierServer

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
# gradio_client's requests otherwise use httpx's 5 s default, and some wait on the server: a
# cancel returns once the cancelled reply has let go of the model (a prompt's prefill takes
# seconds on a slow CPU) and is committed to memory, behind the memory work queued before it.
# Every wait ends on the server's answer or an event; WAIT_S only bounds a hang.
WAIT_S = 300
HTTP_TIMEOUT = httpx.Timeout(WAIT_S, connect=30)
ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "studio"
LAPTOP = {"width": 1366, "height": 768}


class StudioServer(AtelierServer):
    """`atelier up`: the studio at /studio beside /ws/chat and /v1, on one port. Personas are a
    copy, so saving a card in a test never touches configs/personas."""

    command = "up"

    def __init__(self, cache_dir: Path, data_dir: Path, **settings: str):
        personas = data_dir / "personas"
        shutil.copytree(REPO / "configs" / "personas", personas)
        super().__init__(cache_dir, data_dir, personas_dir=str(personas), **settings)
        self.data_dir = data_dir
        self.personas_dir = personas
        self.studio_url = f"{self.url}/studio/"
        self.username = "designer"
        self.password = ""

    def start(self, timeout: float = 240) -> StudioServer:
        super().start(timeout)
        self.password = (self.data_dir / "studio-password").read_text().strip()
        return self

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def client(self):
        from gradio_client import Client

        return Client(self.studio_url, auth=(self.username, self.password), verbose=False, httpx_kwargs={"timeout": HTTP_TIMEOUT})


@pytest.fixture(scope="session")
def studio_server(cache_dir, model_dir, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("studio")
    with StudioServer(cache_dir, data_dir) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        message = f"no Chromium at {CHROMIUM}: the browser tests drive Debian's chromium (apt-get install chromium; make test does)"
        if os.environ.get("ATELIER_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


@pytest.fixture
def studio_page(browser, studio_server):
    """A laptop-sized page, signed in to the studio."""
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(studio_server.studio_url)
    page.get_by_label("username").fill(studio_server.username)
    page.get_by_label("password").fill(studio_server.password)
    page.get_by_role("button", name="Login").click()
    page.get_by_role("tab", name="Persona").wait_for()
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    """Save the whole page as tests/artifacts/studio/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
