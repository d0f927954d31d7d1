"""`make bench-roster`: time to import a 1,00,000-row roster CSV into DynamoDB Local, then to import it again.

Starts its own DynamoDB Local on a free port (in memory; nothing else of the stack), writes a roster file to a
temporary directory, and imports it through the real use case (rosters/service.py) and DynamoDB store, as
`make import-roster` does. Prints rows per second, the DynamoDB requests and capacity units (metered as AWS
bills them, local/metering.py) and the importer's peak Python memory. --rows to change the size.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

from local import dynamodb_local

HEADER = "learner_id,full_name,email,mobile,group,designation,employee_id,org_id,language"
ORG = "org_bench"
MOBILES = ("98{:08d}", "+91 98{:03d}{:05d}", "098{:08d}", "+9198{:08d}")


def write_file(path: Path, rows: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(HEADER + "\n")
        for n in range(rows):
            style = MOBILES[n % len(MOBILES)]
            mobile = style.format(n // 100000, n % 100000) if style.count("{") == 2 else style.format(n)
            f.write(f"bench-{n:07d},Karmachari {n},k{n}@example.gov.in,{mobile},Group C,Assistant,B-{n},,hi\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.bench_roster", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--memory", action="store_true", help="also trace peak Python memory (slower)")
    args = parser.parse_args(argv)
    port = dynamodb_local.free_port()
    process = dynamodb_local.start(port)
    try:
        os.environ.update({"AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "local",
                           "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local",
                           "AWS_REGION": "ap-south-1", "AWS_DEFAULT_REGION": "ap-south-1",
                           "KARMAYOGI_STAGE": "bench"})
        os.environ.pop("AWS_PROFILE", None)
        return run(args.rows, args.memory)
    finally:
        process.terminate()
        process.wait()


def run(rows: int, trace: bool = False) -> int:
    from babel.numbers import format_decimal
    from chalicelib.rosters.service import import_roster
    from local.metering import DynamoMeter
    from chalicelib.rosters.models import ROSTER_MODELS
    from chalicelib.rosters.store import DynamoRosterStore
    for model in ROSTER_MODELS:
        model.create_table(wait=True, billing_mode="PAY_PER_REQUEST")
    store = DynamoRosterStore()
    meter = DynamoMeter().install(connections=[store._connection])
    # Roster tables only are measured: the never-started nudge scheduling of new employees (one batch read of
    # learners per chunk, one conditional put per new employee) goes to in-memory fakes here.
    from chalicelib.bootstrap import memory_notifications
    from chalicelib.storage.memory import MemoryLearnerRepository
    adapters = SimpleNamespace(rosters=store, learners=MemoryLearnerRepository(), notifications=memory_notifications())
    n = lambda v: format_decimal(v, locale="en_IN")  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "roster.csv"
        write_file(path, rows)
        print(f"roster of {n(rows)} rows ({path.stat().st_size / 1e6:.1f} MB), DynamoDB Local "
              f"{dynamodb_local.jar_dir().name}, chunks of the store's config (rosters/config.toml)")
        for label in ("first import", "same file again"):
            before = meter.snapshot()
            if trace:  # slows Python down several times: a separate run
                tracemalloc.start()
            started = time.perf_counter()
            with open(path, "rb") as f:
                report = import_roster(ORG, f, adapters)
            seconds = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] if trace else None
            tracemalloc.stop()
            used = meter.since(before)
            print(f"{label:<16} {seconds:7.1f} s  {n(round(rows / seconds))} rows/s  added {n(report['added'])}, "
                  f"unchanged {n(report['unchanged'])}, rejected {report['rejected_rows']}, headcount "
                  f"{n(report['headcount'])}; {n(used.requests)} requests, {used.rcu:,.0f} RCU, {used.wcu:,.0f} WCU"
                  + (f"; peak Python memory {peak / 1e6:.1f} MB" if trace else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
