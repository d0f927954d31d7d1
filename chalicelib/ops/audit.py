"""`make audit [ARGS="--repair --segments 8 --segment 3 --auditor learners"]`: recompute every learner, board
entry, score count and org statistic from the stored events and the rules, report every difference, and with
--repair fix them (against `make run`: ARGS=--local, through local/ops.py). Prints one JSON report (counts
and a few samples per kind); exits 1 if differences remain unrepaired.

Segments split each table's scan (DynamoDB parallel scan): they run in parallel threads, and --segment K runs
only one of them, so a long audit can be split across machines or resumed segment by segment; --auditor runs
one auditor only (as a weekly run's message does: its "audit incomplete" log line names the command that
finishes it).
"""
from __future__ import annotations

import argparse
import json
import sys

from chalicelib.ops import target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.ops.audit", description=__doc__.splitlines()[0])
    parser.add_argument("--repair", action="store_true", help="fix what differs (re-runs the normal recompute)")
    parser.add_argument("--segments", type=int, default=4, help="parallel scan segments per table")
    parser.add_argument("--segment", type=int, default=None, help="run this segment only (0-based)")
    parser.add_argument("--auditor", default=None, help="this auditor only (learners, board-figures, ...)")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    if args.segment is not None and not 0 <= args.segment < args.segments:
        parser.error("--segment must be between 0 and --segments - 1")
    target()
    from chalicelib import audit
    from chalicelib.bootstrap import adapters
    auditors = audit.registry()
    if args.auditor is not None:
        auditors = [a for a in auditors if a.name == args.auditor]
        if not auditors:
            parser.error(f"--auditor must be one of {', '.join(a.name for a in audit.registry())}")
    report = audit.run(adapters(), repair=args.repair, segments=args.segments, workers=args.workers,
                       only_segment=args.segment, auditors=auditors, log=lambda line: print(line, file=sys.stderr))
    print(json.dumps(report.as_dict(), indent=2, default=str))
    return 0 if report.clean or args.repair else 1


if __name__ == "__main__":
    sys.exit(main())
