"""PynamoDB models of the scoring core: events, learners, ledger, orgs, domain events (one table per kind of record).

Each feature's own tables are in its models.py (leaderboards/, review/, credentials/, rosters/, campaigns/,
notifications/); chalicelib/tables.py lists them all. infra/resources.yaml declares the same tables for AWS."""
from __future__ import annotations

from pynamodb.attributes import (BinaryAttribute, JSONAttribute, ListAttribute, NumberAttribute,
                                 UnicodeAttribute, UTCDateTimeAttribute)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection, LocalSecondaryIndex
from pynamodb.models import Model

from chalicelib import settings
from chalicelib.sharding import shard_of


def table_meta(short_name: str):
    class Meta:
        table_name = settings.table_name(short_name)
        region = settings.REGION
        billing_mode = "PAY_PER_REQUEST"
    return Meta

class ByArrivalIndex(LocalSecondaryIndex):
    """A stream's events in the order they were received: scoring from a checkpoint reads only those received
    since it (rules/checkpoint.py). Local, so a strongly consistent read. An LSI can only be made with its
    table: see docs/scoring.md for moving a stage's events table to one that has it."""
    class Meta:
        index_name = "by_arrival"
        projection = AllProjection()
    stream = UnicodeAttribute(hash_key=True)
    received_at = UTCDateTimeAttribute(range_key=True)


class EventRecord(Model):
    """Every accepted event, as received. The source of truth everything else is computed from.

    One partition per stream ("learner:<id>" or "org:<id>") so a learner's history is one Query; the
    conditional put on (stream, event_id) is the idempotency check.
    """
    Meta = table_meta("events")
    stream = UnicodeAttribute(hash_key=True)
    event_id = UnicodeAttribute(range_key=True)
    type = UnicodeAttribute()
    occurred_at = UTCDateTimeAttribute()
    received_at = UTCDateTimeAttribute()
    body = JSONAttribute()
    # SHA-256 of the event's canonical JSON as first received: the same id with another body is a conflict.
    # Kept when erasure rewrites the body. Absent on events stored before it existed.
    body_sha256 = UnicodeAttribute(null=True)
    by_arrival = ByArrivalIndex()


class LearnerRecord(Model):
    """A learner's profile and standing, as last computed from their events."""
    Meta = table_meta("learners")
    learner_id = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(default=0)
    org_id = UnicodeAttribute(null=True)
    profile = JSONAttribute(default=dict)  # name, designation, email, phone, language...: never logged
    points = NumberAttribute(default=0)
    courses_completed = NumberAttribute(default=0)
    learning_minutes = NumberAttribute(default=0)
    competency_areas = ListAttribute(of=UnicodeAttribute, default=list)
    courses_in_area = JSONAttribute(default=dict)
    ratings = NumberAttribute(default=0)
    clap_weeks = ListAttribute(of=UnicodeAttribute, default=list)
    best_clap_streak = NumberAttribute(default=0)
    badges = JSONAttribute(default=dict)  # badge id -> {event_id, awarded_at}
    # Every period's points, minutes and when the score was reached, as zlib-compressed JSON: a learner active
    # for years has hundreds of weeks, read and written whole at every event (storage/dynamodb.py _periods_of).
    periods = BinaryAttribute(null=True, legacy_encoding=False)
    # The same as plain maps, as items written before `periods` have them (read, then removed by the next save).
    points_by_period = JSONAttribute(null=True)
    minutes_by_period = JSONAttribute(null=True)
    reached_at = JSONAttribute(null=True)
    last_active_at = UTCDateTimeAttribute(null=True)
    held_events = NumberAttribute(default=0)  # completions awaiting anti-abuse review (rules/abuse.py)
    rejected_events = NumberAttribute(default=0)  # and those rejected in review
    updated_at = UTCDateTimeAttribute(null=True)
    scopes = ListAttribute(of=UnicodeAttribute, default=list)  # board scopes last written, see leaderboards
    # Not written by scoring (its save updates only the attributes above): the learner's own choices
    # (learners/preferences.py, one UpdateItem) and the erasure mark (learners/privacy.py).
    preferences = JSONAttribute(null=True)
    erased_at = UTCDateTimeAttribute(null=True)


class LedgerRecord(Model):
    """One append-only ledger entry. `seq` sorts entries in the order they were recorded."""
    Meta = table_meta("ledger")
    learner_id = UnicodeAttribute(hash_key=True)
    seq = UnicodeAttribute(range_key=True)
    event_id = UnicodeAttribute()
    rule = UnicodeAttribute()
    amount = NumberAttribute()
    occurred_at = UTCDateTimeAttribute()
    note = UnicodeAttribute()
    kind = UnicodeAttribute()
    recorded_at = UTCDateTimeAttribute()
    rules_version = UnicodeAttribute(null=True)  # the rule version the amount was computed under (docs/rule-versions.md)


class CheckpointRecord(Model):
    """A learner's latest checkpoint of the fold (rules/checkpoint.py): zlib-compressed JSON, written in the same
    transaction as the learner it was computed with. Derived data: deleting it costs one re-fold. It holds the
    learner's profile as folded, so erasure deletes it."""
    Meta = table_meta("checkpoints")
    learner_id = UnicodeAttribute(hash_key=True)
    version = NumberAttribute()  # the learner version written with it
    body = BinaryAttribute(legacy_encoding=False)


class ByParentIndex(GlobalSecondaryIndex):
    """Children of an org: when an org moves, everyone below it is re-scored."""
    class Meta:
        index_name = "by_parent"
        projection = KeysOnlyProjection()
    parent_id = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute(range_key=True)


class OrgRecord(Model):
    Meta = table_meta("orgs")
    org_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    type = UnicodeAttribute()
    parent_id = UnicodeAttribute(null=True)
    by_parent = ByParentIndex()
    # (occurred_at, event id) of the event that last wrote this record: older events never overwrite it.
    written_by = UnicodeAttribute()


class PendingFactsIndex(GlobalSecondaryIndex):
    """Sparse: only facts not yet consumed carry `pending` ("<kind>#<shard>"), so a consumer polling it every
    minute reads new facts only, whatever the table holds (notifications/digest.py)."""
    class Meta:
        index_name = "pending"
        projection = AllProjection()
    pending = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


PENDING_FACT_SHARDS = 4  # partition keys per kind: a burst of awards spreads its index writes


def pending_fact_key(kind: str, fact_id: str) -> str:
    return f"{kind}#{shard_of(fact_id, PENDING_FACT_SHARDS)}"


class DomainEventRecord(Model):
    """Facts other parts consume later (a badge was awarded...). The id makes each fact appear once."""
    Meta = table_meta("domain-events")
    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    learner_id = UnicodeAttribute()
    occurred_at = UTCDateTimeAttribute()
    payload = JSONAttribute()
    created_at = UTCDateTimeAttribute()
    pending = UnicodeAttribute(null=True)  # set on write, removed once consumed
    pending_index = PendingFactsIndex()


CORE_MODELS = (EventRecord, LearnerRecord, LedgerRecord, CheckpointRecord, OrgRecord, DomainEventRecord)
