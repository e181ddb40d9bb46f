"""Fans' artifact files, and her portfolio's, over HTTP:

    GET/HEAD /artifacts/{owner_key}/{artifact_id}/{name}?expires=<unix>&sig=<hex>
    GET/HEAD /artifacts/{owner_key}/{artifact_id}/{name}    with  Authorization: Bearer <fan token>
    GET/HEAD /portfolio/{piece_id}/{name}                    a published piece's file, to anyone, from its release day on

A file is served to its fan only: through a signed, expiring URL (what her reply links to, so
a phone's audio player or an <img> fetches it with no headers) or to the fan's own token. Every
refusal is the same plain 404 as a file that does not exist, so nobody learns which files
exist. Ranges work (players seek in audio); responses are private to the fan.

The routes read `request.app.state.service`: `artifacts` (ArtifactStore), `url_signer`
(UrlSigner), `secret` (the fan tokens' key) and `runtime.portfolio` (Portfolio).
"""

from __future__ import annotations

import hmac
import os

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from persona.engine.artifacts import is_owner_key, owner_key
from persona.engine.auth import AuthError, verify_token

FILE_HEADERS = {
    "Cache-Control": "private",
    # Fans' files include SVG, which a browser would run as a page: never sniff, never script.
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox",
}
PUBLIC_HEADERS = {**FILE_HEADERS, "Cache-Control": "public, max-age=300"}  # unpublished work leaves caches within minutes


def not_found() -> Response:
    """What the router itself answers for a path it does not know."""
    return PlainTextResponse("Not Found", status_code=404)


async def artifact_file(request: Request) -> Response:
    service = request.app.state.service
    if service.artifacts is None:  # fans' pieces are off (creations.enabled: false, or no memory)
        return not_found()
    key = request.path_params["owner_key"]
    artifact_id = request.path_params["artifact_id"]
    name = request.path_params["name"]
    if not (signed_for_this_file(request, service, key, artifact_id, name) or bearer_owns(request, service, key)):
        return not_found()
    found = service.artifacts.find_file(key, artifact_id, name)
    if found is None:
        return not_found()
    return await file_response(*found, FILE_HEADERS)


async def portfolio_file(request: Request) -> Response:
    """A file of a released piece of her portfolio; a piece under embargo is not found."""
    portfolio = request.app.state.service.runtime.portfolio
    found = portfolio.public_file(request.path_params["piece_id"], request.path_params["name"]) if portfolio is not None else None
    if found is None:
        return not_found()
    return await file_response(*found, PUBLIC_HEADERS)


async def file_response(path, file, headers: dict[str, str]) -> Response:
    try:  # the file may have been evicted or unpublished since it was found
        stat_result = await anyio.to_thread.run_sync(os.stat, path)
    except FileNotFoundError:
        return not_found()
    return FileResponse(path, media_type=file.media_type, headers=headers, stat_result=stat_result, filename=file.name,
                        content_disposition_type="inline")


def signed_for_this_file(request: Request, service, key: str, artifact_id: str, name: str) -> bool:
    expires, sig = request.query_params.get("expires"), request.query_params.get("sig")
    if expires is None or sig is None:
        return False
    return service.url_signer.check(key, artifact_id, name, expires, sig)


def bearer_owns(request: Request, service, key: str) -> bool:
    """The request carries a valid fan token, and the fan is this folder's owner."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or not token.isascii() or not is_owner_key(key):
        return False
    try:
        claims = verify_token(service.secret, token)
    except AuthError:
        return False
    return hmac.compare_digest(owner_key(claims.fan_id), key)


routes = [
    Route("/artifacts/{owner_key}/{artifact_id}/{name}", artifact_file, methods=["GET", "HEAD"]),
    Route("/portfolio/{piece_id}/{name}", portfolio_file, methods=["GET", "HEAD"]),
]
