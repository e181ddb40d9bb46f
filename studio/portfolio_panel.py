"""The Library tab's portfolio panel: publish the artifact the designer has open to her
portfolio (at once, or under embargo until a release day), see what is published, unpublish.

The handlers are plain functions of the context, so tests call them without a server. Each
change is followed by `Runtime.publish_canon()`, which blocks until her memory holds the new
canon: Gradio runs handlers on worker threads, so that wait never touches the event loop.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import gradio as gr

from persona.engine.library import ArtifactNotFound
from persona.portfolio import KIND_WORDS, PUBLISHABLE, Piece, Portfolio, PortfolioError
from studio.context import StudioContext

PIECE_HEADERS = ["piece id", "kind", "title", "release", "status", "library id"]
NEEDS_RUNTIME = "Publishing needs `atelier up` with her memory and `creations.enabled`"
RELEASE_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def build_portfolio_panel(context: StudioContext, artifact_id: gr.Textbox, tab: gr.Tab) -> None:
    """The panel, under the Library tab's artifact id box: that id is what gets published."""
    gr.Markdown(f"### Publish to her portfolio\nPublishes the artifact whose id is above ({', '.join(sorted(PUBLISHABLE))}).")
    with gr.Group(), gr.Row():
        title = gr.Textbox(label="Title (optional)", placeholder="empty: the artifact's own name", scale=3)
        release = gr.Textbox(label="Release date (optional)", placeholder="YYYY-MM-DD; empty: at once", scale=2)
        publish_button = gr.Button("Publish to her portfolio", variant="primary", scale=1)
    status = gr.Markdown()
    pieces = gr.Dataframe([], headers=PIECE_HEADERS, label="Her portfolio, newest first (click a row)", interactive=False, wrap=True, max_height=280)
    with gr.Row():
        piece_id = gr.Textbox(label="Piece id (or the library id it was published from)", scale=3)
        unpublish_button = gr.Button("Unpublish", variant="stop", scale=1, min_width=90)

    def pick(event: gr.SelectData) -> str:
        row = event.row_value or []
        return row[0] if row else gr.skip()

    def publish_artifact(artifact_id: str, title: str, release: str) -> tuple[str, list[list[Any]]]:
        return publish(context, artifact_id, title, release)

    def unpublish_piece(piece_id: str) -> tuple[str, list[list[Any]]]:
        return unpublish(context, piece_id)

    def show_portfolio() -> tuple[str, list[list[Any]]]:
        return refresh(context)

    publish_button.click(publish_artifact, [artifact_id, title, release], [status, pieces], api_name="portfolio_publish")
    unpublish_button.click(unpublish_piece, piece_id, [status, pieces], api_name="portfolio_unpublish")
    pieces.select(pick, None, piece_id, api_visibility="private")
    tab.select(show_portfolio, None, [status, pieces], api_visibility="private")  # fresh whenever the tab opens


# --- handlers ---------------------------------------------------------------------------------


def refresh(context: StudioContext) -> tuple[str, list[list[Any]]]:
    """The status line and the table; without a portfolio, why there is none."""
    portfolio = _portfolio_or_none(context)
    if portfolio is None:
        return _why_no_portfolio(context), []
    return "", piece_rows(portfolio)


def publish(context: StudioContext, artifact_id: str, title: str, release_text: str) -> tuple[str, list[list[Any]]]:
    """Publish the library artifact `artifact_id`; returns the status line and the table."""
    portfolio = _portfolio(context)
    release = parse_release(release_text)
    artifact_id = (artifact_id or "").strip()
    if not artifact_id:
        raise gr.Error("Artifact id: pick an artifact in the table above first (the box is empty).")
    try:
        artifact = context.library.get(artifact_id)
    except ArtifactNotFound as error:
        raise gr.Error(str(error)) from None
    replaced = any(piece.library_id == artifact.id for piece in portfolio.pieces())
    try:
        piece = portfolio.publish(artifact, context.persona, release=release, title=(title or "").strip() or None)
    except PortfolioError as error:
        raise gr.Error(str(error)) from None
    _sync_canon(context, f"Published {piece.id}")
    message = f"Published **{piece.title}** ({piece.kind}) as `{piece.id}`" + (", replacing its earlier piece" if replaced else "")
    if piece.is_released(portfolio.today()):
        message += ": fans can ask to see it now."
    else:
        message += f", under embargo until {piece.release:%Y-%m-%d}: fans hear only that a new {KIND_WORDS[piece.kind]} is coming."
    return message, piece_rows(portfolio)


def unpublish(context: StudioContext, identifier: str) -> tuple[str, list[list[Any]]]:
    """Take a piece out (by its id or its library id); returns the status line and the table."""
    portfolio = _portfolio(context)
    if not (identifier or "").strip():
        raise gr.Error("Piece id: click a row of her portfolio first (the box is empty).")
    try:
        piece = portfolio.unpublish(identifier.strip())
    except PortfolioError as error:
        raise gr.Error(str(error)) from None
    _sync_canon(context, f"Unpublished {piece.id}")
    return f"Unpublished **{piece.title}** (`{piece.id}`): fans can no longer see it, and she no longer speaks of it.", piece_rows(portfolio)


def piece_rows(portfolio: Portfolio) -> list[list[Any]]:
    today = portfolio.today()
    return [_row(piece, today) for piece in portfolio.pieces()]


def parse_release(text: str | None) -> dt.date | None:
    """'' → None (at once); 'YYYY-MM-DD' → that date, past dates included (already released)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        if not RELEASE_FORMAT.match(text):
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise gr.Error(f"Release date: expected YYYY-MM-DD such as 2027-03-01, or empty to publish at once; got {text!r}.") from None


# --- helpers ----------------------------------------------------------------------------------


def _row(piece: Piece, today: dt.date) -> list[Any]:
    release = piece.release.isoformat() if piece.release else "now"
    return [piece.id, piece.kind, piece.title, release, "released" if piece.is_released(today) else "under embargo", piece.library_id]


def _portfolio_or_none(context: StudioContext) -> Portfolio | None:
    runtime = context.runtime
    return runtime.portfolio if runtime is not None else None


def _portfolio(context: StudioContext) -> Portfolio:
    portfolio = _portfolio_or_none(context)
    if portfolio is None:
        raise gr.Error(_why_no_portfolio(context))
    return portfolio


def _why_no_portfolio(context: StudioContext) -> str:
    if context.runtime is None:
        return f"{NEEDS_RUNTIME}: her chat service has not started (the studio was opened without it, or it is still starting)."
    return f"{NEEDS_RUNTIME}: her portfolio is off in these settings."


def _sync_canon(context: StudioContext, done: str) -> None:
    """What she knows of her work follows the portfolio. If her memory fails to take it, the
    portfolio has changed all the same: say so, since the next publish or restart catches up."""
    try:
        context.runtime.publish_canon()
    except Exception as error:  # noqa: BLE001 — surfaced to the designer, not swallowed
        raise gr.Error(f"{done}, but her memory did not take the new canon ({error}); it catches up on the next publish "
                       "or when `atelier up` restarts.") from None
