"""What campaigns cost, measured on DynamoDB Local: `python -m local.bench_campaigns` (`make bench-campaigns`).

Prints, with every DynamoDB request metered (local/metering.py: requests, RCU and WCU as AWS bills):
  1. one event scored through the real path (webhook store + recompute) with and without a live campaign;
  2. the dashboard of an org of 50,000 employees (roster of 50k, 30,000 participants), as an admin (with a page
     of the not-started list) and as a learner;
  3. closing a campaign of 1,00,000 participants in 500 orgs: wall time and requests.

Seeding 1,00,000 participants through full scoring would take hours on one machine, so the progress records,
the pre-aggregated statistics and the campaign board entries and score counts are written directly, in the
shapes scoring writes (campaigns/store.py, leaderboards/store.py), with batch writes; only (1) goes through
scoring. Rosters are read through the in-memory RosterStore (the DynamoDB roster store is another branch): the
figures leave out its reads (one BatchGetItem of subtree headcounts, one Query per roster page).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from chalicelib.sharding import shard_of  # stdlib only: safe before the environment is set
from local.dynamodb_local import free_port, start, use_endpoint

SECRET = "bench-secret"
IST = timezone(timedelta(hours=5, minutes=30))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=50_000, help="roster of the dashboard's org")
    parser.add_argument("--dashboard-participants", type=int, default=30_000)
    parser.add_argument("--participants", type=int, default=100_000, help="participants of the campaign closed")
    parser.add_argument("--orgs", type=int, default=500, help="orgs the closed campaign's participants are in")
    args = parser.parse_args(argv)
    port = free_port()
    use_endpoint(f"http://127.0.0.1:{port}", "benchcampaigns")
    server = start(port)
    try:
        return _bench(args)
    finally:
        server.terminate()
        server.wait(timeout=10)


def indian(n: int) -> str:
    from babel.numbers import format_decimal
    return format_decimal(n, locale="en_IN")


def _parallel(function, chunks, workers=8):
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(function, chunks))


def _chunks(items, size=2000):
    return [items[i:i + size] for i in range(0, len(items), size)]


def _bench(args) -> int:
    from chalicelib.bootstrap import Adapters
    from chalicelib.campaigns import rules, service as campaigns
    from chalicelib.campaigns import lifecycle as campaign_lifecycle, reports as campaign_reports
    from chalicelib.campaigns.scope import forget_campaigns
    from chalicelib.campaigns.rules import campaign_config
    from chalicelib.events import OrgBlock
    from chalicelib.ingestion.signature import sign
    from chalicelib.ingestion.webhook import handle
    from chalicelib.leaderboards.boards import rank_key
    from chalicelib.leaderboards.settings import board_settings
    from chalicelib.scoring.pipeline import recompute_stream
    from chalicelib.rosters.employees import Employee, MemoryRosterStore
    from chalicelib.leaderboards.store import DynamoBoardStore
    from chalicelib.campaigns.store import DynamoCampaignStore, progress_to_json
    from chalicelib.storage.dynamodb import (DynamoEventStore, DynamoLearnerRepository, DynamoOrgRepository,
                                             create_tables)
    from chalicelib.storage.memory import MemoryStreamQueue
    from local.metering import DynamoMeter
    from chalicelib.storage.models import LearnerRecord
    from chalicelib.campaigns.models import CampaignProgressRecord, CampaignStatsRecord
    from chalicelib.leaderboards.models import BoardEntryRecord, OrgStatsRecord
    from local.board_stream import write_histograms
    from chalicelib.identity.tokens import Principal

    create_tables()
    operation = campaign_config().operation
    adapters = Adapters(events=DynamoEventStore(), learners=DynamoLearnerRepository(), orgs=DynamoOrgRepository(),
                        queue=MemoryStreamQueue(), boards=DynamoBoardStore(board_settings()),
                        campaigns=DynamoCampaignStore(operation["progress_shards"]), rosters=MemoryRosterStore(),
                        webhook_secrets=lambda: [SECRET])
    meter = DynamoMeter().install_for(adapters)
    meter.install(connections=[adapters.campaigns._connection])
    now = datetime.now(timezone.utc)
    seed_token = "2026-01-01T00:00:00.000000Z|seed"
    for org_id, kind, parent in [("min_m", "ministry", None), ("dept_d", "department", "min_m"),
                                 ("org_big", "mdo", "dept_d")]:
        adapters.orgs.upsert(OrgBlock(id=org_id, name=f"Org {org_id}", type=kind, parent_id=parent), seed_token)
    national = Principal("admin-n", None, frozenset({"national_admin"}))

    def new_campaign(name: str, start: datetime, end: datetime, status: str = "scheduled"):
        body = json.dumps({"name": name, "scope": "national", "start": start.astimezone(IST).isoformat(),
                           "end": end.astimezone(IST).isoformat(), "status": status}).encode()
        created = campaigns.create(body, national, adapters, now)
        return adapters.campaigns.get(created["id"])

    rows = []

    # --- 1. one event through scoring, without and with a live campaign ---------------------------------------
    def event(learner: str, n: int, at: datetime) -> dict:
        return {"id": f"evt-{learner}-{n}", "type": "course.completed", "occurred_at": at.isoformat(),
                "learner": {"id": learner, "org_id": "org_big"},
                "course": {"id": f"do_{n}", "name": "Course", "primary_category": "Course", "duration_minutes": 60,
                           "competencies": [{"id": "FRAC-1", "area": "domain"}]}}

    def scored(label: str, payload: dict):
        raw = json.dumps(payload).encode()
        before = meter.snapshot()
        status, body = handle(raw, sign(raw, SECRET, int(now.timestamp())), adapters, now)
        assert status == 202, body
        for stream in dict.fromkeys(adapters.queue.drain()):
            recompute_stream(stream, adapters)
        used = meter.since(before)
        rows.append((label, used.requests, used.rcu, used.wcu, None))

    at = now - timedelta(hours=1)
    scored("event scored, no campaign", event("learner-x", 1, at))
    scored("2nd event, no campaign", event("learner-x", 2, at + timedelta(minutes=1)))
    live = new_campaign("Live week", now - timedelta(days=1), now + timedelta(days=1))
    campaign_lifecycle.advance(adapters, now)
    forget_campaigns(adapters)
    scored("event scored, live campaign", event("learner-y", 1, at))
    scored("2nd event, live campaign", event("learner-y", 2, at + timedelta(minutes=1)))

    # --- 2. the dashboard of an org of 50,000 --------------------------------------------------------------------
    started = time.monotonic()
    roster_ids = [f"emp-{n:06d}" for n in range(args.employees)]
    for learner_id in roster_ids:
        adapters.rosters.put(Employee(learner_id, "org_big", f"Employee {learner_id}"))
    participants = sorted(random.Random(1).sample(roster_ids[1000:], args.dashboard_participants))  # page 1 unstarted
    period, cid = live.period, live.id
    rng = random.Random(2)
    scores = {learner: rng.randrange(1, 21) * 15 for learner in participants}
    days = [(live.start + timedelta(days=d)).astimezone(IST).date().isoformat() for d in range(2)]
    ancestors = ["dept_d", "min_m"]

    def seed_progress(campaign, pairs):
        def one(chunk):
            with CampaignProgressRecord.batch_write() as batch:
                for learner, org, score in chunk:
                    p = rules.Progress(campaign.id, learner, org, score, score // 30, 0, score, score >= 240,
                                       None, campaign.start, ((days[0], score, score // 30),))
                    batch.save(CampaignProgressRecord(f"{campaign.id}#{shard_of(learner, operation['progress_shards'])}",
                                                      learner, org_id=org, ancestors=ancestors, score=score,
                                                      state=p.state(), body=progress_to_json(p)))
        _parallel(one, _chunks(pairs))

    def seed_board(board: str, pairs):
        def one(chunk):
            with BoardEntryRecord.batch_write() as batch:
                for learner, org, score in chunk:
                    batch.save(BoardEntryRecord(f"{board}#0", learner, rank_key=rank_key(score, live.start, learner),
                                                org_id=org, points=score, minutes=score, reached_at=live.start,
                                                state=f"{score}|{score}|{live.start.isoformat()}"))
        _parallel(one, _chunks(pairs))
        counts = {}
        for _, _, score in pairs:
            counts[score] = counts.get(score, 0) + 1
        write_histograms({board: counts})

    def seed_stats(campaign, org: str, pairs, shards: int, buckets=("own", "total")):
        total = dict(participants=len(pairs), goal_met=sum(1 for *_, s in pairs if s >= 240),
                     courses=sum(s // 30 for *_, s in pairs), minutes=sum(s for *_, s in pairs))
        with CampaignStatsRecord.batch_write() as batch:
            for shard in range(shards):  # spread evenly, as learner hashes would
                part = {k: v // shards + (1 if shard < v % shards else 0) for k, v in total.items()}
                for bucket in buckets:
                    batch.save(CampaignStatsRecord(f"{campaign.id}|{org}#{shard}", bucket, **part))
                for day in days:
                    batch.save(CampaignStatsRecord(f"{campaign.id}|{org}#{shard}", f"day:{day}",
                                                   active=part["participants"], minutes=part["minutes"] // 2,
                                                   courses=part["courses"] // 2))

    big = [(learner, "org_big", scores[learner]) for learner in participants]
    seed_progress(live, big)
    seed_board(f"org:org_big|{period}", big)
    config = campaign_config()
    seed_stats(live, "org_big", big, config.shards_for("mdo"))
    seed_stats(live, "dept_d", big, config.shards_for("department"), buckets=("total",))
    top = sorted(big, key=lambda r: -r[2])[:200]
    with LearnerRecord.batch_write() as batch:
        for learner, org, _ in top:
            batch.save(LearnerRecord(learner, org_id=org, profile={"name": f"Employee {learner}"}))
    seeded_dashboard = time.monotonic() - started

    admin = Principal("admin-big", "org_big", frozenset({"mdo_admin"}))
    learner_principal = Principal(participants[0], "org_big", frozenset({"learner"}))
    for label, who in (("dashboard, admin (50 not started)", admin), ("dashboard, learner", learner_principal)):
        adapters.caches.pop("org", None)  # a cold function: the org tree is read too
        before = meter.snapshot()
        t0 = time.monotonic()
        body = campaign_reports.dashboard(cid, {"org_id": "org_big"}, who, adapters)
        elapsed = time.monotonic() - t0
        used = meter.since(before)
        rows.append((label, used.requests, used.rcu, used.wcu, elapsed))
        assert body["headcount"] == args.employees and body["participants"] == len(big), body["participants"]
    before = meter.snapshot()
    campaign_reports.learner_progress(cid, participants[0], learner_principal, adapters)
    used = meter.since(before)
    rows.append(("progress of one learner", used.requests, used.rcu, used.wcu, None))

    # --- 3. closing 1,00,000 participants --------------------------------------------------------------------------
    started = time.monotonic()
    closing = new_campaign("Week to close", now - timedelta(days=12), now - timedelta(days=5))
    org_ids = [f"org_{n:04d}" for n in range(args.orgs)]
    for org_id in org_ids:
        adapters.orgs.upsert(OrgBlock(id=org_id, name=f"Org {org_id}", type="mdo", parent_id="dept_d"), seed_token)
    rng = random.Random(3)
    everyone = [(f"p-{n:06d}", org_ids[n % len(org_ids)], rng.randrange(1, 21) * 15) for n in range(args.participants)]
    seed_progress(closing, everyone)
    by_org = {}
    for row in everyone:
        by_org.setdefault(row[1], []).append(row)
    histograms = {}
    for org_id, members in by_org.items():
        counts = histograms.setdefault(f"org:{org_id}|{closing.period}", {})
        for *_, score in members:
            counts[score] = counts.get(score, 0) + 1
    write_histograms(histograms)
    stats_shards = board_settings().org_stats_shards
    with OrgStatsRecord.batch_write() as batch:
        for org_id, members in by_org.items():
            shard = shard_of(org_id, stats_shards)
            batch.save(OrgStatsRecord(f"{closing.period}#{shard}", org_id, learners=len(members),
                                      minutes=sum(s for *_, s in members), parents=["dept:dept_d", "ministry:min_m"]))
            batch.save(OrgStatsRecord(f"members#{shard}", org_id, learners=len(members) + 100,
                                      parents=["dept:dept_d", "ministry:min_m"]))
    for org_id in by_org:
        adapters.rosters.put(Employee(f"r-{org_id}", org_id, "x"))  # a roster: headcount 1 -> the learners seen
    for org_id, members in by_org.items():
        seed_stats(closing, org_id, members, 1, buckets=("own",))
    for before_status, after_status in (("scheduled", "live"), ("live", "closing")):  # closing, nothing computed
        adapters.campaigns.set_status(closing.id, before_status, after_status)
    seeded_close = time.monotonic() - started
    adapters.caches.pop("org", None)
    before = meter.snapshot()
    t0 = time.monotonic()
    runs = 0
    while adapters.campaigns.get(closing.id).status != "closed":
        runs += 1
        campaign_lifecycle.advance(adapters, now)  # each run stops after close_seconds and the next resumes
    close_seconds = time.monotonic() - t0
    used = meter.since(before)
    rows.append((f"close {indian(args.participants)} participants ({runs} run(s))", used.requests, used.rcu, used.wcu,
                 close_seconds))
    goal_met = sum(1 for *_, s in everyone if s >= 240)

    print(f"DynamoDB Local, local/metering.py; seeding took {seeded_dashboard:.0f} s (dashboard) and "
          f"{seeded_close:.0f} s (close), not counted\n")
    print(f"{'what':<44} {'requests':>8} {'RCU':>8} {'WCU':>9} {'seconds':>8}")
    for label, requests, rcu, wcu, seconds in rows:
        print(f"{label:<44} {requests:>8} {rcu:>8.1f} {wcu:>9.1f} {'' if seconds is None else f'{seconds:8.1f}'}")
    print(f"\ndashboard org: roster {indian(args.employees)}, participants {indian(len(big))}; closed campaign: "
          f"{indian(args.participants)} participants in {len(org_ids)} orgs, {indian(goal_met)} met the goal")
    print("by operation, closing:")
    print(used.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
