"""Import an org's roster CSV from the command line, with a progress bar: `make import-roster FILE=... ORG=...`.

By default into the local stack's DynamoDB (`make run`: DynamoDB Local on 127.0.0.1:8010, or
KARMAYOGI_DYNAMODB_PORT); --dynamodb-url points elsewhere; --aws uses the environment's AWS credentials,
region and KARMAYOGI_STAGE as they are (a deployed stage's tables). The file is streamed, never read whole.
Prints the report (rosters/service.py) as JSON on stdout; the progress bar goes to stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m local.import_roster", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="the roster CSV (columns as in local/fixtures/roster.csv)")
    parser.add_argument("--org", required=True, help="the org whose roster this is")
    parser.add_argument("--mode", choices=("replace", "merge"), default="replace",
                        help="replace: the file is the whole roster, employees it leaves out are removed "
                             "(default); merge: add and update only")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--dynamodb-url", help="a DynamoDB endpoint (default: the local stack's)")
    where.add_argument("--aws", action="store_true", help="use the environment's AWS settings as they are")
    parser.add_argument("--create-tables", action="store_true", help="create the roster tables if missing")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def point_at_dynamodb(args) -> None:
    """Environment first: chalicelib reads table names and endpoints when it is imported."""
    if args.aws:
        return
    from local import stack
    url = args.dynamodb_url
    if not url:
        ports = stack.Ports.from_env()
        if not stack.port_in_use(ports.dynamodb):
            raise SystemExit(f"nothing on {ports.url('dynamodb')}: start the stack with `make run`, "
                             "or pass --dynamodb-url or --aws")
        url = ports.url("dynamodb")
    os.environ.update({"AWS_ENDPOINT_URL_DYNAMODB": url, "AWS_ACCESS_KEY_ID": "local",
                       "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local",
                       "AWS_REGION": stack.REGION, "AWS_DEFAULT_REGION": stack.REGION})
    os.environ.setdefault("KARMAYOGI_STAGE", "local")
    os.environ.pop("AWS_PROFILE", None)


def counted_lines(path: Path, bar):
    with open(path, "rb") as f:
        for line in f:
            if bar is not None:
                bar.update(len(line))
            yield line


def run(args, out=sys.stdout) -> dict:
    from chalicelib.rosters.importer import RosterFileError
    from chalicelib.rosters.service import import_roster
    from chalicelib.rosters.store import DynamoRosterStore
    if args.create_tables:
        from chalicelib.rosters.models import ROSTER_MODELS
        for model in ROSTER_MODELS:
            if not model.exists():
                model.create_table(wait=True, billing_mode="PAY_PER_REQUEST")
    bar = None
    if not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=args.file.stat().st_size, unit="B", unit_scale=True, unit_divisor=1024,
                   desc=f"roster {args.org}", file=sys.stderr)
    from chalicelib.bootstrap import aws_adapters
    # The real wiring: employees new to the roster who never learned are put on the nudge schedule too.
    adapters = aws_adapters()
    adapters.rosters = DynamoRosterStore()

    def progress(counts):
        if bar is not None:
            bar.set_postfix(added=counts["added"], updated=counts["updated"], unchanged=counts["unchanged"],
                            removed=counts["removed"], rejected=counts["rejected_rows"], refresh=False)
    try:
        report = import_roster(args.org, counted_lines(args.file, bar), adapters, progress, mode=args.mode)
    except RosterFileError as exc:
        report = {"org_id": args.org, "error": {"field": exc.field, "message": exc.message}}
    finally:
        if bar is not None:
            bar.close()
    json.dump(report, out, indent=1, ensure_ascii=False)
    out.write("\n")
    return report


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.file.is_file():
        raise SystemExit(f"no such file: {args.file}")
    point_at_dynamodb(args)
    report = run(args)
    return 1 if "error" in report else 0


if __name__ == "__main__":
    sys.exit(main())
