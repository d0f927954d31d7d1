"""The webhook use case end to end on DynamoDB Local: signed body -> store -> queue -> recompute -> read back.

The scoring queue is the in-memory one; every store, transaction and read is the real DynamoDB code.
"""
import json
from datetime import timedelta

import pytest

from chalicelib.identity.tokens import Principal
from chalicelib import bootstrap
from chalicelib.errors import ApiError
from chalicelib.ingestion.signature import sign
from chalicelib.ingestion.webhook import handle
from chalicelib.learners.service import learner_summary, ledger_page
from chalicelib.scoring.pipeline import recompute_stream
from chalicelib.storage.models import EventRecord
from tests.conftest import FIXTURES, fixture_event
from tests.integration.conftest import SECRET
from tests.rules_builders import completion, ist

LEARNER = "5f1c2a9e-8d44-4b7a-9a6e-1c2d3e4f5a6b"
SINGLE_FIXTURES = sorted(p.stem for p in (FIXTURES / "events").glob("*.json") if p.stem != "batch")

ADMIN = Principal("admin-1", None, frozenset({"national_admin"}))  # may read any learner


def post(adapters, payload, now, secret=SECRET):
    raw = json.dumps(payload).encode()
    return handle(raw, sign(raw, secret, int(now.timestamp())), adapters, now)


def drain(adapters) -> list[str]:
    """Deliver every queued stream to the scoring step, as the SQS handler would, until the queue is empty."""
    done = []
    while streams := adapters.queue.drain():
        for stream in dict.fromkeys(streams):
            recompute_stream(stream, adapters)
            done.append(stream)
    return done


def whole_ledger(learner_id, adapters, limit) -> list[dict]:
    entries, cursor = [], None
    while True:
        page = ledger_page(learner_id, ADMIN, adapters, str(limit), cursor)
        assert len(page["entries"]) <= limit
        entries += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            return entries


def without_recorded_at(entries):
    return [{k: v for k, v in e.items() if k != "recorded_at"} for e in entries]


def test_the_fixture_events_end_to_end(adapters, now):
    memory = bootstrap.memory_adapters(webhook_secrets=lambda: [SECRET])
    for name in SINGLE_FIXTURES:  # alphabetical: not the order they happened in
        for wired in (adapters, memory):
            status, body = post(wired, fixture_event(name), now)
            assert status == 202 and body["results"][0]["status"] == "accepted"
    assert set(drain(adapters)) == {f"learner:{LEARNER}", "org:org_gsi_kolkata"}
    drain(memory)

    summary = learner_summary(LEARNER, ADMIN, adapters, now)
    assert summary == learner_summary(LEARNER, ADMIN, memory, now)  # the DynamoDB adapters agree with the fakes
    assert summary["name"] == "Ananya Mehta" and summary["org_id"] == "org_mines_hq"
    assert summary["points"] == 5 + 15 + 2 + 5  # enrolment; completion + passed + ACBP on time; rating; webinar
    assert summary["learning_minutes"] == 90 + 35 + 60
    assert summary["competency_areas"] == ["behavioural", "domain"]
    assert {b["id"] for b in summary["badges"]} == {"first_course", "first_rating"}

    first = ledger_page(LEARNER, ADMIN, adapters, None, None)
    assert first["next_cursor"] is None and len(first["entries"]) == 6
    in_memory = ledger_page(LEARNER, ADMIN, memory, None, None)["entries"]
    assert without_recorded_at(first["entries"]) == without_recorded_at(in_memory)
    assert all(e["recorded_at"].endswith("Z") for e in first["entries"])
    assert whole_ledger(LEARNER, adapters, 4) == whole_ledger(LEARNER, adapters, 1) == first["entries"]

    org = adapters.orgs.get("org_gsi_kolkata")
    assert (org.name, org.type, org.parent_id) == ("Geological Survey of India (Kolkata)", "mdo", "dept_mines")

    # Everything delivered again: all duplicates, and the recompute they trigger writes nothing.
    version = adapters.learners.get(LEARNER).version
    for name in SINGLE_FIXTURES:
        assert post(adapters, fixture_event(name), now)[1]["results"][0]["status"] == "duplicate"
    drain(adapters)
    assert adapters.learners.get(LEARNER).version == version
    assert learner_summary(LEARNER, ADMIN, adapters, now) == summary


def test_a_batch_with_a_duplicate_and_a_rejected_event(adapters, now):
    batch = json.loads((FIXTURES / "events" / "batch.json").read_text())
    status, body = post(adapters, batch + [batch[0]], now)
    assert status == 202
    assert [r["status"] for r in body["results"]] == ["accepted", "accepted", "rejected", "duplicate"]
    assert [r["id"] for r in body["results"]] == ["evt_b_0001", "evt_b_0002", "evt_b_0003", "evt_b_0001"]
    assert body["results"][2]["error"]["field"] == "occurred_at"
    assert sorted(adapters.queue.sent) == ["learner:u-0001", "learner:u-0001", "learner:u-0002"]
    assert drain(adapters) == ["learner:u-0001", "learner:u-0002"]

    one, two = learner_summary("u-0001", ADMIN, adapters, now), learner_summary("u-0002", ADMIN, adapters, now)
    assert (one["points"], one["courses_completed"], one["learning_minutes"]) == (5, 1, 30)
    assert [b["id"] for b in one["badges"]] == ["first_course"]
    assert (two["points"], two["learning_minutes"]) == (5, 120)
    entries = ledger_page("u-0001", ADMIN, adapters, None, None)["entries"]
    assert [(e["event_id"], e["rule"], e["amount"], e["kind"]) for e in entries] == [
        ("evt_b_0001", "course_completion", 5, "award")]
    with pytest.raises(ApiError) as missing:
        learner_summary("u-0003", ADMIN, adapters, now)
    assert missing.value.status == 404
    assert EventRecord.count("learner:u-0001", consistent_read=True) == 1

    # The same batch again, as upstream would retry it.
    status, body = post(adapters, batch, now + timedelta(minutes=1))
    assert [r["status"] for r in body["results"]] == ["duplicate", "duplicate", "rejected"]
    drain(adapters)
    assert learner_summary("u-0001", ADMIN, adapters, now) == one
    assert adapters.learners.get("u-0001").version == 1


def test_a_late_event_displaces_a_capped_completion(adapters, now):
    """Five non-ACBP completions in one IST month; the monthly cap is four; the earliest arrives last."""
    learner = "u-late"
    days = [ist(2024, 10, day, 12) for day in (5, 6, 7, 8, 9)]
    events = [completion(learner, f"do_{n}", at, passed=True, id=f"evt_late_{n}") for n, at in enumerate(days)]
    for event in events[1:]:  # arrival order: the 6th..9th, each scored as it arrives
        post(adapters, event, now)
        drain(adapters)
    before = learner_summary(learner, ADMIN, adapters, now)
    assert (before["points"], before["courses_completed"]) == (40, 4)

    post(adapters, events[0], now)  # 5 Oct arrives last: it happened first, so it is one of the four
    drain(adapters)
    after = learner_summary(learner, ADMIN, adapters, now)
    assert (after["points"], after["courses_completed"]) == (40, 5)

    newest = ledger_page(learner, ADMIN, adapters, "4", None)["entries"]
    assert sorted((e["event_id"], e["rule"], e["amount"], e["kind"]) for e in newest) == [
        ("evt_late_0", "assessment_passed", 5, "award"),
        ("evt_late_0", "course_completion", 5, "award"),
        ("evt_late_4", "assessment_passed", -5, "correction"),
        ("evt_late_4", "course_completion", -5, "correction"),
    ]
    corrections = [e for e in newest if e["kind"] == "correction"]
    assert all(e["note"].startswith("Correction: ") and "monthly cap" in e["note"] for e in corrections)
    assert all(e["occurred_at"] == "2024-10-09T06:30:00Z" for e in corrections)
    everything = whole_ledger(learner, adapters, 3)
    assert len(everything) == 8 + 4 and sum(e["amount"] for e in everything) == 40
    # Nothing recorded was rewritten: newest first, the displaced event's corrections, then its awards.
    assert [(e["rule"], e["amount"]) for e in everything if e["event_id"] == "evt_late_4"] == [
        ("course_completion", -5), ("assessment_passed", -5), ("course_completion", 5), ("assessment_passed", 5)]


def test_a_bad_signature_stores_and_queues_nothing(adapters, now):
    with pytest.raises(ApiError) as refused:
        post(adapters, fixture_event("course.completed"), now, secret="not-the-secret")
    assert refused.value.status == 401
    assert adapters.queue.sent == []
    assert adapters.events.stream(f"learner:{LEARNER}") == []
