"""Notification tables (notifications/store.py): outbox and delivery records, suppressions, counters, nudge schedule.
PynamoDB models; infra/resources.yaml declares the same tables for AWS (tests/test_infra.py checks it)."""
from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, LocalSecondaryIndex
from pynamodb.models import Model

from chalicelib.storage.models import table_meta


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
    Meta = table_meta("notifications")
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
    Meta = table_meta("suppressions")
    address_hash = UnicodeAttribute(hash_key=True)  # sha256 of "email:<lowercase>" or "sms:<E.164>"
    reason = UnicodeAttribute()
    at = UTCDateTimeAttribute()


class CounterRecord(Model):
    """A budget counter (SMS per org per campaign): incremented with a condition, so it never passes the limit."""
    Meta = table_meta("notification-counters")
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
    Meta = table_meta("nudge-schedule")
    learner_id = UnicodeAttribute(hash_key=True)
    spell = UnicodeAttribute()  # "<local date last active>" or "never:<local date the roster knew them>"
    rung = NumberAttribute()  # the next rung, 1-based
    org_id = UnicodeAttribute(null=True)
    nudge_shard = UnicodeAttribute(null=True)
    due = UnicodeAttribute(null=True)
    by_due = NudgeDueIndex()


NOTIFICATION_MODELS = (NotificationRecord, SuppressionRecord, CounterRecord, NudgeScheduleRecord)
