"""The studio as one Gradio app, mounted at /studio inside the serving app (one port).

    context = studio_context(settings)       # the persona, the library; the runtime comes later
    mount_studio(app, context)               # /studio, behind the designers' login

`gr.mount_gradio_app` works on the serving app's plain Starlette: it mounts Gradio's FastAPI
app as a sub-application and wraps the serving app's lifespan so that Gradio's own startup
(its queue) runs inside it, after the chat runtime is ready. The fans' routes (/ws/chat, /v1)
are outside the mount and never see the studio's login.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

import gradio as gr
from starlette.applications import Starlette

from persona.card import load_persona
from persona.engine.library import Library
from persona.engine.runtime import artifacts_dir, library_dir
from persona.engine.service import ChatService
from persona.engine.settings import ConfigError, Settings
from studio.chat_tab import build_chat_tab
from studio.context import GPU_GROUP, StudioContext
from studio.fashion_tab import build_fashion_tab
from studio.library_tab import build_library_tab
from studio.music_tab import build_music_tab
from studio.persona_tab import build_persona_tab
from studio.theme import CSS, persona_theme

MOUNT_PATH = "/studio"
PASSWORD_FILE = "studio-password"
DEFAULT_CONCURRENCY = 4  # light events (search, open, save); model-bound ones use GPU_GROUP
MAX_UPLOAD = "50mb"


def studio_context(settings: Settings) -> StudioContext:
    persona = load_persona(settings.persona, settings.personas_dir)
    return StudioContext(settings=settings, persona=persona, library=Library(library_dir(settings)))


def studio_login(settings: Settings) -> tuple[str, str, Path | None]:
    """(username, password, file): the password from the settings, else a random one made once
    and kept in memory.data_dir/studio-password, readable by its owner only (then `file` is set)."""
    config = settings.studio
    if config.password is not None:
        return config.username, config.password.get_secret_value(), None
    path = settings.memory.data_dir.expanduser() / PASSWORD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made before, maybe by another process a moment ago
        password = path.read_text(encoding="utf-8").strip()
        if len(password) < 12:
            raise ConfigError(f"{path} holds a studio password shorter than 12 characters; delete it to make a new one") from None
        return config.username, password, path
    password = secrets.token_urlsafe(18)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(password + "\n")
    return config.username, password, path


def build_studio(context: StudioContext) -> gr.Blocks:
    card = context.persona
    with gr.Blocks(title=f"{card.name} · Atelier studio", analytics_enabled=False) as studio:
        gr.Markdown(f"## {card.name} · Atelier studio\n{card.identity.tagline}")
        with gr.Tabs() as tabs:
            with gr.Tab("Persona", id="persona"):
                build_persona_tab(context, studio)
            with gr.Tab("Chat", id="chat"):
                build_chat_tab(context)
            with gr.Tab("Fashion", id="fashion"):
                build_fashion_tab(context)
            with gr.Tab("Music", id="music"):
                build_music_tab(context)
            with gr.Tab("Library", id="library") as library_tab:
                build_library_tab(context, tabs, library_tab)
    # Model-bound jobs share one group whose limit is the configured one, whatever a tab asked for.
    for function in studio.fns.values():
        if function.concurrency_id == GPU_GROUP:
            function.concurrency_limit = context.settings.studio.gpu_concurrency
    studio.queue(max_size=context.settings.studio.max_queue, default_concurrency_limit=DEFAULT_CONCURRENCY)
    return studio


def mount_studio(app: Starlette, context: StudioContext) -> gr.Blocks:
    """Mount the studio at /studio behind the designers' login; `app.state.studio` is the context
    (StudioFrontEnd hands it the chat service once the serving app has started it)."""
    username, password, _ = studio_login(context.settings)
    studio = build_studio(context)
    gr.mount_gradio_app(
        app,
        studio,
        path=MOUNT_PATH,
        server_name=context.settings.serving.host,
        server_port=context.settings.serving.port,
        auth=_checker(username, password),
        auth_message=f"Atelier studio: sign in as {username} (the password is printed by `atelier up`).",
        allowed_paths=[str(context.library.root), str(artifacts_dir(context.settings))],  # the library; fans' pieces in the Chat tab
        max_file_size=MAX_UPLOAD,
        footer_links=["api", "settings"],
        run_history=False,
        ssr_mode=False,
        mcp_server=False,
        theme=persona_theme(context.persona.visual.palette),
        css=CSS,
    )
    app.state.studio = context
    return studio


class StudioFrontEnd:
    """The `atelier.front_ends` entry point "studio": how the serving app mounts the studio
    without importing it."""

    path = MOUNT_PATH

    def mount(self, app: Starlette, settings: Settings) -> Callable[[ChatService], None]:
        context = studio_context(settings)
        mount_studio(app, context)

        def started(service: ChatService) -> None:
            context.service = service  # the Chat tab talks to the fans' runtime

        return started

    def describe(self, settings: Settings, base_url: str) -> list[str]:
        username, password, password_file = studio_login(settings)
        login = f"{password}   (kept in {password_file})" if password_file else "the password in studio.password"
        return [f"studio      {base_url}{MOUNT_PATH}/", f"login       {username} / {login}"]


front_end = StudioFrontEnd()


def _checker(username: str, password: str) -> Callable[[str, str], bool]:
    expected = (username.encode(), password.encode())

    def check(given_username: str, given_password: str) -> bool:
        name_ok = secrets.compare_digest(str(given_username).encode(), expected[0])
        password_ok = secrets.compare_digest(str(given_password).encode(), expected[1])
        return name_ok and password_ok

    return check
