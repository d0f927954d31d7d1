"""The directory ports (chalicelib/directory/store.py): the DynamoDB adapters (moto) behave as the in-memory twins."""
from datetime import datetime, timezone

import pytest

from chalicelib.directory.store import (CatalogueCourse, DirectoryUser, MemoryCourseCatalogue, MemoryParkedStore,
                                        MemoryUserDirectory, Parked)

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["memory", "dynamodb"])
def directory_stores(request):
    if request.param == "memory":
        yield MemoryCourseCatalogue(), MemoryUserDirectory(), MemoryParkedStore()
        return
    from tests.conftest import aws_world
    from chalicelib.directory.dynamodb import DynamoCourseCatalogue, DynamoParkedStore, DynamoUserDirectory
    with aws_world():
        yield DynamoCourseCatalogue(), DynamoUserDirectory(), DynamoParkedStore()


def test_courses_by_id_in_batches_by_client_activity_and_their_completions(directory_stores):
    courses, _, _ = directory_stores
    course = CatalogueCourse("do_1", "Drafting", "Course", 90, ({"id": "7", "name": "Writing", "area": "behavioural"},))
    own = CatalogueCourse("xapi-moodle-abc", "Fire safety", "Course", 45, (), client="moodle-up",
                          activity_iri="https://lms.up.gov.in/course/view.php?id=42")
    assert courses.put(course) is None and courses.put(own) is None
    assert courses.put(course) == course
    assert courses.get("do_1") == course and courses.get("nope") is None
    assert courses.get_many(["do_1", "nope", "xapi-moodle-abc"]) == {"do_1": course, "xapi-moodle-abc": own}
    assert courses.by_activity("moodle-up", "https://lms.up.gov.in/course/view.php?id=42") == own
    assert courses.by_activity("other-lms", "https://lms.up.gov.in/course/view.php?id=42") is None
    courses.note_completion("do_1", "learner:u-1", "completion:u-1:do_1")
    courses.note_completion("do_1", "learner:u-1", "completion:u-1:do_1")
    assert courses.completions("do_1") == [("learner:u-1", "completion:u-1:do_1")]


def test_users_by_id_by_account_and_by_email(directory_stores):
    _, users, _ = directory_stores
    user = DirectoryUser("u-1", "org-9", "org-1", "Meera Iyer", "Section Officer", "hi", "Meera.Iyer@Example.gov.in",
                         None, (("https://lms.up.gov.in", "meera.iyer"),))
    assert users.put(user) is None
    assert users.get("u-1") == user and users.get_many(["u-1", "u-2"]) == {"u-1": user}
    assert users.find_by_account("https://lms.up.gov.in", "meera.iyer") == user
    assert users.find_by_account("https://lms.up.gov.in", "someone") is None
    assert users.find_by_email("meera.iyer@example.gov.in") == user
    moved = DirectoryUser("u-1", "org-9", "org-1", "Meera Iyer", accounts=())
    users.put(moved)
    assert users.find_by_account("https://lms.up.gov.in", "meera.iyer") is None
    assert users.find_by_email("meera.iyer@example.gov.in") is None


def test_parked_once_counted_waiting_for_released_and_paged(directory_stores):
    _, _, parked = directory_stores
    one = Parked("platform:x:1", ("user", "u-1"), {"source": "platform:x", "record_id": "1"}, NOW)
    assert parked.park(one) and not parked.park(one)
    assert parked.park(Parked("platform:x:2", ("user", "u-1"), {"record_id": "2"}, NOW))
    assert parked.park(Parked("platform:x:3", ("course", "do_1"), {"record_id": "3"}, NOW))
    assert parked.count() == 3
    assert {p.park_id for p in parked.waiting_for("user", "u-1")} == {"platform:x:1", "platform:x:2"}
    assert not parked.park(Parked("platform:x:1", ("course", "do_1"), {"ignored": True}, NOW))  # waits again
    assert {p.park_id for p in parked.waiting_for("course", "do_1")} == {"platform:x:1", "platform:x:3"}
    assert [p.activity for p in parked.waiting_for("course", "do_1") if p.park_id == "platform:x:1"] == [
        one.activity]
    first, cursor = parked.page(2)
    rest, end = parked.page(2, cursor)
    assert len(first) == 2 and cursor and len(rest) == 1 and end is None
    assert {p.park_id for p in first + rest} == {"platform:x:1", "platform:x:2", "platform:x:3"}
    parked.release("platform:x:1")
    parked.release("platform:x:1")
    assert parked.count() == 2
