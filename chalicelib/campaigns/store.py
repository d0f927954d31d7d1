"""Campaign storage: definitions, per-learner progress, pre-aggregated org statistics, results and awards.

A change of one learner's progress is written with the statistics it changes in one transaction conditioned
on the progress record's previous state, so a retried or concurrent recompute never counts it twice (the
board store's pattern). Reads are a fixed number of requests: one query per statistics shard of an org.
"""
from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Iterable, Mapping, Optional, Protocol

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import settings
from chalicelib.campaigns.definition import Campaign, as_dict, from_dict
from chalicelib.campaigns.rules import Progress
from chalicelib.rules.periods import utc_stamp
from chalicelib.storage.models import DomainEventRecord, pending_fact_key
from chalicelib.campaigns.models import (CampaignAwardRecord, CampaignProgressRecord, CampaignRecord,
                                         CampaignStatsRecord)
from chalicelib.counters import DynamoCounters, MemoryCounters  # creations per admin and day are a budget
from chalicelib.facts import DomainEvent
from chalicelib.storage.ports import ConcurrentUpdate
from chalicelib.sharding import shard_of
from chalicelib.storage.conditions import applied

StatsDelta = Mapping[tuple[str, str], Mapping[str, int]]  # (org id, bucket) -> field -> amount


def list_key(c: Campaign) -> str:
    """Where a campaign sorts in GET /v1/campaigns: by start, then id (the listing's cursor is one of these)."""
    return f"{utc_stamp(c.start)}#{c.id}"


def _index_keys(c: Campaign) -> dict:
    return {"scope_status": f"{c.scope}|{c.status}", "list_sort": list_key(c)}
_TRANSACTION_ITEMS = 100


@dataclass(frozen=True)
class StoredProgress:
    progress: Progress
    ancestors: tuple[str, ...]


@dataclass(frozen=True)
class Award:
    learner_id: str
    badge_id: str
    campaign_id: str
    name: str
    description: str
    awarded_at: datetime


def progress_to_json(p: Progress) -> dict:
    data = asdict(p)
    for name in ("goal_met_at", "reached_at"):
        data[name] = data[name].isoformat() if data[name] else None
    data["days"] = [list(d) for d in p.days]
    return data


def progress_from_json(d: dict) -> Progress:
    d = dict(d)
    for name in ("goal_met_at", "reached_at"):
        d[name] = datetime.fromisoformat(d[name]) if d.get(name) else None
    d["days"] = tuple(tuple(x) for x in d.get("days", ()))
    return Progress(**d)


class CampaignStore(Protocol):
    progress_shards: int

    def create(self, campaign: Campaign) -> None: ...
    def get(self, campaign_id: str) -> Optional[Campaign]: ...
    def listing(self, scope: Optional[str], statuses: Iterable[str], before: Optional[str],
                limit: int) -> list[Campaign]:
        """Up to `limit` campaigns of these statuses (and this scope, if given) whose list_key is below
        `before`, in list_key order, highest first (newest start first): index queries, never a scan."""
    def take_creation(self, key: str, limit: int) -> bool:
        """Count one campaign created under `key` (an admin's day) unless `limit` are counted. False: spent."""
    def all(self) -> list[Campaign]:
        """Every campaign (a small table: scoring caches it)."""
    def replace(self, campaign: Campaign, expected_status: str) -> bool:
        """Write this definition if the stored status is still expected_status."""
    def progress(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], StoredProgress]:
        """(campaign id, learner id) -> stored progress, one batch read."""
    def apply_progress(self, old: Optional[StoredProgress], new: Optional[Progress], ancestors: tuple[str, ...],
                       delta: StatsDelta, shards: Mapping[str, int]) -> None:
        """Replace old by new and add delta to the stats (shard of each org by the learner; the "own" bucket,
        read per org by reports, always in shard 0), all or nothing;
        ConcurrentUpdate if the stored progress is no longer `old`."""
    def stats(self, campaign_id: str, org_id: str, shards: int) -> dict[str, Counter]:
        """bucket -> summed fields over the org's shards."""
    def totals(self, campaign_id: str, orgs: Mapping[str, int], bucket: str) -> dict[str, Counter]:
        """One bucket of several orgs (org id -> shards), one batch read."""
    def progress_page(self, campaign_id: str, shard: int, after: Optional[str],
                      limit: int) -> tuple[list[StoredProgress], Optional[str]]: ...
    def freeze_results(self, campaign_id: str, summary: dict, rows: list[dict]) -> bool:
        """Write the results once: False (and nothing written to the record) if they exist already."""
    def results(self, campaign_id: str) -> Optional[dict]:
        """The frozen results summary, None until closing has computed it."""
    def report_rows(self, campaign_id: str) -> list[dict]: ...
    def close_state(self, campaign_id: str) -> tuple[int, dict]: ...
    def move_close_cursor(self, campaign_id: str, step: int, cursor: dict) -> bool:
        """Set the cursor if the record is still at `step` (then at step + 1)."""
    def set_status(self, campaign_id: str, expected: str, status: str) -> bool: ...
    def award(self, awards: list[Award], facts: list[DomainEvent]) -> None:
        """Idempotent: the same award or fact written again is the same item."""
    def awards_of(self, learner_id: str) -> list[Award]: ...


def _now() -> datetime:
    return datetime.now(timezone.utc)


class DynamoCampaignStore:
    def __init__(self, progress_shards: int, connection: Optional[Connection] = None):
        self.progress_shards = progress_shards
        self._connection = connection or Connection(region=settings.REGION)
        self._pool = ThreadPoolExecutor(max_workers=8)

    def _progress_key(self, campaign_id: str, learner_id: str) -> tuple[str, str]:
        return f"{campaign_id}#{shard_of(learner_id, self.progress_shards)}", learner_id

    @staticmethod
    def _stats_key(campaign_id: str, org_id: str, shard: int) -> str:
        return f"{campaign_id}|{org_id}#{shard}"

    # --- definitions ---
    def create(self, campaign):
        CampaignRecord(campaign.id, scope=campaign.scope, status=campaign.status, definition=as_dict(campaign),
                       close_step=0, updated_at=_now(), **_index_keys(campaign)).save(
            condition=CampaignRecord.campaign_id.does_not_exist())

    def listing(self, scope, statuses, before, limit):
        found = []
        for status in statuses:
            condition = CampaignRecord.list_sort < before if before else None
            if scope:
                rows = CampaignRecord.by_scope_status.query(f"{scope}|{status}", range_key_condition=condition,
                                                            scan_index_forward=False, limit=limit, page_size=limit)
            else:
                rows = CampaignRecord.by_status.query(status, range_key_condition=condition,
                                                      scan_index_forward=False, limit=limit, page_size=limit)
            found += [from_dict(r.definition) for r in rows]
        return sorted(found, key=list_key, reverse=True)[:limit]

    def backfill_index_keys(self) -> int:
        """Give campaigns stored before the listing's indexes their index keys (chalicelib/ops/
        backfill_campaign_index.py). Idempotent; returns how many were written."""
        written = 0
        for record in CampaignRecord.scan(filter_condition=CampaignRecord.list_sort.does_not_exist()):
            keys = _index_keys(from_dict(record.definition))
            if applied(partial(CampaignRecord(record.campaign_id).update,
                               actions=[CampaignRecord.scope_status.set(keys["scope_status"]),
                                        CampaignRecord.list_sort.set(keys["list_sort"])],
                               condition=CampaignRecord.list_sort.does_not_exist())):
                written += 1
        return written

    def take_creation(self, key, limit):
        return DynamoCounters().take(key, limit)

    def get(self, campaign_id):
        try:
            return from_dict(CampaignRecord.get(campaign_id, consistent_read=True).definition)
        except DoesNotExist:
            return None

    def all(self):
        return [from_dict(r.definition) for r in CampaignRecord.scan(attributes_to_get=["definition"])]

    def replace(self, campaign, expected_status):
        keys = _index_keys(campaign)
        return applied(lambda: CampaignRecord(campaign.id).update(
            actions=[CampaignRecord.definition.set(as_dict(campaign)), CampaignRecord.scope.set(campaign.scope),
                     CampaignRecord.status.set(campaign.status), CampaignRecord.version.add(1),
                     CampaignRecord.updated_at.set(_now()), CampaignRecord.scope_status.set(keys["scope_status"]),
                     CampaignRecord.list_sort.set(keys["list_sort"])],
            condition=CampaignRecord.status == expected_status))

    def set_status(self, campaign_id, expected, status):
        record = CampaignRecord.get(campaign_id, consistent_read=True)
        definition = dict(record.definition, status=status)
        keys = _index_keys(from_dict(definition))
        return applied(lambda: CampaignRecord(campaign_id).update(
            actions=[CampaignRecord.status.set(status), CampaignRecord.definition.set(definition),
                     CampaignRecord.updated_at.set(_now()), CampaignRecord.scope_status.set(keys["scope_status"]),
                     CampaignRecord.list_sort.set(keys["list_sort"])],
            condition=CampaignRecord.status == expected))

    # --- progress and statistics ---
    def progress(self, keys):
        wanted = [self._progress_key(c, l) for c, l in dict.fromkeys(keys)]
        found = {}
        for r in CampaignProgressRecord.batch_get(wanted, consistent_read=True):
            p = progress_from_json(r.body)
            found[(p.campaign_id, p.learner_id)] = StoredProgress(p, tuple(r.ancestors or ()))
        return found

    def apply_progress(self, old, new, ancestors, delta, shards):
        some = (new or old.progress)
        key = self._progress_key(some.campaign_id, some.learner_id)
        condition = (CampaignProgressRecord.state == old.progress.state() if old
                     else CampaignProgressRecord.learner_id.does_not_exist())
        try:
            with TransactWrite(connection=self._connection) as tx:
                if new:
                    tx.save(CampaignProgressRecord(*key, org_id=new.org_id, ancestors=list(ancestors),
                                                   score=new.score, state=new.state(), body=progress_to_json(new)),
                            condition=condition)
                else:
                    tx.delete(CampaignProgressRecord(*key), condition=condition)
                for (org_id, bucket), change in sorted(delta.items()):
                    shard = 0 if bucket == "own" else shard_of(some.learner_id, shards.get(org_id, 1))
                    attributes = CampaignStatsRecord.get_attributes()
                    tx.update(CampaignStatsRecord(self._stats_key(some.campaign_id, org_id, shard), bucket),
                              actions=[attributes[f].add(v) for f, v in sorted(change.items())])
        except TransactWriteError as exc:
            codes = {r.code for r in (exc.cancellation_reasons or []) if r}
            if codes & {"ConditionalCheckFailed", "TransactionConflict"}:
                raise ConcurrentUpdate("campaign progress changed meanwhile") from exc
            raise

    @staticmethod
    def _counts(record) -> Counter:
        return Counter({f: int(getattr(record, f) or 0)
                        for f in ("participants", "goal_met", "courses", "minutes", "active")})

    def stats(self, campaign_id, org_id, shards):
        buckets: dict[str, Counter] = {}
        for shard in range(shards):
            for r in CampaignStatsRecord.query(self._stats_key(campaign_id, org_id, shard)):
                buckets.setdefault(r.bucket, Counter()).update(self._counts(r))
        return buckets

    def totals(self, campaign_id, orgs, bucket):
        keys = [(self._stats_key(campaign_id, org, shard), bucket) for org, n in orgs.items() for shard in range(n)]
        out: dict[str, Counter] = {}
        for r in CampaignStatsRecord.batch_get(keys):
            org = r.stats_key.split("|", 1)[1].rsplit("#", 1)[0]
            out.setdefault(org, Counter()).update(self._counts(r))
        return out

    def progress_page(self, campaign_id, shard, after, limit):
        rows = list(CampaignProgressRecord.query(
            f"{campaign_id}#{shard}", range_key_condition=CampaignProgressRecord.learner_id > after if after else None,
            limit=limit, page_size=limit))
        page = [StoredProgress(progress_from_json(r.body), tuple(r.ancestors or ())) for r in rows]
        return page, (rows[-1].learner_id if len(rows) == limit else None)

    # --- results ---
    def freeze_results(self, campaign_id, summary, rows):
        with CampaignStatsRecord.batch_write() as batch:  # identical rows if a second run gets here too
            for row in rows:
                batch.save(CampaignStatsRecord(f"{campaign_id}|report", row["org_id"], row=row))
        return applied(lambda: CampaignRecord(campaign_id).update(actions=[CampaignRecord.results.set(summary)],
                                                                  condition=CampaignRecord.results.does_not_exist()))

    def results(self, campaign_id) -> Optional[dict]:
        try:
            return CampaignRecord.get(campaign_id, consistent_read=True, attributes_to_get=["results"]).results
        except DoesNotExist:
            return None

    def report_rows(self, campaign_id):
        return [r.row for r in CampaignStatsRecord.query(f"{campaign_id}|report")]

    def close_state(self, campaign_id):
        record = CampaignRecord.get(campaign_id, consistent_read=True)
        return int(record.close_step or 0), dict(record.close_cursor or {})

    def move_close_cursor(self, campaign_id, step, cursor):
        return applied(lambda: CampaignRecord(campaign_id).update(
                                   actions=[CampaignRecord.close_cursor.set(cursor), CampaignRecord.close_step.set(step + 1)],
                                   condition=CampaignRecord.close_step == step))

    # --- awards ---
    def award(self, awards, facts):
        # created_at is the fact's own time: writing the same fact again leaves the item unchanged (DynamoDB
        # Streams then records nothing for it). `pending` puts each fact on the sparse index notifications poll
        # (badge digests, campaign results); a page awarded again after a crash makes a fact pending again,
        # and the outbox's dedupe key sends its message once all the same. Batches of a page go out together: closing is write-bound.
        records = [CampaignAwardRecord(a.learner_id, a.badge_id, campaign_id=a.campaign_id, name=a.name,
                                       description=a.description, awarded_at=a.awarded_at) for a in awards] + \
                  [DomainEventRecord(f.id, kind=f.kind, learner_id=f.learner_id, occurred_at=f.occurred_at,
                                     payload=f.payload, created_at=f.occurred_at,
                                     pending=pending_fact_key(f.kind, f.id)) for f in facts]

        def write(chunk):
            model = type(chunk[0])
            with model.batch_write() as batch:
                for record in chunk:
                    batch.save(record)
        chunks = [records[i:i + 25] for i in range(0, len(records), 25)]
        chunks = [[r for r in c if isinstance(r, kind)] for c in chunks
                  for kind in (CampaignAwardRecord, DomainEventRecord)]
        list(self._pool.map(write, [c for c in chunks if c]))

    def awards_of(self, learner_id):
        return [Award(r.learner_id, r.badge_id, r.campaign_id, r.name, r.description, r.awarded_at)
                for r in CampaignAwardRecord.query(learner_id)]


class MemoryCampaignStore:
    def __init__(self, progress_shards: int = 4):
        self.progress_shards = progress_shards
        self.campaigns: dict[str, dict] = {}  # id -> {"campaign", "results", "close_step", "close_cursor"}
        self.progress_records: dict[tuple[str, str], StoredProgress] = {}
        self.stats_items: dict[tuple[str, str, int, str], Counter] = {}  # (campaign, org, shard, bucket)
        self.rows: dict[str, dict[str, dict]] = {}
        self.awards: dict[tuple[str, str], Award] = {}
        self.facts: dict[str, DomainEvent] = {}
        self.creations = MemoryCounters()  # take_creation's budget

    def create(self, campaign):
        if campaign.id in self.campaigns:
            raise ValueError("campaign exists")
        self.campaigns[campaign.id] = {"campaign": campaign, "results": None, "close_step": 0, "close_cursor": {}}

    def get(self, campaign_id):
        item = self.campaigns.get(campaign_id)
        return copy.deepcopy(item["campaign"]) if item else None

    def all(self):
        return [copy.deepcopy(i["campaign"]) for i in self.campaigns.values()]

    def listing(self, scope, statuses, before, limit):
        wanted = set(statuses)
        found = [i["campaign"] for i in self.campaigns.values()
                 if i["campaign"].status in wanted and (scope is None or i["campaign"].scope == scope)
                 and (before is None or list_key(i["campaign"]) < before)]
        return copy.deepcopy(sorted(found, key=list_key, reverse=True)[:limit])

    def take_creation(self, key, limit):
        return self.creations.take(key, limit)

    def replace(self, campaign, expected_status):
        item = self.campaigns.get(campaign.id)
        if not item or item["campaign"].status != expected_status:
            return False
        item["campaign"] = campaign
        return True

    def set_status(self, campaign_id, expected, status):
        from dataclasses import replace as dc_replace
        item = self.campaigns[campaign_id]
        if item["campaign"].status != expected:
            return False
        item["campaign"] = dc_replace(item["campaign"], status=status)
        return True

    def progress(self, keys):
        return {k: self.progress_records[k] for k in keys if k in self.progress_records}

    def apply_progress(self, old, new, ancestors, delta, shards):
        some = new or old.progress
        key = (some.campaign_id, some.learner_id)
        current = self.progress_records.get(key)
        if (current.progress.state() if current else None) != (old.progress.state() if old else None):
            raise ConcurrentUpdate("campaign progress changed meanwhile")
        if new:
            self.progress_records[key] = StoredProgress(new, tuple(ancestors))
        else:
            del self.progress_records[key]
        for (org_id, bucket), change in delta.items():
            shard = 0 if bucket == "own" else shard_of(some.learner_id, shards.get(org_id, 1))
            self.stats_items.setdefault((some.campaign_id, org_id, shard, bucket), Counter()).update(change)

    def stats(self, campaign_id, org_id, shards):
        out: dict[str, Counter] = {}
        for (c, o, _, bucket), counts in self.stats_items.items():
            if c == campaign_id and o == org_id:
                out.setdefault(bucket, Counter()).update(counts)
        return out

    def totals(self, campaign_id, orgs, bucket):
        out: dict[str, Counter] = {}
        for (c, o, _, b), counts in self.stats_items.items():
            if c == campaign_id and o in orgs and b == bucket:
                out.setdefault(o, Counter()).update(counts)
        return out

    def progress_page(self, campaign_id, shard, after, limit):
        ids = sorted(l for (c, l) in self.progress_records
                     if c == campaign_id and shard_of(l, self.progress_shards) == shard and (after is None or l > after))
        page = ids[:limit]
        return [self.progress_records[(campaign_id, l)] for l in page], (page[-1] if len(page) == limit else None)

    def freeze_results(self, campaign_id, summary, rows):
        self.rows.setdefault(campaign_id, {}).update({r["org_id"]: copy.deepcopy(r) for r in rows})
        item = self.campaigns[campaign_id]
        if item["results"] is not None:
            return False
        item["results"] = copy.deepcopy(summary)
        return True

    def results(self, campaign_id):
        item = self.campaigns.get(campaign_id)
        return copy.deepcopy(item["results"]) if item else None

    def report_rows(self, campaign_id):
        return [self.rows[campaign_id][k] for k in sorted(self.rows.get(campaign_id, {}))]

    def close_state(self, campaign_id):
        item = self.campaigns[campaign_id]
        return item["close_step"], dict(item["close_cursor"])

    def move_close_cursor(self, campaign_id, step, cursor):
        item = self.campaigns[campaign_id]
        if item["close_step"] != step:
            return False
        item["close_step"], item["close_cursor"] = step + 1, dict(cursor)
        return True

    def award(self, awards, facts):
        self.awards.update({(a.learner_id, a.badge_id): a for a in awards})
        self.facts.update({f.id: f for f in facts})

    def awards_of(self, learner_id):
        return [a for (l, _), a in sorted(self.awards.items()) if l == learner_id]
