"""What the nightly nudge selection costs, on DynamoDB Local: `make bench-nudges` (python -m local.bench_nudges).

Fills the nudge-schedule table with 10,000 learners, of whom 500 are due (today or overdue), the others due
later or past their last rung (no index entry); measures the nightly run's selection (the sparse `due` index
queried per shard for due <= today, paged as the run pages it); then adds 90,000 more learners, none of them due,
and measures again. The figures should be the same: the selection reads the learners due, not the population.
Requests and capacity units come from local/metering.py (as AWS bills them).
"""
from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta

from local.dynamodb_local import free_port, start, use_endpoint

TODAY = date(2026, 11, 26)


def _fill(start_at: int, count: int, due: int, shards: int) -> None:
    """Learners start_at..start_at+count: the first `due` of them due by today, the rest later or done."""
    from chalicelib.notifications.models import NudgeScheduleRecord
    from chalicelib.sharding import shard_of
    with NudgeScheduleRecord.batch_write() as batch:
        for n in range(start_at, start_at + count):
            learner = f"learner-{n:07d}"
            spell_day = TODAY - timedelta(days=7 + n % 3) if n - start_at < due else TODAY - timedelta(days=n % 6)
            if n - start_at < due:
                due_on = TODAY - timedelta(days=n % 3)  # today or overdue (a missed night)
            elif n % 5 < 3:
                due_on = TODAY + timedelta(days=1 + n % 29)  # a rung ahead
            else:
                due_on = None  # past the last rung: no index entry
            batch.save(NudgeScheduleRecord(
                learner, spell=f"a:{spell_day.isoformat()}", rung=1 + n % 3, org_id=f"org_{n % 50}",
                due=due_on.isoformat() if due_on else None,
                nudge_shard=f"n#{shard_of(learner, shards)}" if due_on else None))


def _select(meter, shards: int):
    """What run_nightly does to find who is due (storage.notifications.DynamoNudgeSchedule.due_entries)."""
    from chalicelib.notifications.nudges import PAGE
    from chalicelib.notifications.nudge_store import DynamoNudgeSchedule
    schedule = DynamoNudgeSchedule()
    before = meter.snapshot()
    selected = 0
    for shard in range(shards):
        after = None
        while True:
            entries, after = schedule.due_entries(shard, TODAY.isoformat(), PAGE, after)
            selected += len(entries)
            if after is None:
                break
    return selected, meter.since(before)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.bench_nudges", description=__doc__.splitlines()[0])
    parser.add_argument("--due", type=int, default=500)
    parser.add_argument("--sizes", default="10000,100000", help="population sizes, ascending")
    args = parser.parse_args(argv)
    port = free_port()
    use_endpoint(f"http://127.0.0.1:{port}", "bench")
    server = start(port)
    try:
        return _run(args)
    finally:
        server.terminate()
        server.wait()


def _run(args) -> int:
    from babel.numbers import format_decimal
    from chalicelib.notifications.policy import default_config
    from local.metering import DynamoMeter
    from chalicelib.notifications.models import NudgeScheduleRecord
    NudgeScheduleRecord.create_table(wait=True, billing_mode="PAY_PER_REQUEST")
    meter = DynamoMeter().install([NudgeScheduleRecord])
    shards = default_config().pending_shards
    sizes = [int(s) for s in args.sizes.split(",")]
    filled = 0
    print(f"nightly nudge selection on DynamoDB Local: {args.due} due, {shards} shards, page {100}")
    print(f"{'learners':>10} {'selected':>9} {'requests':>9} {'RCU':>8}")
    for size in sizes:
        _fill(filled, size - filled, args.due if filled == 0 else 0, shards)
        filled = size
        selected, used = _select(meter, shards)
        print(f"{format_decimal(size, locale='en_IN'):>10} {selected:>9} {used.requests:>9} {used.rcu:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
