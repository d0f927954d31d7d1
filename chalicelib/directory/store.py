"""The directories' ports and their in-memory twins; DynamoDB adapters are in directory/dynamodb.py.

- CourseCatalogue: courses by id (the platform's content search results), and courses an xAPI client registered
  under its own activity IRIs (client, IRI), which the catalogue does not know.
- UserDirectory: users by id (the platform's user read), found also by xAPI account (homePage, name) and by
  email (an xAPI mbox).
- ParkedStore: activities whose user or course is not known yet, by what they wait for.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional, Protocol


@dataclass(frozen=True)
class CatalogueCourse:
    """A course as scoring needs it. competencies are our own shape (events.Competency: id, name, area)."""
    course_id: str
    name: Optional[str] = None
    primary_category: str = "Course"
    duration_minutes: int = 0
    competencies: tuple[dict, ...] = ()
    client: Optional[str] = None  # an xAPI client's own course (registered by it), None for the catalogue's
    activity_iri: Optional[str] = None  # that client's activity IRI

    def scoring_fingerprint(self) -> tuple:
        """What a completion's points depend on: a change re-scores the learners who completed it."""
        return (self.duration_minutes, tuple(sorted(c.get("id", "") + "|" + c.get("area", "")
                                                   for c in self.competencies)))


@dataclass(frozen=True)
class DirectoryUser:
    """A user as the platform's user read returns them (our names). email/phone never reach logs."""
    user_id: str
    org_id: str
    root_org_id: Optional[str] = None
    name: Optional[str] = None
    designation: Optional[str] = None
    language: Optional[str] = None
    email: Optional[str] = None
    phone: Optional[str] = None
    accounts: tuple[tuple[str, str], ...] = ()  # xAPI accounts (homePage, name) that are this user
    # "<ISO instant>|<what>" of the write this entry is as of: a profile event older than that changes nothing.
    as_of: Optional[str] = field(default=None, compare=False)


class CourseCatalogue(Protocol):
    def get(self, course_id: str) -> Optional[CatalogueCourse]: ...

    def get_many(self, course_ids: list[str]) -> dict[str, CatalogueCourse]:
        """One batch read."""

    def put(self, course: CatalogueCourse) -> Optional[CatalogueCourse]:
        """Write; returns what was there before (None: new)."""

    def by_activity(self, client: str, activity_iri: str) -> Optional[CatalogueCourse]:
        """A course registered by an xAPI client under its activity IRI."""

    def note_completion(self, course_id: str, stream: str, event_id: str) -> None:
        """A completion of this course was stored (intake.py): who to re-score when the course changes."""

    def completions(self, course_id: str) -> list[tuple[str, str]]:
        """(stream, event id) of every completion noted for this course."""


class UserDirectory(Protocol):
    def get(self, user_id: str) -> Optional[DirectoryUser]: ...

    def get_many(self, user_ids: list[str]) -> dict[str, DirectoryUser]:
        """One batch read."""

    def put(self, user: DirectoryUser) -> Optional[DirectoryUser]:
        """Write; returns what was there before (None: new)."""

    def find_by_account(self, home_page: str, name: str) -> Optional[DirectoryUser]: ...

    def find_by_email(self, email: str) -> Optional[DirectoryUser]:
        """Case-insensitive; an xAPI mbox is 'mailto:' + this."""


@dataclass(frozen=True)
class Parked:
    """An activity waiting for the directory: `waits_for` is ("user", key) or ("course", course_id); the user key
    is a user id, "account:<homePage>|<name>" or "mbox:<email digest>" (never the email itself)."""
    park_id: str  # the activity's event id stem (source + record id): parking twice is one parking
    waits_for: tuple[str, str]
    activity: dict  # intake.Activity as JSON (intake.activity_to_json)
    parked_at: datetime


class ParkedStore(Protocol):
    def park(self, parked: Parked) -> bool:
        """Keep it; False if this park_id was parked already (then it now waits for what `parked` says: a
        released activity can wait again, for its course once its user is known)."""

    def waiting_for(self, kind: str, key: str) -> list[Parked]:
        """Everything parked for this user or course."""

    def release(self, park_id: str) -> None:
        """It was accepted: forget it."""

    def page(self, limit: int, after: Optional[str] = None) -> tuple[list[Parked], Optional[str]]:
        """All parked activities, oldest park_id first; the cursor to continue after, if there are more."""

    def count(self) -> int: ...


class MemoryCourseCatalogue:
    def __init__(self):
        self.courses: dict[str, CatalogueCourse] = {}
        self.completed: dict[str, dict[tuple[str, str], None]] = {}
        self.reads = 0

    def get(self, course_id: str) -> Optional[CatalogueCourse]:
        self.reads += 1
        return self.courses.get(course_id)

    def get_many(self, course_ids: list[str]) -> dict[str, CatalogueCourse]:
        self.reads += 1
        return {c: self.courses[c] for c in course_ids if c in self.courses}

    def put(self, course: CatalogueCourse) -> Optional[CatalogueCourse]:
        before = self.courses.get(course.course_id)
        self.courses[course.course_id] = course
        return before

    def by_activity(self, client: str, activity_iri: str) -> Optional[CatalogueCourse]:
        self.reads += 1
        return next((c for c in self.courses.values() if (c.client, c.activity_iri) == (client, activity_iri)),
                    None)

    def note_completion(self, course_id: str, stream: str, event_id: str) -> None:
        self.completed.setdefault(course_id, {})[(stream, event_id)] = None

    def completions(self, course_id: str) -> list[tuple[str, str]]:
        return list(self.completed.get(course_id, {}))


class MemoryUserDirectory:
    def __init__(self):
        self.users: dict[str, DirectoryUser] = {}
        self.reads = 0

    def get(self, user_id: str) -> Optional[DirectoryUser]:
        self.reads += 1
        return self.users.get(user_id)

    def get_many(self, user_ids: list[str]) -> dict[str, DirectoryUser]:
        self.reads += 1
        return {u: self.users[u] for u in user_ids if u in self.users}

    def put(self, user: DirectoryUser) -> Optional[DirectoryUser]:
        before = self.users.get(user.user_id)
        self.users[user.user_id] = user
        return before

    def find_by_account(self, home_page: str, name: str) -> Optional[DirectoryUser]:
        self.reads += 1
        return next((u for u in self.users.values() if (home_page, name) in u.accounts), None)

    def find_by_email(self, email: str) -> Optional[DirectoryUser]:
        self.reads += 1
        wanted = email.strip().lower()
        return next((u for u in self.users.values() if u.email and u.email.lower() == wanted), None)


@dataclass
class MemoryParkedStore:
    parked: dict[str, Parked] = field(default_factory=dict)

    def park(self, parked: Parked) -> bool:
        before = self.parked.get(parked.park_id)
        self.parked[parked.park_id] = copy.deepcopy(parked) if before is None else copy.deepcopy(
            Parked(parked.park_id, parked.waits_for, before.activity, before.parked_at))
        return before is None

    def waiting_for(self, kind: str, key: str) -> list[Parked]:
        return [p for p in self.parked.values() if p.waits_for == (kind, key)]

    def release(self, park_id: str) -> None:
        self.parked.pop(park_id, None)

    def page(self, limit: int, after: Optional[str] = None) -> tuple[list[Parked], Optional[str]]:
        ids = sorted(i for i in self.parked if after is None or i > after)
        rows = [self.parked[i] for i in ids[:limit]]
        return rows, (rows[-1].park_id if len(ids) > limit else None)

    def count(self) -> int:
        return len(self.parked)


@dataclass
class Directory:
    """The three stores, as one field of Adapters (bootstrap.py)."""
    courses: CourseCatalogue = field(default_factory=MemoryCourseCatalogue)
    users: UserDirectory = field(default_factory=MemoryUserDirectory)
    parked: ParkedStore = field(default_factory=MemoryParkedStore)
