"""Storage for notifications: the outbox/delivery records (one per learner and dedupe key). DynamoDB adapter and
an in-memory fake with the same behaviour. The suppression list and budget counters are in notifications/limits.py,
the nudge schedule in notifications/nudge_store.py; pending domain facts are core storage (chalicelib/facts.py).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Optional, Protocol

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.notifications.models import NotificationRecord
from chalicelib.rules.periods import utc_stamp
from chalicelib.sharding import shard_of  # noqa: F401 (notifications/outbox.py imports it from here)
from chalicelib.storage.conditions import applied, conditional_failed

QUEUED, SENDING, SENT, SUPPRESSED, FAILED = "queued", "sending", "sent", "suppressed", "failed"


@dataclass
class Notification:
    learner_id: str
    dedupe_key: str
    kind: str
    category: str
    channel: str
    locale: str
    context: dict
    org_id: Optional[str]
    status: str
    created_at: datetime
    not_before: datetime
    updated_at: datetime
    reason: Optional[str] = None
    provider_id: Optional[str] = None
    dlt_template_id: Optional[str] = None
    attempts: int = 0
    sent_at: Optional[datetime] = None
    lease_until: Optional[str] = None
    day: str = ""  # local date it was decided (for the by-day listing)
    shard: int = 0
    due_at: Optional[str] = None  # set while pending: when the sweeper should (re)queue it

    @property
    def created_sort(self) -> str:
        return f"{utc_stamp(self.created_at)}|{self.dedupe_key}"


class NotificationStore(Protocol):
    def put_new(self, n: Notification) -> bool:
        """Write unless a record with this (learner, dedupe key) exists. False: a duplicate decision."""

    def get(self, learner_id: str, key: str) -> Optional[Notification]: ...

    def recent(self, learner_id: str, since: datetime) -> list[Notification]:
        """This learner's records decided since `since` (caps count them)."""

    def page(self, learner_id: str, limit: int, before: Optional[str]) -> tuple[list[Notification], Optional[str]]:
        """Newest first, and the created_sort to continue before if there are more."""

    def claim(self, learner_id: str, key: str, now: datetime, lease_until: datetime) -> Optional[Notification]:
        """queued/failed (or sending with an expired lease) -> sending, atomically. None: not ours to send."""

    def finish(self, learner_id: str, key: str, status: str, now: datetime, reason: Optional[str] = None,
               provider_id: Optional[str] = None, dlt_template_id: Optional[str] = None) -> None:
        """A final state (sent, suppressed, failed): off the sweeper's index."""

    def release(self, learner_id: str, key: str, now: datetime, reason: str, due_at: datetime) -> None:
        """sending -> queued after a transient failure, with the reason; the sweeper retries it from due_at."""

    def requeued(self, learner_id: str, key: str, due_at: datetime) -> None:
        """The sweeper queued it again: look again at due_at if it is still pending then."""

    def due(self, shard: int, now: datetime, limit: int) -> list[Notification]:
        """Pending records whose due_at has passed, in one shard."""

    def on_day(self, day: str, shards: int, limit: int) -> list[Notification]:
        """Records decided on one local day, newest first."""


def _to_record(n: Notification) -> NotificationRecord:
    pending = n.status in (QUEUED, SENDING)
    return NotificationRecord(
        n.learner_id, n.dedupe_key, kind=n.kind, category=n.category, channel=n.channel, locale=n.locale,
        context=n.context, org_id=n.org_id, status=n.status, reason=n.reason, provider_id=n.provider_id,
        dlt_template_id=n.dlt_template_id, attempts=n.attempts, created_at=n.created_at,
        not_before=n.not_before, updated_at=n.updated_at, sent_at=n.sent_at, lease_until=n.lease_until,
        created_sort=n.created_sort, day_shard=f"{n.day}#{n.shard}",
        pending_shard=f"p#{n.shard}" if pending else None, due_at=n.due_at if pending else None)


def _from_record(r: NotificationRecord) -> Notification:
    day, _, shard = r.day_shard.rpartition("#")
    return Notification(r.learner_id, r.dedupe_key, r.kind, r.category, r.channel, r.locale, r.context or {},
                        r.org_id, r.status, r.created_at, r.not_before, r.updated_at, r.reason, r.provider_id,
                        r.dlt_template_id, int(r.attempts or 0), r.sent_at, r.lease_until, day, int(shard),
                        r.due_at)


class DynamoNotificationStore:
    def put_new(self, n: Notification) -> bool:
        return applied(lambda: _to_record(n).save(condition=NotificationRecord.dedupe_key.does_not_exist()))

    def get(self, learner_id, key):
        try:
            return _from_record(NotificationRecord.get(learner_id, key, consistent_read=True))
        except DoesNotExist:
            return None

    def recent(self, learner_id, since):
        return [_from_record(r) for r in NotificationRecord.by_created.query(
            learner_id, NotificationRecord.created_sort >= utc_stamp(since))]

    def page(self, learner_id, limit, before):
        condition = NotificationRecord.created_sort < before if before else None
        rows = list(NotificationRecord.by_created.query(learner_id, range_key_condition=condition,
                                                         scan_index_forward=False, limit=limit + 1,
                                                         page_size=limit + 1))
        items = [_from_record(r) for r in rows[:limit]]
        return items, (items[-1].created_sort if len(rows) > limit else None)

    def claim(self, learner_id, key, now, lease_until):
        R = NotificationRecord
        record = R(learner_id, key)
        try:
            record.update(
                actions=[R.status.set(SENDING), R.lease_until.set(utc_stamp(lease_until)), R.attempts.add(1),
                         R.updated_at.set(now), R.due_at.set(utc_stamp(lease_until))],
                condition=R.status.is_in(QUEUED, FAILED)
                | ((R.status == SENDING) & (R.lease_until < utc_stamp(now))))
        except UpdateError as exc:
            if conditional_failed(exc):
                return None
            raise
        if record.pending_shard is None:  # a failed record replayed from the dead-letter queue: watch it again
            record.update(actions=[R.pending_shard.set(f"p#{record.day_shard.rpartition('#')[2]}")])
        return _from_record(record)

    def finish(self, learner_id, key, status, now, reason=None, provider_id=None, dlt_template_id=None):
        R = NotificationRecord
        actions = [R.status.set(status), R.updated_at.set(now), R.pending_shard.remove(), R.due_at.remove(),
                   R.lease_until.remove()]
        actions.append(R.reason.set(reason) if reason else R.reason.remove())
        if provider_id:
            actions += [R.provider_id.set(provider_id), R.sent_at.set(now)]
        if dlt_template_id:
            actions.append(R.dlt_template_id.set(dlt_template_id))
        R(learner_id, key).update(actions=actions)

    def release(self, learner_id, key, now, reason, due_at):
        # Only a record still sending: one whose lease ran out and that another worker finished stays as it is.
        R = NotificationRecord
        applied(lambda: R(learner_id, key).update(
            actions=[R.status.set(QUEUED), R.reason.set(reason), R.updated_at.set(now), R.lease_until.remove(),
                     R.due_at.set(utc_stamp(due_at))],
            condition=R.status == SENDING))

    def requeued(self, learner_id, key, due_at):
        R = NotificationRecord
        try:
            R(learner_id, key).update(actions=[R.due_at.set(utc_stamp(due_at))], condition=R.pending_shard.exists())
        except UpdateError as exc:
            if not conditional_failed(exc):
                raise

    def due(self, shard, now, limit):
        return [_from_record(r) for r in NotificationRecord.pending.query(
            f"p#{shard}", NotificationRecord.due_at <= utc_stamp(now), limit=limit, page_size=limit)]

    def on_day(self, day, shards, limit):
        rows = []
        for shard in range(shards):
            rows += NotificationRecord.by_day.query(f"{day}#{shard}", scan_index_forward=False, limit=limit,
                                                    page_size=limit)
        return sorted((_from_record(r) for r in rows), key=lambda n: n.created_sort, reverse=True)[:limit]


class MemoryNotificationStore:
    def __init__(self):
        self.records: dict[tuple[str, str], Notification] = {}

    def put_new(self, n):
        if (n.learner_id, n.dedupe_key) in self.records:
            return False
        self.records[(n.learner_id, n.dedupe_key)] = copy.deepcopy(n)
        return True

    def get(self, learner_id, key):
        return copy.deepcopy(self.records.get((learner_id, key)))

    def _of(self, learner_id):
        return sorted((n for (lid, _), n in self.records.items() if lid == learner_id), key=lambda n: n.created_sort)

    def recent(self, learner_id, since):
        return [copy.deepcopy(n) for n in self._of(learner_id) if n.created_sort >= utc_stamp(since)]

    def page(self, learner_id, limit, before):
        newest = [n for n in reversed(self._of(learner_id)) if not before or n.created_sort < before]
        items = copy.deepcopy(newest[:limit])
        return items, (items[-1].created_sort if len(newest) > limit else None)

    def claim(self, learner_id, key, now, lease_until):
        n = self.records.get((learner_id, key))
        if n is None or not (n.status in (QUEUED, FAILED)
                             or (n.status == SENDING and (n.lease_until or "") < utc_stamp(now))):
            return None
        n.status, n.lease_until, n.attempts, n.updated_at = SENDING, utc_stamp(lease_until), n.attempts + 1, now
        n.due_at = utc_stamp(lease_until)
        return copy.deepcopy(n)

    def finish(self, learner_id, key, status, now, reason=None, provider_id=None, dlt_template_id=None):
        n = self.records[(learner_id, key)]
        n.status, n.updated_at, n.reason, n.due_at, n.lease_until = status, now, reason, None, None
        if provider_id:
            n.provider_id, n.sent_at = provider_id, now
        if dlt_template_id:
            n.dlt_template_id = dlt_template_id

    def release(self, learner_id, key, now, reason, due_at):
        n = self.records[(learner_id, key)]
        if n.status == SENDING:
            n.status, n.reason, n.updated_at, n.lease_until, n.due_at = QUEUED, reason, now, None, utc_stamp(due_at)

    def requeued(self, learner_id, key, due_at):
        n = self.records.get((learner_id, key))
        if n and n.status in (QUEUED, SENDING):
            n.due_at = utc_stamp(due_at)

    def due(self, shard, now, limit):
        found = [n for n in self.records.values() if n.status in (QUEUED, SENDING) and n.shard == shard
                 and n.due_at is not None and n.due_at <= utc_stamp(now)]
        return copy.deepcopy(sorted(found, key=lambda n: n.due_at)[:limit])

    def on_day(self, day, shards, limit):
        found = [n for n in self.records.values() if n.day == day]
        return copy.deepcopy(sorted(found, key=lambda n: n.created_sort, reverse=True)[:limit])
