"""Anti-abuse review: the rate rule (pure), and holding, listing, releasing and rejecting through the use cases
on in-memory fakes. Routes, tokens and the spec: test_review_routes.py; DynamoDB Local: integration/."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.errors import ApiError
from chalicelib.identity.tokens import Principal
from chalicelib.learners.ledger import recorded_totals
from chalicelib.scoring.pipeline import recompute_stream
from chalicelib.scoring.compute import persisted as _persisted
from chalicelib.review import service as review
from chalicelib.rules import abuse
from chalicelib.rules.abuse import AbuseLimits
from chalicelib.rules.config import badge_catalogue, default_rules, rules_from
from chalicelib.rules.learner import evaluate
from tests.rules_builders import (IST, adapters, completion, deliver, deliver_one_by_one, earned, ist, models,
                                  rating, score, time_spent)

L = "u1"
ADMIN = Principal("nat-1", None, frozenset({"national_admin"}))
T0 = ist(2024, 10, 21, 10, 0)


def burst(n: int, start=T0, every=timedelta(seconds=72), learner: str = L, acbp: bool = True, prefix="b"):
    """n completions of distinct courses, one every `every` (25 x 72 s = 30 minutes); ACBP so that the
    monthly cap does not apply and every scored one earns 5 + 5."""
    return [completion(learner, f"{prefix}{k:02d}", start + k * every, acbp_end="2024-12-31" if acbp else None,
                       id=f"{prefix}-{k:02d}") for k in range(n)]


def with_abuse(max_completions: int, window_minutes: int = 60):
    return dataclasses.replace(default_rules(), abuse=AbuseLimits(max_completions, window_minutes))


def decide(a, event_id: str, status: str, learner: str = L, note=None):
    body = ('{"learner_id": "%s"%s}' % (learner, f', "note": "{note}"' if note else "")).encode()
    result = review.decide(event_id, body, ADMIN, a, T0, status)
    for stream in dict.fromkeys(a.queue.drain()):
        recompute_stream(stream, a)
    return result


def held_ids(a) -> list[str]:
    page, _ = a.reviews.held_page(100, None)
    return [r.hold.event_id for r in page]


# --- the rule, pure ----------------------------------------------------------------------------------------

def test_the_defaults_are_20_completions_in_60_minutes():
    assert default_rules().abuse == AbuseLimits(20, 60)


def test_25_completions_in_30_minutes_hold_the_last_5_with_the_count_in_the_window():
    held = abuse.holds(models(burst(25)), default_rules().abuse)
    assert sorted(held) == [f"b-{k:02d}" for k in range(20, 25)]
    assert [held[f"b-{k:02d}"].count for k in range(20, 25)] == [21, 22, 23, 24, 25]
    h = held["b-24"]
    assert (h.rule, h.limit, h.window_minutes, h.learner_id, h.org_id, h.type) == \
        ("completion_rate", 20, 60, L, "org_test", "course.completed")
    assert h.why == "25 course completions within 60 minutes (at most 20 are scored without review)"
    s = score(burst(25))
    assert (s.courses_completed, s.points, s.held_events) == (20, 20 * 10, 5)
    assert {key[0] for key in earned(s)} == {f"b-{k:02d}" for k in range(20)}


def test_the_window_is_the_60_minutes_before_an_event_and_ties_go_by_id():
    # 21 completions 3 minutes apart: the 21st is exactly 60 minutes after the first, which is out of its window
    assert abuse.holds(models(burst(21, every=timedelta(minutes=3))), default_rules().abuse) == {}
    # 2 min 59 s apart: all 21 within 60 minutes
    assert list(abuse.holds(models(burst(21, every=timedelta(seconds=179))), default_rules().abuse)) == ["b-20"]
    # all at the same moment: the (occurred_at, id) order decides which are the excess
    same = [completion(L, f"c{k}", T0, id=f"z{k:02d}") for k in range(22)]
    assert sorted(abuse.holds(models(same), default_rules().abuse)) == ["z20", "z21"]


def test_events_at_the_ends_of_the_calendar_are_counted_without_overflow():
    # Found by the fuzz pass: an instant minus the window overflowed for an event in year 1.
    earliest = datetime(1, 1, 1, tzinfo=timezone.utc)
    held = abuse.holds(models(burst(21, start=earliest, every=timedelta(seconds=1))), default_rules().abuse)
    assert list(held) == ["b-20"]


def test_only_completions_count_and_duplicates_count_once():
    events = burst(20) + [rating(L, "b00", T0 + timedelta(minutes=1)), time_spent(L, 30, T0)]
    events += [dict(events[3]), dict(events[7])]  # re-sent: same ids
    assert abuse.holds(models(events), default_rules().abuse) == {}
    # a second completion of the same course (another id) does count: upstream says it happened
    again = completion(L, "b00", T0 + timedelta(minutes=29), acbp_end="2024-12-31", id="again")
    assert list(abuse.holds(models(events + [again]), default_rules().abuse)) == ["again"]


def test_the_rate_is_configuration():
    data = {**_rules_data(), "abuse": {"max_completions": 3, "window_minutes": 10}}
    custom = rules_from(data)
    four_in_9_minutes = burst(4, every=timedelta(minutes=3))
    assert score(four_in_9_minutes, rules=custom).held_events == 1
    assert score(burst(4, every=timedelta(minutes=4)), rules=custom).held_events == 0  # 12 minutes
    assert score(burst(30), rules=with_abuse(0)).held_events == 0  # 0 turns the rule off
    assert rules_from({k: v for k, v in _rules_data().items() if k != "abuse"}).abuse == AbuseLimits(20, 60)


def _rules_data() -> dict:
    import tomllib
    from chalicelib.rules.config import HERE
    return tomllib.loads((HERE / "defaults.toml").read_text())


def test_decisions_are_fed_to_the_fold():
    events, catalogue, rules = models(burst(25)), badge_catalogue(), default_rules()
    released = evaluate(L, events, rules, catalogue, {"b-20": "released", "b-21": "released", "b-22": "rejected"})
    assert (released.courses_completed, released.points, released.held_events) == (22, 220, 2)
    # releasing an event that is not held changes nothing; a rejection excludes an event whatever the rule says
    assert evaluate(L, events, rules, catalogue, {"b-03": "released"}) == evaluate(L, events, rules, catalogue)
    assert evaluate(L, events, rules, catalogue, {"b-03": "rejected"}).courses_completed == 19


# --- holding, listing, deciding (use cases, in memory) -------------------------------------------------------

def test_held_events_are_stored_listed_newest_first_and_not_scored():
    a = adapters()
    deliver(a, burst(25))
    stored = a.learners.get(L).standing
    assert (stored.points, stored.courses_completed, stored.held_events) == (200, 20, 5)
    assert len(a.events.stream(f"learner:{L}")) == 25  # nothing dropped
    page = review.held_list(ADMIN, a, None, None)
    assert [h["event_id"] for h in page["held"]] == [f"b-{k:02d}" for k in (24, 23, 22, 21, 20)]
    assert page["next_cursor"] is None
    first = page["held"][0]
    assert (first["learner_id"], first["org_id"], first["type"], first["status"]) == \
        (L, "org_test", "course.completed", "held")
    assert (first["occurred_at"], first["decided_at"], first["decided_by"]) == ("2024-10-21T04:58:48Z", None, None)
    assert first["why"] == {"rule": "completion_rate", "count": 25, "limit": 20, "window_minutes": 60,
                            "message": "25 course completions within 60 minutes (at most 20 are scored without review)"}
    assert {e.event_id for e in a.learners.ledger(L)} == {f"b-{k:02d}" for k in range(20)}


def test_release_2_score_exactly_their_worth_and_reject_3_stay_out():
    a = adapters()
    deliver(a, burst(25))
    before = a.learners.get(L).standing.points
    ledger_before = len(a.learners.ledger(L))

    for event_id in ("b-20", "b-23"):
        body = decide(a, event_id, "released", note="verified with the MDO")
        assert (body["status"], body["decided_by"], body["note"]) == ("released", "nat-1", "verified with the MDO")
    s = a.learners.get(L).standing
    assert s.points - before == 2 * (5 + 5)  # completion + ACBP bonus, each
    assert (s.courses_completed, s.held_events) == (22, 3)
    new = a.learners.ledger(L)[ledger_before:]
    assert sorted((e.event_id, e.rule, e.amount, e.kind) for e in new) == [
        ("b-20", "acbp_bonus", 5, "award"), ("b-20", "course_completion", 5, "award"),
        ("b-23", "acbp_bonus", 5, "award"), ("b-23", "course_completion", 5, "award")]
    assert held_ids(a) == ["b-24", "b-22", "b-21"]

    for event_id in ("b-21", "b-22", "b-24"):
        assert decide(a, event_id, "rejected")["status"] == "rejected"
    s = a.learners.get(L).standing
    assert (s.points, s.courses_completed, s.held_events) == (before + 20, 22, 0)
    assert len(a.learners.ledger(L)) == ledger_before + 4  # rejecting writes no entry
    assert held_ids(a) == [] and len(a.events.stream(f"learner:{L}")) == 25
    assert sum(e.amount for e in a.learners.ledger(L)) == s.points

    # idempotent: the same decision again answers the first one, and changes nothing
    again = decide(a, "b-20", "released")
    assert again["status"] == "released" and again["decided_at"] == "2024-10-21T04:30:00Z"
    recompute_stream(f"learner:{L}", a)
    assert a.learners.get(L).standing.points == before + 20 and len(a.learners.ledger(L)) == ledger_before + 4
    # final: the other way is a conflict
    with pytest.raises(ApiError) as conflict:
        decide(a, "b-21", "released")
    assert (conflict.value.status, conflict.value.code, conflict.value.field) == (409, "already_decided", "event_id")


def test_deciding_what_is_not_held_or_not_there():
    a = adapters()
    deliver(a, burst(21))
    with pytest.raises(ApiError) as not_held:
        decide(a, "b-03", "released")
    assert (not_held.value.status, not_held.value.code) == (409, "not_held")
    for event_id, learner in (("nope", L), ("b-20", "someone-else"), ("bad id!", L)):
        with pytest.raises(ApiError) as missing:
            decide(a, event_id, "rejected", learner=learner)
        assert (missing.value.status, missing.value.code) == (404, "not_found")
    for body, field in ((b"", "body"), (b"[]", "body"), (b"{}", "learner_id"), (b'{"learner_id": "a b"}', "learner_id"),
                        (b'{"learner_id": "u1", "note": 5}', "note")):
        with pytest.raises(ApiError) as bad:
            review.decide("b-20", body, ADMIN, a, T0, "released")
        assert (bad.value.status, bad.value.field) == (400, field), body
    learner = Principal(L, "org_test", frozenset({"learner", "mdo_admin"}))
    for call in (lambda: review.held_list(learner, a, None, None),
                 lambda: review.decide("b-20", b'{"learner_id": "u1"}', learner, a, T0, "released")):
        with pytest.raises(ApiError) as forbidden:
            call()
        assert forbidden.value.status == 403
    assert held_ids(a) == ["b-20"]


def test_recomputing_and_redelivering_write_the_list_once():
    a = adapters()
    deliver(a, burst(25))
    items = dict(a.reviews.items)
    deliver(a, burst(25))  # every event again: duplicates
    for _ in range(3):
        recompute_stream(f"learner:{L}", a)
    assert a.reviews.items == items


def test_a_late_earlier_completion_holds_one_that_had_scored_with_a_correction_saying_why():
    a = adapters()
    events = burst(21)
    deliver_one_by_one(a, events[1:])  # 20 in 24 minutes: all scored
    assert a.learners.get(L).standing.points == 200
    deliver(a, events[:1])  # the first one, late: now the last is the 21st
    s = a.learners.get(L).standing
    assert (s.points, s.held_events) == (200, 1)
    assert held_ids(a) == ["b-20"]
    [correction_1, correction_2] = [e for e in a.learners.ledger(L) if e.kind == "correction"]
    assert {correction_1.event_id, correction_2.event_id} == {"b-20"}
    assert correction_1.amount + correction_2.amount == -10
    assert "held for review, 21 course completions within 60 minutes" in correction_1.note
    decide(a, "b-20", "released")
    assert a.learners.get(L).standing.points == 210


def test_held_completions_across_an_ist_month_boundary_do_not_use_up_the_cap():
    """22 regular completions from 23:40 on 31 January (IST), then 3 more from 00:05 on 1 February: the last 5
    are over the rate (21st to 25th within an hour). January: 4 earn, under the monthly cap. February: the 3
    held ones use none of the cap, so 4 completions on 10 February all earn; released, the 3 take their places
    (they occurred first) and only one of the 10 February completions still earns."""
    a = adapters()
    january = [completion(L, f"j{k:02d}", ist(2025, 1, 31, 23, 40) + timedelta(seconds=50 * k), id=f"j-{k:02d}")
               for k in range(22)]
    february_1 = [completion(L, f"f{k}", ist(2025, 2, 1, 0, 5 + 5 * k), id=f"f-{k}") for k in range(3)]
    february_10 = [completion(L, f"t{k}", ist(2025, 2, 10, 9 + k), id=f"t-{k}") for k in range(4)]
    deliver(a, january + february_1 + february_10)
    s = a.learners.get(L).standing
    assert held_ids(a) == ["f-2", "f-1", "f-0", "j-21", "j-20"]
    assert s.points_by_period["month:2025-01"] == 4 * 5
    assert s.points_by_period["month:2025-02"] == 4 * 5  # t-0..t-3: the held ones took no place under the cap
    assert s.courses_completed == 20 + 4

    for event_id in ("j-20", "f-0", "f-1", "f-2"):
        decide(a, event_id, "released")
    decide(a, "j-21", "rejected")
    s = a.learners.get(L).standing
    assert s.points_by_period["month:2025-01"] == 4 * 5  # j-20 released, but over January's cap: 0
    assert s.points_by_period["month:2025-02"] == 4 * 5  # f-0, f-1, f-2 and t-0 earn; t-1..t-3 corrected to 0
    assert s.courses_completed == 20 + 4 + 4
    totals = recorded_totals(a.learners.ledger(L))
    assert {k: v for k, v in totals.items() if k[0].startswith(("f-", "t-"))} == {
        ("f-0", "course_completion"): 5, ("f-1", "course_completion"): 5, ("f-2", "course_completion"): 5,
        ("t-0", "course_completion"): 5, ("t-1", "course_completion"): 0, ("t-2", "course_completion"): 0,
        ("t-3", "course_completion"): 0}
    assert not {k for k in totals if k[0] in ("j-20", "j-21")}  # j-20 over January's cap earns 0: no entry
    corrections = [e for e in a.learners.ledger(L) if e.kind == "correction"]
    assert sorted(e.event_id for e in corrections) == ["t-1", "t-2", "t-3"]
    assert all(e.amount == -5 and "over the monthly cap" in e.note for e in corrections)


def test_a_more_lenient_rate_takes_stale_items_off_the_list():
    a = adapters(rules=with_abuse(3))
    deliver(a, burst(5))
    assert held_ids(a) == ["b-04", "b-03"]
    decide(a, "b-03", "rejected")
    a.rules = with_abuse(5)  # an operator raised the limit: nothing is held any more
    recompute_stream(f"learner:{L}", a)
    assert held_ids(a) == [] and a.learners.get(L).standing.held_events == 0
    assert a.learners.get(L).standing.courses_completed == 4  # b-04 scores; b-03 stays rejected
    assert a.reviews.for_learner(L)["b-03"].status == "rejected" and set(a.reviews.for_learner(L)) == {"b-03"}
    deliver(a, [rating(L, "b00", T0 + timedelta(days=1))])  # any later recompute: still rejected
    assert a.learners.get(L).standing.courses_completed == 4


def test_paging_the_list_across_learners_newest_first():
    a = adapters()
    for n, learner in enumerate(("ua", "ub", "uc")):
        deliver(a, burst(23, start=T0 + timedelta(minutes=7 * n), learner=learner, prefix=f"{learner}-"))
    everything = [f"{h.hold.occurred_at.isoformat()}|{h.hold.learner_id}|{h.hold.event_id}"
                  for h in a.reviews.held_page(100, None)[0]]
    assert len(everything) == 9 and everything == sorted(everything, reverse=True)
    seen, cursor = [], None
    while True:
        page = review.held_list(ADMIN, a, "4", cursor)
        seen += [(h["learner_id"], h["event_id"]) for h in page["held"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 9 == len(set(seen))
    assert [f"{lid}|{eid}" for lid, eid in seen] == [e.split("|", 1)[1] for e in everything]
    for limit, cursor in (("0", None), ("101", None), ("x", None), (None, "bm90IGEgY3Vyc29y")):
        with pytest.raises(ApiError) as bad:
            review.held_list(ADMIN, a, limit, cursor)
        assert bad.value.status == 400 and bad.value.field == ("limit" if limit else "cursor")


# --- property: events and decisions in any order, any number of times -----------------------------------------

SMALL = with_abuse(3, 60)
START = ist(2024, 10, 31, 23, 20)  # a burst that crosses into November (IST): the monthly cap matters too


@st.composite
def scenarios(draw):
    n = draw(st.integers(3, 9))
    events = []
    for k in range(n):
        minutes = draw(st.integers(0, 90))
        course = draw(st.sampled_from(["c1", "c2", "c3", "c4", "c5", "c6", "c7"]))
        acbp = draw(st.sampled_from([None, None, "2024-11-30"]))
        at = (START + timedelta(minutes=minutes)).astimezone(draw(st.sampled_from([IST, timezone.utc])))
        events.append(completion(L, course, at, acbp_end=acbp, passed=draw(st.booleans()), id=f"e{k}"))
    events.append(time_spent(L, 45, START + timedelta(minutes=draw(st.integers(0, 90))), id="t0"))
    held = abuse.holds(models(events), SMALL.abuse)
    decisions = {event_id: draw(st.sampled_from([None, "released", "rejected"])) for event_id in sorted(held)}
    decisions = {k: v for k, v in decisions.items() if v}
    ops = [("event", e) for e in events] + [("decision", item) for item in decisions.items()]
    ops += [("event", dict(draw(st.sampled_from(events)))) for _ in range(draw(st.integers(0, 3)))]  # re-sent
    ops += [("decision", item) for item in draw(st.lists(st.sampled_from(sorted(decisions.items())), max_size=2))
            ] if decisions else []
    return events, decisions, draw(st.permutations(ops))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_any_order_of_events_and_decisions_gives_the_same_result(scenario):
    events, decisions, ops = scenario
    a = adapters(rules=SMALL)
    pending = []  # decisions the service refused so far (their event not there, or not held, yet)

    def try_decision(item) -> bool:
        try:
            decide(a, item[0], item[1])
            return True
        except ApiError as exc:
            assert exc.status in (404, 409) and exc.code != "already_decided", exc.message
            return False

    for kind, item in ops:
        if kind == "event":
            deliver(a, [item])
        elif not try_decision(item):
            pending.append(item)
        pending = [p for p in pending if not try_decision(p)]
    assert pending == []

    reference = evaluate(L, models(events), SMALL, badge_catalogue(), decisions)
    stored = a.learners.get(L)
    assert stored.standing == _persisted(reference)
    assert {k: v for k, v in recorded_totals(a.learners.ledger(L)).items() if v} == earned(reference)
    assert sum(e.amount for e in a.learners.ledger(L)) == reference.points
    held = abuse.holds(models(events), SMALL.abuse)
    assert set(held_ids(a)) == abuse.pending(held, decisions)
    assert {k: r.status for k, r in a.reviews.for_learner(L).items() if r.status != "held"} == decisions

    # and the same as everything delivered at once, then the decisions
    b = adapters(rules=SMALL)
    deliver(b, events)
    for item in sorted(decisions.items()):
        decide(b, *item)
    assert b.learners.get(L).standing == stored.standing
