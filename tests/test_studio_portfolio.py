"""The Library tab's portfolio panel: its handlers called directly, over a real Library and a
real Portfolio in tmp_path, with a runtime stand-in that records when her canon is synced."""

from __future__ import annotations

import datetime as dt
import os
from types import SimpleNamespace

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from persona.engine.artifacts import PORTFOLIO  # noqa: E402
from persona.engine.library import Library  # noqa: E402
from persona.engine.settings import Settings  # noqa: E402
from persona.portfolio import Portfolio  # noqa: E402
from pipelines.fashion.spec import DesignSpec  # noqa: E402
from studio.context import StudioContext  # noqa: E402
from studio.library_tab import build_library_tab  # noqa: E402
from studio.portfolio_panel import NEEDS_RUNTIME, PIECE_HEADERS, publish, refresh, unpublish  # noqa: E402

MOON = DesignSpec.model_validate({"name": "Moon Tide", "category": "dress", "silhouette": "a-line", "fabric": {"type": "silk", "finish": "sheen"},
                                  "palette": [{"name": "ink blue", "hex": "#1f2a44", "share": 0.6}, {"name": "pearl", "hex": "#efe9dc", "share": 0.4}]})


class RecordingRuntime:
    """What the panel uses of Runtime: the portfolio, and publish_canon, which records the
    pieces the portfolio held each time it was called."""

    def __init__(self, portfolio: Portfolio | None):
        self.portfolio = portfolio
        self.canon_syncs: list[list[str]] = []

    def publish_canon(self) -> None:
        self.canon_syncs.append([piece.id for piece in self.portfolio.pieces()])


def png(path, colour=(200, 120, 90)):
    Image.new("RGB", (32, 32), colour).save(path)
    return path


@pytest.fixture
def studio(tmp_path, haeun):
    """A look, a print run and a chat in the library; her portfolio, empty."""
    made = tmp_path / "made"
    made.mkdir()
    transcript = made / "chat.json"
    transcript.write_text("[]")
    with Library(tmp_path / "library") as library:
        artifacts = {
            "look": library.add("look", "Moon Tide: look", {"spec": MOON.model_dump(mode="json")}, [png(made / "moon tide.png")]),
            "print": library.add("print", "2 prints: magnolias at dusk", {"brief": "magnolias at dusk", "count": 2},
                                 [png(made / "print-1.png"), png(made / "print-2.png", (90, 60, 120))]),
            "chat": library.add("chat", "Chat with minji", {"fan_id": "minji"}, [transcript]),
        }
        runtime = RecordingRuntime(Portfolio(tmp_path / "portfolio", max_bytes=2**20, timezone=haeun.identity.timezone))
        context = StudioContext(settings=Settings(), persona=haeun, library=library, service=SimpleNamespace(runtime=runtime))
        yield SimpleNamespace(context=context, runtime=runtime, portfolio=runtime.portfolio, **artifacts)


def error_of(call, *args) -> str:
    with pytest.raises(gr.Error) as raised:
        call(*args)
    return raised.value.message


def test_publish_at_once_under_embargo_again_and_unpublish(studio):
    context, portfolio, syncs = studio.context, studio.portfolio, studio.runtime.canon_syncs
    message, rows = publish(context, f" {studio.look.id} ", "", "")
    look = portfolio.pieces()[0]
    assert message == f"Published **Moon Tide** (look) as `{look.id}`: fans can ask to see it now."
    assert rows == [[look.id, "look", "Moon Tide", "now", "released", studio.look.id]]
    assert portfolio.store.file_path(PORTFOLIO, look.id, "moon-tide.png").is_file()
    assert syncs == [[look.id]], "her canon follows the portfolio once the piece is in it"

    coming = portfolio.today() + dt.timedelta(days=30)
    message, rows = publish(context, studio.print.id, "Magnolia Dusk", coming.isoformat())
    prints = portfolio.pieces()[0]
    assert prints.title == "Magnolia Dusk" and prints.release == coming
    assert message == (f"Published **Magnolia Dusk** (print) as `{prints.id}`, under embargo until {coming:%Y-%m-%d}: "
                       "fans hear only that a new print run is coming.")
    assert rows == [[prints.id, "print", "Magnolia Dusk", coming.isoformat(), "under embargo", studio.print.id],
                    [look.id, "look", "Moon Tide", "now", "released", studio.look.id]]
    assert syncs[-1] == [prints.id, look.id]

    # A date in the past is allowed (released already), and publishing again replaces the piece.
    message, rows = publish(context, studio.look.id, "", "2020-01-01")
    again = portfolio.pieces()[0]
    assert "replacing its earlier piece: fans can ask to see it now." in message
    assert rows[0] == [again.id, "look", "Moon Tide", "2020-01-01", "released", studio.look.id] and len(rows) == 2
    assert portfolio.get(look.id) is None and syncs[-1] == [again.id, prints.id]

    message, rows = unpublish(context, prints.id)
    assert message.startswith("Unpublished **Magnolia Dusk**") and "fans can no longer see it" in message
    assert rows == [[again.id, "look", "Moon Tide", "2020-01-01", "released", studio.look.id]]
    assert portfolio.get(prints.id) is None and not (portfolio.store.root / portfolio.store.owner_key(PORTFOLIO) / prints.id).exists()
    message, rows = unpublish(context, studio.look.id)  # by the library id it was published from
    assert rows == [] and portfolio.pieces() == []
    assert syncs[-2:] == [[again.id], []] and len(syncs) == 5
    assert refresh(context) == ("", [])


@pytest.mark.parametrize("text", ["01/03/2027", "2027-3-1", "2027-02-30", "soon"])
def test_a_bad_release_date_names_the_field_and_the_format(studio, text):
    message = error_of(publish, studio.context, studio.look.id, "", text)
    assert message == f"Release date: expected YYYY-MM-DD such as 2027-03-01, or empty to publish at once; got {text!r}."
    assert studio.portfolio.pieces() == [] and studio.runtime.canon_syncs == []


def test_what_cannot_be_published_or_unpublished_says_why(studio):
    assert "'chat' cannot be published: only collection, composition, look, print" in error_of(publish, studio.context, studio.chat.id, "", "")
    assert error_of(publish, studio.context, "", "", "").startswith("Artifact id: pick an artifact")
    assert "no artifact '20990101-000000-00000000'" in error_of(publish, studio.context, "20990101-000000-00000000", "", "")
    assert error_of(publish, studio.context, studio.look.id, "x" * 121, "").startswith("title: expected 1-120 characters")
    assert "is not a published piece" in error_of(unpublish, studio.context, "nothing-such")
    assert error_of(unpublish, studio.context, " ").startswith("Piece id: click a row")
    assert studio.portfolio.pieces() == [] and studio.runtime.canon_syncs == []


def test_without_a_portfolio_the_panel_says_what_publishing_needs(studio):
    context = studio.context
    context.service = None  # the studio opened before (or without) the chat service
    status, rows = refresh(context)
    assert status.startswith(NEEDS_RUNTIME) and "has not started" in status and rows == []
    assert error_of(publish, context, studio.look.id, "", "").startswith(NEEDS_RUNTIME)
    assert error_of(unpublish, context, studio.look.id).startswith(NEEDS_RUNTIME)

    context.service = SimpleNamespace(runtime=RecordingRuntime(None))  # memory off, or creations.enabled false
    assert refresh(context)[0] == f"{NEEDS_RUNTIME}: her portfolio is off in these settings."
    assert error_of(publish, context, studio.look.id, "", "").startswith(NEEDS_RUNTIME)


def test_a_failed_canon_sync_says_the_piece_is_published_all_the_same(studio):
    def broken() -> None:
        raise RuntimeError("memory thread stopped")

    studio.runtime.publish_canon = broken
    message = error_of(publish, studio.context, studio.look.id, "", "")
    piece = studio.portfolio.pieces()[0]
    assert message.startswith(f"Published {piece.id}, but her memory did not take the new canon (memory thread stopped)")


def test_the_library_tab_carries_the_panel(studio):
    with gr.Blocks() as demo:
        with gr.Tabs() as tabs:
            with gr.Tab("Library", id="library") as tab:
                build_library_tab(studio.context, tabs, tab)
    api_names = {function.api_name for function in demo.fns.values()}
    assert {"portfolio_publish", "portfolio_unpublish", "library_open"} <= api_names
    tables = [block for block in demo.blocks.values() if isinstance(block, gr.Dataframe)]
    assert any(table.headers == PIECE_HEADERS for table in tables)
