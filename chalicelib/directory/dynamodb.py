"""The directories in DynamoDB (ports and in-memory twins: directory/store.py; tables: directory/models.py).

Reads per platform event (docs/platform-events.md has the measured figures): the intake reads its batch's users
and courses with one BatchGetItem each; an xAPI account or mbox is one GetItem of platform-user-keys and one of
platform-users. Parking and releasing are transactions that move the "#count" item with the parked one.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import settings
from chalicelib.directory.models import CompletionRecord, CourseRecord, ParkedRecord, UserKeyRecord, UserRecord
from chalicelib.directory.store import CatalogueCourse, DirectoryUser, Parked
from chalicelib.platform.intake import account_key, mbox_key

COUNT = "#count"


def _course(r: CourseRecord) -> CatalogueCourse:
    return CatalogueCourse(course_id=r.course_id, name=r.name, primary_category=r.primary_category,
                           duration_minutes=int(r.duration_minutes),
                           competencies=tuple(dict(c) for c in r.competencies or []), client=r.client,
                           activity_iri=r.activity_iri)


def _user(r: UserRecord) -> DirectoryUser:
    return DirectoryUser(user_id=r.user_id, org_id=r.org_id, root_org_id=r.root_org_id, name=r.name,
                         designation=r.designation, language=r.language, email=r.email, phone=r.phone,
                         accounts=tuple((a[0], a[1]) for a in r.accounts or []), as_of=r.as_of)


class DynamoCourseCatalogue:
    def get(self, course_id: str) -> Optional[CatalogueCourse]:
        try:
            return _course(CourseRecord.get(course_id))
        except CourseRecord.DoesNotExist:
            return None

    def get_many(self, course_ids: list[str]) -> dict[str, CatalogueCourse]:
        if not course_ids:
            return {}
        return {r.course_id: _course(r) for r in CourseRecord.batch_get(list(dict.fromkeys(course_ids)))}

    def put(self, course: CatalogueCourse) -> Optional[CatalogueCourse]:
        before = self.get(course.course_id)
        if before != course:
            CourseRecord(course.course_id, name=course.name, primary_category=course.primary_category,
                         duration_minutes=course.duration_minutes, competencies=[dict(c) for c in course.competencies],
                         client=course.client, activity_iri=course.activity_iri,
                         activity_key=f"{course.client}|{course.activity_iri}" if course.client else None,
                         updated_at=datetime.now(timezone.utc)).save()
        return before

    def by_activity(self, client: str, activity_iri: str) -> Optional[CatalogueCourse]:
        for r in CourseRecord.by_activity.query(f"{client}|{activity_iri}", limit=1):
            return _course(r)
        return None

    def note_completion(self, course_id: str, stream: str, event_id: str) -> None:
        CompletionRecord(course_id, f"{stream}|{event_id}").save()

    def completions(self, course_id: str) -> list[tuple[str, str]]:
        found = []
        for r in CompletionRecord.query(course_id):
            stream, _, event_id = r.completion.partition("|")
            found.append((stream, event_id))
        return found


class DynamoUserDirectory:
    def get(self, user_id: str) -> Optional[DirectoryUser]:
        try:
            return _user(UserRecord.get(user_id))
        except UserRecord.DoesNotExist:
            return None

    def get_many(self, user_ids: list[str]) -> dict[str, DirectoryUser]:
        if not user_ids:
            return {}
        return {r.user_id: _user(r) for r in UserRecord.batch_get(list(dict.fromkeys(user_ids)))}

    def put(self, user: DirectoryUser) -> Optional[DirectoryUser]:
        before = self.get(user.user_id)
        if before == user and before.as_of == user.as_of:
            return before
        UserRecord(user.user_id, org_id=user.org_id, root_org_id=user.root_org_id, name=user.name,
                   designation=user.designation, language=user.language, email=user.email, phone=user.phone,
                   accounts=[list(a) for a in user.accounts], as_of=user.as_of,
                   updated_at=datetime.now(timezone.utc)).save()
        keys = {account_key(h, n) for h, n in user.accounts} | ({mbox_key(user.email)} if user.email else set())
        old = ({account_key(h, n) for h, n in before.accounts} | ({mbox_key(before.email)} if before.email else set())
               if before else set())
        with UserKeyRecord.batch_write() as batch:
            for key in keys - old:
                batch.save(UserKeyRecord(key, user_id=user.user_id))
            for key in old - keys:
                batch.delete(UserKeyRecord(key))
        return before

    def _by_key(self, key: str) -> Optional[DirectoryUser]:
        try:
            return self.get(UserKeyRecord.get(key).user_id)
        except UserKeyRecord.DoesNotExist:
            return None

    def find_by_account(self, home_page: str, name: str) -> Optional[DirectoryUser]:
        return self._by_key(account_key(home_page, name))

    def find_by_email(self, email: str) -> Optional[DirectoryUser]:
        return self._by_key(mbox_key(email))


class DynamoParkedStore:
    def __init__(self, connection: Optional[Connection] = None):
        self._connection = connection or Connection(region=settings.REGION)

    def park(self, parked: Parked) -> bool:
        waits = "|".join(parked.waits_for)
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.save(ParkedRecord(parked.park_id, waits_for=waits, activity=parked.activity,
                                     parked_at=parked.parked_at), condition=ParkedRecord.park_id.does_not_exist())
                tx.update(ParkedRecord(COUNT), actions=[ParkedRecord.parked.add(1)])
            return True
        except TransactWriteError as exc:
            if not any(r and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons or []):
                raise
        ParkedRecord(parked.park_id).update(actions=[ParkedRecord.waits_for.set(waits)],
                                            condition=ParkedRecord.park_id.exists())
        return False

    def waiting_for(self, kind: str, key: str) -> list[Parked]:
        return [_parked(r) for r in ParkedRecord.by_wait.query(f"{kind}|{key}")]

    def release(self, park_id: str) -> None:
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.delete(ParkedRecord(park_id), condition=ParkedRecord.park_id.exists())
                tx.update(ParkedRecord(COUNT), actions=[ParkedRecord.parked.add(-1)])
        except TransactWriteError as exc:
            if not any(r and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons or []):
                raise

    def page(self, limit: int, after: Optional[str] = None) -> tuple[list[Parked], Optional[str]]:
        """A Scan: pages in the table's own order (not by time); the cursor is the last park id."""
        start = {"park_id": {"S": after}} if after else None
        rows: list[Parked] = []
        scan = ParkedRecord.scan(last_evaluated_key=start, page_size=limit + 1)
        for r in scan:
            if r.park_id == COUNT:
                continue
            rows.append(_parked(r))
            if len(rows) > limit:
                break
        return rows[:limit], (rows[limit - 1].park_id if len(rows) > limit else None)

    def count(self) -> int:
        try:
            return int(ParkedRecord.get(COUNT, consistent_read=True).parked or 0)
        except ParkedRecord.DoesNotExist:
            return 0


def _parked(r: ParkedRecord) -> Parked:
    kind, _, key = (r.waits_for or "|").partition("|")
    return Parked(park_id=r.park_id, waits_for=(kind, key), activity=dict(r.activity or {}),
                  parked_at=r.parked_at or datetime.now(timezone.utc))
