"""The local stack's demo data (local/seed.py) and queue pump (local/pump.py), on moto in-process."""
import time
from datetime import datetime, timezone

import boto3
import pytest
from chalice import Chalice

from chalicelib import bootstrap, settings
from chalicelib.events import parse_event
from chalicelib.scoring.pipeline import recompute_streams
from chalicelib.logs import logger
from local import seed
from tests.conftest import FIXTURES
from local.pump import Pump
from local.stack import DLQ_MAX_RECEIVES, create_queue_with_dlq

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=timezone.utc)
FIXTURE_ORGS = {"min_mines", "dept_mines", "org_mines_hq", "org_gsi_kolkata", "state_bihar", "org_bipard"}
ANANYA = "5f1c2a9e-8d44-4b7a-9a6e-1c2d3e4f5a6b"


def small(**overrides):
    return seed.generate_events(**{"learners": 50, "orgs": 3, "days": 30, "seed": 7, "now": NOW, **overrides})


def test_generated_events_are_valid_deterministic_and_end_now():
    events = small()
    everything = events.orgs + events.profiles + events.activity
    assert small() == events
    assert small(seed=8).profiles != events.profiles
    # The same seed gives the same people whatever `now` is; only their activity moves with the clock.
    later = small(now=datetime(2025, 6, 1, tzinfo=timezone.utc))
    assert [p["learner"] for p in later.profiles] == [p["learner"] for p in events.profiles]
    for event in everything:
        parsed = parse_event(event)
        if event["type"] != "org.upserted":
            assert parsed.occurred_at <= NOW
    assert len({e["id"] for e in everything}) == len(everything)
    assert FIXTURE_ORGS <= {e["org"]["id"] for e in events.orgs}
    assert len(events.profiles) == 50
    assert events.profiles[0]["learner"]["id"] == ANANYA and events.profiles[0]["learner"]["name"] == "Ananya Mehta"
    assert events.activity == sorted(events.activity, key=lambda e: (e["occurred_at"], e["id"]))
    active = {e["learner"]["id"] for e in events.activity}
    assert ANANYA in active and len(active) < 50  # a long tail: some never start


def test_orgs_past_the_named_ones_are_regional_offices_with_their_ancestors():
    tree = seed.org_tree(25)
    ids = {o.id for o in tree}
    assert len([o for o in tree if o.type == "mdo"]) == 25
    assert all(o.parent_id is None or o.parent_id in ids for o in tree)


def test_learner_batches_keep_each_learner_in_one_batch():
    events = small()
    batches = seed.learner_batches(events)
    assert all(len(b) <= seed.BATCH for b in batches)
    assert sum(len(b) for b in batches) == len(events.orgs) + len(events.profiles) + len(events.activity)
    where = {}
    for number, batch in enumerate(batches):
        for event in batch:
            if "learner" in event:
                where.setdefault(event["learner"]["id"], set()).add(number)
    assert all(len(numbers) == 1 for numbers in where.values())


@pytest.fixture
def sqs(aws):
    return boto3.client("sqs", region_name=settings.REGION)


def test_seeding_goes_through_ingestion_and_the_queue_handler(aws, sqs):
    import app
    # 20 learners and one worker each: moto's transactions deep-copy the tables (slow as they grow) and are
    # not thread-safe.
    report = seed.seed_population(aws, Pump(app.app, sqs, settings.REGION).drain, learners=20, orgs=3, seed=7,
                                  now=NOW, quiet=True, ingest_workers=1, score_workers=1)
    events = small(learners=20)
    assert report.outcomes["rejected"] == 0 and report.scoring["failed"] == 0
    assert report.outcomes["accepted"] == len(events.orgs) + len(events.profiles) + len(events.activity)
    for org in events.orgs:
        assert aws.orgs.get(org["org"]["id"]).name == org["org"]["name"]
    for profile in events.profiles:
        stored = aws.learners.get(profile["learner"]["id"])
        assert stored.standing.profile.name == profile["learner"]["name"]
        assert stored.standing.profile.org_id == profile["learner"]["org_id"]
    assert aws.learners.get(ANANYA).standing.points > 0
    assert aws.rosters.get(ANANYA).phone == "+919812345678"  # the seeded rosters were imported too
    assert sum(aws.rosters.headcounts([o["org"]["id"] for o in events.orgs]).values()) > len(events.profiles)
    assert seed.already_seeded(aws)
    [campaign] = aws.campaigns.all()  # the demo learning week, live while the events were scored
    assert (campaign.scope, campaign.status) == ("national", "live")
    # The platform's own records (local/platform_sample.py): each kind stored, the newcomer released and scored.
    from local.platform_sample import NEWCOMER
    kinds = {e.type for p in events.profiles for e in aws.events.stream(f"learner:{p['learner']['id']}")
             if e.id.startswith(("platform:", "completion:"))}
    assert kinds == {"course.completed", "course.enrolled", "course.rated", "event.attended", "learning.time_spent"}
    assert aws.directory.parked.count() == 0 and aws.learners.get(NEWCOMER["userId"]).standing.points > 0


def _seed_in_memory(seed_number: int) -> dict:
    adapters = bootstrap.memory_adapters()

    def score(workers):
        handled = 0
        while streams := adapters.queue.drain():  # scoring an org can queue its learners again
            recompute_streams([(str(n), s) for n, s in enumerate(streams)], adapters, logger)
            handled += len(streams)
        return {"received": handled, "failed": 0}

    bootstrap.use(adapters)
    try:
        seed.seed_population(adapters, score, learners=50, orgs=3, seed=seed_number, now=NOW, quiet=True,
                             ingest_workers=1)
    finally:
        bootstrap.use(None)
    return {learner_id: (s.standing.points, s.standing.courses_completed, sorted(s.standing.badges))
            for learner_id, s in adapters.learners.learners.items()}


def test_seeding_is_deterministic_for_a_seed():
    first = _seed_in_memory(7)
    assert len(first) == 50 + 1 and any(points for points, _, _ in first.values())  # + the platform sample's newcomer
    assert _seed_in_memory(7) == first
    assert _seed_in_memory(8) != first


def _failing_app():
    app = Chalice(app_name="pump-test")

    @app.on_sqs_message(queue="pump-test", batch_size=10)
    def fail_odd(event):
        records = [record.to_dict() for record in event]
        assert all(r["eventSource"] == "aws:sqs" and r["eventSourceARN"].endswith(":pump-test") for r in records)
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records if r["body"] == "odd"]}

    return app


def test_pump_deletes_what_succeeded_and_dead_letters_what_keeps_failing(aws, sqs):
    url = create_queue_with_dlq(sqs, "pump-test", visibility_timeout=0)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "even"},
                                                  {"Id": "2", "MessageBody": "odd"}])
    pump = Pump(_failing_app(), sqs, settings.REGION, schedules={})  # an app without schedules
    assert pump.poll(pump.subscriptions[0], wait_seconds=0) == (2, 1)
    for _ in range(DLQ_MAX_RECEIVES - 1):
        assert pump.poll(pump.subscriptions[0], wait_seconds=0) == (1, 1)
    assert pump.poll(pump.subscriptions[0], wait_seconds=0) == (0, 0)  # the sixth receive moves it instead
    dlq = sqs.get_queue_url(QueueName="pump-test-dlq")["QueueUrl"]
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=dlq)["Messages"]] == ["odd"]


def test_pump_runs_scheduled_handlers_with_an_eventbridge_event(aws, sqs):
    app, seen = Chalice(app_name="pump-test"), []

    @app.schedule("rate(1 minute)")
    def tick(event):
        seen.append((event.detail_type, event.source, event.resources))

    pump = Pump(app, sqs, settings.REGION, schedules={"tick": 0.1})
    pump.start()
    try:
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        pump.stop()
    assert seen[0][:2] == ("Scheduled Event", "aws.events") and seen[0][2][0].endswith(":rule/tick")
    with pytest.raises(ValueError):
        Pump(app, sqs, settings.REGION, schedules={"no_such_handler": 60})


def test_the_seeded_rosters_import_cleanly_and_list_staff_who_never_started():
    from chalicelib.rosters.service import import_roster, not_started
    events = small(learners=50)
    csvs = seed.roster_csvs(events, seed=7)
    adapters = bootstrap.memory_adapters()
    for org_id, lines in csvs.items():
        report = import_roster(org_id, lines, adapters)
        assert report["rejected_rows"] == 0, report["rejected"]
    learners = {p["learner"]["id"] for p in events.profiles}
    assert sum(adapters.rosters.headcounts(list(csvs)).values()) > len(learners)  # roster-only staff too
    org_id = next(iter(csvs))
    page = not_started(org_id, adapters, "100")  # nothing scored in this adapters: everyone has not started
    assert len(page["employees"]) == adapters.rosters.headcount(org_id)


def test_demo_learners_earn_through_the_xapi_door_too():
    """local/xapi_demo.py: an LMS posts cmi5 and Moodle statements for some demo learners; they are scored."""
    from local import xapi_demo
    adapters = bootstrap.memory_adapters()
    events = small(learners=30)
    for profile in events.profiles:  # the directory knows the demo learners (the webhook's profiles teach it)
        from chalicelib.directory.store import DirectoryUser
        person = profile["learner"]
        adapters.directory.users.put(DirectoryUser(person["id"], person["org_id"], email=person.get("email")))

    def score(workers=1):
        handled = 0
        while streams := adapters.queue.drain():
            recompute_streams([(str(n), s) for n, s in enumerate(streams)], adapters, logger)
            handled += len(streams)
        return {"received": handled, "failed": 0}

    counts = xapi_demo.seed_xapi(adapters, events.profiles, NOW, score, learners=10, seed=7)
    assert (counts["learners"], counts["courses"]) == (10, 3) and counts["statements"] >= 20
    assert adapters.directory.parked.count() == 0
    xapi_sourced = {e.learner.id for stream in list(adapters.events.streams) if stream.startswith("learner:")
                    for e in adapters.events.stream(stream) if e.type == "course.completed"
                    and e.course.id.startswith(f"xapi-{xapi_demo.CLIENT}-")}
    assert len(xapi_sourced) == 10
    assert all(adapters.learners.get(learner).standing.points > 0 for learner in xapi_sourced)
    again = xapi_demo.seed_xapi(adapters, events.profiles, NOW, score, learners=10, seed=7)
    assert again["statements"] == counts["statements"]  # re-posted: accepted, nothing new
    # The fixtures posted by hand (docs/xapi.md) are the first demo learner's, who always has an account.
    from dataclasses import replace
    from chalicelib.xapi import service as xapi
    wired = replace(adapters, xapi_clients=lambda: [(xapi_demo.CLIENT, xapi_demo.SECRET)])
    for name in ("cmi5.passed.json", "batch.json"):
        body = (FIXTURES / "xapi" / name).read_bytes()
        ids, _ = xapi.post_statements(body, xapi_demo.basic_credentials(), "1.0.3", wired, NOW)
        assert ids and adapters.directory.parked.count() == 0
    assert {e.type for e in adapters.events.stream(f"learner:{ANANYA}")} >= {"course.completed", "learning.time_spent"}
