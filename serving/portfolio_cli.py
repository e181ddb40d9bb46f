"""``atelier portfolio``: her published work, from the studio's library to every fan.

    atelier portfolio list                          what is published: id, kind, title, release, status
    atelier portfolio list --library                what the studio's library holds that can be published
    atelier portfolio publish 20261207-101500-1a2b3c4d --release 2027-03-01 --title "Tidal Hours"
    atelier portfolio unpublish 18ef0f1ee212b2c2-57ec7064     (or the library id it was published from)

Publishing copies what a fan's phone shows into her portfolio and writes what she knows of it as
canon by the studio, under embargo until the release day (her time zone). A running server sees
a change within seconds: its recall and her "now" read the portfolio and the canon again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json

from persona.card import PersonaCard, load_persona
from persona.engine.library import ArtifactNotFound, Library
from persona.engine.settings import Settings
from serving.cli_checks import CommandError, persona_id_argument


def release_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: give the release day as YYYY-MM-DD, e.g. 2027-03-01") from None


def add_command(commands: argparse._SubParsersAction) -> None:
    portfolio = commands.add_parser("portfolio", help="her published work: list, publish, unpublish").add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = portfolio.add_parser("list", help="list her published pieces (or, with --library, what can be published)")
    listing.add_argument("--library", action="store_true", help="list the studio library's collections, looks, prints and compositions instead")
    listing.add_argument("--json", action="store_true", help="print JSON")
    publish = portfolio.add_parser("publish", help="publish a studio library artifact to her portfolio")
    publish.add_argument("library_id", help="the library artifact's id (see `atelier portfolio list --library`)")
    publish.add_argument("--release", type=release_date, help="the day fans may see it, YYYY-MM-DD (default: at once); until then it is under embargo")
    publish.add_argument("--title", help="the title fans see (default: the library artifact's)")
    unpublish = portfolio.add_parser("unpublish", help="take a piece out of her portfolio")
    unpublish.add_argument("piece_id", help="the piece's id, or the library id it was published from")
    for command in (listing, publish, unpublish):
        command.add_argument("--persona", type=persona_id_argument, help="persona id (default: the configured persona)")
        command.set_defaults(run=run_portfolio)


def run_portfolio(args: argparse.Namespace, settings: Settings) -> int:
    from persona.engine.runtime import library_dir, open_portfolio
    from persona.portfolio import PUBLISHABLE, PortfolioError

    card = load_persona(args.persona or settings.persona, settings.personas_dir)
    portfolio = open_portfolio(settings, card)
    today = portfolio.today()
    if args.action == "list" and args.library:
        with Library(library_dir(settings)) as library:
            found = [artifact for kind in PUBLISHABLE for artifact in library.search(kind=kind)]
        rows = [{"id": a.id, "kind": a.kind, "title": a.title, "created": a.created_at.isoformat(timespec="seconds")}
                for a in sorted(found, key=lambda a: a.created_at, reverse=True)]
        print_rows(rows, args.json, empty=f"the studio's library at {library_dir(settings)} holds nothing that can be published")
        return 0
    if args.action == "list":
        rows = [{"id": piece.id, "kind": piece.kind, "title": piece.title, "release": piece.release.isoformat() if piece.release else "now",
                 "status": "released" if piece.is_released(today) else "embargoed", "library_id": piece.library_id}
                for piece in portfolio.pieces()]
        print_rows(rows, args.json, empty=f"nothing published for {card.id} yet (see `atelier portfolio list --library`)")
        return 0
    try:
        if args.action == "publish":
            with Library(library_dir(settings)) as library:
                source = library.get(args.library_id)
            piece = portfolio.publish(source, card, release=args.release, title=args.title)
            try:
                sync_canon(settings, card, portfolio)
            except BaseException:
                portfolio.unpublish(piece.id)  # never a piece she does not know she made
                raise
            when = "fans may ask to see it now" if piece.is_released(today) else \
                f"under embargo until {piece.release}: until then fans hear only that a new {piece.kind} is coming"
            print(f"published {piece.id}: {piece.artifact.description} ({when})")
        else:
            piece = portfolio.unpublish(args.piece_id)
            sync_canon(settings, card, portfolio)
            print(f"unpublished {piece.id} “{piece.title}”")
    except (ArtifactNotFound, PortfolioError) as error:
        raise CommandError(str(error)) from None
    return 0


def sync_canon(settings: Settings, card: PersonaCard, portfolio) -> None:
    """What she knows of her work becomes what the portfolio holds."""
    from persona.memory import open_store
    from persona.memory.embeddings import Embedder
    from persona.memory.persona_memory import PersonaMemory

    with open_store(settings.memory, card.id) as store:
        PersonaMemory(store, Embedder(), card).sync_studio_canon(portfolio.canon())


def print_rows(rows: list[dict], as_json: bool, empty: str) -> None:
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        print(empty)
        return
    columns = list(rows[0])
    widths = {column: max(len(column), *(len(str(row[column])) for row in rows)) for column in columns}
    for line in ([dict(zip(columns, columns))] + rows):
        print("  ".join(str(line[column]).ljust(widths[column]) for column in columns).rstrip())
