"""The Library tab: every artifact made in the studio, searchable, with its settings and
seed, re-openable in the tab that made it with the same settings, and publishable to her
portfolio (studio/portfolio_panel.py)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.context import StudioContext
from persona.engine.library import ArtifactNotFound, Artifact
from studio.portfolio_panel import build_portfolio_panel

LIBRARY_HEADERS = ["id", "kind", "title", "created", "seed"]
ALL_KINDS = "all"
PREVIEWABLE = {".png", ".jpg", ".jpeg", ".webp", ".gif"}


def build_library_tab(context: StudioContext, tabs: gr.Tabs, tab: gr.Tab) -> None:
    library = context.library

    def rows(text: str = "", kind: str = ALL_KINDS) -> list[list[Any]]:
        found = library.search(text, None if kind in ("", ALL_KINDS, None) else kind)
        return [[a.id, a.kind, a.title, f"{a.created_at.astimezone():%Y-%m-%d %H:%M}", "" if a.seed is None else a.seed] for a in found]

    with gr.Row():
        query = gr.Textbox(label="Search", placeholder="words in the title or the settings: a brief, a colour, a fan…", scale=4)
        kind = gr.Dropdown([ALL_KINDS, *library.kinds()], value=ALL_KINDS, label="Kind", allow_custom_value=True, scale=1)
        search = gr.Button("Search", variant="primary", scale=1, min_width=90)
    table = gr.Dataframe(rows(), headers=LIBRARY_HEADERS, label="Artifacts, newest first (click a row)", interactive=False, wrap=True, max_height=340)
    with gr.Row():
        artifact_id = gr.Textbox(label="Artifact id", scale=3)
        open_button = gr.Button("Open", scale=1, min_width=90)
        reopen_button = gr.Button("Reopen in its tab", variant="primary", scale=1)
    status = gr.Markdown()
    with gr.Row():
        details = gr.JSON(label="Settings and seed", scale=1)
        with gr.Column(scale=1):
            preview = gr.Gallery(label="Preview", columns=3, height=260)
            files = gr.File(label="Files", file_count="multiple", interactive=False)
    build_portfolio_panel(context, artifact_id, tab)

    def search_library(text: str, kind_name: str) -> tuple[list[list[Any]], Any]:
        return rows(text, kind_name), gr.Dropdown(choices=[ALL_KINDS, *library.kinds()])

    def pick(event: gr.SelectData) -> str:
        row = event.row_value or []
        return row[0] if row else gr.skip()

    def open_artifact(identifier: str) -> tuple[dict, list[str], list[str], str]:
        artifact = find(identifier)
        images = [str(path) for path in artifact.files if path.suffix.lower() in PREVIEWABLE]
        return describe(artifact), [str(path) for path in artifact.files], images, f"**{artifact.title}** ({artifact.kind}), {len(artifact.files)} files."

    def find(identifier: str) -> Artifact:
        try:
            return library.get((identifier or "").strip())
        except ArtifactNotFound as error:
            raise gr.Error(str(error)) from None

    # Every component some tab fills when it reopens an artifact, each once.
    targets: list[gr.Component] = []
    for reopener in context.reopeners:
        for component in reopener.outputs:
            if all(component._id != known._id for known in targets):
                targets.append(component)

    def reopen(identifier: str) -> list[Any]:
        artifact = find(identifier)
        reopener = next((r for r in context.reopeners if artifact.kind in r.kinds), None)
        if reopener is None:
            raise gr.Error(f"No tab reopens {artifact.kind!r} artifacts; open it here to see its files and settings.")
        values = list(reopener.fill(artifact.settings))
        if len(values) != len(reopener.outputs):
            raise gr.Error(f"The {reopener.tab_id} tab gave {len(values)} values for {len(reopener.outputs)} inputs.")
        filled = {component._id: value for component, value in zip(reopener.outputs, values)}
        message = f"Reopened **{artifact.title}** in the {reopener.tab_id} tab" + (f" (seed {artifact.seed})." if artifact.seed is not None else ".")
        return [gr.Tabs(selected=reopener.tab_id), message, *(filled.get(component._id, gr.skip()) for component in targets)]

    search.click(search_library, [query, kind], [table, kind], api_name="library_search")
    query.submit(search_library, [query, kind], [table, kind], api_visibility="private")
    kind.input(search_library, [query, kind], [table, kind], api_visibility="private")
    tab.select(search_library, [query, kind], [table, kind], api_visibility="private")  # fresh whenever the tab opens
    table.select(pick, None, artifact_id, api_visibility="private")
    open_button.click(open_artifact, artifact_id, [details, files, preview, status], api_name="library_open")
    reopen_button.click(reopen, artifact_id, [tabs, status, *targets], api_name="library_reopen")


def describe(artifact: Artifact) -> dict[str, Any]:
    return {
        "id": artifact.id,
        "kind": artifact.kind,
        "title": artifact.title,
        "created_at": artifact.created_at.isoformat(),
        "seed": artifact.seed,
        "settings": artifact.settings,
        "files": [path.name for path in artifact.files],
    }
