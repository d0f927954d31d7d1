"""`make bench-rules`: what a rule version's preview and apply cost per learner, on DynamoDB Local.

1. Starts DynamoDB Local and moto (local/bench.py's Backends), creates every table, writes an org tree (ministries,
   departments, orgs) and scores --learners learners through the real pipeline (stored events, then
   scoring.pipeline.recompute_stream on DynamoDB Local): each completes 3 to 7 courses in November 2029 (the
   monthly cap of 4 holds back the fifth and later), logs in once and rates a course.
2. A candidate version "2030-01" (a fifth course a month now counts), effective from 1 November 2029 IST.
3. Preview (chalicelib/rules_preview.py): time, DynamoDB requests, RCU, per learner looked at; writes checked 0.
4. Apply (chalicelib/rescore.py run_all, 4 segments): time, requests, RCU and WCU per learner re-scored.
5. The same job again from reset positions (a resumed job re-reading what it already did): what a learner costs
   when there is nothing left to write.

python -m local.bench_rules [--learners 2000] [--json out/bench-rules.json]

At national scale (`--population 1000000 --active 100000`): scoring 10 lakh learners through the pipeline would
take a day here, so the --learners scored through the pipeline are templates: every item they wrote (learner,
ledger, events, board entries, nudge schedule) is copied in bulk (BatchWriteItem from threads, as
local/bench_scale.py seeds) for the other --active learners, with the learner id replaced and every
"<board>#<shard>" key re-sharded for the new id, so each copy is exactly what scoring would have stored for the
same events. The remaining learners are learner records only, last active before the version (a scan reads
them, nothing else does). Then, on the whole table: the preview with --sample, and ONE segment of the apply job
as one audit-queue message runs it (the first --apply-segments of the job's planned segments, one after another),
not the whole job (hours here).
Score counts and org statistics (additive counters) are not copied: the writes to them cost the same either way.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from local.bench import PROJECT, inr, run_with_backends, say

IST = timezone(timedelta(hours=5, minutes=30))
NOW = datetime(2029, 11, 28, 12, 0, tzinfo=IST)  # the current month is the one the version reaches into
CANDIDATE = """
[version]
id = "2030-01"
effective_from = 2029-11-01T00:00:00+05:30
reason = "a fifth course a month now counts"

[monthly_cap]
non_acbp_completions = 5
"""


def _events(n: int, org: str, rng: random.Random) -> list[dict]:
    learner = {"id": f"b{n:07d}", "org_id": org}
    out = [{"id": f"login-{n}", "type": "learner.first_login", "occurred_at": "2029-10-20T10:00:00+05:30",
            "learner": learner}]
    for k in range(rng.randint(3, 7)):
        at = datetime(2029, 11, 2 + 3 * k, 10 + rng.randint(0, 8), tzinfo=IST).isoformat()
        out.append({"id": f"done-{n}-{k}", "type": "course.completed", "occurred_at": at, "learner": learner,
                    "course": {"id": f"do_{k}", "name": f"Course {k}", "primary_category": "Course",
                               "duration_minutes": 30 + 10 * k, "competencies": []}})
    out.append({"id": f"rate-{n}", "type": "course.rated", "occurred_at": "2029-11-25T10:00:00+05:30",
                "learner": learner, "course": {"id": "do_0"}, "rating": 4})
    return out


def _per(usage, learners: int) -> dict:
    learners = max(learners, 1)
    return {"requests": usage.requests, "rcu": round(usage.rcu, 1), "wcu": round(usage.wcu, 1),
            "requests_per_learner": round(usage.requests / learners, 2),
            "rcu_per_learner": round(usage.rcu / learners, 2), "wcu_per_learner": round(usage.wcu / learners, 2)}


def _copies(adapters, templates: int, population: int, active: int, workers: int) -> dict:
    """Copy the templates' items for learners templates..population (see the module doc). Seeding is not metered."""
    import boto3
    from chalicelib.notifications.policy import default_config
    from chalicelib.sharding import shard_of
    from chalicelib.storage.models import EventRecord, LearnerRecord, LedgerRecord
    from chalicelib.leaderboards.models import BoardEntryRecord
    from chalicelib.notifications.models import NudgeScheduleRecord
    from local.bench_scale import Writer

    client = boto3.client("dynamodb")
    tables = {m.Meta.table_name: m for m in (LearnerRecord, LedgerRecord, EventRecord, BoardEntryRecord,
                                             NudgeScheduleRecord)}
    by_learner: dict[str, dict[str, list[dict]]] = {}
    for table_name in tables:
        for page in client.get_paginator("scan").paginate(TableName=table_name):
            for item in page["Items"]:
                owner = item["learner_id"]["S"] if "learner_id" in item else item["stream"]["S"].split(":", 1)[1]
                by_learner.setdefault(owner, {}).setdefault(table_name, []).append(item)
    ids = sorted(by_learner)
    assert len(ids) == templates, (len(ids), templates)
    board_shards = adapters.boards.config.shards_for
    nudge_shards = default_config().pending_shards
    learners_table = LearnerRecord.Meta.table_name

    def reshard(value: str, shards: int, new_id: str) -> str:
        prefix = value.rsplit("#", 1)[0]
        return f"{prefix}#{shard_of(new_id, shards(prefix) if callable(shards) else shards)}"

    def copy(item: dict, old: str, new: str) -> dict:
        out = {}
        for name, value in item.items():
            if "S" in value:
                out[name] = {"S": value["S"].replace(old, new)}
            elif "L" in value:
                out[name] = {"L": [{"S": v["S"].replace(old, new)} if "S" in v else v for v in value["L"]]}
            else:
                out[name] = value
        if "board_shard" in out:
            out["board_shard"] = {"S": reshard(out["board_shard"]["S"], board_shards, new)}
        if "nudge_shard" in out:
            out["nudge_shard"] = {"S": reshard(out["nudge_shard"]["S"], nudge_shards, new)}
        return out

    writer = Writer(workers)
    started = time.perf_counter()
    last = started
    chunk: dict[str, list[dict]] = {}
    for n in range(templates, population):
        old = ids[n % templates]
        new = f"b{n:07d}"
        if n < active:
            for table_name, items in by_learner[old].items():
                chunk.setdefault(table_name, []).extend(copy(i, old, new) for i in items)
        else:  # a learner record only, last active before the version
            record = copy(by_learner[old][learners_table][0], old, new)
            record["last_active_at"] = {"S": "2029-09-15T04:30:00.000000+0000"}
            chunk.setdefault(learners_table, []).append(record)
        if sum(len(v) for v in chunk.values()) >= 5000:
            for table_name, items in chunk.items():
                writer.put(table_name, items)
            chunk = {}
        if time.perf_counter() - last > 30:
            last = time.perf_counter()
            rate = (n - templates) / (last - started)
            say(f"  copied {inr(n)}/{inr(population)} learners, {inr(writer.items / (last - started))} items/s, "
                f"ETA {(population - n) / max(rate, 1) / 60:.1f} min")
    for table_name, items in chunk.items():
        writer.put(table_name, items)
    writer.close()
    return {"seconds": round(time.perf_counter() - started, 1), "items": writer.items,
            "items_per_template": {t: len(v) for t, v in by_learner[ids[0]].items()}}


def run_scale(args, adapters, meter, seeding: float) -> dict:
    """National scale: the sampled preview and one segment of the apply job on the whole table."""
    from chalicelib import rescore, settings
    from chalicelib.rules.config import as_book, candidate_version
    from chalicelib.rules_preview import preview

    say(f"copying the templates' items to {inr(args.active)} active learners and "
        f"{inr(args.population - max(args.active, args.learners))} learner records")
    copied = _copies(adapters, args.learners, args.population, args.active, args.workers)
    book = as_book(adapters.rules, adapters.catalogue)
    version = candidate_version(book, CANDIDATE)
    candidate = book.with_version(version)

    say(f"preview, 1 learner in {args.sample}")
    before = meter.snapshot()
    started = time.perf_counter()
    report = preview(adapters, candidate, version, NOW.astimezone(timezone.utc), segments=4, sample=args.sample)
    preview_seconds = time.perf_counter() - started
    preview_usage = meter.since(before)
    looked = report["learners_looked_at"]

    adapters.rules = candidate
    target = rescore.rules_target(version.id, version.effective_from)
    count = adapters.learners.approximate_count()
    messages = rescore.plan(target, count, settings.AUDIT_LEARNERS_PER_SEGMENT, settings.AUDIT_MIN_SEGMENTS,
                            settings.AUDIT_MAX_SEGMENTS)
    say(f"apply: {args.apply_segments} of {len(messages)} segments (each one audit-queue message)")
    before = meter.snapshot()
    started = time.perf_counter()
    segment = {"scanned": 0, "rescored": 0, "done": True, "seconds": []}
    for message in messages[:args.apply_segments]:
        one = time.perf_counter()
        result = rescore.run_segment(adapters, message)
        segment["seconds"].append(round(time.perf_counter() - one, 2))
        segment["scanned"] += result["scanned"]
        segment["rescored"] += result["rescored"]
        segment["done"] = segment["done"] and result["done"]
    apply_seconds = time.perf_counter() - started
    apply_usage = meter.since(before)
    scan = apply_usage.operations.get("Scan")
    preview_scan = preview_usage.operations.get("Scan")
    rescored = segment["rescored"]
    return {
        "population": args.population, "active": max(args.active, args.learners), "templates": args.learners,
        "templates_seconds": round(seeding, 1), "copy": copied, "approximate_count": count,
        "preview": {"sample": args.sample, "seconds": round(preview_seconds, 2), "complete": report["complete"],
                    "learners_scanned": report["learners_scanned"], "learners_looked_at": looked,
                    "ms_per_learner_looked_at": round(1000 * preview_seconds / max(looked, 1), 2),
                    "writes": preview_usage.wcu, **_per(preview_usage, looked),
                    "learners_whose_points_change": report["learners_whose_points_change"],
                    "scaled_learners_to_rescore": report["cost_of_applying"]["learners_to_rescore"],
                    "scan": {"requests": preview_scan.requests, "rcu": round(preview_scan.rcu, 1)}
                    if preview_scan else None,
                    "by_table": {name: {"requests": c.requests, "rcu": round(c.rcu, 1)}
                                 for name, c in sorted(preview_usage.tables.items())}},
        "apply_segments": {"segments": len(messages), "run": args.apply_segments,
                           "seconds_per_segment": segment["seconds"], "seconds": round(apply_seconds, 2),
                              "scanned": segment["scanned"], "rescored": rescored, "done": segment["done"],
                              "ms_per_learner": round(1000 * apply_seconds / max(rescored, 1), 2),
                              **_per(apply_usage, rescored),
                              "scan": {"requests": scan.requests, "rcu": round(scan.rcu, 1)} if scan else None,
                              "by_table": {name: {"requests": c.requests, "rcu": round(c.rcu, 1),
                                                  "wcu": round(c.wcu, 1)}
                                           for name, c in sorted(apply_usage.tables.items())}},
    }


def run(args) -> int:
    if str(PROJECT) not in sys.path:
        sys.path.insert(0, str(PROJECT))
    from chalicelib import bootstrap, rescore
    from chalicelib.events import OrgBlock, parse_event
    from chalicelib.rules.config import as_book, candidate_version
    from chalicelib.rules_preview import preview
    from chalicelib.scoring.pipeline import recompute_stream
    from chalicelib.storage.dynamodb import create_tables
    from local.metering import DynamoMeter

    create_tables()
    adapters = bootstrap.adapters()
    meter = DynamoMeter().install_for(adapters)
    rng = random.Random(args.seed)
    orgs = []
    for m in range(args.ministries):
        adapters.orgs.upsert(OrgBlock(id=f"min_{m}", name=f"Ministry {m}", type="ministry", parent_id=None), "seed")
        adapters.orgs.upsert(OrgBlock(id=f"dept_{m}", name=f"Dept {m}", type="department", parent_id=f"min_{m}"),
                             "seed")
        for o in range(5):
            adapters.orgs.upsert(OrgBlock(id=f"org_{m}_{o}", name=f"Org {m}.{o}", type="mdo",
                                          parent_id=f"dept_{m}"), "seed")
            orgs.append(f"org_{m}_{o}")
    say(f"scoring {inr(args.learners)} learners through the pipeline on DynamoDB Local")
    started = time.perf_counter()
    received = datetime(2029, 12, 1, tzinfo=timezone.utc)
    for n in range(args.learners):
        for event in _events(n, rng.choice(orgs), rng):
            adapters.events.add(parse_event(event), received)
        recompute_stream(f"learner:b{n:07d}", adapters)
        if n and n % 500 == 0:
            say(f"  {inr(n)} scored ({time.perf_counter() - started:.0f} s)")
    seeding = time.perf_counter() - started

    if args.population:
        figures = run_scale(args, adapters, meter, seeding)
        print(json.dumps(figures, indent=2))
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
        return 0

    book = as_book(adapters.rules, adapters.catalogue)
    version = candidate_version(book, CANDIDATE)
    candidate = book.with_version(version)

    say("preview")
    before = meter.snapshot()
    started = time.perf_counter()
    report = preview(adapters, candidate, version, NOW.astimezone(timezone.utc), segments=4)
    preview_seconds = time.perf_counter() - started
    preview_usage = meter.since(before)
    looked = report["learners_looked_at"]

    say("apply")
    adapters.rules = candidate
    target = rescore.rules_target(version.id, version.effective_from)
    before = meter.snapshot()
    started = time.perf_counter()
    applied = rescore.run_all(adapters, target, segments=4)
    apply_seconds = time.perf_counter() - started
    apply_usage = meter.since(before)

    say("the same job again from reset positions (nothing left to write)")
    for segment in range(4):
        key = rescore.position_key({"rescore": rescore.job_id(target), "segment": segment, "segments": 4})
        adapters.notifications.counters.move(key, "done", "")
    before = meter.snapshot()
    started = time.perf_counter()
    again = rescore.run_all(adapters, target, segments=4)
    again_seconds = time.perf_counter() - started
    again_usage = meter.since(before)

    figures = {
        "learners": args.learners, "seeding_seconds": round(seeding, 1),
        "preview": {"seconds": round(preview_seconds, 2), "learners_looked_at": looked,
                    "ms_per_learner": round(1000 * preview_seconds / max(looked, 1), 2),
                    "writes": preview_usage.wcu, **_per(preview_usage, looked),
                    "learners_whose_points_change": report["learners_whose_points_change"],
                    "points_delta": report["points_delta"], "ledger_lines": report["cost_of_applying"]["ledger_lines"],
                    "rank_movements_national": (report["rank_movements"] or {}).get("national")},
        "apply": {"seconds": round(apply_seconds, 2), "rescored": applied["rescored"],
                  "ms_per_learner": round(1000 * apply_seconds / max(applied["rescored"], 1), 2),
                  **_per(apply_usage, applied["rescored"]), "by_table": {
                      name: {"requests": c.requests, "rcu": round(c.rcu, 1), "wcu": round(c.wcu, 1)}
                      for name, c in sorted(apply_usage.tables.items())}},
        "rerun_nothing_to_write": {"seconds": round(again_seconds, 2), "rescored": again["rescored"],
                                   "ms_per_learner": round(1000 * again_seconds / max(again["rescored"], 1), 2),
                                   **_per(again_usage, again["rescored"])},
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.bench_rules", description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--ministries", type=int, default=10, help="each with a department and 5 orgs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", default="out/bench-rules.json")
    parser.add_argument("--population", type=int, default=0,
                        help="national scale: learners in the table (--learners of them scored as templates)")
    parser.add_argument("--active", type=int, default=0, help="with --population: learners active since the "
                                                             "version (copies of the templates' items)")
    parser.add_argument("--sample", type=int, default=10, help="with --population: the preview's 1 learner in N")
    parser.add_argument("--workers", type=int, default=6, help="with --population: copying threads")
    parser.add_argument("--apply-segments", type=int, default=1,
                        help="with --population: how many of the job's segments to run (one after another)")
    args = parser.parse_args(argv)
    if args.population and not args.learners <= args.active <= args.population:
        parser.error("--learners <= --active <= --population")
    return run_with_backends(run, args)


if __name__ == "__main__":
    sys.exit(main())
