"""`make import-courses FILE=...` / `make import-users FILE=...`: load the platform's content search results or user
reads into the course catalogue or user directory of a running service (POST /v1/platform/courses or /users).

FILE holds a JSON array (or the platform's whole API answer: {"result": {"content": [...]}} for a content search,
{"result": {"response": {...} or {"content": [...]}}} for user reads), sent in pages of 1,000 as a national admin:
a token from TOKEN=..., else one minted with the local stack's own key. URL defaults to the local stack.
Prints one line per page (new, changed, unchanged, rejected; released and re-scored) and every rejected item.

python -m local.import_directory courses catalogue.json [--url URL] [--token T]
"""
from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from local.post_events import default_url

PAGE = 1000  # chalicelib/directory/service.py MAX_ITEMS


def items_of(payload) -> list:
    """The items of a file: a plain array, or the platform's API answer around one."""
    if isinstance(payload, list):
        return payload
    result = payload.get("result", payload) if isinstance(payload, dict) else {}
    for key in ("content", "response"):
        found = result.get(key) if isinstance(result, dict) else None
        if isinstance(found, list):
            return found
        if isinstance(found, dict):
            return found.get("content") if isinstance(found.get("content"), list) else [found]
    raise SystemExit("the file holds neither a JSON array nor the platform's search or read answer")


def local_token() -> str:
    from local.dev_keys import dev_key, mint
    key, kid = dev_key()
    return mint(key, kid, "directory-import", ["national_admin"])


def http_sender(url: str, token: str):
    def send(kind: str, items: list) -> dict:
        request = urllib.request.Request(f"{url.rstrip('/')}/v1/platform/{kind}", method="POST",
                                         data=json.dumps(items, ensure_ascii=False).encode(),
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise SystemExit(f"HTTP {error.code}: {error.read().decode(errors='replace')[:300]}") from None
    return send


def import_file(kind: str, path: Path, send, out=sys.stdout) -> Counter:
    """send(kind, items) -> the route's JSON answer."""
    items, totals = items_of(json.loads(path.read_text(encoding="utf-8"))), Counter()
    for start in range(0, len(items), PAGE):
        answer = send(kind, items[start:start + PAGE])
        counts = Counter(r["status"] for r in answer["results"])
        counts.update(released=answer.get("released", 0), rescored=answer.get("rescored", 0))
        totals.update(counts)
        print(f"{kind} {start + 1}-{start + len(answer['results'])}: " + ", ".join(
            f"{n} {k}" for k, n in sorted(counts.items())), file=out)
        for r in answer["results"]:
            if r["status"] == "rejected":
                print(f"  {r['id']}  rejected  {r['error']['field']}: {r['error']['message']}", file=out)
    return totals


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("courses", "users"))
    parser.add_argument("file", type=Path)
    parser.add_argument("--url", default=default_url())
    parser.add_argument("--token", default=None, help="a national admin's bearer token (default: minted locally)")
    args = parser.parse_args(argv)
    totals = import_file(args.kind, args.file, http_sender(args.url, args.token or local_token()))
    return 1 if totals.get("rejected") else 0


if __name__ == "__main__":
    sys.exit(main())
