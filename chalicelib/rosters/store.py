"""Roster storage (rosters/employees.RosterStore) in DynamoDB; the in-memory twin is MemoryRosterStore.

Table `roster` holds one item per learner id (GetItem for `get`), with a GSI `by_org` (org, learner id) so a
page of an org's roster is one Query. Table `roster-headcounts` holds an org's headcount as COUNTER_SHARDS counters (summed on read; one batch read). Every change of a
row is written in a transaction with the counters it moves, conditioned on the row still being what the
importer read (its digest, or its absence): a retried, crashed or concurrent import can never count an
employee twice, so headcounts stay exact without ever counting the roster.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Optional

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import settings
from chalicelib.rosters.employees import Employee, RosterChange, RosterConflict, headcount_deltas
from chalicelib.rosters.models import RosterHeadcountRecord, RosterRecord

_TRANSACTION_ITEMS = 100
COUNTER_SHARDS = 4  # an org's headcount is the sum of this many counters; concurrent writers move different ones
_FIELDS = ("org_id", "name", "email", "phone", "group", "designation", "employee_id", "language")


def digest(employee: Employee) -> str:
    text = "\x1f".join(getattr(employee, f) or "" for f in _FIELDS)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _employee(record: RosterRecord) -> Employee:
    return Employee(learner_id=record.learner_id, **{f: getattr(record, f) for f in _FIELDS})


class DynamoRosterStore:
    def __init__(self, connection: Optional[Connection] = None):
        self._connection = connection or Connection(region=settings.REGION)

    def get(self, learner_id: str) -> Optional[Employee]:
        try:
            return _employee(RosterRecord.get(learner_id))
        except RosterRecord.DoesNotExist:
            return None

    def get_many(self, learner_ids: list[str]) -> dict[str, Employee]:
        return {r.learner_id: _employee(r)
                for r in RosterRecord.batch_get(list(dict.fromkeys(learner_ids)), consistent_read=True)}

    def headcount(self, org_id: str) -> int:
        return self.headcounts([org_id])[org_id]

    def headcounts(self, org_ids: list[str]) -> dict[str, int]:
        counts = {org_id: 0 for org_id in org_ids}
        keys = [(org_id, shard) for org_id in counts for shard in range(COUNTER_SHARDS)]
        for record in RosterHeadcountRecord.batch_get(keys):
            counts[record.org_id] += int(record.employees)
        return counts

    def employees(self, org_id: str, limit: int, after: Optional[str] = None):
        condition = RosterRecord.learner_id > after if after else None
        rows = list(RosterRecord.by_org.query(org_id, range_key_condition=condition, limit=limit + 1,
                                              page_size=limit + 1))
        page = [_employee(r) for r in rows[:limit]]
        return page, (page[-1].learner_id if len(rows) > limit else None)

    def apply(self, changes: list[RosterChange], lane: int = 0) -> None:
        batch: list[RosterChange] = []
        for change in changes:
            if batch and len(batch) + 1 + len(headcount_deltas(batch + [change])) > _TRANSACTION_ITEMS:
                self._transact(batch, lane % COUNTER_SHARDS)
                batch = []
            batch.append(change)
        if batch:
            self._transact(batch, lane % COUNTER_SHARDS)

    def _transact(self, changes: list[RosterChange], shard: int) -> None:
        now = datetime.now(timezone.utc)
        try:
            with TransactWrite(connection=self._connection) as tx:
                for change in changes:
                    condition = (RosterRecord.digest == digest(change.before) if change.before
                                 else RosterRecord.learner_id.does_not_exist())
                    if change.after is None:
                        tx.delete(RosterRecord(change.learner_id), condition=condition)
                    else:
                        after = change.after
                        tx.save(RosterRecord(after.learner_id, digest=digest(after), updated_at=now,
                                             **{f: getattr(after, f) for f in _FIELDS}), condition=condition)
                for org_id, delta in headcount_deltas(changes).items():
                    if delta:
                        tx.update(RosterHeadcountRecord(org_id, shard), actions=[RosterHeadcountRecord.employees.add(delta)])
        except TransactWriteError as exc:
            codes = {r.code for r in (exc.cancellation_reasons or []) if r}
            if codes & {"ConditionalCheckFailed", "TransactionConflict"}:
                raise RosterConflict() from exc
            raise
