"""Karma points (docs/brief.md, "Rules the platform uses today"), the monthly cap, the ACBP late penalty, and late
events through the scoring use case. Every expected number is worked out from docs/brief.md by hand."""
import tomllib
from collections import Counter
from dataclasses import replace

import pytest

from chalicelib.events import parse_event
from chalicelib.scoring.pipeline import recompute_stream
from chalicelib.rules import config
from chalicelib.rules.config import default_rules, rules_from
from tests.conftest import fixture_event
from tests.rules_builders import (adapters, attended, completion, deliver, deliver_one_by_one, earned,
                                  enrolment, first_login, ist, rating, score, time_spent, upserted)

L = "u1"


def rules_data() -> dict:
    with open(config.HERE / "defaults.toml", "rb") as f:
        return tomllib.load(f)


def points_of(standing, event: dict) -> int:
    return sum(line.points for line in standing.ledger if line.event_id == event["id"])


# --- points per event type ---------------------------------------------------------------------------------

def test_a_course_completion_earns_5():
    done = completion(L, "c1", ist(2024, 10, 3))
    s = score([done])
    assert s.points == 5
    assert earned(s) == {(done["id"], "course_completion"): 5}
    assert s.courses_completed == 1


def test_a_passed_assessment_adds_5_and_a_failed_one_nothing():
    passed = completion(L, "c1", ist(2024, 10, 3), passed=True)
    failed = completion(L, "c2", ist(2024, 10, 4), failed=True)
    s = score([passed, failed])
    assert s.points == 5 + 5 + 5
    assert earned(s) == {(passed["id"], "course_completion"): 5, (passed["id"], "assessment_passed"): 5,
                         (failed["id"], "course_completion"): 5}


def test_an_acbp_course_done_on_time_adds_5():
    done = completion(L, "c1", ist(2024, 10, 3), acbp_end="2024-12-31")
    s = score([done])
    assert earned(s) == {(done["id"], "course_completion"): 5, (done["id"], "acbp_bonus"): 5}
    assert s.points == 10


def test_the_example_completion_earns_completion_assessment_and_acbp():
    s = score([fixture_event("course.completed")], learner="5f1c2a9e-8d44-4b7a-9a6e-1c2d3e4f5a6b")
    assert s.points == 5 + 5 + 5


def test_every_example_event_of_one_learner_together():
    names = ["course.completed", "course.enrolled", "course.rated", "event.attended", "learner.upserted",
             "learning.time_spent"]
    s = score([fixture_event(n) for n in names], learner="5f1c2a9e-8d44-4b7a-9a6e-1c2d3e4f5a6b")
    # completion 5 + assessment 5 + ACBP 5, first enrolment 5, rating 2, webinar 5; time spent and the
    # profile earn nothing.
    assert s.points == 15 + 5 + 2 + 5
    assert s.profile.name == "Ananya Mehta"
    assert s.learning_minutes == 90 + 60 + 35


def test_rating_a_course_earns_2_once_per_course():
    first = rating(L, "c1", ist(2024, 10, 3), 5)
    again = rating(L, "c1", ist(2024, 10, 9), 3)
    other = rating(L, "c2", ist(2024, 10, 10), 4)
    s = score([again, other, first])
    assert earned(s) == {(first["id"], "course_rating"): 2, (other["id"], "course_rating"): 2}
    assert s.points == 4
    assert s.ratings == 2


def test_first_login_earns_5_once():
    one, two = first_login(L, ist(2024, 10, 3, 9)), first_login(L, ist(2024, 10, 3, 10))
    s = score([two, one])
    assert earned(s) == {(one["id"], "first_login"): 5}
    assert s.points == 5


def test_first_enrolment_earns_5_once_whatever_the_course():
    enrolments = [enrolment(L, f"c{n}", ist(2024, 10, 1 + n)) for n in range(3)]
    s = score(enrolments)
    assert earned(s) == {(enrolments[0]["id"], "first_enrolment"): 5}
    assert s.points == 5


def test_attending_a_webinar_earns_5_once_per_webinar():
    w1 = attended(L, "web-1", ist(2024, 10, 3), minutes=40)
    w1_again = attended(L, "web-1", ist(2024, 10, 4), minutes=40)  # another event id, same webinar
    w2 = attended(L, "web-2", ist(2024, 10, 5), minutes=15)
    s = score([w1, w1_again, w2])
    assert earned(s) == {(w1["id"], "event_attended"): 5, (w2["id"], "event_attended"): 5}
    assert s.points == 10
    assert s.learning_minutes == 40 + 15


def test_time_spent_and_profile_events_earn_no_points():
    s = score([time_spent(L, 120, ist(2024, 10, 3)), upserted(L, ist(2024, 10, 1))])
    assert s.points == 0
    assert earned(s) == {}


def test_the_same_event_delivered_twice_counts_once():
    done = completion(L, "c1", ist(2024, 10, 3), passed=True)
    s = score([done, dict(done), done])
    assert s.points == 10
    assert len(s.ledger) == 2


@pytest.mark.parametrize("category", ["Program", "Curated Program", "Standalone Assessment", "Learning Resource"])
def test_only_items_of_category_course_earn(category):
    done = completion(L, "p1", ist(2024, 10, 3), category=category, passed=True, acbp_end="2024-12-31")
    s = score([done])
    assert s.points == 0
    assert earned(s) == {}
    assert s.courses_completed == 0


def test_other_categories_do_not_use_up_the_monthly_cap():
    programs = [completion(L, f"p{n}", ist(2024, 10, 1 + n), category="Program") for n in range(4)]
    courses = [completion(L, f"c{n}", ist(2024, 10, 10 + n)) for n in range(4)]
    s = score(programs + courses)
    assert s.points == 4 * 5
    assert set(earned(s)) == {(c["id"], "course_completion") for c in courses}


def test_a_second_completion_of_the_same_course_earns_nothing():
    first = completion(L, "c1", ist(2024, 10, 3), failed=True)
    second = completion(L, "c1", ist(2024, 11, 5), passed=True, acbp_end="2024-12-31")
    s = score([second, first])
    assert earned(s) == {(first["id"], "course_completion"): 5}
    assert s.points == 5
    assert s.courses_completed == 1


def test_a_repeated_completion_does_not_use_up_the_monthly_cap():
    events = [completion(L, "c1", ist(2024, 10, 1)), completion(L, "c1", ist(2024, 10, 2)),
              completion(L, "c2", ist(2024, 10, 3)), completion(L, "c3", ist(2024, 10, 4)),
              completion(L, "c4", ist(2024, 10, 5))]
    assert score(events).points == 4 * 5
    fifth = completion(L, "c5", ist(2024, 10, 6))
    assert score(events + [fifth]).points == 4 * 5


# --- the monthly cap -----------------------------------------------------------------------------------------

def test_the_first_four_completions_of_a_month_earn_and_the_fifth_nothing_not_even_its_assessment():
    # Ids sort in the opposite order of time, so only occurred_at can pick the first four.
    october = [completion(L, f"c{n}", ist(2024, 10, 2 + 5 * n), passed=True, id=f"z-{9 - n}") for n in range(5)]
    s = score(list(reversed(october)))
    assert s.points == 4 * (5 + 5)
    capped = october[4]
    assert points_of(s, capped) == 0
    assert {line.rule for line in s.ledger if line.event_id == capped["id"]} == {"course_completion",
                                                                                  "assessment_passed"}
    assert all("monthly cap" in line.note for line in s.ledger if line.event_id == capped["id"])
    assert {e for e, _ in earned(s)} == {e["id"] for e in october[:4]}
    # It still counts as a completed course (badges are about learning, not points).
    assert s.courses_completed == 5


def test_the_cap_starts_again_each_month():
    october = [completion(L, f"o{n}", ist(2024, 10, 1 + n)) for n in range(6)]
    november = [completion(L, f"n{n}", ist(2024, 11, 1 + n)) for n in range(5)]
    s = score(october + november)
    assert s.points == 4 * 5 + 4 * 5
    assert s.points_by_period["month:2024-10"] == 20
    assert s.points_by_period["month:2024-11"] == 20


def test_the_cap_month_ends_at_midnight_ist():
    october = [completion(L, f"c{n}", ist(2024, 10, 1 + n)) for n in range(4)]
    late_evening = completion(L, "eve", "2024-10-31T23:30:00+05:30")     # still October in India
    after_midnight = completion(L, "night", "2024-10-31T18:45:00Z")       # 1 Nov 00:15 IST
    s = score(october + [late_evening, after_midnight])
    assert points_of(s, late_evening) == 0
    assert points_of(s, after_midnight) == 5
    assert s.points == 4 * 5 + 5
    assert s.points_by_period["month:2024-10"] == 20
    assert s.points_by_period["month:2024-11"] == 5


def test_reached_at_is_when_the_score_of_each_period_was_reached():
    # Boards break ties by who reached the score first, so this is the last event that earned, per period.
    october = [completion(L, f"c{n}", ist(2024, 10, 2 + n)) for n in range(4)]      # Wed 2 Oct (W40) on
    rated = rating(L, "c0", ist(2024, 10, 9))                                         # Wed 9 Oct (W41)
    capped = completion(L, "c9", ist(2024, 10, 20))                                   # earns nothing
    s = score(october + [rated, capped, time_spent(L, 30, ist(2024, 10, 21))])
    assert s.points == 22
    assert s.reached_at == {"all": ist(2024, 10, 9), "month:2024-10": ist(2024, 10, 9),
                            "week:2024-W40": ist(2024, 10, 5), "week:2024-W41": ist(2024, 10, 9)}
    assert s.points_by_period == {"all": 22, "month:2024-10": 22, "week:2024-W40": 20, "week:2024-W41": 2}


def test_same_instant_completions_are_ordered_by_id():
    at = ist(2024, 10, 10, 10, 0)
    events = [completion(L, f"c{n}", at, id=f"evt-{n}") for n in "edcba"]
    s = score(events)
    assert s.points == 20
    assert points_of(s, events[0]) == 0  # evt-e is the last in (occurred_at, id) order


def test_acbp_completions_are_not_capped_and_do_not_use_up_the_four():
    acbp = [completion(L, f"a{n}", ist(2024, 10, 1 + n), acbp_end="2024-12-31") for n in range(3)]
    regular = [completion(L, f"c{n}", ist(2024, 10, 5 + n)) for n in range(5)]
    late_acbp = completion(L, "a9", ist(2024, 10, 30), acbp_end="2024-12-31")
    s = score(acbp + regular + [late_acbp])
    for event in acbp + [late_acbp]:
        assert points_of(s, event) == 5 + 5
    assert [points_of(s, e) for e in regular] == [5, 5, 5, 5, 0]
    assert s.points == 4 * 10 + 4 * 5


# --- the ACBP late penalty -----------------------------------------------------------------------------------

def acbp_bonus(end: str, done_at) -> int:
    s = score([completion(L, "c1", done_at, acbp_end=end)])
    lines = [line for line in s.ledger if line.rule == "acbp_bonus"]
    assert len(lines) == 1
    assert s.points == 5 + lines[0].points
    return lines[0].points


@pytest.mark.parametrize("end, done_at, bonus", [
    ("2024-10-31", ist(2024, 10, 1), 5),                 # well before
    ("2024-10-31", ist(2024, 10, 31, 23, 59), 5),        # on the end date, late evening IST
    ("2024-10-31", "2024-10-31T18:00:00Z", 5),           # 23:30 IST on 31 Oct
    ("2024-10-31", "2024-10-31T18:45:00Z", 4),           # 00:15 IST on 1 Nov: late, though 31 Oct in UTC
    ("2024-10-31", ist(2024, 11, 1, 0, 15), 4),
    ("2024-10-01", ist(2024, 10, 20), 4),                # days late, 0 whole months: reduced by 1
    ("2024-01-15", ist(2024, 3, 14), 3),                 # 1 whole month: reduced by 2
    ("2024-01-15", ist(2024, 3, 15), 2),                 # the day of the month reached: 2 months, by 3
    ("2024-01-15", ist(2024, 4, 15), 1),                 # 3 months: reduced by 4
    ("2024-01-15", ist(2024, 5, 15), 0),                 # 4 months: reduced by 5
    ("2024-01-15", ist(2024, 10, 21), 0),                # 9 months: reduced by 10, floored at zero
    ("2023-06-30", ist(2025, 1, 2), 0),
])
def test_acbp_bonus_is_reduced_by_whole_months_late_plus_one(end, done_at, bonus):
    assert acbp_bonus(end, done_at) == bonus


def test_a_late_acbp_completion_still_earns_completion_and_assessment():
    done = completion(L, "c1", ist(2024, 10, 21), acbp_end="2024-01-15", passed=True)
    s = score([done])
    assert earned(s) == {(done["id"], "course_completion"): 5, (done["id"], "assessment_passed"): 5}
    bonus = [line for line in s.ledger if line.rule == "acbp_bonus"]
    assert [b.points for b in bonus] == [0]
    assert "9 whole month" in bonus[0].note


# --- late events through the scoring use case --------------------------------------------------------------

def october_with_a_late_first():
    """Four October completions with assessments, then one more that happened before all of them."""
    on_time = [completion(L, f"c{n}", ist(2024, 10, 10 + n), passed=True) for n in range(4)]
    late = completion(L, "early", ist(2024, 10, 2), passed=True)
    return on_time, late


def totals(ledger) -> dict:
    result = Counter()
    for entry in ledger:
        result[entry.key] += entry.amount
    return {k: v for k, v in result.items() if v}


def test_a_late_event_displaces_the_last_capped_completion_with_a_correction():
    on_time, late = october_with_a_late_first()
    a = adapters()
    deliver_one_by_one(a, on_time)
    assert a.learners.get(L).standing.points == 40
    before = a.learners.ledger(L)
    assert len(before) == 8 and all(e.kind == "award" for e in before)

    deliver_one_by_one(a, [late])
    ledger = a.learners.ledger(L)
    assert ledger[:8] == before  # nothing recorded is rewritten
    new = ledger[8:]
    displaced = on_time[3]["id"]
    assert [(e.event_id, e.rule, e.amount, e.kind) for e in new] == [
        (late["id"], "assessment_passed", 5, "award"),
        (late["id"], "course_completion", 5, "award"),
        (displaced, "assessment_passed", -5, "correction"),
        (displaced, "course_completion", -5, "correction"),
    ]
    assert all("monthly cap" in e.note for e in new[2:])
    assert sum(e.amount for e in ledger) == 40

    clean = adapters()
    deliver_one_by_one(clean, [late] + on_time)
    assert all(e.kind == "award" for e in clean.learners.ledger(L))
    assert totals(ledger) == totals(clean.learners.ledger(L))
    assert a.learners.get(L).standing == clean.learners.get(L).standing
    assert a.learners.get(L).standing.points == 40


def test_a_late_completion_over_the_cap_records_nothing():
    on_time = [completion(L, f"c{n}", ist(2024, 10, 2 + n), passed=True) for n in range(4)]
    a = adapters()
    deliver_one_by_one(a, on_time)
    deliver_one_by_one(a, [completion(L, "late", ist(2024, 10, 30), passed=True)])
    assert len(a.learners.ledger(L)) == 8
    assert a.learners.get(L).standing.points == 40
    assert a.learners.get(L).standing.courses_completed == 5


def test_a_late_acbp_completion_displaces_nothing():
    on_time = [completion(L, f"c{n}", ist(2024, 10, 10 + n)) for n in range(4)]
    late = completion(L, "plan", ist(2024, 10, 2), acbp_end="2024-10-31")
    a = adapters()
    deliver_one_by_one(a, on_time + [late])
    assert [e.kind for e in a.learners.ledger(L)] == ["award"] * 6
    assert a.learners.get(L).standing.points == 4 * 5 + 10


def test_a_late_event_lands_in_the_month_it_happened():
    a = adapters()
    deliver_one_by_one(a, [completion(L, "nov", ist(2024, 11, 5))])
    deliver_one_by_one(a, [completion(L, "oct", "2024-10-31T23:30:00+05:30")])
    s = a.learners.get(L).standing
    assert s.points_by_period["month:2024-10"] == 5
    assert s.points_by_period["month:2024-11"] == 5
    assert s.points_by_period["all"] == 10


def test_redelivering_everything_appends_nothing():
    on_time, late = october_with_a_late_first()
    a = adapters()
    deliver_one_by_one(a, on_time + [late])
    ledger, version = a.learners.ledger(L), a.learners.get(L).version
    deliver(a, on_time + [late])
    deliver_one_by_one(a, [late] + on_time)
    assert a.learners.ledger(L) == ledger
    assert a.learners.get(L).version == version


def test_an_entry_that_earns_again_after_a_correction_is_itself_a_correction():
    # c4 is displaced by a late c0 (award, then correction to 0). Then c1 turns out to have been done
    # earlier on the ACBP plan: the earlier, uncapped ACBP completion is the one that counts, the later
    # regular completion of c1 is a repeat, and c4 is back within the four.
    regular = [completion(L, f"c{n}", ist(2024, 10, 2 + n)) for n in range(1, 5)]
    a = adapters()
    deliver_one_by_one(a, regular)
    deliver_one_by_one(a, [completion(L, "c0", ist(2024, 10, 2))])
    deliver_one_by_one(a, [completion(L, "c1", ist(2024, 10, 1), acbp_end="2024-12-31", id="plan-c1")])
    c4 = [(e.amount, e.kind) for e in a.learners.ledger(L) if e.event_id == regular[3]["id"]]
    assert sum(amount for amount, _ in c4) == 5
    assert a.learners.get(L).standing.points == 4 * 5 + 10  # c0, c2, c3, c4 and c1 on the plan (5 + 5)
    assert c4 == [(5, "award"), (-5, "correction"), (5, "correction")]


# --- rule numbers are configuration --------------------------------------------------------------------------

def test_rules_from_the_defaults_file_are_the_design_numbers():
    r = rules_from(rules_data())
    assert (r.points.course_completion, r.points.assessment_passed, r.points.acbp_bonus, r.points.course_rating,
            r.points.first_login, r.points.first_enrolment, r.points.event_attended) == (5, 5, 5, 2, 5, 5, 5)
    assert r.monthly_cap == 4
    assert r.clap_weekly_minutes == 60
    assert r.point_earning_categories == {"Course"}
    assert str(r.timezone) == "Asia/Kolkata"


def test_a_different_cap_and_points_change_the_score():
    data = rules_data()
    data["monthly_cap"]["non_acbp_completions"] = 2
    data["points"]["course_completion"] = 10
    data["points"]["assessment_passed"] = 3
    custom = rules_from(data)
    events = [completion(L, f"c{n}", ist(2024, 10, 1 + n), passed=True) for n in range(4)]
    assert score(events).points == 4 * 10
    assert score(events, rules=custom).points == 2 * 13


def test_a_different_late_penalty_and_categories_change_the_score():
    data = rules_data()
    data["acbp_late_penalty"]["per_month_late"] = 2
    data["points"]["acbp_bonus"] = 10
    data["course"]["point_earning_categories"] = ["Course", "Program"]
    custom = rules_from(data)
    late = completion(L, "c1", ist(2024, 3, 14), acbp_end="2024-01-15")   # 1 whole month late
    program = completion(L, "p1", ist(2024, 3, 20), category="Program")
    assert score([late, program]).points == 5 + 3
    assert score([late, program], rules=custom).points == (5 + (10 - (1 + 1) * 2)) + 5


def test_a_different_zone_moves_the_cap_month():
    data = rules_data()
    data["timezone"] = "UTC"
    october = [completion(L, f"c{n}", ist(2024, 10, 1 + n)) for n in range(4)]
    midnight = completion(L, "night", "2024-10-31T18:45:00Z")  # November in India, October in UTC
    assert score(october + [midnight]).points == 25
    assert score(october + [midnight], rules=rules_from(data)).points == 20


@pytest.fixture
def rules_file(tmp_path, monkeypatch):
    """Point KARMAYOGI_RULES_FILE at an edited copy of the defaults; the cached rules are reset around it."""
    def write(edit) -> None:
        text = (config.HERE / "defaults.toml").read_text()
        path = tmp_path / "rules.toml"
        path.write_text(edit(text))
        monkeypatch.setenv("KARMAYOGI_RULES_FILE", str(path))
        default_rules.cache_clear()
    yield write
    monkeypatch.delenv("KARMAYOGI_RULES_FILE", raising=False)
    default_rules.cache_clear()


def test_the_rules_file_setting_changes_what_the_service_awards(rules_file):
    events = [completion(L, f"c{n}", ist(2024, 10, 1 + n)) for n in range(5)] + [rating(L, "c0", ist(2024, 10, 9))]
    a = adapters()
    deliver(a, events)
    assert a.learners.get(L).standing.points == 4 * 5 + 2

    rules_file(lambda text: text.replace("non_acbp_completions = 4", "non_acbp_completions = 5")
               .replace("course_rating = 2", "course_rating = 7"))
    assert default_rules().monthly_cap == 5
    b = adapters()
    deliver(b, events)
    assert b.learners.get(L).standing.points == 5 * 5 + 7


def test_changed_rules_rescore_history_with_corrections():
    # Stored events are re-read on every recompute, so a changed rule applies to them with corrections.
    events = [completion(L, f"c{n}", ist(2024, 10, 1 + n)) for n in range(5)]
    a = adapters()
    deliver(a, events)
    assert a.learners.get(L).standing.points == 20
    a.rules = replace(a.rules.current().rules, monthly_cap=3)  # a book of one changed version (a plain Rules)
    recompute_stream(f"learner:{L}", a)
    ledger = a.learners.ledger(L)
    assert sum(e.amount for e in ledger) == a.learners.get(L).standing.points == 15
    assert [(e.event_id, e.amount, e.kind) for e in ledger[4:]] == [(events[3]["id"], -5, "correction")]


def test_events_validate_as_the_webhook_would():
    # The builders make contract-valid events (a broken builder would make every other test meaningless).
    for event in [completion(L, "c1", ist(2024, 10, 1), acbp_end="2024-12-31", passed=True, areas=["domain"]),
                  enrolment(L, "c1", ist(2024, 10, 1)), rating(L, "c1", ist(2024, 10, 1)),
                  time_spent(L, 30, ist(2024, 10, 1)), attended(L, "w", ist(2024, 10, 1), areas=["functional"]),
                  first_login(L, ist(2024, 10, 1)), upserted(L, ist(2024, 10, 1))]:
        assert parse_event(event).id == event["id"]
