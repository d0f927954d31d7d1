"""The shared intake (chalicelib/platform/intake.py): outside activities become our events exactly once, or wait
for the directory."""
from datetime import datetime, timezone

from chalicelib.bootstrap import memory_adapters
from chalicelib.directory.store import CatalogueCourse, DirectoryUser
from chalicelib.platform.intake import Activity, UserRef, accept, completion_id

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
WHEN = datetime(2026, 11, 19, 9, 30, tzinfo=timezone.utc)
COURSE = CatalogueCourse("do_1139", "Noting and drafting", "Course", 90,
                         ({"id": "cmp_12", "name": "Drafting", "area": "functional"},))


def adapters_with_directory():
    adapters = memory_adapters()
    adapters.directory.users.put(DirectoryUser("u-1", "org-9", root_org_id="org-1", name="Asha"))
    adapters.directory.courses.put(COURSE)
    return adapters


def completion(record_id, user="u-1", course="do_1139", source="platform:issue.certificate.request"):
    return Activity(source, record_id, "course.completed", UserRef(user_id=user), course, WHEN, {"batch_id": "b1"})


def test_a_completion_is_stored_with_the_catalogue_facts_and_queued():
    adapters = adapters_with_directory()
    [outcome] = accept([completion("mid-1")], adapters, NOW)
    assert outcome["status"] == "accepted" and outcome["id"] == "mid-1"
    [stored] = adapters.events.stream("learner:u-1")
    assert stored.id == completion_id("u-1", "do_1139")
    assert (stored.learner.org_id, stored.course.duration_minutes, stored.course.competencies[0].area) == (
        "org-9", 90, "functional")
    assert adapters.queue.drain() == ["learner:u-1"]


def test_a_second_report_of_the_same_completion_is_a_duplicate_whatever_its_record_id():
    adapters = adapters_with_directory()
    accept([completion("mid-1")], adapters, NOW)
    [again] = accept([completion("mid-2-reissue")], adapters, NOW)
    assert again["status"] == "duplicate"
    assert len(adapters.events.stream("learner:u-1")) == 1


def test_unknown_user_or_course_is_parked_and_the_batch_goes_on():
    adapters = adapters_with_directory()
    results = accept([completion("a", user="u-unknown"), completion("b", course="do_new"), completion("c")],
                     adapters, NOW)
    assert [r["status"] for r in results] == ["parked", "parked", "accepted"]
    assert [p.waits_for for p in adapters.directory.parked.page(10)[0]] == [
        ("user", "u-unknown"), ("course", "do_new")]


def test_a_bad_activity_is_rejected_naming_the_field():
    adapters = adapters_with_directory()
    bad = Activity("platform:rating.event", "r1", "course.rated", UserRef(user_id="u-1"), "do_1139", WHEN,
                   {"rating": 9})
    [outcome] = accept([bad], adapters, NOW)
    assert outcome["status"] == "rejected" and outcome["error"]["field"] == "rating"
    assert adapters.events.stream("learner:u-1") == []
