"""Who is posting: HTTP Basic credentials, one pair per LMS client (Moodle of a training institute, a ministry's
Open edX, a cmi5 player), configured like the webhook secrets: KARMAYOGI_XAPI_CLIENTS locally and in tests, the
SSM SecureString /karmayogi/<stage>/xapi-clients in AWS (parameters.py), as `client:secret` pairs separated by
commas. A client may have two secrets while one is rotated. Pure: the credentials are given.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from typing import Optional

from chalicelib.errors import ApiError

CLIENT_ID = re.compile(r"[a-z0-9][a-z0-9\-]{0,39}")  # it names the source of our events: xapi:<client>
HEADER = "Authorization"


def clients_from(text: Optional[str]) -> list[tuple[str, str]]:
    """The configured (client, secret) pairs. A malformed entry is left out (and never echoed: it holds a secret)."""
    pairs = []
    for entry in (text or "").split(","):
        client, sep, secret = entry.strip().partition(":")
        if sep and CLIENT_ID.fullmatch(client) and secret.strip():
            pairs.append((client, secret.strip()))
    return pairs


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, HEADER)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def authenticate(header: Optional[str], clients: list[tuple[str, str]]) -> str:
    """The client whose Basic credentials the header carries; 401 otherwise. Every configured pair is compared,
    in constant time and without stopping at a match: the time taken says nothing about which client, or
    whether the name or the secret was wrong."""
    if not header:
        raise _unauthorized("HTTP Basic credentials of an xAPI client are required")
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise _unauthorized("use HTTP Basic credentials (Authorization: Basic ...)")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise _unauthorized("the Basic credentials are not base64 of name:secret") from None
    name, sep, secret = decoded.partition(":")
    if not sep:
        raise _unauthorized("the Basic credentials are not base64 of name:secret")
    if not clients:
        raise _unauthorized("no xAPI client is configured")
    given_name, given_secret = _digest(name), _digest(secret)
    found: Optional[str] = None
    for client, expected in clients:
        same = hmac.compare_digest(given_name, _digest(client)) & hmac.compare_digest(given_secret, _digest(expected))
        if same:
            found = client
    if found is None:
        raise _unauthorized("unknown client or wrong secret")
    return found
