"""The one error every use case raises for bad requests; app.py's middleware turns it into JSON."""
from __future__ import annotations

from typing import Optional

from chalice import ChaliceUnhandledError


class ApiError(ChaliceUnhandledError):
    # A ChaliceUnhandledError, so that Chalice hands it to our middleware instead of making it a 500.
    def __init__(self, status: int, code: str, message: str, field: Optional[str] = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return {"error": error}


def bad_request(field: str, message: str, code: str = "invalid_request") -> ApiError:
    return ApiError(400, code, message, field)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def json_object(raw_body: Optional[bytes], expected: str = "a JSON object") -> dict:
    """A request body that must be one JSON object; 400 naming `body` otherwise."""
    import json
    try:
        data = json.loads(raw_body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad_request("body", "is not valid JSON", "invalid_json") from None
    if not isinstance(data, dict):
        raise bad_request("body", f"must be {expected}")
    return data


def storable_text(text: str) -> bool:
    """Text DynamoDB can store: JSON allows a lone surrogate ("\\ud800"), which is not valid UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
