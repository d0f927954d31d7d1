"""`make post-events FILE=... [URL=...]`: post events to a running service the way the learning platform does.

Each file holds one event or a list of events (a list longer than the webhook's batch limit is sent in batches
of 100). Each request is signed (X-Karmayogi-Signature: t=<unix seconds>,v1=HMAC-SHA256 over "<t>.<body>") with,
in this order: --secret, the first of KARMAYOGI_WEBHOOK_SECRETS, or the local stack's own secret
(.local/webhook-secret, which `make run` makes once and uses unless KARMAYOGI_WEBHOOK_SECRETS is set).
The URL defaults to the local stack (http://127.0.0.1:$KARMAYOGI_API_PORT, port 8000 unless set).

Prints one line per event: its id, what the webhook made of it (accepted, duplicate, rejected) and the error if
any; a request refused as a whole (a bad signature, a body too large) prints its HTTP status against each of
its events. Exits 1 if any event was not accepted or a duplicate.

python -m local.post_events local/fixtures/events/course.completed.json [--url URL] [--secret S]
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Optional

HEADER = "X-Karmayogi-Signature"
BATCH = 100  # the webhook's batch limit
Send = Callable[[bytes, dict], "tuple[int, dict]"]  # (body, headers) -> (HTTP status, JSON body)


def signature(body: bytes, secret: str, timestamp: Optional[int] = None) -> str:
    """The platform's signature of a request body (the webhook accepts it for 300 s)."""
    t = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def default_url() -> str:
    return f"http://127.0.0.1:{os.environ.get('KARMAYOGI_API_PORT') or 8000}"


def default_secret() -> Optional[str]:
    configured = [s.strip() for s in (os.environ.get("KARMAYOGI_WEBHOOK_SECRETS") or "").split(",") if s.strip()]
    if configured:
        return configured[0]
    from local.dev_keys import dev_webhook_secret
    return dev_webhook_secret(create=False)


def http_sender(url: str) -> Send:
    endpoint = url.rstrip("/") + "/v1/events"

    def send(body: bytes, headers: dict) -> tuple[int, dict]:
        request = urllib.request.Request(endpoint, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _json(error.read())
    return send


def _json(raw: bytes) -> dict:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {"error": {"message": raw.decode(errors="replace")[:200]}}
    return value if isinstance(value, dict) else {}


def requests_of(path: Path) -> list[tuple[bytes, list, bool]]:
    """The requests that carry a file's events: (body, its events, whether it is a single event). A file is
    sent byte for byte unless it holds more events than a batch may, then in batches of BATCH."""
    raw = path.read_bytes()
    payload = json.loads(raw)
    if not isinstance(payload, list):
        return [(raw, [payload], True)]
    if len(payload) <= BATCH:
        return [(raw, payload, False)]
    return [(json.dumps(payload[i:i + BATCH], ensure_ascii=False).encode(), payload[i:i + BATCH], False)
            for i in range(0, len(payload), BATCH)]


def _event_id(event) -> str:
    return str(event.get("id")) if isinstance(event, dict) and event.get("id") else "(no id)"


def _error_text(error: Optional[dict]) -> str:
    if not error:
        return ""
    field, message = error.get("field"), error.get("message") or error.get("code") or ""
    return f"{field}: {message}" if field else message


def post(body: bytes, events: list, send: Send, secret: str, single: bool = False) -> list[tuple[str, str, str]]:
    """Sign and send one request; (event id, result, error) for each of its events."""
    status, answer = send(body, {"Content-Type": "application/json", HEADER: signature(body, secret)})
    if 200 <= status < 300 and isinstance(answer.get("results"), list):
        return [(str(r.get("id") or "(no id)"), str(r.get("status")), _error_text(r.get("error")))
                for r in answer["results"]]
    error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
    if single and status == 400 and error.get("code") == "invalid_event":  # the one event, rejected
        return [(_event_id(events[0]), "rejected", error.get("message", ""))]
    return [(_event_id(e), f"refused (HTTP {status})", _error_text(error)) for e in events]


def post_files(paths: Iterable[Path], send: Send, secret: str, out=None) -> Counter:
    """Post every file; print a line per event (to `out`, stdout by default); counts of results."""
    counts, out = Counter(), out or sys.stdout
    for path in paths:
        for body, events, single in requests_of(path):
            for event_id, result, error in post(body, events, send, secret, single):
                counts[result.split(" ")[0]] += 1
                print(f"{event_id}  {result}" + (f"  {error}" if error else ""), file=out, flush=True)
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.post_events", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="JSON files of one event or a list of events")
    parser.add_argument("--url", default=None, help="the service (default: the local stack, http://127.0.0.1:8000)")
    parser.add_argument("--secret", default=None, help="the webhook secret (default: see above)")
    args = parser.parse_args(argv)
    secret = args.secret or default_secret()
    if not secret:
        parser.error("no secret: pass --secret, set KARMAYOGI_WEBHOOK_SECRETS, or start the stack once (make run)")
    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        parser.error(f"no such file: {', '.join(missing)}")
    try:
        counts = post_files(args.files, http_sender(args.url or default_url()), secret)
    except urllib.error.URLError as error:
        print(f"cannot reach {args.url or default_url()}: {error.reason} (is `make run` running?)", file=sys.stderr)
        return 1
    print(", ".join(f"{n} {result}" for result, n in sorted(counts.items())), file=sys.stderr)
    return 0 if set(counts) <= {"accepted", "duplicate"} else 1


if __name__ == "__main__":
    raise SystemExit(main())
