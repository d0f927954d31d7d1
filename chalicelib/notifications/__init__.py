"""Notifications: what a person receives from us (messages.py, sms.py, unsubscribe.py, formatting.py).

The templates and their data live in the top-level `notifications/` folder, beside app.py. Chalice packages
only app.py, chalicelib/ and vendor/, so the packaging step copies that folder to `chalicelib/_notifications/`
(see README, "Notification messages"); `templates_root()` finds whichever is there.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# In the repository: <repo>/notifications. In the Lambda package: /var/task/chalicelib/_notifications.
_CANDIDATES = (_HERE.parent.parent / "notifications", _HERE.parent / "_notifications")


@lru_cache(maxsize=None)
def templates_root() -> Path:
    """The folder holding <locale>/<kind>/ templates, locales.toml and dlt.toml.

    KARMAYOGI_NOTIFICATIONS_DIR overrides (tests, a hot-fixed copy); otherwise the repository folder, then the
    packaged copy. The repository folder comes first so a stale packaged copy never hides an edit locally."""
    override = os.environ.get("KARMAYOGI_NOTIFICATIONS_DIR")
    candidates = (Path(override),) if override else _CANDIDATES
    for candidate in candidates:
        if (candidate / "locales.toml").is_file():
            return candidate
    raise RuntimeError("notification templates not found; looked in " + ", ".join(map(str, candidates))
                       + " (packaging must copy notifications/ to chalicelib/_notifications/)")
