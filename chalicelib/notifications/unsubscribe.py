"""One-click unsubscribe links (RFC 8058): a signed token names the learner and the category, no login.

Token: base64url(JSON {"l": learner, "c": category, "t": issued-at unix seconds}) "." base64url(HMAC-SHA256).
The secret is KARMAYOGI_UNSUBSCRIBE_SECRET (comma-separated during a rotation: the first signs, any verifies).
Links do not expire (an old email's link must still work); issued-at lets a caller refuse very old tokens.

Every function takes an optional `secrets` list: deployed stages keep secrets in SSM, not in the environment
(see README, "Secrets in AWS"), so bootstrap can pass the list its SSM source returns; without it the
environment is read (local stack, tests).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from typing import Optional, Sequence
from urllib.parse import quote

CATEGORIES = ("awards", "campaign_reminders", "nudges", "admin_summaries")
UNSUBSCRIBE_PATH = "/v1/unsubscribe"  # the route the sending side serves: GET shows a confirm page, POST unsubscribes
SECRET_VARIABLE = "KARMAYOGI_UNSUBSCRIBE_SECRET"


class InvalidToken(ValueError):
    """The token was not issued by us, was changed, or names something we do not know."""


def secrets() -> list[str]:
    """Current secrets from the environment, signing one first. Read on each call: a rotation needs no restart."""
    found = [s.strip() for s in os.environ.get(SECRET_VARIABLE, "").split(",") if s.strip()]
    if found:
        return found
    # No fixed fallback on any stage: a literal in the code is public, and a stage name is no proof that
    # nothing real is at stake. The local stack (local/stack.py) and the tests set the variable themselves.
    from chalicelib.settings import current_stage
    raise RuntimeError(f"{SECRET_VARIABLE} is not set: stage {current_stage()!r} needs a secret for unsubscribe links "
                       f"(deployed stages read it from SSM)")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: str, secret: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode("ascii"), hashlib.sha256).digest())


def _current(given) -> list[str]:
    """The given secrets (a list, or a callable returning one: read only once a token is worth checking), else
    the environment's."""
    if callable(given):
        given = given()
    found = [s for s in (given or ()) if s]
    return found or secrets()


def make_token(learner_id: str, category: str, issued_at: Optional[int] = None,
               secrets: Optional[Sequence[str]] = None) -> str:
    if category not in CATEGORIES:
        raise ValueError(f"category must be one of {CATEGORIES}, got {category!r}")
    if not learner_id:
        raise ValueError("learner_id is required")
    body = json.dumps({"l": learner_id, "c": category, "t": int(time.time() if issued_at is None else issued_at)},
                      separators=(",", ":"), sort_keys=True)
    payload = _b64(body.encode())
    return f"{payload}.{_sign(payload, _current(secrets)[0])}"


def unsubscribe_url(base_url: str, learner_id: str, category: str, issued_at: Optional[int] = None,
                    secrets: Optional[Sequence[str]] = None) -> str:
    token = make_token(learner_id, category, issued_at, secrets)
    return f"{base_url.rstrip('/')}{UNSUBSCRIBE_PATH}?token={quote(token)}"


def well_formed(token) -> bool:
    """Shaped like one of our tokens (checked before any secret is read)."""
    return isinstance(token, str) and token.count(".") == 1 and len(token) <= 1024


def read_token_claims(token: str, max_age_seconds: Optional[int] = None, now: Optional[float] = None,
                      secrets: Optional[Sequence[str]] = None) -> dict:
    """{"learner_id", "category", "issued_at"} of a token we signed; InvalidToken otherwise."""
    if not well_formed(token):
        raise InvalidToken("malformed token")
    payload, signature = token.split(".")
    try:
        payload.encode("ascii"), signature.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidToken("malformed token") from None
    # Every current secret is tried, each compared in constant time, so timing tells nothing about the match.
    valid = False
    for secret in _current(secrets):
        valid |= hmac.compare_digest(_sign(payload, secret), signature)
    if not valid:
        raise InvalidToken("bad signature")
    try:
        claims = json.loads(_unb64(payload))
        learner_id, category, issued_at = claims["l"], claims["c"], int(claims["t"])
    except (ValueError, KeyError, TypeError):
        raise InvalidToken("malformed payload") from None
    if not isinstance(learner_id, str) or not learner_id or category not in CATEGORIES:
        raise InvalidToken("unknown learner or category")
    if max_age_seconds is not None and (now if now is not None else time.time()) - issued_at > max_age_seconds:
        raise InvalidToken("expired")
    return {"learner_id": learner_id, "category": category, "issued_at": issued_at}


def read_token(token: str, max_age_seconds: Optional[int] = None,
               secrets: Optional[Sequence[str]] = None) -> tuple[str, str]:
    """(learner_id, category) of a valid token; raises InvalidToken on anything changed or unknown."""
    claims = read_token_claims(token, max_age_seconds, secrets=secrets)
    return claims["learner_id"], claims["category"]
