"""PynamoDB models: one table per kind of record. infra/resources.yaml declares the same tables for AWS."""
from __future__ import annotations

import zlib

from pynamodb.attributes import (JSONAttribute, ListAttribute, NumberAttribute,
                                 UnicodeAttribute, UTCDateTimeAttribute)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection, LocalSecondaryIndex
from pynamodb.models import Model

from chalicelib import settings


def _meta(short_name: str):
    class Meta:
        table_name = settings.table_name(short_name)
        region = settings.REGION
        billing_mode = "PAY_PER_REQUEST"
    return Meta


class EventRecord(Model):
    """Every accepted event, as received. The source of truth everything else is computed from.

    One partition per stream ("learner:<id>" or "org:<id>") so a learner's history is one Query; the
    conditional put on (stream, event_id) is the idempotency check.
    """
    Meta = _meta("events")
    stream = UnicodeAttribute(hash_key=True)
    event_id = UnicodeAttribute(range_key=True)
    type = UnicodeAttribute()
    occurred_at = UTCDateTimeAttribute()
    received_at = UTCDateTimeAttribute()
    body = JSONAttribute()
    # SHA-256 of the event's canonical JSON as first received: the same id with another body is a conflict.
    # Kept when erasure rewrites the body. Absent on events stored before it existed.
    body_sha256 = UnicodeAttribute(null=True)


class LearnerRecord(Model):
    """A learner's profile and standing, as last computed from their events."""
    Meta = _meta("learners")
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
    points_by_period = JSONAttribute(default=dict)
    minutes_by_period = JSONAttribute(default=dict)
    reached_at = JSONAttribute(default=dict)
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
    Meta = _meta("ledger")
    learner_id = UnicodeAttribute(hash_key=True)
    seq = UnicodeAttribute(range_key=True)
    event_id = UnicodeAttribute()
    rule = UnicodeAttribute()
    amount = NumberAttribute()
    occurred_at = UTCDateTimeAttribute()
    note = UnicodeAttribute()
    kind = UnicodeAttribute()
    recorded_at = UTCDateTimeAttribute()


class ByParentIndex(GlobalSecondaryIndex):
    """Children of an org: when an org moves, everyone below it is re-scored."""
    class Meta:
        index_name = "by_parent"
        projection = KeysOnlyProjection()
    parent_id = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute(range_key=True)


class OrgRecord(Model):
    Meta = _meta("orgs")
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
    return f"{kind}#{zlib.crc32(fact_id.encode()) % PENDING_FACT_SHARDS}"


class DomainEventRecord(Model):
    """Facts other parts consume later (a badge was awarded...). The id makes each fact appear once."""
    Meta = _meta("domain-events")
    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    learner_id = UnicodeAttribute()
    occurred_at = UTCDateTimeAttribute()
    payload = JSONAttribute()
    created_at = UTCDateTimeAttribute()
    pending = UnicodeAttribute(null=True)  # set on write, removed once consumed
    pending_index = PendingFactsIndex()


CORE_MODELS = (EventRecord, LearnerRecord, LedgerRecord, OrgRecord, DomainEventRecord)


class ByRankIndex(LocalSecondaryIndex):
    """Sparse: only entries with points carry rank_key, so the index lists exactly the ranked learners."""
    class Meta:
        index_name = "by_rank"
        projection = AllProjection()
    board_shard = UnicodeAttribute(hash_key=True)
    rank_key = UnicodeAttribute(range_key=True)


class BoardEntryRecord(Model):
    """One learner on one board shard ("<scope>|<period>#<shard>")."""
    Meta = _meta("board-entries")
    board_shard = UnicodeAttribute(hash_key=True)
    learner_id = UnicodeAttribute(range_key=True)
    rank_key = UnicodeAttribute(null=True)
    by_rank = ByRankIndex()
    org_id = UnicodeAttribute(null=True)
    points = NumberAttribute(default=0)
    minutes = NumberAttribute(default=0)
    reached_at = UTCDateTimeAttribute(null=True)
    state = UnicodeAttribute()  # "<points>|<minutes>|<reached>": the condition that makes each change apply once


class BoardScoreRecord(Model):
    """How many learners of one board shard have exactly `points`: dense ranks and totals without a scan."""
    Meta = _meta("board-scores")
    board_shard = UnicodeAttribute(hash_key=True)
    points = NumberAttribute(range_key=True)
    learners = NumberAttribute(default=0)


class OrgStatsRecord(Model):
    """Per org and period ("members" for headcount): learners, points and minutes, for org comparisons."""
    Meta = _meta("org-stats")
    period_shard = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute(range_key=True)
    learners = NumberAttribute(default=0)
    points = NumberAttribute(default=0)
    minutes = NumberAttribute(default=0)
    parents = ListAttribute(of=UnicodeAttribute, default=list)


BOARD_MODELS = (BoardEntryRecord, BoardScoreRecord, OrgStatsRecord)


class HeldIndex(GlobalSecondaryIndex):
    """Sparse: only items still awaiting review carry held_shard, so the index lists exactly the held events.
    A fixed number of shards ("held#0".."held#3", by event id) spreads the writes of a burst; a page of the
    list is one query per shard, merged newest first."""
    class Meta:
        index_name = "held"
        projection = AllProjection()
    held_shard = UnicodeAttribute(hash_key=True)
    held_sort = UnicodeAttribute(range_key=True)  # "<occurred_at>|<learner id>|<event id>"


class ReviewRecord(Model):
    """One event held by the anti-abuse rate (rules/abuse.py): why, and the national admin's decision.

    Per learner, so that scoring reads a learner's decisions with one Query (only when they have held events).
    """
    Meta = _meta("reviews")
    learner_id = UnicodeAttribute(hash_key=True)
    event_id = UnicodeAttribute(range_key=True)
    org_id = UnicodeAttribute(null=True)
    type = UnicodeAttribute()
    occurred_at = UTCDateTimeAttribute()
    rule = UnicodeAttribute()
    window_count = NumberAttribute()  # completions in the window up to this one (not "count": a Model method)
    max_allowed = NumberAttribute()
    window_minutes = NumberAttribute()
    status = UnicodeAttribute()  # held | released | rejected
    held_at = UTCDateTimeAttribute(null=True)
    decided_by = UnicodeAttribute(null=True)
    decided_at = UTCDateTimeAttribute(null=True)
    note = UnicodeAttribute(null=True)
    held_shard = UnicodeAttribute(null=True)  # set only while status is "held"
    held_sort = UnicodeAttribute(null=True)
    held = HeldIndex()


REVIEW_MODELS = (ReviewRecord,)

class ByCredentialIndex(GlobalSecondaryIndex):
    """A credential by its public id (GET /credentials/{id}, revocation): one Query."""
    class Meta:
        index_name = "by_credential"
        projection = AllProjection()
    credential_id = UnicodeAttribute(hash_key=True)


class CredentialRecord(Model):
    """An Open Badges credential issued for one award (chalicelib/credentials/). Keyed by (learner, badge), so
    issuing is idempotent: a conditional put, and the same credential ever after."""
    Meta = _meta("credentials")
    learner_id = UnicodeAttribute(hash_key=True)
    badge_id = UnicodeAttribute(range_key=True)
    credential_id = UnicodeAttribute()
    by_credential = ByCredentialIndex()
    issued_at = UTCDateTimeAttribute()
    kid = UnicodeAttribute()  # the key that signed it: old keys stay published while their credentials live
    status_list = UnicodeAttribute()  # the revocation list it is on
    jwt = UnicodeAttribute()  # the signed credential (compact VC-JWT), served as issued
    revoked_at = UTCDateTimeAttribute(null=True)
    revocation_reason = UnicodeAttribute(null=True)
    revoked_by = UnicodeAttribute(null=True)


class RevocationRecord(Model):
    """One revoked credential on one public revocation list: a list is one Query of its partition, and a
    verification one GetItem. Revocations are rare, and spread over several lists."""
    Meta = _meta("credential-revocations")
    status_list = UnicodeAttribute(hash_key=True)
    credential_id = UnicodeAttribute(range_key=True)
    reason = UnicodeAttribute()
    revoked_at = UTCDateTimeAttribute()
    revoked_by = UnicodeAttribute()


CREDENTIAL_MODELS = (CredentialRecord, RevocationRecord)


class ByOrgIndex(GlobalSecondaryIndex):
    """An org's roster in learner-id order: a page of employees is one Query."""
    class Meta:
        index_name = "by_org"
        projection = AllProjection()
    org_id = UnicodeAttribute(hash_key=True)
    learner_id = UnicodeAttribute(range_key=True)


class RosterRecord(Model):
    """One employee on an org's roster (rosters/employees.py), keyed by learner id: `get` is one read and an
    employee is on one org's roster at a time (the last import that lists them)."""
    Meta = _meta("roster")
    learner_id = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute()
    by_org = ByOrgIndex()
    name = UnicodeAttribute()
    email = UnicodeAttribute(null=True)  # never logged
    phone = UnicodeAttribute(null=True)  # E.164; never logged
    group = UnicodeAttribute(null=True)
    designation = UnicodeAttribute(null=True)
    employee_id = UnicodeAttribute(null=True)
    language = UnicodeAttribute(null=True)
    digest = UnicodeAttribute()  # of all the above: the condition that makes each change apply once
    updated_at = UTCDateTimeAttribute()


class RosterHeadcountRecord(Model):
    """Employees on an org's own roster, as a few counters summed on read (rosters/store.py COUNTER_SHARDS):
    each moved in the same transaction as the rows it counts, by one of the importer's concurrent writers."""
    Meta = _meta("roster-headcounts")
    org_id = UnicodeAttribute(hash_key=True)
    shard = NumberAttribute(range_key=True)
    employees = NumberAttribute(default=0)


ROSTER_MODELS = (RosterRecord, RosterHeadcountRecord)

# --- Karmayogi Saptah campaigns (chalicelib/campaigns/, campaigns/store.py) -----------------------------

class CampaignsByScopeStatusIndex(GlobalSecondaryIndex):
    """GET /v1/campaigns?scope=...: one partition per scope and status, newest start first."""
    class Meta:
        index_name = "by_scope_status"
        projection = AllProjection()
    scope_status = UnicodeAttribute(hash_key=True)  # "<scope>|<status>"
    list_sort = UnicodeAttribute(range_key=True)  # "<start, utc_stamp>#<campaign id>"


class CampaignsByStatusIndex(GlobalSecondaryIndex):
    """GET /v1/campaigns without a scope: one partition per status, newest start first."""
    class Meta:
        index_name = "by_status"
        projection = AllProjection()
    status = UnicodeAttribute(hash_key=True)
    list_sort = UnicodeAttribute(range_key=True)


class CampaignRecord(Model):
    """One campaign: its definition, lifecycle status, frozen results and the closing run's cursor."""
    Meta = _meta("campaigns")
    campaign_id = UnicodeAttribute(hash_key=True)
    scope = UnicodeAttribute()
    status = UnicodeAttribute()
    # The listing's index keys (campaigns/store.py keeps them in step with scope, status and start).
    scope_status = UnicodeAttribute(null=True)
    list_sort = UnicodeAttribute(null=True)
    by_scope_status = CampaignsByScopeStatusIndex()
    by_status = CampaignsByStatusIndex()
    definition = JSONAttribute()
    version = NumberAttribute(default=1)
    results = JSONAttribute(null=True)  # written once, when closing starts computing results
    close_step = NumberAttribute(default=0)  # the closing run's progress: the cursor moves only from this step
    close_cursor = JSONAttribute(null=True)  # progress shard -> last learner handled, or "done"
    updated_at = UTCDateTimeAttribute(null=True)


class CampaignProgressRecord(Model):
    """One learner's progress in one campaign. Spread over `progress_shards` partitions per campaign
    ("<campaign id>#<n>", by learner hash), which closing pages through."""
    Meta = _meta("campaign-progress")
    campaign_shard = UnicodeAttribute(hash_key=True)
    learner_id = UnicodeAttribute(range_key=True)
    org_id = UnicodeAttribute(null=True)
    ancestors = ListAttribute(of=UnicodeAttribute, default=list)  # the org's ancestors its stats were added to
    score = NumberAttribute(default=0)
    state = UnicodeAttribute()  # the condition that makes each change of the statistics apply once
    body = JSONAttribute()


class CampaignStatsRecord(Model):
    """Pre-aggregated campaign statistics of one org, read by the dashboard with one query per shard.

    stats_key "<campaign id>|<org id>#<shard>", bucket "own", "total" (subtree) or "day:<local date>";
    stats_key "<campaign id>|report", bucket <org id>: the frozen per-org results row written at closing."""
    Meta = _meta("campaign-stats")
    stats_key = UnicodeAttribute(hash_key=True)
    bucket = UnicodeAttribute(range_key=True)
    participants = NumberAttribute(default=0)
    goal_met = NumberAttribute(default=0)
    courses = NumberAttribute(default=0)
    minutes = NumberAttribute(default=0)
    active = NumberAttribute(default=0)  # day buckets: learners with counted activity that day
    row = JSONAttribute(null=True)


class CampaignAwardRecord(Model):
    """A campaign badge a learner earned at closing: the learner summary lists them with one query."""
    Meta = _meta("campaign-awards")
    learner_id = UnicodeAttribute(hash_key=True)
    badge_id = UnicodeAttribute(range_key=True)
    campaign_id = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute()
    awarded_at = UTCDateTimeAttribute()


CAMPAIGN_MODELS = (CampaignRecord, CampaignProgressRecord, CampaignStatsRecord, CampaignAwardRecord)

# --- notifications (chalicelib/notifications/, notifications/store.py) ----------------------------------

class NotificationPendingIndex(GlobalSecondaryIndex):
    """Sparse: only records still queued or sending carry pending_shard, so the sweeper reads exactly those
    whose due_at has passed (a crash between deciding and sending, or a message deferred by quiet hours)."""
    class Meta:
        index_name = "pending"
        projection = AllProjection()
    pending_shard = UnicodeAttribute(hash_key=True)
    due_at = UnicodeAttribute(range_key=True)  # utc_stamp: when the sweeper should (re)queue it


class NotificationCreatedIndex(LocalSecondaryIndex):
    """A learner's notifications newest first, and the recent ones caps count."""
    class Meta:
        index_name = "by_created"
        projection = AllProjection()
    learner_id = UnicodeAttribute(hash_key=True)
    created_sort = UnicodeAttribute(range_key=True)  # "<utc_stamp(created_at)>|<dedupe key>"


class NotificationDayIndex(GlobalSecondaryIndex):
    """What was decided on one local day, across learners ("<date>#<shard>"): the local /dev/outbox page
    and operators' questions ("what went out today?")."""
    class Meta:
        index_name = "by_day"
        projection = AllProjection()
    day_shard = UnicodeAttribute(hash_key=True)
    created_sort = UnicodeAttribute(range_key=True)


class NotificationRecord(Model):
    """The outbox and the delivery record in one: one item per (learner, dedupe key). The conditional put on
    the key is the deduplication: the same decision made twice writes once and sends once."""
    Meta = _meta("notifications")
    learner_id = UnicodeAttribute(hash_key=True)
    dedupe_key = UnicodeAttribute(range_key=True)  # "<kind>#<campaign or period>"
    kind = UnicodeAttribute()
    category = UnicodeAttribute()
    channel = UnicodeAttribute()  # email | sms
    locale = UnicodeAttribute()
    context = JSONAttribute(default=dict)  # what the template needs; no contact details
    org_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # queued | sending | sent | suppressed | failed
    reason = UnicodeAttribute(null=True)
    provider_id = UnicodeAttribute(null=True)
    dlt_template_id = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    not_before = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    sent_at = UTCDateTimeAttribute(null=True)
    lease_until = UnicodeAttribute(null=True)  # utc_stamp while "sending"
    created_sort = UnicodeAttribute()
    day_shard = UnicodeAttribute()
    pending_shard = UnicodeAttribute(null=True)
    due_at = UnicodeAttribute(null=True)
    by_created = NotificationCreatedIndex()
    by_day = NotificationDayIndex()
    pending = NotificationPendingIndex()


class SuppressionRecord(Model):
    """An address never to send to (SES bounce or complaint) or a number opted out of SMS. Keyed by a hash of
    the normalised address: the list itself holds no contact details."""
    Meta = _meta("suppressions")
    address_hash = UnicodeAttribute(hash_key=True)  # sha256 of "email:<lowercase>" or "sms:<E.164>"
    reason = UnicodeAttribute()
    at = UTCDateTimeAttribute()


class CounterRecord(Model):
    """A budget counter (SMS per org per campaign): incremented with a condition, so it never passes the limit."""
    Meta = _meta("notification-counters")
    key = UnicodeAttribute(hash_key=True)
    used = NumberAttribute(default=0)
    # Or a job's resumable position (campaign reminders: "<org index>|<last learner id>", "done"), moved with a
    # condition on the position read, so two runs never both continue from the same place.
    position = UnicodeAttribute(null=True)


class NudgeDueIndex(GlobalSecondaryIndex):
    """Sparse: only learners with a rung ahead carry nudge_shard; the nightly run queries due <= today, so it
    reads the learners due and no one else."""
    class Meta:
        index_name = "due"
        projection = AllProjection()
    nudge_shard = UnicodeAttribute(hash_key=True)
    due = UnicodeAttribute(range_key=True)  # local date (ISO) the next rung is due


class NudgeScheduleRecord(Model):
    """Where a learner (or a roster employee who never started) stands on the nudge ladder."""
    Meta = _meta("nudge-schedule")
    learner_id = UnicodeAttribute(hash_key=True)
    spell = UnicodeAttribute()  # "<local date last active>" or "never:<local date the roster knew them>"
    rung = NumberAttribute()  # the next rung, 1-based
    org_id = UnicodeAttribute(null=True)
    nudge_shard = UnicodeAttribute(null=True)
    due = UnicodeAttribute(null=True)
    by_due = NudgeDueIndex()


NOTIFICATION_MODELS = (NotificationRecord, SuppressionRecord, CounterRecord, NudgeScheduleRecord)

ALL_MODELS = (CORE_MODELS + BOARD_MODELS + REVIEW_MODELS + CREDENTIAL_MODELS + ROSTER_MODELS + CAMPAIGN_MODELS
              + NOTIFICATION_MODELS)
