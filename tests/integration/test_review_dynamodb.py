"""The anti-abuse review store against DynamoDB Local: conditional updates (decisions are final, scoring never
undoes one), the sparse `held` index across shards, and the scoring use case holding and releasing."""
import threading
from datetime import datetime, timedelta, timezone

from chalicelib.events import parse_event
from chalicelib.scoring.pipeline import recompute_stream
from chalicelib.rules import abuse
from chalicelib.rules.config import default_rules
from local.metering import DynamoMeter
from chalicelib.review.models import ReviewRecord
from chalicelib.review.ports import AlreadyDecided
from chalicelib.review.store import SHARDS, shard_of
from tests.rules_builders import completion, ist

RECEIVED = datetime(2024, 11, 1, 6, 30, tzinfo=timezone.utc)
DECIDED = datetime(2024, 11, 2, 9, 0, tzinfo=timezone.utc)


def burst(learner: str, n: int = 25, start=None):
    start = start or ist(2024, 10, 21, 10)
    return [completion(learner, f"do_{k:02d}", start + timedelta(seconds=72 * k), acbp_end="2024-12-31",
                       id=f"{learner}-{k:02d}") for k in range(n)]


def holds_of(learner: str, n: int = 25, start=None):
    return abuse.holds([parse_event(e) for e in burst(learner, n, start)], default_rules().abuse)


def test_hold_is_idempotent_and_never_undoes_a_decision(adapters, learner_id):
    held = holds_of(learner_id)
    adapters.reviews.hold(list(held.values()), RECEIVED)
    adapters.reviews.hold(list(held.values()), RECEIVED + timedelta(hours=1))  # a recompute: same items
    items = adapters.reviews.for_learner(learner_id)
    assert sorted(items) == sorted(held) and {r.status for r in items.values()} == {"held"}
    assert {r.held_at for r in items.values()} == {RECEIVED}  # first held, kept
    assert all(items[k].hold == held[k] for k in held)

    first = held[f"{learner_id}-24"]
    decided = adapters.reviews.decide(first, "rejected", "nat-1", DECIDED, "bot traffic")
    assert (decided.status, decided.decided_by, decided.decided_at, decided.note) == \
        ("rejected", "nat-1", DECIDED, "bot traffic")
    adapters.reviews.hold([first], RECEIVED)  # a recompute that read before the decision
    assert adapters.reviews.for_learner(learner_id)[first.event_id].status == "rejected"
    again = adapters.reviews.decide(first, "rejected", "nat-2", DECIDED + timedelta(days=1), None)
    assert (again.decided_by, again.decided_at, again.note) == ("nat-1", DECIDED, "bot traffic")  # the first stands
    try:
        adapters.reviews.decide(first, "released", "nat-2", DECIDED, None)
        raise AssertionError("a decision must be final")
    except AlreadyDecided as exc:
        assert exc.review.status == "rejected"
    record = ReviewRecord.get(learner_id, first.event_id, consistent_read=True)
    assert record.held_shard is None and record.held_sort is None  # off the index


def test_concurrent_opposite_decisions_one_wins(adapters, learner_id):
    hold = holds_of(learner_id)[f"{learner_id}-20"]
    adapters.reviews.hold([hold], RECEIVED)
    start, results = threading.Barrier(6), []

    def decide(status):
        start.wait()
        try:
            results.append(adapters.reviews.decide(hold, status, "nat", DECIDED, None).status)
        except AlreadyDecided as exc:
            results.append(f"refused:{exc.review.status}")

    threads = [threading.Thread(target=decide, args=(s,)) for s in ["released", "rejected"] * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winner = adapters.reviews.for_learner(learner_id)[hold.event_id].status
    assert sorted(results) == sorted([winner] * 3 + [f"refused:{winner}"] * 3)


def test_the_list_merges_the_shards_newest_first_and_pages_exactly(adapters):
    learners = [f"it-rv-{n}" for n in range(4)]
    every = {}
    for n, learner in enumerate(learners):
        held = holds_of(learner, 25 + n, start=ist(2024, 10, 21, 10) + timedelta(minutes=3 * n))
        adapters.reviews.hold(list(held.values()), RECEIVED)
        every.update({(h.learner_id, h.event_id): h for h in held.values()})
    assert len({shard_of(h) for h in every.values()}) > 1 and SHARDS == 4
    expected = sorted(every.values(), key=lambda h: (h.occurred_at, h.learner_id, h.event_id), reverse=True)
    seen, position = [], None
    while True:
        page, position = adapters.reviews.held_page(4, position)
        seen += [r.hold for r in page]
        if position is None:
            break
    assert seen == expected
    # a decision takes the event off the list
    adapters.reviews.decide(expected[0], "released", "nat", DECIDED, None)
    assert adapters.reviews.held_page(100, None)[0][0].hold == expected[1]


def test_scoring_holds_then_a_release_scores(adapters, learner_id):
    for event in burst(learner_id):
        adapters.events.add(parse_event(event), RECEIVED)
    recompute_stream(f"learner:{learner_id}", adapters)
    stored = adapters.learners.get(learner_id).standing
    assert (stored.points, stored.held_events) == (200, 5)
    assert sorted(adapters.reviews.for_learner(learner_id)) == [f"{learner_id}-{k}" for k in range(20, 25)]
    held = abuse.holds(adapters.events.stream(f"learner:{learner_id}"), adapters.rules.abuse)
    adapters.reviews.decide(held[f"{learner_id}-21"], "released", "nat", DECIDED, None)
    adapters.reviews.decide(held[f"{learner_id}-22"], "rejected", "nat", DECIDED, None)
    recompute_stream(f"learner:{learner_id}", adapters)
    stored = adapters.learners.get(learner_id)
    assert (stored.standing.points, stored.standing.held_events, stored.standing.rejected_events) == (210, 3, 1)
    meter = DynamoMeter().install_for(adapters)
    before = meter.snapshot()
    recompute_stream(f"learner:{learner_id}", adapters)  # a replay writes nothing
    assert adapters.learners.get(learner_id).version == stored.version
    used = meter.since(before)
    assert used.wcu == 0 and used.tables[ReviewRecord.Meta.table_name].requests == 1  # one Query of its items


def test_a_learner_never_over_the_rate_costs_the_review_table_nothing(adapters, learner_id):
    meter = DynamoMeter().install_for(adapters)
    for event in burst(learner_id, 20):
        adapters.events.add(parse_event(event), RECEIVED)
    before = meter.snapshot()
    recompute_stream(f"learner:{learner_id}", adapters)
    assert adapters.learners.get(learner_id).standing.points == 200
    assert ReviewRecord.Meta.table_name not in meter.since(before).tables
