"""Query parameters every paged route shares: opaque cursors and page sizes."""
from __future__ import annotations

import base64
import binascii
import re

from chalicelib.errors import bad_request


def encode_cursor(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, shape: str) -> str:
    """The position a cursor stands for; 400 unless it has the shape (a regex) this route's cursors have."""
    try:
        position = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        position = ""
    if not re.fullmatch(shape, position):
        raise bad_request("cursor", "is not a cursor this API returned")
    return position


def parse_limit(raw, default: int, maximum: int) -> int:
    if raw is None:
        return default
    # isascii: str.isdigit() also admits "²" (int() then raises: a 500) and "５" (full-width digits).
    if not (str(raw).isascii() and str(raw).isdigit()) or not 1 <= int(raw) <= maximum:
        raise bad_request("limit", f"must be a whole number from 1 to {maximum}")
    return int(raw)
