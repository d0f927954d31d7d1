"""An org's roster: the employees it expects to learn, as imported from its CSV (rosters/importer.py).

Campaign dashboards, org size categories and never-started nudges read it through RosterStore; the learner
id is the same id the platform's events carry, so a roster row and a learner's events meet on it.
"""
from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Optional, Protocol


@dataclass(frozen=True)
class Employee:
    learner_id: str
    org_id: str
    name: str
    email: Optional[str] = None  # never logged
    phone: Optional[str] = None  # E.164 (+91XXXXXXXXXX); never logged
    group: Optional[str] = None
    designation: Optional[str] = None
    employee_id: Optional[str] = None
    language: Optional[str] = None


@dataclass(frozen=True)
class RosterChange:
    """One employee's row going from what was read (`before`, None if absent) to `after` (None: removed)."""
    before: Optional[Employee]
    after: Optional[Employee]

    @property
    def learner_id(self) -> str:
        return (self.after or self.before).learner_id


class RosterConflict(Exception):
    """Some employee was no longer as read when the change was applied (another import ran meanwhile)."""


def headcount_deltas(changes: Iterable[RosterChange]) -> Counter:
    """What the changes do to each org's headcount: +1 for a new employee, -1 for one removed, both for a move."""
    deltas: Counter = Counter()
    for change in changes:
        before_org = change.before.org_id if change.before else None
        after_org = change.after.org_id if change.after else None
        if before_org != after_org:
            if before_org:
                deltas[before_org] -= 1
            if after_org:
                deltas[after_org] += 1
    return deltas


class RosterStore(Protocol):
    def get(self, learner_id: str) -> Optional[Employee]: ...

    def headcount(self, org_id: str) -> int:
        """Employees on this org's own roster (not its sub-orgs)."""

    def headcounts(self, org_ids: list[str]) -> dict[str, int]:
        """headcount() of several orgs in one batch read; orgs without a roster are 0."""

    def employees(self, org_id: str, limit: int,
                  after: Optional[str] = None) -> tuple[list[Employee], Optional[str]]:
        """One page of this org's own roster in learner-id order, and the learner id to continue after."""

    # Writing (the importer, rosters/service.py). Reads are consistent, so that a re-import compares with
    # what is really stored and headcounts stay exact.
    def get_many(self, learner_ids: list[str]) -> dict[str, Employee]:
        """The stored rows of these learners (any org), by learner id; absent ones are left out."""

    def apply(self, changes: list[RosterChange], lane: int = 0) -> None:
        """Write the changes with the headcount counters, each change and its counter moves together.
        Raises RosterConflict (and writes nothing of the affected group) when a row is no longer `before`.
        `lane`: which of the counter's shards to move; concurrent writers pass different lanes."""


class MemoryRosterStore:
    """In-memory RosterStore, behaving as the DynamoDB one (rosters/store.py): one row per learner id and
    all-or-nothing apply() with the same conflict check. Headcounts are counted from the rows (the DynamoDB
    store keeps counters; tests check both agree with the rows)."""

    def __init__(self, employees: Iterable[Employee] = ()):
        self.by_id: dict[str, Employee] = {}
        self.writes = 0  # rows written or deleted: a re-import of the same file must add none
        self._lock = threading.Lock()
        for employee in employees:
            self.put(employee)

    def put(self, employee: Employee) -> None:
        self.apply([RosterChange(self.by_id.get(employee.learner_id), employee)])

    def get(self, learner_id: str) -> Optional[Employee]:
        return self.by_id.get(learner_id)

    def get_many(self, learner_ids: list[str]) -> dict[str, Employee]:
        with self._lock:
            return {i: self.by_id[i] for i in learner_ids if i in self.by_id}

    def apply(self, changes: list[RosterChange], lane: int = 0) -> None:
        with self._lock:  # the importer's writers run in threads
            if any(self.by_id.get(c.learner_id) != c.before for c in changes):
                raise RosterConflict()
            for change in changes:
                if change.after is None:
                    del self.by_id[change.learner_id]
                else:
                    self.by_id[change.learner_id] = change.after
                self.writes += 1

    def headcount(self, org_id: str) -> int:
        return sum(1 for e in self.by_id.values() if e.org_id == org_id)

    def headcounts(self, org_ids: list[str]) -> dict[str, int]:
        return {org_id: self.headcount(org_id) for org_id in org_ids}

    def employees(self, org_id: str, limit: int, after: Optional[str] = None):
        ids = sorted(i for i, e in self.by_id.items() if e.org_id == org_id and (after is None or i > after))
        page = ids[:limit]
        return [self.by_id[i] for i in page], (page[-1] if len(ids) > limit else None)
