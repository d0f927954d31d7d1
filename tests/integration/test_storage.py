"""The DynamoDB adapters against DynamoDB Local: conditions, transactions and limits as AWS enforces them."""
import dataclasses
import json
import math
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.events import OrgBlock, parse_event
from chalicelib.learners.ledger import entries_to_append
from chalicelib.scoring.pipeline import recompute_stream
from chalicelib.scoring.compute import persisted as _persisted
from chalicelib.rules.learner import evaluate
from local.metering import DynamoMeter
from chalicelib.storage.models import DomainEventRecord, EventRecord, LearnerRecord, LedgerRecord
from chalicelib.facts import DomainEvent
from chalicelib.storage.ports import ConcurrentUpdate
from tests.conftest import fixture_event
from tests.rules_builders import completion, enrolment, ist, rating, time_spent, upserted

RECEIVED = datetime(2024, 11, 1, 6, 30, tzinfo=timezone.utc)


def store(adapters, dicts) -> list:
    events = [parse_event(d) for d in dicts]
    for event in events:
        adapters.events.add(event, RECEIVED)
    return events


def history(learner: str) -> list[dict]:
    """A little of everything: profile, enrolment, completions (ACBP, passed), rating, minutes."""
    return [
        upserted(learner, ist(2024, 10, 1), name="Ananya Mehta"),
        enrolment(learner, "do_1", ist(2024, 10, 2)),
        completion(learner, "do_1", ist(2024, 10, 3), acbp_end="2024-12-31", passed=True, areas=["domain"],
                   minutes=90),
        completion(learner, "do_2", ist(2024, 10, 4), areas=["behavioural", "domain"], minutes=45),
        rating(learner, "do_1", ist(2024, 10, 5), stars=4.5),
        time_spent(learner, 40, ist(2024, 10, 6)),
    ]


def meter_for(adapters) -> DynamoMeter:
    return DynamoMeter().install_for(adapters)


# --- the event store ---------------------------------------------------------------------------------------

def test_conditional_put_stores_an_event_once(adapters):
    event = parse_event(fixture_event("course.completed"))
    assert adapters.events.add(event, RECEIVED) is True
    assert adapters.events.add(event, RECEIVED + timedelta(minutes=5)) is False
    stored = EventRecord.get(f"learner:{event.learner.id}", event.id, consistent_read=True)
    assert stored.received_at == RECEIVED  # the duplicate did not overwrite the first delivery


def test_the_first_body_hash_is_kept_with_the_event(adapters):
    event = parse_event(fixture_event("course.completed"))
    stream = f"learner:{event.learner.id}"
    assert adapters.events.body_hash(stream, event.id) is None
    assert adapters.events.add(event, RECEIVED, "a" * 64) is True
    assert adapters.events.add(event, RECEIVED, "b" * 64) is False
    assert adapters.events.body_hash(stream, event.id) == "a" * 64  # the second never overwrote the first


def test_concurrent_deliveries_of_one_event_store_it_exactly_once(adapters):
    event = parse_event(fixture_event("course.completed"))
    start, results = threading.Barrier(8), []

    def deliver():
        start.wait()
        results.append(adapters.events.add(event, RECEIVED))

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    assert len(adapters.events.stream(f"learner:{event.learner.id}")) == 1


def test_stream_round_trips_the_payload_in_utc(adapters):
    raw = fixture_event("course.completed")
    original = parse_event(raw)
    org_event = parse_event(fixture_event("org.upserted"))
    adapters.events.add(original, RECEIVED)
    adapters.events.add(org_event, RECEIVED)

    [back] = adapters.events.stream(f"learner:{original.learner.id}")
    assert back == original
    assert back.occurred_at == datetime(2024, 10, 21, 4, 45, tzinfo=timezone.utc)
    assert back.occurred_at.utcoffset() == timedelta(0)
    # Fields the contract does not know are kept, as received.
    dumped = back.model_dump(mode="json")
    assert dumped["batch_id"] == raw["batch_id"] and dumped["certificate_id"] == raw["certificate_id"]
    assert dumped["assessment"] == raw["assessment"]
    assert adapters.events.stream(f"org:{org_event.org.id}") == [org_event]
    assert adapters.events.stream("learner:nobody") == []


def test_an_event_too_big_for_one_item_is_refused_by_dynamodb(adapters, learner_id):
    """Unknown fields are kept, so one event can outgrow DynamoDB's 400 KB item limit: the store refuses it."""
    raw = completion(learner_id, "do_big", ist(2024, 10, 3))
    raw["upstream_blob"] = "x" * 450_000
    with pytest.raises(Exception, match="(?i)item size"):
        adapters.events.add(parse_event(raw), RECEIVED)


# --- learners: save, get, versions -------------------------------------------------------------------------

def _facts(standing):
    return [DomainEvent(f"badge.awarded:{standing.learner_id}:{a.badge_id}", "badge.awarded", standing.learner_id,
                        a.awarded_at, {"badge_id": a.badge_id, "event_id": a.event_id})
            for a in standing.badges.values()]


def test_save_then_get_round_trips_the_standing(adapters, learner_id):
    events = store(adapters, history(learner_id))
    standing = evaluate(learner_id, events, adapters.rules, adapters.catalogue)
    entries = entries_to_append(standing.ledger, {}, {e.id: e.occurred_at for e in events})
    adapters.learners.save(standing, entries, _facts(standing), 0)

    stored = adapters.learners.get(learner_id)
    assert stored.version == 1
    assert stored.standing == _persisted(standing)
    assert stored.standing.points == 5 + 5 + 5 + 5 + 5 + 2  # enrol, 2 completions, passed, ACBP, rating
    assert stored.standing.profile.name == "Ananya Mehta"
    assert stored.standing.last_active_at.utcoffset() == timedelta(0)
    assert [(e.event_id, e.rule, e.amount) for e in adapters.learners.ledger(learner_id)] == \
        [(e.event_id, e.rule, e.amount) for e in entries]
    assert adapters.learners.get("nobody") is None


def test_a_replay_writes_nothing(adapters, learner_id):
    store(adapters, history(learner_id))
    recompute_stream(f"learner:{learner_id}", adapters)
    meter = meter_for(adapters)
    before = meter.snapshot()
    recompute_stream(f"learner:{learner_id}", adapters)
    used = meter.since(before)
    assert used.wcu == 0 and "TransactWriteItems" not in used.operations
    assert adapters.learners.get(learner_id).version == 1


def test_a_stale_version_is_refused(adapters, learner_id):
    events = store(adapters, history(learner_id))
    standing = evaluate(learner_id, events, adapters.rules, adapters.catalogue)
    adapters.learners.save(standing, [], [], 0)
    with pytest.raises(ConcurrentUpdate):
        adapters.learners.save(standing, [], [], 0)  # "new learner", but one exists
    adapters.learners.save(standing, [], [], 1)
    with pytest.raises(ConcurrentUpdate):
        adapters.learners.save(standing, [], [], 1)  # someone already moved it to 2
    assert adapters.learners.get(learner_id).version == 2


class _RacingRepository:
    """The real repository, except that the first read of each thread waits for the other threads' first
    read: they all recompute from the same version, so all saves but one must lose and retry."""

    def __init__(self, inner, parties: int):
        self.inner, self.barrier, self.lost = inner, threading.Barrier(parties, timeout=20), 0
        self._seen, self._lock = set(), threading.Lock()

    def get(self, learner_id):
        stored = self.inner.get(learner_id)
        with self._lock:
            first = threading.get_ident() not in self._seen
            self._seen.add(threading.get_ident())
        if first:
            self.barrier.wait()
        return stored

    def save(self, *args):
        try:
            return self.inner.save(*args)
        except ConcurrentUpdate:
            with self._lock:
                self.lost += 1
            raise

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _assert_matches_events(adapters, learner_id):
    events = adapters.events.stream(f"learner:{learner_id}")
    expected = evaluate(learner_id, events, adapters.rules, adapters.catalogue)
    stored = adapters.learners.get(learner_id)
    assert stored.standing == _persisted(expected)
    ledger = adapters.learners.ledger(learner_id)
    totals = Counter()
    for entry in ledger:
        totals[entry.key] += entry.amount
    assert {k: v for k, v in totals.items() if v} == {line.key: line.points for line in expected.ledger if line.points}
    assert sum(e.amount for e in ledger) == stored.standing.points == expected.points


def test_concurrent_recomputes_of_one_learner_end_correct(adapters, learner_id):
    store(adapters, history(learner_id)[:3])
    recompute_stream(f"learner:{learner_id}", adapters)
    racing = _RacingRepository(adapters.learners, parties=3)
    wired = dataclasses.replace(adapters, learners=racing)
    arrivals, stored_all, errors = [history(learner_id)[3:4], history(learner_id)[4:5], history(learner_id)[5:]], \
        threading.Barrier(3, timeout=20), []

    def deliver(dicts):
        try:
            store(adapters, dicts)
            stored_all.wait()  # every thread reads every event; the race is on the learner's version
            recompute_stream(f"learner:{learner_id}", wired)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(d,)) for d in arrivals]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert racing.lost >= 2  # the race really happened: three saves from one version, two retried
    assert adapters.learners.get(learner_id).version == 2
    _assert_matches_events(adapters, learner_id)


def test_a_save_between_reading_events_and_ledger_is_retried(adapters, learner_id):
    """Deterministic interleaving: B reads the learner and the events, then A stores a new event and saves,
    then B reads the ledger and goes on. B must end in a retry (ConcurrentUpdate), not in an error."""
    store(adapters, history(learner_id)[:3])
    recompute_stream(f"learner:{learner_id}", adapters)

    class Interleaved:
        def __init__(self, inner):
            self.inner, self.done = inner, False

        def stream_received(self, stream):  # what scoring reads (events and when each was received)
            return self._then_a(stream, self.inner.stream_received(stream))

        def received_since(self, stream, since):  # what it reads from a checkpoint (rules/checkpoint.py)
            return self._then_a(stream, self.inner.received_since(stream, since))

        def _then_a(self, stream, events):
            if not self.done:  # B has read; now A's whole delivery happens
                self.done = True
                store(adapters, history(learner_id)[4:5])
                recompute_stream(stream, adapters)
            return events

        def stream(self, stream):
            return self.stream_received(stream)[0]

        def __getattr__(self, name):
            return getattr(self.inner, name)

    store(adapters, history(learner_id)[5:])
    interleaved = Interleaved(adapters.events)
    recompute_stream(f"learner:{learner_id}", dataclasses.replace(adapters, events=interleaved))
    assert interleaved.done
    _assert_matches_events(adapters, learner_id)


def test_a_save_too_big_for_one_transaction_is_split(adapters, learner_id):
    """150 ACBP completions: 300 ledger entries plus badge facts, over DynamoDB's 100 items a transaction."""
    start = datetime(2024, 1, 1, 6, 0, tzinfo=timezone.utc)
    store(adapters, [completion(learner_id, f"do_{n:03d}", start + timedelta(days=n), acbp_end="2030-12-31")
                     for n in range(150)])
    meter = meter_for(adapters)
    before = meter.snapshot()
    recompute_stream(f"learner:{learner_id}", adapters)
    used = meter.since(before)

    events = adapters.events.stream(f"learner:{learner_id}")
    expected = evaluate(learner_id, events, adapters.rules, adapters.catalogue)
    items = 300 + len(expected.badges)
    chunks = math.ceil(items / 99)
    assert used.errors == 0
    # Only the learner's save writes ledger entries: each chunk is one transaction using the ledger table,
    # and a transactional write of a small item costs 2 WCU.
    assert used.tables[LedgerRecord.Meta.table_name].requests == 1 + chunks  # the ledger query, the chunks
    assert used.tables[LedgerRecord.Meta.table_name].wcu == 2 * 300
    stored = adapters.learners.get(learner_id)
    assert stored.version == chunks
    assert stored.standing == _persisted(expected)
    assert stored.standing.points == 150 * 10
    ledger = adapters.learners.ledger(learner_id)
    assert len(ledger) == 300 and len({e.seq for e in ledger}) == 300
    assert sum(e.amount for e in ledger) == 1500
    facts = list(DomainEventRecord.scan(DomainEventRecord.learner_id == learner_id))
    assert {f.payload["badge_id"] for f in facts} == set(expected.badges) >= {"first_course", "adarsh_karmayogi"}
    # A replay afterwards has nothing to add.
    recompute_stream(f"learner:{learner_id}", adapters)
    assert adapters.learners.get(learner_id).version == chunks


def test_ledger_pages_newest_first_with_cursors(adapters, learner_id):
    dicts = history(learner_id)
    for n in range(len(dicts)):  # one save per arrival: entries spread over several versions
        store(adapters, dicts[n:n + 1])
        recompute_stream(f"learner:{learner_id}", adapters)
    everything = adapters.learners.ledger(learner_id)
    assert len(everything) == 6 and [e.seq for e in everything] == sorted(e.seq for e in everything)

    pages, cursor = [], None
    while True:
        page, cursor = adapters.learners.ledger_page(learner_id, 4, cursor)
        pages.append(page)
        if cursor is None:
            break
    assert [len(p) for p in pages] == [4, 2]
    assert [e.seq for p in pages for e in p] == [e.seq for e in reversed(everything)]
    exact, cursor = adapters.learners.ledger_page(learner_id, 6, None)
    assert len(exact) == 6 and cursor is None
    assert adapters.learners.ledger_page("nobody", 5, None) == ([], None)


# --- orgs and domain events --------------------------------------------------------------------------------

def test_org_upsert_keeps_the_latest_by_occurred_at(adapters):
    newer = OrgBlock(id="org_it", name="Newer name", type="mdo", parent_id="dept_a")
    older = OrgBlock(id="org_it", name="Older name", type="department", parent_id=None)
    adapters.orgs.upsert(newer, "2024-10-02T00:00:00.000000Z|evt_2")
    adapters.orgs.upsert(older, "2024-10-01T00:00:00.000000Z|evt_1")  # arrives later, happened earlier
    adapters.orgs.upsert(newer, "2024-10-02T00:00:00.000000Z|evt_2")  # a replay
    org = adapters.orgs.get("org_it")
    assert (org.name, org.type, org.parent_id) == ("Newer name", "mdo", "dept_a")
    adapters.orgs.upsert(older.model_copy(update={"name": "Newest"}), "2024-10-03T00:00:00.000000Z|evt_3")
    assert adapters.orgs.get("org_it").name == "Newest"
    assert adapters.orgs.get("org_nobody") is None


def test_org_stream_recompute_applies_the_latest_event(adapters):
    raw = fixture_event("org.upserted")
    late_but_older = json.loads(json.dumps(raw))
    late_but_older.update(id="evt_org_older", occurred_at="2024-08-01T09:00:00+05:30")
    late_but_older["org"]["name"] = "Old name"
    store(adapters, [raw])
    recompute_stream("org:org_gsi_kolkata", adapters)
    store(adapters, [late_but_older])
    recompute_stream("org:org_gsi_kolkata", adapters)
    assert adapters.orgs.get("org_gsi_kolkata").name == raw["org"]["name"]


def test_badge_awards_are_written_once(adapters, learner_id):
    store(adapters, history(learner_id)[:3])
    recompute_stream(f"learner:{learner_id}", adapters)
    [first] = DomainEventRecord.scan(DomainEventRecord.learner_id == learner_id)
    assert first.kind == "badge.awarded" and first.payload["badge_id"] == "first_course"

    store(adapters, history(learner_id)[3:])  # another completion and a rating
    recompute_stream(f"learner:{learner_id}", adapters)
    recompute_stream(f"learner:{learner_id}", adapters)
    facts = {f.id: f for f in DomainEventRecord.scan(DomainEventRecord.learner_id == learner_id)}
    assert set(facts) == {f"badge.awarded:{learner_id}:first_course", f"badge.awarded:{learner_id}:first_rating"}
    assert facts[first.id].created_at == first.created_at  # not rewritten by later saves


def test_the_models_use_dynamodb_local(adapters, dynamodb_local):
    """Guard for the whole tier: the items written above really are in DynamoDB Local."""
    adapters.events.add(parse_event(fixture_event("course.enrolled")), RECEIVED)
    items = dynamodb_local.scan(TableName=EventRecord.Meta.table_name)["Items"]
    assert [i["event_id"]["S"] for i in items] == ["evt_2024-10-19_a11b-enrol-0001"]
    assert LearnerRecord.Meta.table_name in dynamodb_local.list_tables()["TableNames"]
    assert LedgerRecord.Meta.table_name.startswith("karmayogi-test-")


# --- the meter (reused by `make bench` and local/measure_event_cost.py) -------------------------------------

def test_the_meter_counts_requests_and_capacity(adapters, learner_id):
    meter = meter_for(adapters)
    event = parse_event(completion(learner_id, "do_1", ist(2024, 10, 3)))
    before = meter.snapshot()
    adapters.events.add(event, RECEIVED)
    first = meter.since(before)
    # The item, and its entry in the events table's by_arrival index (a local index projecting every attribute).
    assert (first.requests, first.errors, first.rcu, first.wcu) == (1, 0, 0, 2)
    assert first.tables[EventRecord.Meta.table_name].wcu == 2

    before = meter.snapshot()
    adapters.events.add(event, RECEIVED)
    duplicate = meter.since(before)
    # DynamoDB returns no capacity with a failed condition, but AWS bills it: the meter charges the item's size.
    assert duplicate.operations["PutItem"].errors == 1 and duplicate.wcu == 1
    assert duplicate.operations["PutItem"].reported_wcu == 0
    assert duplicate.error_codes == {"PutItem:ConditionalCheckFailedException": 1}

    before = meter.snapshot()
    adapters.events.stream(f"learner:{learner_id}")
    read = meter.since(before)
    assert read.operations["Query"].requests == 1 and read.rcu == 1 and read.wcu == 0
    meter.reset()
    assert meter.snapshot().requests == 0
