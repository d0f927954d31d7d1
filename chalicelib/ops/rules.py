"""`make rules-preview VERSION=...` and `make rules-apply VERSION=...`: a rule version's impact, then applying it.

VERSION is a version id in the rule book (chalicelib/rules/versions/) or the path of a candidate version file not
yet in it (preview only: a version is applied once it is reviewed, recorded in digests.toml and deployed).

preview  reads the stored events of every learner active since the version's effective_from and reports who
         would gain or lose points, badges gained (none is ever lost), rank movements on the current month's
         national and ministry boards and the cost of applying; writes nothing. --sample N looks at 1 learner in N.
apply    re-scores those learners through the normal scoring pipeline (ledger corrections naming the version,
         boards, campaign progress, org statistics, one message to each learner whose points moved). Resumable:
         run it again after an interruption and it carries on where it stopped. --queue sends the segments to
         the audit queue instead (the deployed functions run them), as the national-admin route does.
Against AWS (credentials and KARMAYOGI_STAGE in the environment), or the local stack with ARGS=--local.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path


def book_and_version(adapters, version: str):
    """(candidate book, the version) for an id in the book or the path of a candidate file."""
    from chalicelib.rules.config import as_book, candidate_version
    book = as_book(adapters.rules, adapters.catalogue)
    if version.endswith(".toml") or Path(version).is_file():
        found = candidate_version(book, Path(version).read_text())
        return book.with_version(found), found
    found = book.get(version)
    if found is None:
        raise SystemExit(f"no rule version {version!r} in the book ({', '.join(v.id for v in book.versions)})")
    return book, found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.ops.rules", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["preview", "apply"])
    parser.add_argument("version", help="a version id in the book, or a candidate version file (preview)")
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument("--sample", type=int, default=1, help="preview 1 learner in N (default: every one)")
    parser.add_argument("--queue", action="store_true", help="apply: queue the segments for the deployed functions")
    args = parser.parse_args(argv)
    from chalicelib.ops import target
    target()
    from chalicelib import rescore
    from chalicelib.bootstrap import adapters
    from chalicelib.rules_preview import preview
    a = adapters()
    book, version = book_and_version(a, args.version)
    started = time.monotonic()
    if args.command == "preview":
        report = preview(a, book, version, datetime.now(timezone.utc), segments=args.segments, sample=args.sample)
    else:
        if book.get(version.id) is None or Path(args.version).is_file():
            parser.error("apply takes a version id that is in the deployed book, not a file")
        target_ = rescore.rules_target(version.id, version.effective_from)
        if args.queue:
            report = rescore.start(a, target_, logging.getLogger("rules"))
        else:
            a.rules = book
            report = rescore.run_all(a, target_, segments=args.segments)
    report["seconds"] = round(time.monotonic() - started, 2)
    print(json.dumps(report, indent=2, default=str, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
