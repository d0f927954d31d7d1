"""Contract tests: every port with an in-memory fake and a DynamoDB adapter runs the SAME checks on both, the
adapter against DynamoDB Local. The unit tests trust the fakes; these checks are why they may (issue 14 §3).

Each fixture is parametrized over ("memory", "dynamodb"); the dynamodb side asks for `adapters`, which empties
the tables. The checks are what each Protocol's docstrings promise, not what one implementation happens to do.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.campaigns.rules import Awards, Campaign, Counts, Goal, Progress
from chalicelib.campaigns.store import Award, DynamoCampaignStore, MemoryCampaignStore, shard_of as progress_shard
from chalicelib.credentials.ob3 import Revocation
from chalicelib.credentials.store import (DynamoCredentialStore, DynamoDomainEvents, IssuedCredential,
                                          MemoryCredentialStore, MemoryDomainEvents)
from chalicelib.events import OrgBlock, parse_event
from chalicelib.leaderboards.boards import Entry
from chalicelib.leaderboards.settings import board_settings
from chalicelib.leaderboards.store import MemoryBoardStore, entry_rank_key
from chalicelib.learners.ledger import LedgerEntry
from chalicelib.counters import DynamoCounters, MemoryCounters
from chalicelib.notifications.limits import DynamoSuppressionList, MemorySuppressionList
from chalicelib.notifications.nudge_store import DynamoNudgeSchedule, MemoryNudgeSchedule, NudgeEntry
from chalicelib.notifications.store import (FAILED, QUEUED, SENDING, SENT, DynamoNotificationStore,
                                            MemoryNotificationStore, Notification)
from chalicelib.storage.dynamodb import DynamoFactFeed
from chalicelib.storage.memory import MemoryFactFeed
from chalicelib.review.store import MemoryReviewStore
from chalicelib.rosters.employees import Employee, MemoryRosterStore, RosterChange, RosterConflict
from chalicelib.rules.abuse import Hold
from chalicelib.rules.learner import LearnerStanding, Profile
from chalicelib.storage.memory import MemoryEventStore, MemoryLearnerRepository, MemoryOrgRepository
from chalicelib.facts import DomainEvent
from chalicelib.review.ports import AlreadyDecided, held_position
from chalicelib.storage.ports import ConcurrentUpdate
from tests.rules_builders import completion, upserted

T0 = datetime(2026, 11, 2, 6, 30, tzinfo=timezone.utc)
BACKENDS = ["memory", "dynamodb"]


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _adapters(request):
    """DynamoDB Local with empty tables, and the session's DynamoDB adapters."""
    return request.getfixturevalue("adapters")


# --- fixtures: one per port, each a fake or its DynamoDB twin -----------------------------------------------

@pytest.fixture(params=BACKENDS)
def events(request):
    return MemoryEventStore() if request.param == "memory" else _adapters(request).events


@pytest.fixture(params=BACKENDS)
def learners(request):
    return MemoryLearnerRepository() if request.param == "memory" else _adapters(request).learners


@pytest.fixture(params=BACKENDS)
def orgs(request):
    return MemoryOrgRepository() if request.param == "memory" else _adapters(request).orgs


@pytest.fixture(params=BACKENDS)
def reviews(request):
    return MemoryReviewStore() if request.param == "memory" else _adapters(request).reviews


@pytest.fixture(params=BACKENDS)
def boards(request):
    return MemoryBoardStore(board_settings()) if request.param == "memory" else _adapters(request).boards


@pytest.fixture(params=BACKENDS)
def rosters(request):
    return MemoryRosterStore() if request.param == "memory" else _adapters(request).rosters


@pytest.fixture(params=BACKENDS)
def campaigns(request):
    if request.param == "memory":
        return MemoryCampaignStore(progress_shards=4)
    _adapters(request)
    return DynamoCampaignStore(progress_shards=4)


def _simple(request, memory, dynamo):
    if request.param == "memory":
        return memory()
    _adapters(request)
    return dynamo()


@pytest.fixture(params=BACKENDS)
def outbox(request):
    return _simple(request, MemoryNotificationStore, DynamoNotificationStore)


@pytest.fixture(params=BACKENDS)
def suppressions(request):
    return _simple(request, MemorySuppressionList, DynamoSuppressionList)


@pytest.fixture(params=BACKENDS)
def counters(request):
    return _simple(request, MemoryCounters, DynamoCounters)


@pytest.fixture(params=BACKENDS)
def schedule(request):
    return _simple(request, MemoryNudgeSchedule, DynamoNudgeSchedule)


@pytest.fixture(params=BACKENDS)
def credentials(request):
    return _simple(request, MemoryCredentialStore, DynamoCredentialStore)


@pytest.fixture(params=BACKENDS)
def domain_events(request):
    return _simple(request, MemoryDomainEvents, DynamoDomainEvents)


@pytest.fixture(params=BACKENDS)
def feed(request):
    """(learner repository, fact feed): the feed reads the facts the repository's save records."""
    if request.param == "memory":
        repository = MemoryLearnerRepository()
        return repository, MemoryFactFeed(repository)
    return _adapters(request).learners, DynamoFactFeed()


# --- EventStore ----------------------------------------------------------------------------------------------

def _event(learner: str, course: str, minute: int, **kw):
    return parse_event(completion(learner, course, at(minute), **kw))


def test_event_store_add_is_false_for_a_duplicate_id_and_keeps_the_first_delivery(events, learner_id):
    event = _event(learner_id, "do_1", 0)
    assert events.add(event, at(1)) is True
    assert events.add(event, at(9)) is False
    stored, received = events.stream_received(f"learner:{learner_id}")
    assert [e.id for e in stored] == [event.id]
    assert received == {event.id: at(1)}


def test_event_store_stream_returns_what_was_added_to_that_stream_only(events, learner_id):
    mine = [_event(learner_id, f"do_{n}", n) for n in range(3)]
    other = _event(f"{learner_id}-x", "do_1", 0)
    for n, event in enumerate(mine + [other]):
        assert events.add(event, at(10 + n))
    stream = events.stream(f"learner:{learner_id}")
    assert sorted(e.id for e in stream) == sorted(e.id for e in mine)
    assert {e.id: e for e in stream} == {e.id: e for e in mine}  # the same events, field for field
    assert events.stream("learner:nobody-here") == []


def test_event_store_rewrite_replaces_a_stored_body(events, learner_id):
    event = parse_event(upserted(learner_id, at(0), name="Ananya Mehta"))
    events.add(event, at(1))
    body = event.model_dump(mode="json")
    body["learner"]["name"] = None
    events.rewrite(f"learner:{learner_id}", event.id, body)
    [stored] = events.stream(f"learner:{learner_id}")
    assert stored.id == event.id and stored.learner.name is None


def test_event_store_received_since_reads_the_events_received_at_or_after_a_moment(events, learner_id):
    added = [_event(learner_id, f"do_{n}", n) for n in range(4)]
    for n, event in enumerate(added):
        events.add(event, at(10 * n))
    events.add(_event(f"{learner_id}-x", "do_9", 0), at(30))
    stream = f"learner:{learner_id}"
    found, received = events.received_since(stream, at(20))
    assert sorted(e.id for e in found) == sorted(e.id for e in added[2:])
    assert received == {added[2].id: at(20), added[3].id: at(30)}
    assert events.received_since(stream, at(31)) == ([], {})


# --- LearnerRepository ---------------------------------------------------------------------------------------

def _standing(learner_id: str, points: int = 10, courses: int = 1, name: str = "Asha") -> LearnerStanding:
    return LearnerStanding(learner_id, Profile(org_id="org_a", name=name), points=points, courses_completed=courses,
                           learning_minutes=30 * courses)


def _entries(*amounts: int) -> list[LedgerEntry]:
    return [LedgerEntry(f"ev-{n}", "completion", amount, at(n), f"entry {n}", "award")
            for n, amount in enumerate(amounts)]


def test_learner_save_creates_then_versions_and_get_reads_it_back(learners, learner_id):
    assert learners.get(learner_id) is None
    learners.save(_standing(learner_id, points=10), _entries(10), [], expected_version=0, scopes=("org:org_a",))
    first = learners.get(learner_id)
    assert first.version == 1 and first.standing.points == 10 and first.standing.profile.name == "Asha"
    assert first.scopes == ("org:org_a",) and first.erased_at is None
    learners.save(_standing(learner_id, points=25, courses=2), _entries(15), [], expected_version=1)
    second = learners.get(learner_id)
    assert second.version == 2 and second.standing.points == 25 and second.standing.courses_completed == 2


def test_learner_save_with_a_stale_version_raises_concurrent_update_and_writes_nothing(learners, learner_id):
    learners.save(_standing(learner_id, points=10), _entries(10), [], expected_version=0)
    with pytest.raises(ConcurrentUpdate):
        learners.save(_standing(learner_id, points=99), _entries(89), [], expected_version=0)  # "new" again
    with pytest.raises(ConcurrentUpdate):
        learners.save(_standing(learner_id, points=99), _entries(89), [], expected_version=7)
    assert learners.get(learner_id).standing.points == 10 and learners.get(learner_id).version == 1
    assert [e.amount for e in learners.ledger(learner_id)] == [10]


def test_learner_ledger_is_oldest_first_and_pages_newest_first_with_a_cursor(learners, learner_id):
    learners.save(_standing(learner_id), _entries(1, 2, 3), [], expected_version=0)
    learners.save(_standing(learner_id), _entries(4, 5), [], expected_version=1)
    assert [e.amount for e in learners.ledger(learner_id)] == [1, 2, 3, 4, 5]
    seen, cursor, pages = [], None, 0
    while True:
        page, cursor = learners.ledger_page(learner_id, 2, cursor)
        seen += [e.amount for e in page]
        pages += 1
        if cursor is None:
            break
    assert seen == [5, 4, 3, 2, 1] and pages == 3
    assert all(e.seq and e.recorded_at for e in learners.ledger(learner_id))
    assert learners.ledger_page("nobody-here", 2, None) == ([], None)


def test_learner_ledger_keeps_the_rule_version_of_each_entry(learners, learner_id):
    entries = [dataclasses.replace(e, rules_version=v) for e, v in zip(_entries(1, 2), ("2024-01", ""))]
    learners.save(_standing(learner_id), entries, [], expected_version=0)
    assert [e.rules_version for e in learners.ledger(learner_id)] == ["2024-01", ""]


def test_learner_scan_pages_cover_every_learner_once_across_segments(learners, learner_id):
    ids = [f"{learner_id}-{n:02d}" for n in range(23)]
    for n, learner in enumerate(ids):
        learners.save(dataclasses.replace(_standing(learner), last_active_at=at(n)), [], [], expected_version=0)
    seen = []
    for segment in range(3):
        after, pages = None, 0
        while True:
            rows, after = learners.scan_page(segment, 3, after, 4)
            seen += rows
            pages += 1
            assert pages < 50
            if after is None:
                break
    mine = sorted(r for r in seen if r[0].startswith(learner_id))
    assert mine == [(learner, "org_a", at(n)) for n, learner in enumerate(ids)]


def test_learner_preferences_are_written_alone_and_survive_a_scoring_save(learners, learner_id):
    assert learners.set_preferences(learner_id, {"leaderboard_visibility": "hidden"}) is False  # no such learner
    learners.save(_standing(learner_id), [], [], expected_version=0)
    assert learners.set_preferences(learner_id, {"leaderboard_visibility": "hidden"}) is True
    learners.save(_standing(learner_id, points=40), [], [], expected_version=1)
    assert learners.get(learner_id).preferences == {"leaderboard_visibility": "hidden"}
    listing = learners.names([learner_id, "nobody-here"])
    assert list(listing) == [learner_id]
    assert (listing[learner_id].name, listing[learner_id].org_id) == ("Asha", "org_a")
    assert listing[learner_id].visibility == "hidden"


def test_learner_mark_erased_keeps_the_first_time_and_fails_a_save_in_flight(learners, learner_id):
    assert learners.mark_erased(learner_id, Profile(), at(5)) is None
    learners.save(_standing(learner_id), [], [], expected_version=0)
    learners.set_preferences(learner_id, {"leaderboard_visibility": "hidden"})
    assert learners.mark_erased(learner_id, Profile(org_id="org_a"), at(5)) == at(5)
    assert learners.mark_erased(learner_id, Profile(org_id="org_a"), at(9)) == at(5)
    stored = learners.get(learner_id)
    assert stored.erased_at == at(5) and stored.preferences is None and stored.standing.profile.name is None
    with pytest.raises(ConcurrentUpdate):  # read at version 1, before the erasure
        learners.save(_standing(learner_id), [], [], expected_version=1)
    assert learners.erased([learner_id, "nobody-here"]) == {learner_id}


def test_learner_started_is_those_who_completed_or_spent_time(learners, learner_id):
    idle, busy = f"{learner_id}-idle", f"{learner_id}-busy"
    learners.save(_standing(idle, points=0, courses=0), [], [], expected_version=0)
    learners.save(_standing(busy), [], [], expected_version=0)
    assert learners.started([idle, busy, "nobody-here"]) == {busy}


# --- OrgRepository -----------------------------------------------------------------------------------------

def _org(org_id: str, name: str, parent: str | None = None, type_: str = "mdo") -> OrgBlock:
    return OrgBlock(id=org_id, name=name, type=type_, parent_id=parent)


def test_org_upsert_is_true_when_new_or_moved_and_a_later_name_change_is_written(orgs):
    assert orgs.upsert(_org("org_c1", "Cell", "dept_d"), "2026-11-01|a") is True
    assert orgs.upsert(_org("org_c1", "Cell One", "dept_d"), "2026-11-02|b") is False  # renamed, not moved
    assert orgs.get("org_c1").name == "Cell One"
    assert orgs.upsert(_org("org_c1", "Cell One", "dept_e"), "2026-11-03|c") is True  # moved
    assert orgs.get("org_c1").parent_id == "dept_e"
    assert orgs.get("org_nobody") is None


def test_org_upsert_by_an_earlier_event_changes_nothing(orgs):
    orgs.upsert(_org("org_c1", "New name", "dept_e"), "2026-11-05|z")
    assert orgs.upsert(_org("org_c1", "Old name", "dept_d"), "2026-11-01|a") is False
    assert orgs.upsert(_org("org_c1", "Same time", "dept_d"), "2026-11-05|z") is False
    org = orgs.get("org_c1")
    assert (org.name, org.parent_id, org.type) == ("New name", "dept_e", "mdo")


def test_org_children_and_names(orgs):
    orgs.upsert(_org("dept_d", "Department", "min_m", "department"), "1")
    for n in range(3):
        orgs.upsert(_org(f"org_c{n}", f"Cell {n}", "dept_d"), "1")
    orgs.upsert(_org("org_x", "Elsewhere", "dept_x"), "1")
    assert sorted(orgs.children("dept_d")) == ["org_c0", "org_c1", "org_c2"]
    assert orgs.children("org_c0") == []
    assert orgs.names(["org_c1", "dept_d", "org_nobody"]) == {"org_c1": "Cell 1", "dept_d": "Department"}


# --- ReviewStore ---------------------------------------------------------------------------------------------

def _hold(learner_id: str, n: int, minute: int | None = None) -> Hold:
    return Hold(f"{learner_id}-e{n}", learner_id, "org_a", "course.completed", at(n if minute is None else minute),
                21, 20, 30)


def test_review_hold_is_idempotent_and_keeps_when_first_held(reviews, learner_id):
    holds = [_hold(learner_id, n) for n in range(3)]
    reviews.hold(holds, at(100))
    reviews.hold(holds, at(200))
    items = reviews.for_learner(learner_id)
    assert sorted(items) == sorted(h.event_id for h in holds)
    assert {r.status for r in items.values()} == {"held"} and {r.held_at for r in items.values()} == {at(100)}
    assert all(items[h.event_id].hold == h for h in holds)
    assert reviews.for_learner(f"{learner_id}-other") == {}


def test_review_decide_is_final_the_same_way_again_returns_the_first(reviews, learner_id):
    hold = _hold(learner_id, 0)
    reviews.hold([hold], at(100))
    first = reviews.decide(hold, "rejected", "nat-1", at(200), "bot traffic")
    assert (first.status, first.decided_by, first.decided_at, first.note, first.held_at) == \
        ("rejected", "nat-1", at(200), "bot traffic", at(100))
    again = reviews.decide(hold, "rejected", "nat-2", at(300), None)
    assert again == first
    with pytest.raises(AlreadyDecided) as raised:
        reviews.decide(hold, "released", "nat-2", at(300), None)
    assert raised.value.review == first
    assert reviews.for_learner(learner_id)[hold.event_id] == first


def test_review_hold_and_unhold_never_undo_a_decision(reviews, learner_id):
    decided, waiting = _hold(learner_id, 0), _hold(learner_id, 1)
    reviews.hold([decided, waiting], at(100))
    reviews.decide(decided, "released", "nat-1", at(200), None)
    reviews.hold([decided], at(300))
    reviews.unhold([decided, waiting])
    items = reviews.for_learner(learner_id)
    assert list(items) == [decided.event_id] and items[decided.event_id].status == "released"


def test_review_held_page_is_newest_first_with_a_cursor_and_leaves_out_decisions(reviews, learner_id):
    holds = [_hold(f"{learner_id}-{n % 3}", n, minute=n) for n in range(7)]
    reviews.hold(holds, at(100))
    reviews.decide(holds[6], "rejected", "nat-1", at(200), None)
    seen, cursor = [], None
    while True:
        page, cursor = reviews.held_page(3, cursor)
        seen += [r.hold.event_id for r in page]
        if cursor is None:
            break
        assert cursor == held_position(page[-1].hold)
    assert seen == [h.event_id for h in reversed(holds[:6])]


# --- BoardStore ----------------------------------------------------------------------------------------------

NATIONAL, ORG = "national|all", "org:org_a|all"


def _entry(board: str, learner: str, points: int, minute: int = 0, minutes: int = 10, org: str = "org_a") -> Entry:
    return Entry(board, learner, org, points, minutes, at(minute) if points else None)


def _apply_each(boards, changes, parents=None) -> None:
    """One apply() per learner, as scoring calls it."""
    for change in changes:
        boards.apply([change], parents or {})


def test_board_apply_writes_entries_that_current_reads_back(boards, learner_id):
    mine = [_entry(NATIONAL, learner_id, 50), _entry(ORG, learner_id, 50)]
    boards.apply([(None, e) for e in mine], {"org_a": ["national"]})
    assert boards.current(learner_id, [NATIONAL, ORG, "org:org_b|all"]) == {e.board: e for e in mine}
    other = _entry(NATIONAL, f"{learner_id}-2", 30)
    boards.apply([(None, other)], {})
    assert boards.current_many(NATIONAL, [learner_id, other.learner_id, "nobody-here"]) == \
        {learner_id: mine[0], other.learner_id: other}


def test_board_apply_with_a_stale_entry_raises_and_applies_the_other_changes(boards, learner_id):
    """Each entry change is its own conditional write (no transaction with shared items): the stale one is
    refused, the others apply, and the caller re-reads (leaderboards/projection.py)."""
    first = _entry(NATIONAL, learner_id, 50)
    boards.apply([(None, first)], {})
    stale = _entry(NATIONAL, learner_id, 40)  # not what the board has
    with pytest.raises(ConcurrentUpdate):
        boards.apply([(None, _entry(ORG, learner_id, 60)), (stale, _entry(NATIONAL, learner_id, 60))],
                     {"org_a": []})
    with pytest.raises(ConcurrentUpdate):
        boards.apply([(None, _entry(NATIONAL, learner_id, 70))], {})  # "new", but it is there
    assert boards.current(learner_id, [NATIONAL, ORG]) == {NATIONAL: first, ORG: _entry(ORG, learner_id, 60)}
    assert [(s.org_id, s.learners, s.points, s.minutes) for s in boards.org_stats("all")] == [("org_a", 1, 60, 10)]
    assert boards.scores(NATIONAL) == Counter({50: 1})
    assert boards.scores_of([NATIONAL, ORG, "org:org_b|all"]) == {NATIONAL: Counter({50: 1}), ORG: Counter({60: 1}),
                                                                   "org:org_b|all": Counter()}


def test_board_page_and_above_rank_by_points_then_who_reached_first(boards, learner_id):
    ranked = [_entry(NATIONAL, f"{learner_id}-{n}", points, minute=n)
              for n, points in enumerate([30, 50, 50, 10, 70])]
    unranked = _entry(NATIONAL, f"{learner_id}-zero", 0)
    _apply_each(boards, [(None, e) for e in ranked + [unranked]])
    order = [e.learner_id for e in sorted(ranked, key=lambda e: (-e.points, e.reached_at))]
    first = boards.page(NATIONAL, None, 3)
    rest = boards.page(NATIONAL, entry_rank_key(first[-1]), 3)
    page, scores = boards.page_and_scores(NATIONAL, entry_rank_key(first[0]), 4, [NATIONAL])
    assert page == (first + rest)[1:5] and scores == {NATIONAL: Counter(e.points for e in ranked)}
    assert [e.learner_id for e in first + rest] == order
    above = boards.above(NATIONAL, entry_rank_key(first[-1]), 5)
    assert [e.learner_id for e in above] == order[:2][::-1]  # nearest first
    assert sorted(boards.learners_on(NATIONAL)) == sorted([e.learner_id for e in ranked] + [unranked.learner_id])


def test_board_scores_count_learners_per_score_and_drop_scores_nobody_has(boards, learner_id):
    a, b = _entry(NATIONAL, f"{learner_id}-a", 50), _entry(NATIONAL, f"{learner_id}-b", 50)
    _apply_each(boards, [(None, a), (None, b)])
    assert boards.scores(NATIONAL) == Counter({50: 2})
    _apply_each(boards, [(a, _entry(NATIONAL, a.learner_id, 80, minute=5)), (b, None)])
    assert boards.scores(NATIONAL) == Counter({80: 1})
    assert boards.learners_on(NATIONAL) == [a.learner_id]


def test_board_org_stats_follow_org_board_changes_and_refresh_parents(boards, learner_id):
    a, b = _entry(ORG, f"{learner_id}-a", 50, minutes=20), _entry(ORG, f"{learner_id}-b", 0, minutes=15)
    boards.apply([(None, a), (None, _entry(NATIONAL, a.learner_id, 50))], {"org_a": ["dept:dept_d"]})
    boards.apply([(None, b)], {"org_a": ["dept:dept_d"]})
    [stats] = boards.org_stats("all")
    assert (stats.org_id, stats.learners, stats.points, stats.minutes, stats.parents) == \
        ("org_a", 2, 50, 35, ("dept:dept_d",))
    boards.apply([(a, None)], {"org_a": ["dept:dept_d"]})
    boards.refresh_parents("all", "org_a", ["dept:dept_e", "national"])
    boards.refresh_parents("all", "org_nobody", ["national"])  # no statistics: nothing to refresh
    [stats] = boards.org_stats("all")
    assert (stats.learners, stats.points, stats.minutes, stats.parents) == (1, 0, 15, ("dept:dept_e", "national"))
    assert boards.org_stats("2026-11") == []


# --- CampaignStore ------------------------------------------------------------------------------------------

def _campaign(campaign_id: str = "cmp-contract", status: str = "draft") -> Campaign:
    return Campaign(campaign_id, "Karmayogi Saptah", "org:org_a", at(0), at(7 * 24 * 60), "Asia/Kolkata", 24,
                    Goal("minutes", 60), Counts(), Awards(), status=status, created_by="admin-n",
                    created_at=at(-60), description="A week of learning")


def _progress(learner: str, score: int, campaign_id: str = "cmp-contract") -> Progress:
    return Progress(campaign_id, learner, "org_a", minutes=score, score=score, goal_met=score >= 60,
                    goal_met_at=at(5) if score >= 60 else None, reached_at=at(5),
                    days=(("2026-11-02", score, 0),))


def test_campaign_create_get_all_and_a_second_create_fails(campaigns):
    campaign = _campaign()
    campaigns.create(campaign)
    assert campaigns.get(campaign.id) == campaign
    assert campaigns.get("cmp-nobody") is None
    campaigns.create(_campaign("cmp-other"))
    assert sorted(c.id for c in campaigns.all()) == ["cmp-contract", "cmp-other"]
    with pytest.raises(Exception):  # noqa: B017 -- the fake raises ValueError, DynamoDB a PutError
        campaigns.create(dataclasses.replace(campaign, name="Again"))
    assert campaigns.get(campaign.id).name == "Karmayogi Saptah"


def test_campaign_replace_and_set_status_only_from_the_expected_status(campaigns):
    campaign = _campaign()
    campaigns.create(campaign)
    assert campaigns.replace(dataclasses.replace(campaign, name="Renamed"), expected_status="active") is False
    assert campaigns.replace(dataclasses.replace(campaign, name="Renamed"), expected_status="draft") is True
    assert campaigns.set_status(campaign.id, expected="active", status="closed") is False
    assert campaigns.set_status(campaign.id, expected="draft", status="active") is True
    stored = campaigns.get(campaign.id)
    assert (stored.name, stored.status) == ("Renamed", "active")
    assert campaigns.replace(_campaign("cmp-nobody"), expected_status="draft") is False


def test_campaign_progress_applies_once_with_its_statistics(campaigns, learner_id):
    campaigns.create(_campaign())
    new = _progress(learner_id, 30)
    delta = {("org_a", "own"): {"participants": 1, "minutes": 30}, ("dept_d", "all"): {"participants": 1}}
    campaigns.apply_progress(None, new, ("dept_d",), delta, {"dept_d": 2})
    stored = campaigns.progress([("cmp-contract", learner_id), ("cmp-contract", "nobody-here")])
    assert stored == {("cmp-contract", learner_id): stored[("cmp-contract", learner_id)]}
    assert stored[("cmp-contract", learner_id)].progress == new
    assert stored[("cmp-contract", learner_id)].ancestors == ("dept_d",)
    with pytest.raises(ConcurrentUpdate):  # a retry of the same change: the stored progress is no longer None
        campaigns.apply_progress(None, new, ("dept_d",), delta, {"dept_d": 2})
    better = _progress(learner_id, 70)
    campaigns.apply_progress(stored[("cmp-contract", learner_id)], better, ("dept_d",),
                             {("org_a", "own"): {"minutes": 40, "goal_met": 1}}, {})
    assert campaigns.stats("cmp-contract", "org_a", 1)["own"] == Counter(participants=1, minutes=70, goal_met=1)
    assert campaigns.stats("cmp-contract", "dept_d", 2)["all"]["participants"] == 1
    assert campaigns.totals("cmp-contract", {"org_a": 1, "dept_d": 2}, "own")["org_a"]["minutes"] == 70


def test_campaign_progress_page_walks_one_shard_in_learner_order(campaigns, learner_id):
    campaigns.create(_campaign())
    learners = [f"{learner_id}-{n:02d}" for n in range(12)]
    for learner in learners:
        campaigns.apply_progress(None, _progress(learner, 10), (), {}, {})
    for shard in range(4):
        expected = sorted(i for i in learners if progress_shard(i, 4) == shard)
        seen, after = [], None
        while True:
            page, after = campaigns.progress_page("cmp-contract", shard, after, 2)
            seen += [p.progress.learner_id for p in page]
            if after is None:
                break
        assert seen == expected


def test_campaign_results_freeze_once_and_the_close_cursor_moves_by_step(campaigns):
    campaigns.create(_campaign())
    assert campaigns.results("cmp-contract") is None
    rows = [{"org_id": "org_b", "participants": 2}, {"org_id": "org_a", "participants": 5}]
    assert campaigns.freeze_results("cmp-contract", {"participants": 7}, rows) is True
    assert campaigns.freeze_results("cmp-contract", {"participants": 99}, rows) is False
    assert campaigns.results("cmp-contract") == {"participants": 7}
    assert sorted(campaigns.report_rows("cmp-contract"), key=lambda r: r["org_id"]) == sorted(rows, key=lambda r: r["org_id"])
    assert campaigns.close_state("cmp-contract") == (0, {})
    assert campaigns.move_close_cursor("cmp-contract", 0, {"shard": 1}) is True
    assert campaigns.move_close_cursor("cmp-contract", 0, {"shard": 2}) is False  # another run moved it
    assert campaigns.close_state("cmp-contract") == (1, {"shard": 1})


def test_campaign_awards_are_idempotent(campaigns, learner_id):
    award = Award(learner_id, "campaign:cmp-contract:goal", "cmp-contract", "Goal met", "Met the goal", at(50))
    fact = DomainEvent(f"award-{learner_id}", "campaign.badge_awarded", learner_id, at(50), {"badge_id": award.badge_id})
    campaigns.award([award], [fact])
    campaigns.award([award], [fact])
    assert campaigns.awards_of(learner_id) == [award]
    assert campaigns.awards_of("nobody-here") == []


# --- RosterStore ---------------------------------------------------------------------------------------------

def _employee(learner: str, org: str = "org_a", name: str = "Asha", **kw) -> Employee:
    return Employee(learner, org, name, **kw)


def test_roster_apply_then_get_get_many_and_headcounts(rosters, learner_id):
    people = [_employee(f"{learner_id}-{n}", email=f"p{n}@gov.in") for n in range(3)]
    rosters.apply([RosterChange(None, e) for e in people] + [RosterChange(None, _employee(f"{learner_id}-b", "org_b"))])
    assert rosters.get(people[0].learner_id) == people[0]
    assert rosters.get("nobody-here") is None
    assert rosters.get_many([people[1].learner_id, "nobody-here"]) == {people[1].learner_id: people[1]}
    assert rosters.headcount("org_a") == 3
    assert rosters.headcounts(["org_a", "org_b", "org_nobody"]) == {"org_a": 3, "org_b": 1, "org_nobody": 0}


def test_roster_apply_with_a_stale_row_raises_conflict_and_writes_none_of_the_group(rosters, learner_id):
    asha = _employee(f"{learner_id}-a")
    rosters.apply([RosterChange(None, asha)])
    newcomer = _employee(f"{learner_id}-n")
    with pytest.raises(RosterConflict):
        rosters.apply([RosterChange(None, newcomer), RosterChange(None, _employee(asha.learner_id, name="Other"))])
    with pytest.raises(RosterConflict):
        rosters.apply([RosterChange(_employee(asha.learner_id, name="Not what is stored"), None)])
    assert rosters.get(newcomer.learner_id) is None and rosters.get(asha.learner_id) == asha
    assert rosters.headcount("org_a") == 1


def test_roster_moves_and_removals_move_headcounts(rosters, learner_id):
    a, b = _employee(f"{learner_id}-a"), _employee(f"{learner_id}-b")
    rosters.apply([RosterChange(None, a), RosterChange(None, b)])
    moved = dataclasses.replace(a, org_id="org_b", designation="Under Secretary")
    rosters.apply([RosterChange(a, moved), RosterChange(b, None)], lane=3)
    assert rosters.headcounts(["org_a", "org_b"]) == {"org_a": 0, "org_b": 1}
    assert rosters.get(a.learner_id) == moved and rosters.get(b.learner_id) is None


def test_roster_employees_page_in_learner_id_order(rosters, learner_id):
    ids = [f"{learner_id}-{n:02d}" for n in range(7)]
    rosters.apply([RosterChange(None, _employee(i)) for i in reversed(ids)] +
                  [RosterChange(None, _employee(f"{learner_id}-zz", "org_b"))])
    seen, after = [], None
    while True:
        page, after = rosters.employees("org_a", 3, after)
        seen += [e.learner_id for e in page]
        if after is None:
            break
    assert seen == ids


# --- NotificationStore -------------------------------------------------------------------------------------

def _notification(learner: str, key: str, minute: int, status: str = QUEUED, shard: int = 0,
                  day: str = "2026-11-02") -> Notification:
    return Notification(learner, key, "badge_awarded", "achievement", "email", "en", {"badge": "First step"},
                        "org_a", status, at(minute), at(minute), at(minute), day=day, shard=shard,
                        due_at=f"{at(minute + 5):%Y-%m-%dT%H:%M:%S.%fZ}" if status in (QUEUED, SENDING) else None)


def test_notification_put_new_is_false_for_a_duplicate_decision(outbox, learner_id):
    first = _notification(learner_id, "badge_awarded#w1", 0)
    assert outbox.put_new(first) is True
    assert outbox.put_new(dataclasses.replace(first, kind="other")) is False
    assert outbox.get(learner_id, "badge_awarded#w1") == first
    assert outbox.get(learner_id, "nobody#here") is None


def test_notification_claim_is_atomic_until_the_lease_runs_out(outbox, learner_id):
    outbox.put_new(_notification(learner_id, "k1", 0))
    claimed = outbox.claim(learner_id, "k1", at(1), at(6))
    assert claimed.status == SENDING and claimed.attempts == 1
    assert outbox.claim(learner_id, "k1", at(5), at(10)) is None  # someone else holds it
    again = outbox.claim(learner_id, "k1", at(7), at(12))
    assert again.status == SENDING and again.attempts == 2
    outbox.finish(learner_id, "k1", SENT, at(8), provider_id="ses-1")
    assert outbox.claim(learner_id, "k1", at(20), at(25)) is None  # final
    done = outbox.get(learner_id, "k1")
    assert (done.status, done.provider_id, done.sent_at, done.due_at) == (SENT, "ses-1", at(8), None)
    assert outbox.claim(learner_id, "nobody", at(1), at(6)) is None


def test_notification_due_lists_pending_records_whose_time_has_come(outbox, learner_id):
    for n in range(3):
        outbox.put_new(_notification(learner_id, f"k{n}", n, shard=1))
    outbox.put_new(_notification(learner_id, "other-shard", 0, shard=0))
    assert outbox.due(1, at(4), 10) == []  # due_at is created + 5 minutes
    assert sorted(n.dedupe_key for n in outbox.due(1, at(6), 10)) == ["k0", "k1"]
    outbox.claim(learner_id, "k0", at(6), at(11))
    outbox.finish(learner_id, "k0", FAILED, at(7), reason="bounced")
    outbox.claim(learner_id, "k1", at(6), at(11))
    outbox.release(learner_id, "k1", at(7), "throttled", at(30))
    assert [n.dedupe_key for n in outbox.due(1, at(20), 10)] == ["k2"]  # k0 final, k1 back at minute 30
    released = outbox.get(learner_id, "k1")
    assert (released.status, released.reason, released.lease_until) == (QUEUED, "throttled", None)
    outbox.requeued(learner_id, "k2", at(40))
    assert sorted(n.dedupe_key for n in outbox.due(1, at(35), 10)) == ["k1"]


def test_notification_release_leaves_a_record_another_worker_finished(outbox, learner_id):
    outbox.put_new(_notification(learner_id, "k1", 0))
    outbox.claim(learner_id, "k1", at(1), at(6))
    outbox.claim(learner_id, "k1", at(7), at(12))  # the first lease ran out: a second worker took it...
    outbox.finish(learner_id, "k1", SENT, at(8), provider_id="ses-2")  # ...and sent it
    outbox.release(learner_id, "k1", at(9), "throttled", at(30))  # the first worker's late release changes nothing
    done = outbox.get(learner_id, "k1")
    assert (done.status, done.reason, done.provider_id) == (SENT, None, "ses-2")


def test_notification_page_newest_first_and_recent(outbox, learner_id):
    for n in range(5):
        outbox.put_new(_notification(learner_id, f"k{n}", n * 10))
    outbox.put_new(_notification(f"{learner_id}-other", "k9", 0))
    seen, before = [], None
    while True:
        page, before = outbox.page(learner_id, 2, before)
        seen += [n.dedupe_key for n in page]
        if before is None:
            break
    assert seen == ["k4", "k3", "k2", "k1", "k0"]
    assert sorted(n.dedupe_key for n in outbox.recent(learner_id, at(20))) == ["k2", "k3", "k4"]


def test_notification_on_day_is_newest_first_across_shards(outbox, learner_id):
    for n in range(4):
        outbox.put_new(_notification(f"{learner_id}-{n}", "k", n, shard=n % 2))
    outbox.put_new(_notification(learner_id, "next-day", 9, day="2026-11-03"))
    assert [n.learner_id for n in outbox.on_day("2026-11-02", 2, 3)] == [f"{learner_id}-{n}" for n in (3, 2, 1)]


# --- SuppressionList, Counters -------------------------------------------------------------------------------

def test_suppression_list_reason_by_channel_and_normalised_email(suppressions):
    assert suppressions.reason("email", "asha@gov.in") is None
    suppressions.add("email", "Asha@Gov.in ", "bounce", at(0))
    suppressions.add("sms", "+919812345678", "complaint", at(1))
    assert suppressions.reason("email", "asha@gov.in") == "bounce"
    assert suppressions.reason("sms", "+919812345678") == "complaint"
    assert suppressions.reason("sms", "asha@gov.in") is None
    suppressions.add("email", "asha@gov.in", "complaint", at(2))
    assert suppressions.reason("email", "asha@gov.in") == "complaint"


def test_counters_take_until_the_limit_per_key(counters, learner_id):
    key = f"sms-budget|{learner_id}"
    assert [counters.take(key, 3) for _ in range(4)] == [True, True, True, False]
    assert counters.take(f"{key}-other", 1) is True
    assert counters.take(f"{key}-other", 1) is False


def test_counters_positions_move_only_from_what_was_read(counters, learner_id):
    key = f"job|{learner_id}"
    assert counters.position(key) is None
    assert counters.move(key, "somewhere", "p1") is False
    assert counters.move(key, None, "p1") is True
    assert counters.move(key, None, "p2") is False  # another run started it
    assert counters.move(key, "p1", "p2") is True
    assert counters.position(key) == "p2"


# --- NudgeSchedule -----------------------------------------------------------------------------------------

def _all_due(schedule, today: str, shards: int = 4, limit: int = 2) -> list[str]:
    found = []
    for shard in range(shards):
        after = None
        while True:
            page, after = schedule.due_entries(shard, today, limit, after)
            found += [e.learner_id for e in page]
            if after is None:
                break
    return found


def test_nudge_spells_never_go_back(schedule, learner_id):
    schedule.start_spell(NudgeEntry(learner_id, "2026-11-10", 1, "2026-11-17", "org_a"), 4)
    schedule.start_spell(NudgeEntry(learner_id, "2026-11-03", 1, "2026-11-10", "org_a"), 4)  # a late replay
    assert schedule.get(learner_id) == NudgeEntry(learner_id, "2026-11-10", 1, "2026-11-17", "org_a")
    schedule.start_spell(NudgeEntry(learner_id, "2026-11-20", 1, "2026-11-27", "org_a"), 4)
    assert schedule.get(learner_id).spell == "2026-11-20"
    assert schedule.get("nobody-here") is None


def test_nudge_due_entries_page_through_every_shard(schedule, learner_id):
    due = [f"{learner_id}-{n}" for n in range(9)]
    for n, learner in enumerate(due):
        schedule.start_spell(NudgeEntry(learner, "2026-11-01", 1, f"2026-11-{10 + n % 3:02d}"), 4)
    schedule.start_spell(NudgeEntry(f"{learner_id}-later", "2026-11-01", 1, "2026-11-30"), 4)
    schedule.start_spell(NudgeEntry(f"{learner_id}-over", "2026-11-01", 4, None), 4)
    assert sorted(_all_due(schedule, "2026-11-12")) == sorted(due)
    assert sorted(_all_due(schedule, "2026-11-10")) == sorted(due[0::3])


def test_nudge_advance_is_conditional_on_spell_and_rung(schedule, learner_id):
    entry = NudgeEntry(learner_id, "2026-11-01", 1, "2026-11-08")
    schedule.start_spell(entry, 4)
    assert schedule.advance(entry, 2, "2026-11-15", 4) is True
    assert schedule.advance(entry, 2, "2026-11-15", 4) is False  # already moved: rung is 2 now
    assert schedule.get(learner_id) == NudgeEntry(learner_id, "2026-11-01", 2, "2026-11-15")
    assert schedule.advance(schedule.get(learner_id), 3, None, 4) is True  # the ladder is over
    assert schedule.get(learner_id).due is None and _all_due(schedule, "2026-12-31") == []
    assert schedule.advance(NudgeEntry("nobody-here", "2026-11-01", 1, "2026-11-08"), 2, None, 4) is False


# --- FactFeed ---------------------------------------------------------------------------------------------

def test_fact_feed_lists_pending_facts_of_a_kind_until_consumed(feed, learner_id):
    learners, facts = feed
    recorded = [DomainEvent(f"{learner_id}-f{n}", "badge.awarded", learner_id, at(n), {"badge": f"b{n}"})
                for n in range(3)]
    other = DomainEvent(f"{learner_id}-g", "campaign.result", learner_id, at(0), {})
    learners.save(_standing(learner_id), [], recorded + [other], expected_version=0)
    later = datetime.now(timezone.utc) + timedelta(days=1)
    pending = facts.pending("badge.awarded", later, 10)
    assert sorted(f.id for f, _ in pending) == sorted(f.id for f in recorded)
    assert {f.id: f for f, _ in pending} == {f.id: f for f in recorded}
    assert [f.id for f, _ in facts.pending("badge.awarded", later, 2)] == [f.id for f in recorded[:2]]  # oldest
    facts.consumed(recorded[:2])
    assert [f.id for f, _ in facts.pending("badge.awarded", later, 10)] == [recorded[2].id]
    assert [f.id for f, _ in facts.pending("campaign.result", later, 10)] == [other.id]


def test_fact_feed_records_facts_no_save_carries_and_a_second_record_makes_one_pending_again(feed, learner_id):
    _, facts = feed
    moved = DomainEvent(f"org.moved:{learner_id}:t1", "org.moved", learner_id, at(0), {"org_id": learner_id})
    now = datetime.now(timezone.utc)
    facts.record([moved], now)
    assert facts.pending("org.moved", now - timedelta(seconds=1), 10) == []  # recorded at `now`, not before
    [(found, recorded_at)] = [(f, t) for f, t in facts.pending("org.moved", now + timedelta(seconds=1), 10)
                              if f.id == moved.id]
    assert found == moved and abs((recorded_at - now).total_seconds()) < 1
    facts.consumed([moved])
    assert [f for f, _ in facts.pending("org.moved", now + timedelta(seconds=1), 10) if f.id == moved.id] == []
    facts.record([moved], now)  # a reaction that must run again (the org event re-applied after a crash)
    assert [f.id for f, _ in facts.pending("org.moved", now + timedelta(seconds=1), 10)] == [moved.id]


# --- CredentialStore, DomainEvents -------------------------------------------------------------------------

def _issued(learner: str, badge: str, credential_id: str, list_id: str = "list-1") -> IssuedCredential:
    return IssuedCredential(credential_id, learner, badge, at(0), "kid-1", list_id, "header.payload.signature")


def test_credential_add_first_write_wins_and_reads_by_award_learner_and_id(credentials, learner_id):
    first = _issued(learner_id, "b1", f"urn:uuid:{learner_id}-1")
    assert credentials.add(first) == first
    assert credentials.add(_issued(learner_id, "b1", f"urn:uuid:{learner_id}-2")) == first
    second = _issued(learner_id, "b2", f"urn:uuid:{learner_id}-3")
    credentials.add(second)
    assert credentials.for_award(learner_id, "b1") == first
    assert credentials.for_award(learner_id, "b9") is None
    assert sorted(c.credential_id for c in credentials.for_learner(learner_id)) == \
        [first.credential_id, second.credential_id]
    assert credentials.get(second.credential_id) == second
    assert credentials.get("urn:uuid:nobody") is None


def test_credential_revoke_is_idempotent_and_the_first_revocation_stands(credentials, learner_id):
    issued = credentials.add(_issued(learner_id, "b1", f"urn:uuid:{learner_id}-1"))
    revocation = credentials.revoke(issued, "issued in error", "nat-1", at(10))
    assert revocation == Revocation(issued.credential_id, "list-1", "issued in error", at(10), "nat-1")
    assert credentials.revoke(issued, "another reason", "nat-2", at(20)) == revocation  # a stale read
    assert credentials.for_award(learner_id, "b1").revocation == revocation
    assert credentials.get(issued.credential_id).revocation == revocation


def test_credential_revocation_lists(credentials, learner_id):
    a = credentials.add(_issued(learner_id, "b1", f"urn:uuid:{learner_id}-a"))
    b = credentials.add(_issued(learner_id, "b2", f"urn:uuid:{learner_id}-b"))
    credentials.add(_issued(learner_id, "b3", f"urn:uuid:{learner_id}-c", list_id="list-2"))
    assert credentials.revocations("list-1") == [] and credentials.revocation("list-1", a.credential_id) is None
    ra = credentials.revoke(a, "r", "nat-1", at(1))
    rb = credentials.revoke(b, "r", "nat-1", at(2))
    assert sorted(credentials.revocations("list-1"), key=lambda r: r.credential_id) == \
        sorted([ra, rb], key=lambda r: r.credential_id)
    assert credentials.revocation("list-1", b.credential_id) == rb
    assert credentials.revocations("list-2") == []


def test_domain_events_are_stored_once_by_id(domain_events, learner_id):
    fact = DomainEvent(f"{learner_id}-f", "campaign.result", learner_id, at(0), {"rank": 1})
    assert domain_events.get(fact.id) is None
    assert domain_events.add(fact, at(1)) is True
    assert domain_events.add(dataclasses.replace(fact, payload={"rank": 2}), at(2)) is False
    assert domain_events.get(fact.id) == fact


# --- LearnerRepository: checkpoints of the fold (rules/checkpoint.py) -----------------------------------------

def _checkpoint(learner_id: str, points: int = 10):
    from chalicelib.rules.checkpoint import Checkpoint
    hold = Hold("ev-h", learner_id, "org_a", "course.completed", at(5), 4, 3, 60)
    return Checkpoint(learner_id, (at(9), "ev-9"), "rules-fp", "AbuseLimits()", {"points": points, "completed": ["c1"]},
                      at(100), {"ev-9": at(101)}, {"ev-h": hold}, (("ev-9", at(9)),), {"ev-h": "released"}, "boosts",
                      ("org_a",), ("2027-01",), events=10)


def test_learner_save_writes_the_checkpoint_with_its_version_and_the_ledger_after_it(learners, learner_id):
    assert learners.checkpoint(learner_id) is None
    learners.save(_standing(learner_id), _entries(1, 2), [], expected_version=0, checkpoint=_checkpoint(learner_id))
    learners.save(_standing(learner_id), _entries(3), [], expected_version=1)
    stored = learners.checkpoint(learner_id)
    assert stored.version == 1 and stored.last_recorded is not None
    assert dataclasses.replace(stored, version=0, last_recorded=None) == _checkpoint(learner_id)
    assert [e.amount for e in learners.ledger_after(learner_id, stored.ledger_after)] == [3]
    assert learners.ledger_after(learner_id, "9999999999.999") == []


def test_put_checkpoint_only_at_the_learner_version_it_was_computed_from(learners, learner_id):
    assert learners.put_checkpoint(_checkpoint(learner_id), 0) is False  # no such learner
    learners.save(_standing(learner_id), _entries(1), [], expected_version=0)
    assert learners.put_checkpoint(_checkpoint(learner_id, points=7), 0) is False
    assert learners.checkpoint(learner_id) is None
    assert learners.put_checkpoint(_checkpoint(learner_id, points=7), 1) is True
    stored = learners.checkpoint(learner_id)
    assert stored.version == 1 and stored.state["points"] == 7 and stored.last_recorded is None
    assert learners.get(learner_id).version == 1  # the learner itself unchanged
    learners.drop_checkpoint(learner_id)
    assert learners.checkpoint(learner_id) is None
    learners.drop_checkpoint(learner_id)  # nothing to drop: fine


def test_learner_periods_round_trip(learners, learner_id):
    standing = _standing(learner_id)
    standing.points_by_period = Counter({"week:2026-W45": 10, "month:2026-11": 10, "all": 10})
    standing.minutes_by_period = Counter({"week:2026-W45": 30})
    standing.reached_at = {"week:2026-W45": at(3)}
    learners.save(standing, [], [], expected_version=0)
    got = learners.get(learner_id).standing
    assert (got.points_by_period, got.minutes_by_period, got.reached_at) == \
        (standing.points_by_period, standing.minutes_by_period, standing.reached_at)


def test_a_save_too_big_for_one_transaction_writes_the_checkpoint_with_the_last(learners, learner_id):
    learners.save(_standing(learner_id), _entries(*range(1, 200)), [], expected_version=0,
                  checkpoint=_checkpoint(learner_id))
    stored, learner = learners.checkpoint(learner_id), learners.get(learner_id)
    assert stored.version == learner.version
    assert len(learners.ledger(learner_id)) == 199 and learners.ledger_after(learner_id, stored.ledger_after) == []
