"""X-Karmayogi-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">."""
from __future__ import annotations

import hashlib
import hmac
from typing import Optional, Sequence

from chalicelib.errors import ApiError

HEADER = "X-Karmayogi-Signature"


def _unauthorized(reason: str) -> ApiError:
    return ApiError(401, "invalid_signature", reason, HEADER)


def sign(body: bytes, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(header: Optional[str], body: bytes, secrets: Sequence[str], now: float, tolerance: int) -> None:
    """Raise 401 unless the header carries a fresh signature made with any currently accepted secret."""
    if not header:
        raise _unauthorized(f"missing {HEADER} header")
    parts: dict[str, list[str]] = {}
    for piece in header.split(","):
        key, sep, value = piece.strip().partition("=")
        if not sep:
            raise _unauthorized("malformed signature header: expected t=<unix seconds>,v1=<hex>")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise _unauthorized("signature header has no valid t=<unix seconds>") from None
    if not parts.get("v1"):
        raise _unauthorized("signature header has no v1=<hex>")
    if abs(now - timestamp) > tolerance:
        raise _unauthorized(f"signature timestamp is more than {tolerance} s from now")
    if not secrets:
        raise _unauthorized("no webhook secret is configured")
    expected = [sign(body, secret, timestamp).split("v1=", 1)[1] for secret in secrets]
    # Compare against every candidate without stopping early: timing says nothing about which one matched.
    matched = False
    for given in parts["v1"]:
        for candidate in expected:
            matched |= hmac.compare_digest(given.encode(), candidate.encode())
    if not matched:
        raise _unauthorized("signature does not match")
