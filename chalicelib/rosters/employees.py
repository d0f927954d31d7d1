"""An org's roster: the employees it expects to learn, as imported from its CSV (rosters/importer.py).

Campaign dashboards, org size categories and never-started nudges read it through RosterStore; the learner
id is the same id the platform's events carry, so a roster row and a learner's events meet on it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol


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


class RosterStore(Protocol):
    def get(self, learner_id: str) -> Optional[Employee]: ...

    def headcount(self, org_id: str) -> int:
        """Employees on this org's own roster (not its sub-orgs)."""

    def headcounts(self, org_ids: list[str]) -> dict[str, int]:
        """headcount() of several orgs in one batch read; orgs without a roster are 0."""

    def employees(self, org_id: str, limit: int,
                  after: Optional[str] = None) -> tuple[list[Employee], Optional[str]]:
        """One page of this org's own roster in learner-id order, and the learner id to continue after."""


class MemoryRosterStore:
    """In-memory RosterStore for unit tests of the use cases that read rosters."""

    def __init__(self, employees: list[Employee] = ()):
        self.by_id: dict[str, Employee] = {}
        for employee in employees:
            self.put(employee)

    def put(self, employee: Employee) -> None:
        self.by_id[employee.learner_id] = employee

    def get(self, learner_id: str) -> Optional[Employee]:
        return self.by_id.get(learner_id)

    def headcount(self, org_id: str) -> int:
        return sum(1 for e in self.by_id.values() if e.org_id == org_id)

    def headcounts(self, org_ids: list[str]) -> dict[str, int]:
        return {org_id: self.headcount(org_id) for org_id in org_ids}

    def employees(self, org_id: str, limit: int, after: Optional[str] = None):
        ids = sorted(i for i, e in self.by_id.items() if e.org_id == org_id and (after is None or i > after))
        page = ids[:limit]
        return [self.by_id[i] for i in page], (page[-1] if len(ids) > limit else None)
