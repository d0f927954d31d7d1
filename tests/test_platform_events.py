"""The platform's own events (chalicelib/platform/): each kind read as the platform writes it, exactly once, parked
until the directory knows its user and course, through both doors."""
from datetime import datetime, timezone

import pytest

from chalicelib.bootstrap import memory_adapters
from chalicelib.directory import service as directory
from chalicelib.platform import service as platform
from chalicelib.platform.intake import completion_id
from chalicelib.platform.sunbird import time_uuid_instant
from tests.platform_helpers import ARJUN, COURSE, MEERA, TALK, kafka_event, record

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc)


@pytest.fixture
def known():
    adapters = memory_adapters()
    directory.import_courses(record("courses"), adapters, NOW)
    directory.import_users(record("users"), adapters, NOW)
    return adapters


def stream(adapters, user):
    return sorted(adapters.events.stream(f"learner:{user}"), key=lambda e: e.order_key)


def test_a_certificate_request_is_one_completion_per_user_with_the_catalogues_facts(known):
    [result] = platform.accept_records("issue.certificate.request", [record("certificate")], known, NOW)
    assert result["status"] == "accepted" and result["id"] == record("certificate")["mid"]
    assert [a["status"] for a in result["activities"]] == ["accepted", "accepted"]
    for user, org in ((MEERA, "01376822290813747263"), (ARJUN, "01379900112233445566")):
        [completed] = stream(known, user)
        assert completed.type == "course.completed" and completed.id == completion_id(user, COURSE)
        assert (completed.learner.org_id, completed.course.duration_minutes) == (org, 90)
        assert {c.area for c in completed.course.competencies} == {"functional", "behavioural"}
        assert completed.occurred_at == datetime(2026, 11, 17, 6, 30, tzinfo=timezone.utc)  # from ets


def test_a_reissue_or_a_redelivery_is_a_duplicate_never_a_second_completion(known):
    platform.accept_records("issue.certificate.request", [record("certificate")], known, NOW)
    again = platform.accept_records("issue.certificate.request", [record("certificate"), record("certificate_reissue")],
                                    known, NOW)
    assert [r["status"] for r in again] == ["duplicate", "duplicate"]
    assert len(stream(known, MEERA)) == 1


def test_the_topic_may_carry_its_environment_prefix(known):
    [result] = platform.accept_records("prod.user.enrolment.event", [record("enrolment")], known, NOW)
    assert result["status"] == "accepted" and result["id"] == f"{MEERA}:{COURSE}:0141120034567"
    [enrolled] = stream(known, MEERA)
    assert enrolled.type == "course.enrolled" and enrolled.course.id == COURSE


def test_a_ratings_instant_is_read_from_its_time_based_uuid(known):
    added, updated = platform.accept_records("rating.event", [record("rating_add"), record("rating_update")],
                                             known, NOW)
    assert added["status"] == updated["status"] == "accepted"
    first, second = stream(known, MEERA)
    assert first.occurred_at == datetime(2026, 11, 18, 10, 15, tzinfo=timezone.utc) and first.rating == 4.0
    assert second.occurred_at == datetime(2026, 11, 19, 4, 40, 30, tzinfo=timezone.utc) and second.rating == 5.0


def test_time_uuid_instant_refuses_a_random_uuid():
    with pytest.raises(ValueError, match="time-based"):
        time_uuid_instant("4b0c6a8e-8f0e-4d5c-9a1b-2c3d4e5f6a7b")


def test_a_rating_without_a_time_uuid_is_rejected_naming_the_field(known):
    bad = record("rating_add")
    bad["updatedValues"]["updatedOn"] = "yesterday"
    [result] = platform.accept_records("rating.event", [bad], known, NOW)
    assert result["status"] == "rejected" and result["error"]["field"] == "updatedValues.updatedOn"


@pytest.mark.parametrize("name,user", [("attendance_ets", MEERA), ("attendance_etc", ARJUN)])
def test_attendance_reads_either_spelling_of_its_timestamp(known, name, user):
    [result] = platform.accept_records("user.event.karma.points", [record(name)], known, NOW)
    assert result["status"] == "accepted"
    [attended] = stream(known, user)
    assert attended.type == "event.attended" and attended.event.id == TALK
    assert attended.event.duration_minutes == 60
    assert attended.occurred_at == datetime(2026, 11, 19, 11, 45, tzinfo=timezone.utc)


def test_progress_is_learning_activity_never_a_completion(known):
    [result] = platform.accept_records("coursebatch.job.request", [record("progress")], known, NOW)
    assert result["status"] == "accepted"
    [spent] = stream(known, MEERA)  # one content completed (status 2); the one in progress (1) is nothing
    assert spent.type == "learning.time_spent" and spent.minutes == 20 and spent.content_id == "do_1141100012345678902"
    other = record("progress")
    other["edata"]["action"] = "batch-update"
    [ignored] = platform.accept_records("coursebatch.job.request", [other], known, NOW)
    assert ignored["status"] == "ignored"


def test_an_acbp_claim_marks_the_completion_on_plan_once(known):
    platform.accept_records("issue.certificate.request", [record("certificate")], known, NOW)
    [claimed] = platform.accept_records("user.claim.acbp.karma.points", [record("acbp_claim")], known, NOW)
    assert claimed["status"] == "accepted"
    [completion] = stream(known, ARJUN)
    assert completion.acbp is not None and completion.acbp.end_date == NOW.date()
    [again] = platform.accept_records("user.claim.acbp.karma.points", [record("acbp_claim")], known, NOW)
    assert again["status"] == "duplicate"


def test_a_claim_before_its_certificate_is_the_completion_and_the_certificate_a_duplicate(known):
    platform.accept_records("user.claim.acbp.karma.points", [record("acbp_claim")], known, NOW)
    [cert] = platform.accept_records("issue.certificate.request", [record("certificate")], known, NOW)
    assert [a["status"] for a in cert["activities"]] == ["accepted", "duplicate"]
    [completion] = stream(known, ARJUN)
    assert completion.acbp is not None


def test_one_bad_record_never_sinks_its_batch(known):
    results = platform.accept_records("user.enrolment.event", [{"edata": {"userId": MEERA}}, "nonsense",
                                                               record("enrolment")], known, NOW)
    assert [r["status"] for r in results] == ["rejected", "rejected", "accepted"]
    assert results[0]["error"]["field"] == "edata.courseId" and results[1]["error"]["field"] == "record"


def test_parked_until_the_directory_learns_the_user_then_released_and_queued():
    adapters = memory_adapters()
    directory.import_courses(record("courses"), adapters, NOW)
    [result] = platform.accept_records("issue.certificate.request", [record("certificate")], adapters, NOW)
    assert result["status"] == "parked" and adapters.directory.parked.count() == 2
    assert adapters.events.stream(f"learner:{MEERA}") == []
    adapters.queue.drain()
    outcome = directory.import_users(record("users")[:1], adapters, NOW)
    assert outcome["released"] == 1 and adapters.directory.parked.count() == 1
    assert [e.type for e in stream(adapters, MEERA)] == ["course.completed"]
    assert adapters.queue.drain() == [f"learner:{MEERA}"]


def test_a_user_known_before_the_course_waits_again_for_the_course():
    adapters = memory_adapters()
    [result] = platform.accept_records("issue.certificate.request", [record("certificate")], adapters, NOW)
    assert result["status"] == "parked"
    directory.import_users(record("users"), adapters, NOW)
    waits = {p.waits_for for p in adapters.directory.parked.page(10)[0]}
    assert waits == {("course", COURSE)} and adapters.directory.parked.count() == 2
    assert directory.import_courses(record("courses"), adapters, NOW)["released"] == 2
    assert adapters.directory.parked.count() == 0


def test_a_webhook_profile_event_teaches_the_directory_and_releases_what_waited():
    from chalicelib.ingestion.webhook import accept_events
    adapters = memory_adapters()
    directory.import_courses(record("courses"), adapters, NOW)
    platform.accept_records("user.enrolment.event", [record("enrolment")], adapters, NOW)
    profile = {"id": "p-1", "type": "learner.upserted", "occurred_at": "2026-11-19T10:00:00Z",
               "learner": {"id": MEERA, "org_id": "org-posts", "name": "Meera Iyer"}}
    [outcome] = accept_events([profile], adapters, NOW)
    assert outcome.status == "accepted"
    assert adapters.directory.users.get(MEERA).org_id == "org-posts"
    assert adapters.directory.parked.count() == 0
    assert [e.type for e in stream(adapters, MEERA)] == ["learner.upserted", "course.enrolled"]


def test_a_change_of_duration_or_competencies_rescores_those_who_completed_the_course(known):
    platform.accept_records("issue.certificate.request", [record("certificate")], known, NOW)
    known.queue.drain()
    courses = record("courses")
    renamed = [{**courses[0], "name": "Noting and Drafting (2027)"}]
    assert directory.import_courses(renamed, known, NOW)["rescored"] == 0  # a name is not scored
    longer = [{**courses[0], "duration": "7200"}]
    outcome = directory.import_courses(longer, known, NOW)
    assert outcome["rescored"] == 2 and outcome["results"][0]["status"] == "changed"
    assert sorted(known.queue.drain()) == sorted([f"learner:{MEERA}", f"learner:{ARJUN}"])
    assert stream(known, MEERA)[0].course.duration_minutes == 120


def test_the_kafka_event_source_shape_is_decoded_and_each_topic_read(known):
    event = kafka_event({"issue.certificate.request": [record("certificate")],
                         "rating.event": [record("rating_add")],
                         "user.event.karma.points": [record("attendance_ets")]})
    event["records"]["prod.rating.event-0"].append({"topic": "prod.rating.event", "partition": 0, "offset": 7,
                                                    "value": "%%% not base64"})
    counts = platform.consume_kafka(event, known, NOW)
    assert counts == {"accepted": 3, "unreadable": 1}
    assert platform.consume_kafka(event, known, NOW) == {"duplicate": 3, "unreadable": 1}
    assert [e.type for e in stream(known, MEERA)] == ["course.completed", "course.rated", "event.attended"]


def test_the_parked_count_is_published_as_a_metric_when_it_moves(capsys):
    import json as _json
    adapters = memory_adapters()
    platform.accept_records("rating.event", [record("rating_add")], adapters, NOW)
    directory.import_users(record("users"), adapters, NOW)
    metrics = [_json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [m["ParkedActivities"] for m in metrics] == [[1.0], [0.0]]
    assert metrics[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "KarmayogiEngage"


def test_erasure_empties_the_directory_entry_and_nothing_personal_comes_back():
    from chalicelib.identity.tokens import Principal
    known = memory_adapters()
    from chalicelib.ingestion.webhook import accept_events
    from chalicelib.learners.erasure import erase_learner
    from chalicelib.scoring.pipeline import recompute_stream
    profile = {"id": "p-1", "type": "learner.upserted", "occurred_at": "2026-11-19T10:00:00Z",
               "learner": {"id": MEERA, "org_id": "org-posts", "name": "Meera Iyer", "email": "meera@example.gov.in"}}
    accept_events([profile], known, NOW)
    recompute_stream(f"learner:{MEERA}", known)
    erase_learner(MEERA, Principal("admin", None, ("national_admin",)), known, NOW)
    after = known.directory.users.get(MEERA)
    assert (after.name, after.email, after.org_id) == (None, None, "org-posts")
    directory.import_users(record("users"), known, NOW)
    accept_events([{**profile, "id": "p-2", "occurred_at": "2026-11-19T11:00:00Z"}], known, NOW)
    after = known.directory.users.get(MEERA)
    assert (after.name, after.email, after.phone, after.designation) == (None, None, None, None)
    assert known.directory.users.find_by_email("meera@example.gov.in") is None


def test_an_older_profile_event_arriving_late_does_not_undo_a_newer_one():
    from chalicelib.ingestion.webhook import accept_events
    adapters = memory_adapters()

    def profile(event_id, at, org):
        return {"id": event_id, "type": "learner.upserted", "occurred_at": at,
                "learner": {"id": MEERA, "org_id": org}}
    accept_events([profile("p-new", "2026-11-19T10:00:00Z", "org-new")], adapters, NOW)
    accept_events([profile("p-old", "2026-11-01T10:00:00Z", "org-old")], adapters, NOW)
    assert adapters.directory.users.get(MEERA).org_id == "org-new"
    directory.import_users(record("users")[:1], adapters, NOW)  # the platform's user read: as of now
    accept_events([profile("p-mid", "2026-11-19T12:00:00Z", "org-mid")], adapters, NOW)
    assert adapters.directory.users.get(MEERA).org_id == "01376822290813747263"
