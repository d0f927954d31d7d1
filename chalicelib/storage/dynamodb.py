"""DynamoDB adapters (PynamoDB) for the interfaces in storage/ports.py."""
from __future__ import annotations

import dataclasses
from collections import Counter
import json
import zlib
from datetime import datetime, timezone
from typing import Optional

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib import settings
from chalicelib.events import Event, OrgBlock, parse_stored, stream_of
from chalicelib.learners.ledger import LedgerEntry
from chalicelib.rules.checkpoint import Checkpoint, from_json as checkpoint_from, saved_as, to_json as checkpoint_json
from chalicelib.rules.learner import BadgeAward, LearnerStanding, Profile
from chalicelib.rules.privacy import Listing
from chalicelib.storage.models import (PENDING_FACT_SHARDS, CheckpointRecord, DomainEventRecord, EventRecord,
                                       LearnerRecord, LedgerRecord, OrgRecord, pending_fact_key)
from chalicelib.facts import DomainEvent
from chalicelib.storage.ports import ConcurrentUpdate, Org, StoredLearner
from chalicelib.storage.conditions import applied, conditional_failed

# DynamoDB allows 100 items in one transaction; one of them is always the learner (and one the checkpoint, if any).
_TRANSACTION_ITEMS = 99


def _now() -> datetime:
    return datetime.now(timezone.utc)


class DynamoEventStore:
    def add(self, event: Event, received_at: datetime, body_hash: Optional[str] = None) -> bool:
        record = EventRecord(stream_of(event), event.id, type=event.type, occurred_at=event.occurred_at,
                             received_at=received_at, body=event.model_dump(mode="json"), body_sha256=body_hash)
        return applied(lambda: record.save(condition=EventRecord.event_id.does_not_exist()))

    def body_hash(self, stream: str, event_id: str) -> Optional[str]:
        try:
            return EventRecord.get(stream, event_id, consistent_read=True,
                                   attributes_to_get=["body_sha256"]).body_sha256
        except DoesNotExist:
            return None

    def stream(self, stream: str) -> list[Event]:
        return self.stream_received(stream)[0]

    def stream_received(self, stream: str) -> tuple[list[Event], dict[str, datetime]]:
        records = list(EventRecord.query(stream, consistent_read=True))
        return [parse_stored(r.body) for r in records], {r.event_id: r.received_at for r in records}

    def received_since(self, stream: str, since: datetime) -> tuple[list[Event], dict[str, datetime]]:
        records = list(EventRecord.by_arrival.query(stream, EventRecord.received_at >= since, consistent_read=True))
        return [parse_stored(r.body) for r in records], {r.event_id: r.received_at for r in records}

    def rewrite(self, stream: str, event_id: str, body: dict) -> None:
        EventRecord(stream, event_id).update(actions=[EventRecord.body.set(body)],
                                             condition=EventRecord.event_id.exists())


def _standing_from(record: LearnerRecord) -> LearnerStanding:
    known = {f.name for f in dataclasses.fields(Profile)}
    return LearnerStanding(
        learner_id=record.learner_id,
        profile=Profile(**{k: v for k, v in (record.profile or {}).items() if k in known}),
        points=int(record.points), courses_completed=int(record.courses_completed),
        learning_minutes=int(record.learning_minutes), competency_areas=set(record.competency_areas or []),  # type: ignore[arg-type]  # pynamodb: str items typed as attributes
        courses_in_area=Counter(record.courses_in_area or {}), ratings=int(record.ratings),
        clap_weeks=list(record.clap_weeks or []), best_clap_streak=int(record.best_clap_streak),  # type: ignore[arg-type]  # pynamodb: str items typed as attributes
        badges={bid: BadgeAward(bid, b["event_id"], datetime.fromisoformat(b["awarded_at"]))
                for bid, b in (record.badges or {}).items()},
        **_periods_from(record),
        last_active_at=record.last_active_at, held_events=int(record.held_events or 0),
        rejected_events=int(record.rejected_events or 0),
    )


def _periods_of(s: LearnerStanding) -> bytes:
    """points_by_period, minutes_by_period and reached_at in one compressed attribute (about a fifth of the size
    as maps: a 2,000-event learner's item goes from about 15 KB to 4)."""
    periods = {"points": dict(s.points_by_period), "minutes": dict(s.minutes_by_period),
               "reached": {k: v.isoformat() for k, v in s.reached_at.items()}}
    return zlib.compress(json.dumps(periods, separators=(",", ":"), sort_keys=True).encode(), 9)


def _periods_from(record: LearnerRecord) -> dict:
    if record.periods is not None:
        periods = json.loads(zlib.decompress(record.periods))
    else:  # written before `periods` existed
        periods = {"points": record.points_by_period or {}, "minutes": record.minutes_by_period or {},
                   "reached": record.reached_at or {}}
    return {"points_by_period": Counter(periods["points"]), "minutes_by_period": Counter(periods["minutes"]),
            "reached_at": {k: datetime.fromisoformat(v) for k, v in periods["reached"].items()}}


def _record_from(s: LearnerStanding, version: int) -> LearnerRecord:
    return LearnerRecord(
        s.learner_id, version=version, org_id=s.profile.org_id, profile=dataclasses.asdict(s.profile),
        points=s.points, courses_completed=s.courses_completed, learning_minutes=s.learning_minutes,
        competency_areas=sorted(s.competency_areas), courses_in_area=dict(s.courses_in_area),
        ratings=s.ratings, clap_weeks=list(s.clap_weeks), best_clap_streak=s.best_clap_streak,
        badges={b.badge_id: {"event_id": b.event_id, "awarded_at": b.awarded_at.isoformat()}
                for b in s.badges.values()},
        periods=_periods_of(s), points_by_period=None, minutes_by_period=None, reached_at=None,
        last_active_at=s.last_active_at, held_events=s.held_events, rejected_events=s.rejected_events,
        updated_at=_now(),
    )


def _scored_actions(record: LearnerRecord) -> list:
    """An update of the attributes scoring computes, and of no other: a PutItem of the whole item would wipe
    what the learner and erasure write on the same item (preferences, erased_at) between our read and save."""
    attributes = LearnerRecord.get_attributes()
    return [attributes[name].remove() if value is None else attributes[name].set(value)
            for name, value in record.attribute_values.items() if name != LearnerRecord._hash_keyname]


def _entry_from(r: LedgerRecord) -> LedgerEntry:
    return LedgerEntry(r.event_id, r.rule, int(r.amount), r.occurred_at, r.note, r.kind, r.seq, r.recorded_at,
                       r.rules_version or "")


class DynamoLearnerRepository:
    def __init__(self, connection: Optional[Connection] = None):
        self._connection = connection or Connection(region=settings.REGION)

    def get(self, learner_id: str) -> Optional[StoredLearner]:
        try:
            record = LearnerRecord.get(learner_id, consistent_read=True)
        except DoesNotExist:
            return None
        return StoredLearner(_standing_from(record), int(record.version), tuple(record.scopes or ()),  # type: ignore[arg-type]  # pynamodb: str items typed as attributes
                             record.preferences, record.erased_at)

    def scan_page(self, segment, segments, after, limit):
        """A parallel-scan segment, a page at a time, three attributes each (a scan reads whole items: its read
        units are those of the items, the projection only saves transfer)."""
        kwargs: dict = {"segment": segment, "total_segments": segments, "limit": limit,
                        "attributes_to_get": ["learner_id", "org_id", "last_active_at"]}
        if after:
            kwargs["last_evaluated_key"] = {"learner_id": {"S": after}}
        result = LearnerRecord.scan(**kwargs)
        rows = [(r.learner_id, r.org_id, r.last_active_at) for r in result]
        last = result.last_evaluated_key
        return rows, (last["learner_id"]["S"] if last and rows else None)

    def approximate_count(self) -> int:
        return int(LearnerRecord.describe_table().get("ItemCount") or 0)  # DynamoDB refreshes it every ~6 hours

    def names(self, learner_ids) -> dict[str, Listing]:
        """What a page of a board shows of its learners: one batch read of a few attributes."""
        keys = list(dict.fromkeys(learner_ids))
        wanted = ["learner_id", "profile", "org_id", "preferences", "erased_at", "scopes"]
        return {r.learner_id: Listing((r.profile or {}).get("name"), r.org_id,
                                      (r.preferences or {}).get("leaderboard_visibility"),
                                      r.erased_at is not None, tuple(r.scopes or ()))  # type: ignore[arg-type]  # pynamodb: str items typed as attributes
                for r in LearnerRecord.batch_get(keys, attributes_to_get=wanted)}

    def set_preferences(self, learner_id: str, preferences: dict) -> bool:
        return applied(lambda: LearnerRecord(learner_id).update(actions=[LearnerRecord.preferences.set(preferences)],
                                                                condition=LearnerRecord.learner_id.exists()))

    def mark_erased(self, learner_id: str, profile: Profile, at: datetime) -> Optional[datetime]:
        record = LearnerRecord(learner_id)
        try:
            record.update(actions=[
                LearnerRecord.profile.set(dataclasses.asdict(profile)), LearnerRecord.preferences.remove(),
                LearnerRecord.erased_at.set(LearnerRecord.erased_at | at),  # if_not_exists: the first erasure
                LearnerRecord.version.add(1)], condition=LearnerRecord.learner_id.exists())
        except UpdateError as exc:
            if conditional_failed(exc):
                return None
            raise
        return record.erased_at  # update() read the item back

    def erased(self, learner_ids) -> set[str]:
        keys = list(dict.fromkeys(learner_ids))
        return {r.learner_id for r in LearnerRecord.batch_get(keys, attributes_to_get=["learner_id", "erased_at"])
                if r.erased_at is not None}

    def started(self, learner_ids) -> set[str]:
        keys = list(dict.fromkeys(learner_ids))
        wanted = ["learner_id", "courses_completed", "learning_minutes"]
        return {r.learner_id for r in LearnerRecord.batch_get(keys, attributes_to_get=wanted)
                if (r.courses_completed or 0) > 0 or (r.learning_minutes or 0) > 0}

    def ledger(self, learner_id: str) -> list[LedgerEntry]:
        return [_entry_from(r) for r in LedgerRecord.query(learner_id, consistent_read=True)]

    def ledger_after(self, learner_id: str, after_seq: str) -> list[LedgerEntry]:
        return [_entry_from(r) for r in LedgerRecord.query(learner_id, LedgerRecord.seq > after_seq,
                                                           consistent_read=True)]

    def checkpoint(self, learner_id: str) -> Optional[Checkpoint]:
        try:
            record = CheckpointRecord.get(learner_id, consistent_read=True)
        except DoesNotExist:
            return None
        return checkpoint_from(json.loads(zlib.decompress(record.body)))

    @staticmethod
    def _checkpoint_record(c: Checkpoint) -> CheckpointRecord:
        body = zlib.compress(json.dumps(checkpoint_json(c), separators=(",", ":")).encode(), 9)
        return CheckpointRecord(c.learner_id, version=c.version, body=body)

    def put_checkpoint(self, checkpoint: Checkpoint, version: int) -> bool:
        record = self._checkpoint_record(saved_as(checkpoint, version, None))
        try:
            with TransactWrite(connection=self._connection) as tx:
                # (an update that changes nothing, for its condition: what scoring is granted already)
                tx.update(LearnerRecord(checkpoint.learner_id), actions=[LearnerRecord.version.set(version)],
                          condition=LearnerRecord.version == version)
                tx.save(record)
        except TransactWriteError as exc:
            reasons = [r.code for r in (exc.cancellation_reasons or []) if r]
            if "ConditionalCheckFailed" in reasons or "TransactionConflict" in reasons:
                return False
            raise
        return True

    def drop_checkpoint(self, learner_id: str) -> None:
        CheckpointRecord(learner_id).delete()

    def ledger_page(self, learner_id, limit, before_seq):
        condition = LedgerRecord.seq < before_seq if before_seq else None
        rows = list(LedgerRecord.query(learner_id, range_key_condition=condition, scan_index_forward=False,
                                       limit=limit + 1, page_size=limit + 1))
        entries = [_entry_from(r) for r in rows[:limit]]
        return entries, (entries[-1].seq if len(rows) > limit else None)

    def save(self, standing, entries, facts, expected_version, scopes=(), checkpoint=None):
        """One transaction when it fits; otherwise several, each bumping the version, the last writing the
        learner. A crash between them leaves recorded entries that the next recompute accounts for."""
        now = _now()
        items = [("entry", e) for e in entries] + [("fact", f) for f in facts]
        size = _TRANSACTION_ITEMS - (checkpoint is not None)  # the last transaction writes the checkpoint too
        chunks = [items[i:i + size] for i in range(0, len(items), size)] or [[]]
        version = expected_version
        for number, chunk in enumerate(chunks):
            condition = (LearnerRecord.learner_id.does_not_exist() if version == 0
                         else LearnerRecord.version == version)
            version += 1
            try:
                with TransactWrite(connection=self._connection) as tx:
                    if number == len(chunks) - 1:
                        record = _record_from(standing, version)
                        record.scopes = list(scopes)
                        tx.update(record, condition=condition, actions=_scored_actions(record))
                        if checkpoint is not None:
                            tx.save(self._checkpoint_record(saved_as(checkpoint, version, now if entries else None)))
                    else:
                        tx.update(LearnerRecord(standing.learner_id), condition=condition,
                                  actions=[LearnerRecord.version.set(version)])
                    for position, (kind, item) in enumerate(chunk):
                        tx.save(self._entry_record(standing.learner_id, version, position, item, now)
                                if kind == "entry" else self._fact_record(item, now))
            except TransactWriteError as exc:
                reasons = [r.code for r in (exc.cancellation_reasons or []) if r]
                if "ConditionalCheckFailed" in reasons or "TransactionConflict" in reasons:
                    raise ConcurrentUpdate(standing.learner_id) from exc
                raise

    @staticmethod
    def _entry_record(learner_id: str, version: int, position: int, e: LedgerEntry, now: datetime):
        return LedgerRecord(learner_id, f"{version:010d}.{position:03d}", event_id=e.event_id, rule=e.rule,
                            amount=e.amount, occurred_at=e.occurred_at, note=e.note, kind=e.kind,
                            recorded_at=now, rules_version=e.rules_version or None)

    @staticmethod
    def _fact_record(f: DomainEvent, now: datetime):
        return DomainEventRecord(f.id, kind=f.kind, learner_id=f.learner_id, occurred_at=f.occurred_at,
                                 payload=f.payload, created_at=now, pending=pending_fact_key(f.kind, f.id))


class DynamoOrgRepository:
    def upsert(self, org: OrgBlock, written_by: str) -> bool:
        before = self.get(org.id)
        record = OrgRecord(org.id, name=org.name, type=org.type, parent_id=org.parent_id, written_by=written_by)
        try:
            record.save(condition=OrgRecord.org_id.does_not_exist() | (OrgRecord.written_by < written_by))
        except PutError as exc:
            if not conditional_failed(exc):
                raise
            return False  # a later event already wrote this org: keep it
        return before is None or (before.type, before.parent_id) != (org.type, org.parent_id)

    def children(self, org_id: str) -> list[str]:
        return [r.org_id for r in OrgRecord.by_parent.query(org_id)]

    def names(self, org_ids) -> dict[str, str]:
        return {r.org_id: r.name for r in OrgRecord.batch_get(list(dict.fromkeys(org_ids)),
                                                              attributes_to_get=["org_id", "name"])}

    def get(self, org_id: str) -> Optional[Org]:
        try:
            r = OrgRecord.get(org_id)
        except DoesNotExist:
            return None
        return Org(r.org_id, r.name, r.type, r.parent_id)


def create_tables() -> None:
    """For the local stack and tests; in AWS the tables come from infra/resources.yaml."""
    from chalicelib.tables import ALL_MODELS
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(wait=True, billing_mode="PAY_PER_REQUEST")


class DynamoFactFeed:
    """The facts table's sparse `pending` index (chalicelib/facts.py): what is written with `pending` set and not
    consumed yet. A poll reads only those, whatever the table holds."""

    def record(self, facts, now):
        for f in facts:  # unconditional: recording a fact again makes it pending again
            DomainEventRecord(f.id, kind=f.kind, learner_id=f.learner_id, occurred_at=f.occurred_at,
                              payload=f.payload, created_at=now, pending=pending_fact_key(f.kind, f.id)).save()

    def pending(self, kind, before, limit):
        R, found = DomainEventRecord, []
        for shard in range(PENDING_FACT_SHARDS):
            found += [(DomainEvent(r.id, r.kind, r.learner_id, r.occurred_at, r.payload), r.created_at)
                      for r in R.pending_index.query(f"{kind}#{shard}", R.created_at < before, limit=limit,
                                                     page_size=limit)]
        # Up to `limit` from each shard: the oldest `limit` of them, as the port promises.
        return sorted(found, key=lambda pair: (pair[1], pair[0].id))[:limit]

    def consumed(self, facts):
        for fact in facts:
            DomainEventRecord(fact.id).update(actions=[DomainEventRecord.pending.remove()])
