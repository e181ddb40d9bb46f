"""Fan tokens: who a connection speaks for, signed by the server and expiring.

A token is ``<payload>.<signature>``: the payload is base64url JSON ``{"fan", "exp"}`` and
the signature is HMAC-SHA256 over it with the server's secret. The token travels in the
first WebSocket frame or as an OpenAI bearer key, never in a URL (URLs end up in logs).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from persona.memory.records import MemoryStoreError, check_fan_id


class AuthError(ValueError):
    """A token that is not valid; the message says why (never echoing the token)."""


@dataclass(frozen=True)
class FanClaims:
    fan_id: str
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(secret: bytes, fan_id: str, ttl_s: float, now: float | None = None) -> str:
    check_fan_id(fan_id)
    if ttl_s <= 0:
        raise AuthError(f"a token's lifetime must be positive, got {ttl_s} s")
    payload = _b64(json.dumps({"fan": fan_id, "exp": int((now or time.time()) + ttl_s)}, separators=(",", ":")).encode())
    return f"{payload}.{_b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())}"


def verify_token(secret: bytes, token: str, now: float | None = None) -> FanClaims:
    payload, dot, signature = token.partition(".")
    if not dot or not payload or not signature:
        raise AuthError("the token is malformed: expected <payload>.<signature>")
    expected = _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature):
        raise AuthError("the token's signature is not valid")
    try:
        data = json.loads(_unb64(payload))
        claims = FanClaims(check_fan_id(data["fan"]), float(data["exp"]))
    except (ValueError, KeyError, TypeError, MemoryStoreError):
        raise AuthError("the token's payload is malformed") from None
    if claims.expires_at <= (now or time.time()):
        raise AuthError("the token has expired; ask for a new one")
    return claims


def load_or_create_secret(path: Path) -> bytes:
    """The signing secret in a file readable by its owner only; made on first use."""
    path = path.expanduser()
    if path.exists():
        secret = path.read_bytes().strip()
        if len(secret) < 32:
            raise AuthError(f"{path} holds a token secret shorter than 32 bytes; delete it to make a new one")
        return secret
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32).encode()
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    staging.write_bytes(secret)
    staging.chmod(0o600)
    try:
        os.link(staging, path)  # never replaces a secret another process made first
    except FileExistsError:
        pass
    finally:
        staging.unlink()
    return path.read_bytes().strip()
