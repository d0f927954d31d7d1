"""`make bench-scale`: prove that reads cost the same at national scale, on DynamoDB Local.

`python -m local.bench_scale --help` for the options; `--quick` for a smoke run (under two minutes).

What it does, in order:

1. Starts DynamoDB Local and an in-process moto SQS server on free ports (local/bench.py's Backends), creates
   every table, and posts the org tree of --orgs mdos (local.seed.org_tree: ministries, states, departments and
   their regional offices) through the real signed webhook and the scoring handler.
2. Publishes a national Karmayogi Saptah campaign (campaigns.create, then advance makes it live) whose window
   holds the replayed learning week.
3. Grows a population of learners, step by step (--learners-steps, default 10,000 -> 1,00,000 -> 10,00,000),
   in the tables the measured reads touch, in the shapes the real code writes, but in bulk (BatchWriteItem from
   parallel threads) and computed from generated standings with the pure rules (leaderboards.boards
   desired_entries / scopes_for / shard_of, campaigns.rules.contributions, rosters digest), not event by event
   through scoring, which would take days on one machine. Per learner: the learner record, the national
   board entry for the month, a roster row, a nudge-schedule item, and for the 60% who take part in the campaign
   its progress record and org campaign-board entry; per board the score counts (national boards for every
   period the reads use, and the probe learner's org, department and ministry boards), per org the campaign
   statistics (own, subtree totals, days; ancestors too) and roster headcount counters. One learner in ten works
   in the probe learner's org, so its dashboard is read for an org of a tenth of the population.
4. After each step measures, through the real use cases with every DynamoDB call metered
   (local/metering.py): a board page (national, this month, 20 rows), one learner's ranks
   (4 scopes x 3 periods, GET /v1/learners/{id}'s ranks), the org's campaign dashboard as its admin (with the
   not-started list) and the nightly nudge selection (the same --due learners due at every size).
   Prints requests, RCU and milliseconds (median of --repeats calls after a warm-up) and draws them against
   the population (PNG, --chart).
5. At the largest population, replays a learning week of --replay-events events (local.seed.generate_events
   learners in the same orgs; 5% duplicates, 2% late) through the real webhook and scoring handlers as
   local/bench.py does, and prints ingest and scoring rates and the cost per event.

Nothing from chalicelib is imported before the environment is set (table names are fixed at import).
"""
from __future__ import annotations

import argparse
import heapq
import json
import logging
import random
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor, wait, FIRST_COMPLETED
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Optional

from local import bench
from local.bench import IST, Delivery, inr, say, table

BENCH_NOW = datetime(2030, 1, 15, 12, 0, tzinfo=IST)  # the clock of the reads: a month only seeding writes
MONTH, PREV_MONTH = "month:2030-01", "month:2029-12"
WEEK, PREV_WEEK = "week:2030-W03", "week:2030-W02"
ALL = "all"
PERIODS = (WEEK, MONTH, ALL, PREV_WEEK, PREV_MONTH)
READS = ("board page", "learner rank", "org dashboard", "nudge selection")
TOP_KEPT = 60  # best national month entries kept while seeding (the materialised top holds top_size of them)
PROBE = 7  # the learner whose ranks are read, and whose org's dashboard; present from the first step
BIG_ORG_SHARE = 10  # one learner in this many works in the probe's org: its dashboard is read at 1/10 of the population
CAMPAIGN_DAYS = 3
BATCH_ITEMS = 25  # BatchWriteItem's limit
TITLE = "Karmayogi Engage: the cost of one read against the population (DynamoDB Local); flat is the goal"


def learner_id(n: int) -> str:
    return f"scale-{n:07d}"


# --- the generated population --------------------------------------------------------------------------

@dataclass
class Learner:
    n: int
    id: str
    org: str
    points: dict  # period -> points
    minutes: int  # this month
    reached: datetime  # when this month's score was reached
    campaign: Optional[tuple[int, int, int]]  # (minutes, courses, day index) or None


def generate(n: int, mdos: list[str], seed: int) -> Learner:
    """One learner's standing, a pure function of (n, seed): most learners have a few points, a few many."""
    rng = random.Random(seed * 10_000_019 + n)
    month = 0 if rng.random() < 0.3 else 5 * min(int(rng.paretovariate(1.2) * 2), 120)
    if n == PROBE:
        month = 60
    week = min(month, 5 * rng.randrange(0, 12)) if month else 0
    prev_month = 0 if rng.random() < 0.35 else 5 * min(int(rng.paretovariate(1.2) * 2), 120)
    prev_week = 0 if rng.random() < 0.5 else 5 * rng.randrange(1, 15)
    every = month + prev_month + 5 * rng.randrange(0, 200)
    points = {p: v for p, v in ((WEEK, week), (MONTH, month), (ALL, every), (PREV_WEEK, prev_week),
                                (PREV_MONTH, prev_month)) if v > 0}
    reached = datetime(2030, 1, 1, tzinfo=IST) + timedelta(seconds=rng.randrange(14 * 86400))
    campaign = None
    if rng.random() < 0.6:
        minutes = 15 * rng.randrange(1, 25)
        campaign = (minutes, minutes // 60, rng.randrange(CAMPAIGN_DAYS))
    return Learner(n, learner_id(n), org_of(n, mdos), points, month * 2, reached, campaign)


def org_of(n: int, mdos: list[str]) -> str:
    """A tenth of everyone in the big org (the probe's), the rest spread over every mdo (the big one too)."""
    if n % BIG_ORG_SHARE == PROBE % BIG_ORG_SHARE:
        return mdos[PROBE % len(mdos)]
    return mdos[(n * 7919) % len(mdos)]


# --- bulk writing --------------------------------------------------------------------------------------

class Writer:
    """BatchWriteItem of raw items from a pool of threads, retrying what DynamoDB leaves unprocessed. Its own
    client: seeding is not metered."""

    def __init__(self, workers: int):
        import boto3
        from botocore.config import Config
        self.client = boto3.client("dynamodb", config=Config(max_pool_connections=workers * 2,
                                                             retries={"max_attempts": 10, "mode": "standard"}))
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.pending: set = set()
        self.limit = workers * 8
        self.items = 0
        self.requests = 0

    def _send(self, table_name: str, items: list[dict]) -> None:
        request = {table_name: [{"PutRequest": {"Item": item}} for item in items]}
        for attempt in range(30):
            left = self.client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            self.requests += 1
            if not left:
                return
            request = left
            time.sleep(0.05 * (attempt + 1))
        raise RuntimeError("DynamoDB Local kept items unprocessed")

    def put(self, table_name: str, items: list[dict]) -> None:
        for i in range(0, len(items), BATCH_ITEMS):
            while len(self.pending) >= self.limit:
                done, self.pending = wait(self.pending, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
            chunk = items[i:i + BATCH_ITEMS]
            self.pending.add(self.pool.submit(self._send, table_name, chunk))
            self.items += len(chunk)

    def flush(self) -> None:
        for future in self.pending:
            future.result()
        self.pending = set()

    def close(self) -> None:
        self.flush()
        self.pool.shutdown()


def _s(value: str) -> dict:
    return {"S": value}


def _n(value) -> dict:
    return {"N": str(value)}


# --- the seeder ------------------------------------------------------------------------------------------

class Seeder:
    """Grows the population and keeps the aggregates (score counts, campaign statistics, headcounts) that the
    real writes would keep, then writes them again after each step."""

    def __init__(self, args, orgs: dict, campaign, adapters, writer: Writer):
        from chalicelib.campaigns.rules import campaign_config
        from chalicelib.leaderboards.boards import NATIONAL, scopes_for
        from chalicelib.notifications.policy import default_config
        self.args, self.orgs, self.campaign, self.adapters, self.writer = args, orgs, campaign, adapters, writer
        self.mdos = sorted(o for o, (kind, _) in orgs.items() if kind == "mdo")
        self.parent_of = lambda org: orgs.get(org)
        self.scopes = {m: scopes_for(m, self.parent_of) for m in self.mdos}
        self.board_config = adapters.boards.config
        self.campaign_config = campaign_config()
        self.nudge_shards = default_config().pending_shards
        self.progress_shards = self.campaign_config.operation["progress_shards"]
        self.size = 0
        self.probe = generate(PROBE, self.mdos, args.seed)
        self.probe_scopes = {s.key for s in self.scopes[self.probe.org]} | {NATIONAL.key}
        self.score_counts: dict[str, Counter] = defaultdict(Counter)  # board shard -> points -> learners
        self.campaign_counts: dict[str, Counter] = defaultdict(Counter)
        self.stats: dict[tuple[str, str], Counter] = defaultdict(Counter)  # (stats key, bucket) -> fields
        self.headcounts: dict[tuple[str, int], int] = Counter()
        self.top: list = []  # the best national month entries: (rank key, n)
        self.tables = {}
        self.checked: set[str] = set()
        start_day = campaign.start.astimezone(IST).date()
        self.days = [(start_day + timedelta(days=d)).isoformat() for d in range(CAMPAIGN_DAYS)]
        self.seconds = 0.0

    def _table(self, model) -> str:
        return model.Meta.table_name

    def _check(self, kind: str, model, raw: dict, ignore: tuple = ()) -> None:
        """The first hand-built item of each kind must be what PynamoDB itself writes for that record."""
        if kind in self.checked:
            return
        expected = {k: v for k, v in model.serialize().items() if k not in ignore}
        got = {k: v for k, v in raw.items() if k not in ignore}
        if expected != got:
            raise AssertionError(f"{kind}: hand-built item differs from PynamoDB's:\n{got}\n{expected}")
        self.checked.add(kind)

    # --- per learner ---
    def _items(self, learner: Learner, now: datetime) -> dict:
        from chalicelib.campaigns.rules import Progress, contributions
        from chalicelib.leaderboards.boards import NATIONAL, Scope, board_key, desired_entries
        from chalicelib.sharding import shard_of
        from chalicelib.rules.learner import LearnerStanding, Profile
        from chalicelib.rosters.employees import Employee
        from chalicelib.storage.models import LearnerRecord
        from chalicelib.leaderboards.models import BoardEntryRecord
        from chalicelib.campaigns.models import CampaignProgressRecord
        from chalicelib.notifications.models import NudgeScheduleRecord
        from chalicelib.rosters.models import RosterRecord
        from chalicelib.leaderboards.store import entry_rank_key, entry_state
        from chalicelib.campaigns.store import progress_to_json
        from chalicelib.storage.dynamodb import _periods_of, _record_from
        from chalicelib.rosters.store import digest
        out: dict[str, list[dict]] = defaultdict(list)
        scopes = self.scopes[learner.org]
        reached = {p: learner.reached - timedelta(days=31 if p == PREV_MONTH else 7 if p == PREV_WEEK else 0)
                   for p in learner.points}
        name = f"Scale Learner {learner.n}"

        # The learner record, as the repository saves a standing (storage/dynamodb._record_from).
        updated = bench.wire_time(now)
        raw = {"learner_id": _s(learner.id), "version": _n(1), "org_id": _s(learner.org),
               "points": _n(learner.points.get(ALL, 0)), "courses_completed": _n(0),
               "learning_minutes": _n(learner.minutes), "competency_areas": {"L": []}, "courses_in_area": _s("{}"),
               "ratings": _n(0), "clap_weeks": {"L": []}, "best_clap_streak": _n(0), "badges": _s("{}"),
               # the period maps, compressed as the repository stores them (storage/dynamodb._periods_of)
               "periods": {"B": _periods_of(LearnerStanding(
                   learner.id, points_by_period=Counter(learner.points),
                   minutes_by_period=Counter({MONTH: learner.minutes} if learner.minutes else {}),
                   reached_at=reached))},
               "last_active_at": _s(bench.wire_time(learner.reached)), "held_events": _n(0), "rejected_events": _n(0),
               "updated_at": _s(updated), "scopes": {"L": [_s(s.key) for s in scopes]}}
        raw["profile"] = None  # placed below, in the repository's own serialisation of the profile
        if "learner" not in self.checked:
            standing = LearnerStanding(learner_id=learner.id, profile=Profile(org_id=learner.org, name=name),
                                       points=learner.points.get(ALL, 0), learning_minutes=learner.minutes,
                                       points_by_period=Counter(learner.points),
                                       minutes_by_period=Counter({MONTH: learner.minutes} if learner.minutes else {}),
                                       reached_at=reached, last_active_at=learner.reached)
            record = _record_from(standing, 1)
            record.scopes = [s.key for s in scopes]
            self.profile_template = json.loads(LearnerRecord.profile.serialize(record.profile))
            raw["profile"] = record.serialize()["profile"]
            self._check("learner", record, raw, ignore=("updated_at",))
        raw["profile"] = _s(json.dumps({**self.profile_template, "org_id": learner.org, "name": name}))
        out[self._table(LearnerRecord)].append(raw)

        # Board entries: this month's national board (the page read), from the pure rule; score counts for every
        # national board and the probe's own scopes.
        entries = desired_entries(learner.id, learner.org, {MONTH: learner.points.get(MONTH, 0)},
                                  {MONTH: learner.minutes}, {MONTH: reached.get(MONTH, learner.reached)}, [NATIONAL])
        for entry in entries.values():
            if not entry.ranked:
                continue
            key = f"{entry.board}#{shard_of(learner.id, self.board_config.shards_for(entry.board))}"
            raw = {"board_shard": _s(key), "learner_id": _s(learner.id), "rank_key": _s(entry_rank_key(entry)),
                   "org_id": _s(learner.org), "points": _n(entry.points), "minutes": _n(entry.minutes),
                   "reached_at": _s(bench.wire_time(entry.reached_at)), "state": _s(entry_state(entry))}
            if "entry" not in self.checked:
                self._check("entry", BoardEntryRecord(key, learner.id, rank_key=entry_rank_key(entry),
                                                        org_id=learner.org, points=entry.points,
                                                        minutes=entry.minutes, reached_at=entry.reached_at,
                                                        state=entry_state(entry)), raw)
            out[self._table(BoardEntryRecord)].append(raw)
            self.top.append((entry_rank_key(entry), learner.n))
        for scope in scopes:
            if scope.key not in self.probe_scopes:
                continue
            for period, points in learner.points.items():
                board = board_key(scope, period)
                self.score_counts[f"{board}#{shard_of(learner.id, self.board_config.shards_for(board))}"][points] += 1

        # Roster row and headcount (the importer's lane decides the counter shard; here the learner's hash).
        employee = Employee(learner.id, learner.org, name, group="Group C", designation="Assistant")
        raw = {"learner_id": _s(learner.id), "org_id": _s(learner.org), "name": _s(name), "group": _s("Group C"),
               "designation": _s("Assistant"), "digest": _s(digest(employee)), "updated_at": _s(updated)}
        if "roster" not in self.checked:
            self._check("roster", RosterRecord(learner.id, org_id=learner.org, name=name, group="Group C",
                                                 designation="Assistant", digest=digest(employee), updated_at=now),
                        raw)
        out[self._table(RosterRecord)].append(raw)
        self.headcounts[(learner.org, shard_of(learner.id, 4))] += 1

        # Nudge schedule: the first --due learners are due by the measured night, the rest later or done.
        today = BENCH_NOW.date()
        if learner.n < self.args.due:
            due = today - timedelta(days=learner.n % 3)
        elif learner.n % 5 < 3:
            due = today + timedelta(days=1 + learner.n % 29)
        else:
            due = None
        spell = f"a:{(learner.reached.date()).isoformat()}"
        raw = {"learner_id": _s(learner.id), "spell": _s(spell), "rung": _n(1 + learner.n % 3),
               "org_id": _s(learner.org)}
        if due:
            raw.update(due=_s(due.isoformat()), nudge_shard=_s(f"n#{shard_of(learner.id, self.nudge_shards)}"))
        if "nudge" not in self.checked:
            self._check("nudge", NudgeScheduleRecord(learner.id, spell=spell, rung=1 + learner.n % 3,
                                                       org_id=learner.org, due=due.isoformat() if due else None,
                                                       nudge_shard=raw["nudge_shard"]["S"] if due else None), raw)
        out[self._table(NudgeScheduleRecord)].append(raw)

        # Campaign progress, its org board entry, and the statistics it adds (campaigns.rules.contributions).
        if learner.campaign:
            minutes, courses, day = learner.campaign
            c = self.campaign
            at = c.start + timedelta(days=day, hours=10)
            progress = Progress(c.id, learner.id, learner.org, minutes=minutes, courses=courses, score=minutes,
                                goal_met=minutes >= 240, goal_met_at=at if minutes >= 240 else None, reached_at=at,
                                days=((self.days[day], minutes, courses),))
            ancestors = tuple(s.id for s in scopes[1:] if s.kind != "national")
            key = f"{c.id}#{shard_of(learner.id, self.progress_shards)}"
            body = {"campaign_id": c.id, "learner_id": learner.id, "org_id": learner.org, "minutes": minutes,
                    "courses": courses, "events_attended": 0, "score": minutes, "goal_met": minutes >= 240,
                    "goal_met_at": at.isoformat() if minutes >= 240 else None, "reached_at": at.isoformat(),
                    "days": [[self.days[day], minutes, courses]]}
            if "progress" not in self.checked:
                assert body == progress_to_json(progress), (body, progress_to_json(progress))
            raw = {"campaign_shard": _s(key), "learner_id": _s(learner.id), "org_id": _s(learner.org),
                   "ancestors": {"L": [_s(a) for a in ancestors]}, "score": _n(minutes),
                   "state": _s(progress.state()), "body": _s(json.dumps(body))}
            if "progress" not in self.checked:
                self._check("progress", CampaignProgressRecord(key, learner.id, org_id=learner.org,
                                                                 ancestors=list(ancestors), score=minutes,
                                                                 state=progress.state(), body=body), raw)
            out[self._table(CampaignProgressRecord)].append(raw)
            for (org, bucket), counts in contributions(progress, ancestors).items():
                shards = self.campaign_config.shards_for(self.orgs[org][0])
                shard = 0 if bucket == "own" else shard_of(learner.id, shards)
                self.stats[(f"{c.id}|{org}#{shard}", bucket)].update(counts)
            board = board_key(Scope("org", learner.org), c.period)
            entry = desired_entries(learner.id, learner.org, {c.period: minutes}, {c.period: minutes},
                                    {c.period: at}, [Scope("org", learner.org)])[board]
            raw = {"board_shard": _s(f"{board}#0"), "learner_id": _s(learner.id),
                   "rank_key": _s(entry_rank_key(entry)), "org_id": _s(learner.org), "points": _n(minutes),
                   "minutes": _n(minutes), "reached_at": _s(bench.wire_time(at)), "state": _s(entry_state(entry))}
            out[self._table(BoardEntryRecord)].append(raw)
            if learner.org == self.probe.org:
                self.campaign_counts[f"{board}#0"][minutes] += 1
        return out

    def _aggregates(self) -> dict[str, list[dict]]:
        """Board summaries (histogram per board; the national month board's materialised top, as the stream's
        fold keeps it), campaign statistics and roster headcounts, from what was seeded so far."""
        import hashlib
        from chalicelib.leaderboards.boards import NATIONAL, board_key
        from chalicelib.leaderboards.models import BoardSummaryRecord
        from chalicelib.campaigns.models import CampaignStatsRecord
        from chalicelib.rosters.models import RosterHeadcountRecord
        out: dict[str, list[dict]] = defaultdict(list)
        histograms: dict[str, Counter] = defaultdict(Counter)
        for counts in (self.score_counts, self.campaign_counts):
            for shard, by_points in counts.items():
                histograms[shard.rsplit("#", 1)[0]].update(by_points)
        size = self.board_config.top_size
        board = board_key(NATIONAL, MONTH)
        lines = []
        for key, n in sorted(self.top)[:size]:
            learner = generate(n, self.mdos, self.args.seed)
            lines.append(f"{key}|{learner.org}|{learner.minutes}")
        digest = hashlib.sha1("\n".join(lines).encode()).hexdigest()[:16]
        at = _n(time.time())
        for name, by_points in histograms.items():
            item = {"summary": _s(name), **{f"s{p}": _n(c) for p, c in by_points.items()}}
            if name == board:
                item.update(cut=_s(lines[-1].rsplit("|", 2)[0] if len(lines) >= size else ""), top_hash=_s(digest),
                            top_at=at)
            out[self._table(BoardSummaryRecord)].append(item)
        out[self._table(BoardSummaryRecord)].append({"summary": _s(f"{board}#top"),
                                                     "top": {"L": [_s(line) for line in lines]}, "top_at": at})
        for (key, bucket), fields in self.stats.items():
            out[self._table(CampaignStatsRecord)].append(
                {"stats_key": _s(key), "bucket": _s(bucket), **{f: _n(v) for f, v in sorted(fields.items())}})
        for (org, shard), employees in self.headcounts.items():
            out[self._table(RosterHeadcountRecord)].append(
                {"org_id": _s(org), "shard": _n(shard), "employees": _n(employees)})
        return out

    def _shown(self) -> None:
        """Last month's national entries for the learners a page shows (the top 21) and the probe: the page
        reads exactly those by key, with the previous month's score counts, which hold everyone."""
        from chalicelib.leaderboards.boards import NATIONAL, board_key, desired_entries
        from chalicelib.leaderboards.models import BoardEntryRecord
        from chalicelib.leaderboards.store import entry_rank_key, entry_state
        from chalicelib.sharding import shard_of
        self.top = heapq.nsmallest(TOP_KEPT, self.top)
        items = []
        for n in sorted({n for _, n in self.top[:self.board_config.top_size]} | {PROBE}):
            learner = generate(n, self.mdos, self.args.seed)
            points = learner.points.get(PREV_MONTH, 0)
            if not points:
                continue
            entry, = desired_entries(learner.id, learner.org, {PREV_MONTH: points}, {},
                                     {PREV_MONTH: learner.reached - timedelta(days=31)}, [NATIONAL]).values()
            board = board_key(NATIONAL, PREV_MONTH)
            items.append({"board_shard": _s(f"{board}#{shard_of(learner.id, self.board_config.shards_for(board))}"),
                          "learner_id": _s(learner.id), "rank_key": _s(entry_rank_key(entry)),
                          "org_id": _s(learner.org), "points": _n(points), "minutes": _n(0),
                          "reached_at": _s(bench.wire_time(entry.reached_at)), "state": _s(entry_state(entry))})
        self.writer.put(self._table(BoardEntryRecord), items)

    def grow(self, size: int) -> dict:
        """Add learners up to `size`; returns what was written and how fast."""
        started = time.perf_counter()
        items_before = self.writer.items
        now = datetime.now(timezone.utc)
        chunk = 2000
        last_report = started
        for first in range(self.size, size, chunk):
            batch: dict[str, list[dict]] = defaultdict(list)
            for n in range(first, min(size, first + chunk)):
                for name, items in self._items(generate(n, self.mdos, self.args.seed), now).items():
                    batch[name] += items
            for name, items in batch.items():
                self.writer.put(name, items)
            self.top = heapq.nsmallest(TOP_KEPT, self.top)
            done = min(size, first + chunk)
            if time.perf_counter() - last_report > self.args.report_seconds or done == size:
                last_report = time.perf_counter()
                elapsed = last_report - started
                rate = (done - self.size) / elapsed if elapsed else 0
                items_rate = (self.writer.items - items_before) / elapsed if elapsed else 0
                eta = (size - done) / rate if rate else 0
                say(f"  seeding: {inr(done)}/{inr(size)} learners, {inr(rate)} learners/s, "
                    f"{inr(items_rate)} items/s, ETA {eta / 60:.1f} min")
        aggregates = self._aggregates()
        for name, items in aggregates.items():
            self.writer.put(name, items)
        self._shown()
        self.writer.flush()
        seconds = time.perf_counter() - started
        added = size - self.size
        self.size = size
        self.seconds += seconds
        items = self.writer.items - items_before
        return {"learners_added": added, "items": items, "seconds": seconds,
                "learners_per_second": added / seconds if seconds else 0, "items_per_second": items / seconds
                if seconds else 0}


# --- measuring ------------------------------------------------------------------------------------------

@dataclass
class Figure:
    read: str
    population: int
    requests: int
    rcu: float
    ms: float
    ms_low: float
    ms_high: float
    note: str = ""


def measure(meter, read: str, population: int, call: Callable[[], object], repeats: int, note: str = "") -> Figure:
    return Figure(read, population, *bench.timed_reads(meter, call, repeats), note)


def measure_all(seeder: Seeder, adapters, meter, population: int, repeats: int) -> list[Figure]:
    from chalicelib.campaigns import reports as campaign_reports
    from chalicelib.identity.tokens import Principal
    from chalicelib.leaderboards import service as leaderboards
    from chalicelib.notifications.nudges import PAGE
    probe = seeder.probe
    viewer = Principal(probe.id, probe.org, frozenset({"learner"}))
    admin = Principal("scale-admin", probe.org, frozenset({"mdo_admin"}))
    figures = []

    page_query = {"scope": "national", "period": MONTH, "limit": "20"}
    shown = leaderboards.learner_board(page_query, adapters, BENCH_NOW, viewer)
    assert shown["total"] == sum(sum(c.values()) for k, c in seeder.score_counts.items()
                                 if k.startswith(f"national|{MONTH}#")), shown["total"]
    figures.append(measure(meter, READS[0], population,
                           lambda: leaderboards.learner_board(page_query, adapters, BENCH_NOW, viewer), repeats,
                           f"national {MONTH}, 20 rows of {inr(shown['total'])} ranked"))

    def ranks():
        stored = adapters.learners.get(probe.id)
        return leaderboards.learner_ranks(stored.standing, adapters, BENCH_NOW)
    mine = next(r for r in ranks() if r["scope"] == "national" and r["period"] == MONTH)
    figures.append(measure(meter, READS[1], population, ranks, repeats,
                           f"get + 4 scopes x 3 periods; national month rank {inr(mine['rank'])}"))

    def dashboard():
        return campaign_reports.dashboard(seeder.campaign.id, {"org_id": probe.org}, admin, adapters)
    body = dashboard()
    figures.append(measure(meter, READS[2], population, dashboard, repeats,
                           f"{probe.org}: headcount {inr(body['headcount'])}, {inr(body['participants'])} taking "
                           f"part, {len((body['not_started'] or {}).get('employees', []))} not started shown"))

    shards = adapters.notifications.settings().pending_shards
    schedule = adapters.notifications.schedule
    today = BENCH_NOW.date().isoformat()

    def select():
        selected = 0
        for shard in range(shards):
            after = None
            while True:
                entries, after = schedule.due_entries(shard, today, PAGE, after)
                selected += len(entries)
                if after is None:
                    break
        return selected
    selected = select()
    figures.append(measure(meter, READS[3], population, select, repeats,
                           f"{inr(selected)} due of {inr(population)}, {shards} shards, pages of {PAGE}"))
    return figures


# --- the replay -----------------------------------------------------------------------------------------

def build_replay(args, org_events: int):
    """A learning week from local.seed.generate_events in the same org tree: org events are left out (they
    were posted at the start), duplicates and late deliveries kept."""
    stream_args = argparse.Namespace(events=args.replay_events + org_events, learners=args.replay_learners,
                                     orgs=args.orgs, days=7, duplicates=0.05, late=0.02, seed=args.seed)
    stream = bench.build_stream(stream_args)
    orgs = [d for b in stream.batches for d in b if d.kind == "first" and d.event["type"] == "org.upserted"]
    rest = [d for b in stream.batches for d in b if not (d.kind == "first" and d.event["type"] == "org.upserted")]
    batches = [rest[i:i + bench.BATCH] for i in range(0, len(rest), bench.BATCH)]
    org_batches = [orgs[i:i + bench.BATCH] for i in range(0, len(orgs), bench.BATCH)]
    return replace(stream, batches=batches), org_batches


def run_replay(replay, batches, drain_every: int, max_seconds: Optional[float], report_seconds: float) -> dict:
    total = sum(len(b) for b in batches)
    started = time.perf_counter()
    done, last = 0, started
    stopped = False
    for number, batch in enumerate(batches, 1):
        replay.post(batch)
        done += len(batch)
        final = number == len(batches)
        out_of_time = max_seconds is not None and time.perf_counter() - started > max_seconds
        if number % drain_every == 0 or final or out_of_time:
            replay.drain(wait_for_retries=final or out_of_time)
        if time.perf_counter() - last > report_seconds or final or out_of_time:
            last = time.perf_counter()
            elapsed = last - started
            rate = done / elapsed
            say(f"  replay: {inr(done)}/{inr(total)} events, {rate:.0f} events/s (ingest "
                f"{replay.ingest_seconds:.0f} s, scoring {replay.score_seconds:.0f} s), ETA "
                f"{(total - done) / rate / 60:.1f} min")
        if out_of_time and not final:
            stopped = True
            break
    return {"events": done, "planned": total, "wall": time.perf_counter() - started, "stopped": stopped}


# --- the report -----------------------------------------------------------------------------------------

def figures_table(figures: list[Figure]) -> str:
    rows = [[f.read, inr(f.population), inr(f.requests), f"{f.rcu:.1f}", f"{f.ms:.0f}",
             f"{f.ms_low:.0f}-{f.ms_high:.0f}", f.note] for f in figures]
    return table(["read", "learners", "requests", "RCU", "ms", "ms range", "what"], rows, "lrrrrrl")


def chart(figures: list[Figure], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter
    populations = sorted({f.population for f in figures})
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    for ax, (label, value) in zip(axes, (("DynamoDB requests per call", lambda f: f.requests),
                                         ("read capacity units per call", lambda f: f.rcu),
                                         ("milliseconds per call (median)", lambda f: f.ms))):
        for read, marker in zip(READS, "osD^"):
            points = sorted((f.population, value(f)) for f in figures if f.read == read)
            ax.plot([p for p, _ in points], [v for _, v in points], marker=marker, label=read, linewidth=2)
        ax.set_xscale("log")
        ax.set_xticks(populations)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: inr(x)))
        ax.minorticks_off()
        ax.set_ylim(bottom=0, top=max(value(f) for f in figures) * 1.25 or 1)
        ax.set_title(label)
        ax.set_xlabel("learners (log scale)")
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(READS), frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def replay_report(replay, outcome: dict, population: int) -> tuple[list[str], dict]:
    n = outcome["events"]
    ingest, score = replay.ingest_usage.total, replay.score_usage.total
    both = replay.ingest_seconds + replay.score_seconds
    figures = {"population": population, "events": n, "planned": outcome["planned"], "stopped": outcome["stopped"],
               "wall_seconds": round(outcome["wall"], 1),
               "ingest_events_per_second": round(n / replay.ingest_seconds, 1) if replay.ingest_seconds else None,
               "scoring_events_per_second": round(n / replay.score_seconds, 1) if replay.score_seconds else None,
               "requests_per_event": round((ingest.requests + score.requests) / n, 2) if n else None,
               "rcu_per_event": round((ingest.rcu + score.rcu) / n, 2) if n else None,
               "wcu_per_event": round((ingest.wcu + score.wcu) / n, 2) if n else None,
               "outcomes": dict(replay.outcomes)}
    rows = [["ingest (POST /v1/events)", f"{replay.ingest_seconds:.0f}", f"{figures['ingest_events_per_second']}",
             f"{ingest.requests / n:.2f}", f"{ingest.rcu / n:.2f}", f"{ingest.wcu / n:.2f}"],
            ["scoring (score_streams)", f"{replay.score_seconds:.0f}", f"{figures['scoring_events_per_second']}",
             f"{score.requests / n:.2f}", f"{score.rcu / n:.2f}", f"{score.wcu / n:.2f}"],
            ["both", f"{both:.0f}", f"{n / both:.1f}", f"{figures['requests_per_event']}",
             f"{figures['rcu_per_event']}", f"{figures['wcu_per_event']}"]]
    fold = getattr(replay, "fold_usage", None)
    if fold is not None and n:
        figures.update(fold_records=replay.fold_records, fold_batches=replay.fold_batches,
                       fold_seconds=round(replay.fold_seconds, 1), fold_requests_per_event=round(fold.requests / n, 2),
                       fold_rcu_per_event=round(fold.rcu / n, 2), fold_wcu_per_event=round(fold.wcu / n, 2))
        rows.append([f"board stream fold ({inr(replay.fold_records)} changes, {inr(replay.fold_batches)} batches)",
                     f"{replay.fold_seconds:.0f}", "", f"{fold.requests / n:.2f}", f"{fold.rcu / n:.2f}",
                     f"{fold.wcu / n:.2f}"])
    out = [bench.heading(f"Learning-week replay at {inr(population)} learners"),
           f"{inr(n)} events delivered" + (f" of {inr(outcome['planned'])} planned (stopped by --replay-max-seconds or --replay-until)"
                                           if outcome["stopped"] else "")
           + f" through the signed webhook and score_streams, in batches of {bench.BATCH}; answers: "
           + ", ".join(f"{k} {inr(v)}" for k, v in sorted(replay.outcomes.items()))
           + f"; {inr(replay.messages['received'])} scoring messages, {inr(replay.messages['failed'])} failed.",
           table(["phase", "seconds", "events/s", "requests/event", "RCU/event", "WCU/event"], rows)]
    return out, figures


# --- main -----------------------------------------------------------------------------------------------

def parse_args(argv):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m local.bench_scale", description=(
        "National scale on DynamoDB Local: grow a population to 10 lakh learners in 5,000 orgs, measure a board "
        "page, one learner's ranks, an org's campaign dashboard and the nightly nudge selection at each size, "
        "then replay a learning week through the real handlers."))
    parser.add_argument("--learners-steps", default="10000,100000,1000000",
                        help="populations to measure at, ascending (the tables grow from one to the next)")
    parser.add_argument("--orgs", type=int, default=5000, help="mdo orgs (plus their departments and ministries)")
    parser.add_argument("--replay-events", type=int, default=100_000, help="events of the learning-week replay "
                                                                           "(0: no replay)")
    parser.add_argument("--replay-learners", type=int, default=None,
                        help="learners of the replay's stream (default: a fifth of --replay-events)")
    parser.add_argument("--replay-max-seconds", type=float, default=None,
                        help="stop the replay after this long and report what was replayed")
    parser.add_argument("--replay-until", default=None,
                        help="HH:MM (UTC): stop the replay at this time of day and report what was replayed")
    parser.add_argument("--drain-every", type=int, default=5, help="webhook batches between scoring drains")
    parser.add_argument("--due", type=int, default=500, help="learners due a nudge on the measured night")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per read (after one warm-up)")
    parser.add_argument("--workers", type=int, default=6, help="seeding threads")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chart", default="out/bench-scale.png", help="where the PNG chart goes")
    parser.add_argument("--json", default="out/bench-scale.json", help="where the figures go, as JSON")
    parser.add_argument("--report-seconds", type=float, default=15, help="progress line interval")
    parser.add_argument("--replot", metavar="JSON", default=None,
                        help="only draw the chart again from the figures of an earlier run (its --json file)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 2,000 and 5,000 learners in 50 orgs, a 2,000-event replay")
    args = parser.parse_args(argv)
    args.argv = argv
    if args.quick:
        args.learners_steps, args.orgs, args.replay_events, args.due = "2000,5000", 50, 2000, 50
        args.repeats = min(args.repeats, 3)
    try:
        args.steps = sorted({int(s.strip().replace("_", "")) for s in args.learners_steps.split(",") if s.strip()})
    except ValueError:
        parser.error("--learners-steps takes whole numbers separated by commas")
    if not args.steps or args.steps[0] <= PROBE or args.steps[0] < args.due:
        parser.error("the first step must hold the probe learner and the --due learners")
    args.replay_learners = args.replay_learners or max(200, args.replay_events // 5)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.replot:
        figures = [Figure(**f) for f in json.loads(Path(args.replot).read_text())["figures"]]
        chart(figures, Path(args.chart), TITLE)
        print(f"Chart: {args.chart}")
        return 0
    return bench.run_with_backends(run, args)


def run(args) -> int:
    if str(bench.PROJECT) not in sys.path:
        sys.path.insert(0, str(bench.PROJECT))
    import boto3
    from chalice.test import Client

    import app as app_module
    from chalicelib import bootstrap, settings
    from chalicelib.campaigns import lifecycle as campaign_lifecycle, service as campaigns
    from chalicelib.identity.tokens import Principal
    from chalicelib.storage.dynamodb import create_tables
    from local.metering import DynamoMeter

    logging.getLogger("botocore").setLevel(logging.WARNING)  # not every client's credential lookup
    started = time.perf_counter()
    create_tables()
    sqs = boto3.client("sqs", region_name=bench.REGION)
    queue_url = sqs.create_queue(QueueName=settings.SCORING_QUEUE, Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
    # The bench's campaign starts before it is made: its backfill job (chalicelib/rescore.py) goes to the audit
    # queue. Nothing here consumes it: the replay's events are what the campaign figures measure.
    sqs.create_queue(QueueName=settings.AUDIT_QUEUE)
    adapters = bootstrap.adapters()
    meter = DynamoMeter().install_for(adapters)
    client = Client(app_module.app, stage_name="dev", project_dir=str(bench.PROJECT))
    command = " ".join(["python -m local.bench_scale"] + args.argv)

    say("generating the replay stream")
    from local.seed import org_tree
    stream, org_batches = build_replay(args, len(org_tree(args.orgs))) if args.replay_events else (None, [])
    if not args.replay_events:
        from local.seed import generate_events
        seeded = generate_events(learners=1, orgs=args.orgs, days=7, seed=args.seed)
        org_batches = [[Delivery(e, "first") for e in seeded.orgs[i:i + bench.BATCH]]
                       for i in range(0, len(seeded.orgs), bench.BATCH)]
    org_count = sum(len(b) for b in org_batches)
    say(f"posting {inr(org_count)} org.upserted events through the webhook and scoring")
    setup = bench.Replay(app_module, client, sqs, queue_url, meter, adapters)
    for number, batch in enumerate(org_batches, 1):
        setup.post(batch)
        if number % 10 == 0 or number == len(org_batches):
            setup.drain(wait_for_retries=number == len(org_batches))
    orgs = {o.org_id: (o.type, o.parent_id) for o in _all_orgs([d.event for b in org_batches for d in b])}

    # The campaign: national, live through the replayed week (and beyond the real clock, so that it stays live).
    now = datetime.now(timezone.utc)
    window_start = stream.window[0] if stream else now - timedelta(days=7)
    national = Principal("scale-national-admin", None, frozenset({"national_admin"}))
    body = json.dumps({"name": "National Learning Week (scale bench)", "scope": "national",
                       "start": (window_start - timedelta(hours=1)).astimezone(IST).isoformat(),
                       "end": (now + timedelta(days=3)).astimezone(IST).isoformat(), "status": "scheduled"}).encode()
    created = campaigns.create(body, national, adapters, now)
    campaign_lifecycle.advance(adapters, now)
    campaign = adapters.campaigns.get(created["id"])
    assert campaign.status == "live", campaign.status

    writer = Writer(args.workers)
    seeder = Seeder(args, orgs, campaign, adapters, writer)
    results = {"command": command, "orgs": len(seeder.mdos), "org_tree": len(orgs), "steps": [], "figures": []}
    figures: list[Figure] = []
    print(f"Karmayogi Engage at national scale: {command}\nDynamoDB Local "
          f"{bench.dynamodb_local.jar_dir().name.replace('dynamodb_local_', '')}, {inr(len(seeder.mdos))} mdo orgs "
          f"({inr(len(orgs))} in the tree), campaign {campaign.id}; probe learner {seeder.probe.id} in "
          f"{seeder.probe.org}.", flush=True)
    for size in args.steps:
        say(f"growing the population to {inr(size)} learners")
        grown = seeder.grow(size)
        say(f"measuring at {inr(size)} learners")
        step = measure_all(seeder, adapters, meter, size, args.repeats)
        figures += step
        results["steps"].append({"learners": size, **{k: round(v, 1) if isinstance(v, float) else v
                                                      for k, v in grown.items()}})
        print(bench.heading(f"{inr(size)} learners (seeded {inr(grown['learners_added'])} more: "
                            f"{inr(grown['items'])} items in {grown['seconds']:.0f} s, "
                            f"{inr(grown['learners_per_second'])} learners/s, {inr(grown['items_per_second'])} items/s)"),
              flush=True)
        print(figures_table(step), flush=True)
        results["figures"] = [f.__dict__ for f in figures]
        _save(args, results, figures)
    writer.close()

    print(bench.heading("Reads against population (requests and RCU of one call; ms: median of "
                        f"{args.repeats} after a warm-up)"))
    print(figures_table(sorted(figures, key=lambda f: (READS.index(f.read), f.population))), flush=True)
    flat = {read: len({f.requests for f in figures if f.read == read}) == 1 for read in READS}
    print("\nRequests per call the same at every population: "
          + ", ".join(f"{read} {'yes' if same else 'NO'}" for read, same in flat.items()), flush=True)
    results["flat_requests"] = flat
    print(f"Chart: {args.chart}", flush=True)

    if stream is not None:
        say(f"replaying a learning week: {inr(stream.deliveries)} events at {inr(seeder.size)} learners")
        replay = bench.Replay(app_module, client, sqs, queue_url, meter, adapters)
        from local.board_stream import BoardStreamPoller
        poller = BoardStreamPoller(adapters)
        say(f"passing over {inr(poller.skip())} seeded board-entry records of the stream (their summaries are seeded)")
        limit = args.replay_max_seconds
        if args.replay_until:
            hour, minute = (int(x) for x in args.replay_until.split(":"))
            clock = datetime.now(timezone.utc)
            until = clock.replace(hour=hour, minute=minute, second=0, microsecond=0)
            left = max(0.0, (until - clock).total_seconds())
            limit = left if limit is None else min(limit, left)
        outcome = run_replay(replay, stream.batches, args.drain_every, limit, args.report_seconds)
        before, fold_started = meter.snapshot(), time.perf_counter()
        replay.fold_records = poller.drain()  # the replay's entry changes into the board summaries, as one backlog
        replay.fold_seconds, replay.fold_usage = time.perf_counter() - fold_started, meter.since(before)
        replay.fold_batches = poller.batches
        lines, replay_figures = replay_report(replay, outcome, seeder.size)
        print(bench.render(lines), flush=True)
        results["replay"] = replay_figures
        _save(args, results, figures)
    print(f"\nTotal run time {time.perf_counter() - started:.0f} s.", flush=True)
    return 0


def _all_orgs(events: list[dict]):
    return [_Org(e["org"]) for e in events if e["type"] == "org.upserted"]


@dataclass
class _Org:
    block: dict
    org_id: str = field(init=False)
    type: str = field(init=False)
    parent_id: Optional[str] = field(init=False)

    def __post_init__(self):
        self.org_id, self.type, self.parent_id = self.block["id"], self.block["type"], self.block.get("parent_id")


def _save(args, results: dict, figures: list[Figure]) -> None:
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, default=str))
    chart(figures, Path(args.chart), TITLE)


if __name__ == "__main__":
    sys.exit(main())
