"""Karmayogi Saptah campaigns through the use cases on in-memory adapters: definitions and validation, the
lifecycle and its repetition, counting (overlaps, late events, grace), the multiplier, progress, dashboards,
closing once. Route-level access and the openapi shapes: tests/test_campaign_routes.py."""
from datetime import timedelta, timezone

import pytest

from chalicelib import bootstrap
from chalicelib.campaigns import rules, service as campaigns
from chalicelib.campaigns import lifecycle as campaign_lifecycle, reports as campaign_reports
from chalicelib.errors import ApiError
from chalicelib.learners.service import summary_of
from tests import rules_builders as b
from tests.campaign_builders import END, IN_WINDOW, NATIONAL, START, build_tree, create, deliver, principal, roster

UTC = timezone.utc


@pytest.fixture
def world():
    adapters = bootstrap.memory_adapters()
    build_tree(adapters)
    return adapters


def status_of(adapters, campaign_id):
    return adapters.campaigns.get(campaign_id).status


# --- definitions ---------------------------------------------------------------------------------------------

def test_a_campaign_gets_every_default_from_the_config(world):
    c = create(world, status=None)
    assert c["status"] == "draft"
    assert c["grace_hours"] == 72 and c["timezone"] == "Asia/Kolkata"
    assert c["goal"] == {"kind": "minutes", "target": 240}
    assert c["counts"] == {"courses": True, "events": True, "time_spent": True, "course_ids": [],
                           "competency_areas": []}
    assert c["awards"]["goal_badge"] is True and c["awards"]["top_learners_per_org"] == 3
    assert c["start"] == "2026-11-30T18:30:00Z" and c["end"] == "2026-12-07T18:30:00Z"  # IST stored as UTC
    assert c["closes_at"] == "2026-12-10T18:30:00Z"


@pytest.mark.parametrize("overrides,field", [
    (dict(end="2026-11-30T00:00"), "end"),
    (dict(scope="district:x"), "scope"),
    (dict(scope="ministry:nowhere"), "scope"),
    (dict(scope="ministry:dept_d"), "scope"),  # a department is not a ministry
    (dict(start="someday"), "start"),
    (dict(name=""), "name"),
    (dict(goal={"kind": "hours"}), "goal.kind"),
    (dict(goal={"target": 0}), "goal.target"),
    (dict(multiplier=50), "multiplier"),
    (dict(counts={"competency_areas": ["astrology"]}), "counts.competency_areas"),
    (dict(counts={"courses": False, "events": False, "time_spent": False}), "counts"),
    (dict(timezone="Mars/Olympus"), "timezone"),
    (dict(grace_hours=-1), "grace_hours"),
    (dict(colour="red"), "colour"),
    (dict(status="live"), "status"),
])
def test_bad_definitions_are_400_naming_the_field(world, overrides, field):
    with pytest.raises(ApiError) as raised:
        create(world, **overrides)
    assert (raised.value.status, raised.value.field) == (400, field)


def test_mdo_admins_create_only_inside_their_subtree(world):
    dept_admin = principal("admin-d", ("mdo_admin",), "dept_d")
    assert create(world, dept_admin, scope="org:org_a")["scope"] == "org:org_a"
    for scope in ("national", "ministry:min_m", "org:org_c"):
        with pytest.raises(ApiError) as raised:
            create(world, dept_admin, scope=scope)
        assert raised.value.status == 403, scope
    with pytest.raises(ApiError) as raised:
        create(world, principal("learner-1", ("learner",), "org_a"), scope="org:org_a")
    assert raised.value.status == 403


def test_only_draft_or_scheduled_campaigns_change_window_or_goal(world):
    c = create(world)
    changed = campaigns.update(c["id"], b'{"goal": {"target": 300}, "end": "2026-12-09T00:00"}', NATIONAL, world)
    assert changed["goal"]["target"] == 300 and changed["end"] == "2026-12-08T18:30:00Z"
    campaign_lifecycle.advance(world, START.astimezone(UTC) + timedelta(minutes=1))
    assert status_of(world, c["id"]) == "live"
    with pytest.raises(ApiError) as raised:
        campaigns.update(c["id"], b'{"goal": {"target": 100}}', NATIONAL, world)
    assert raised.value.status == 409
    assert campaigns.update(c["id"], b'{"name": "NLW 2026"}', NATIONAL, world)["name"] == "NLW 2026"


def test_drafts_are_hidden_from_learners_and_listed_by_scope(world):
    draft = create(world, status=None, scope="ministry:min_m")
    published = create(world, scope="state:state_s")
    learner = principal("u1", ("learner",), "org_a")
    with pytest.raises(ApiError) as raised:
        campaigns.get(draft["id"], learner, world)
    assert raised.value.status == 404
    assert campaigns.get(published["id"], learner, world)["id"] == published["id"]
    listed = campaigns.list_campaigns({"scope": "state:state_s"}, learner, world)["campaigns"]
    assert [c["id"] for c in listed] == [published["id"]]
    assert [c["id"] for c in campaigns.list_campaigns({}, NATIONAL, world)["campaigns"]] != []


# --- lifecycle ---------------------------------------------------------------------------------------------

def test_each_lifecycle_step_happens_once_however_often_the_schedule_fires(world):
    c = create(world)
    draft = create(world, status=None)
    before, live, ended, graced = (START - timedelta(hours=1), START + timedelta(hours=1), END + timedelta(hours=1),
                                   END + timedelta(hours=73))
    assert campaign_lifecycle.advance(world, before.astimezone(UTC)) == {}
    assert campaign_lifecycle.advance(world, live.astimezone(UTC)) == {c["id"]: ["live"]}
    assert campaign_lifecycle.advance(world, live.astimezone(UTC)) == {}  # fired twice
    assert campaign_lifecycle.advance(world, ended.astimezone(UTC)) == {c["id"]: ["closing"]}
    assert campaign_lifecycle.advance(world, ended.astimezone(UTC)) == {}
    assert campaign_lifecycle.advance(world, graced.astimezone(UTC)) == {c["id"]: ["closed"]}
    assert campaign_lifecycle.advance(world, graced.astimezone(UTC)) == {}
    assert status_of(world, c["id"]) == "closed" and status_of(world, draft["id"]) == "draft"


def test_a_late_schedule_takes_every_missed_step_in_order(world):
    c = create(world)
    assert campaign_lifecycle.advance(world, (END + timedelta(days=10)).astimezone(UTC)) == \
        {c["id"]: ["live", "closing", "closed"]}


def test_cancel_stops_the_lifecycle_and_a_closed_campaign_cannot_be_cancelled(world):
    c, other = create(world), create(world)
    assert campaigns.cancel(c["id"], NATIONAL, world)["status"] == "cancelled"
    assert campaign_lifecycle.advance(world, (END + timedelta(days=10)).astimezone(UTC)) == \
        {other["id"]: ["live", "closing", "closed"]}
    assert status_of(world, c["id"]) == "cancelled"
    with pytest.raises(ApiError) as raised:
        campaigns.cancel(other["id"], NATIONAL, world)
    assert raised.value.status == 409


# --- counting ----------------------------------------------------------------------------------------------

def progress(adapters, campaign_id, learner_id):
    return campaign_reports.learner_progress(campaign_id, learner_id, NATIONAL, adapters)


def test_what_counts_and_what_does_not(world):
    c = create(world)
    deliver(world, [
        b.completion("u1", "c-comp", IN_WINDOW, areas=["functional"], minutes=90, org="org_a"),
        b.completion("u1", "c-nocomp", IN_WINDOW + timedelta(minutes=1), minutes=50, org="org_a"),  # no competency
        b.completion("u1", "c-comp", IN_WINDOW + timedelta(hours=1), areas=["functional"], minutes=90,
                     org="org_a", id="again"),  # a second completion of the same course
        b.attended("u1", "web-1", IN_WINDOW + timedelta(minutes=2), minutes=60, org="org_a"),
        b.time_spent("u1", 30, IN_WINDOW + timedelta(minutes=3), org="org_a"),
        b.completion("u1", "c-before", START - timedelta(minutes=1), areas=["domain"], org="org_a"),
        b.completion("u1", "c-after", END, areas=["domain"], org="org_a"),  # the end is exclusive
        b.rating("u1", "c-comp", IN_WINDOW, org="org_a"),
    ])
    p = progress(world, c["id"], "u1")
    assert (p["minutes"], p["courses"], p["events_attended"]) == (90 + 60 + 30, 1, 1)
    assert p["percent"] == 75.0 and p["goal_met"] is False and p["rank_in_org"] == 1
    assert p["days"] == [{"date": "2026-12-03", "minutes": 180, "courses": 1}]


def test_listed_courses_and_areas_narrow_what_counts(world):
    c = create(world, counts={"course_ids": ["c-1"], "events": False, "time_spent": False})
    a = create(world, counts={"competency_areas": ["behavioural"]})
    deliver(world, [b.completion("u1", "c-1", IN_WINDOW, minutes=20, org="org_a"),  # listed: counts without FRAC
                    b.completion("u1", "c-2", IN_WINDOW, areas=["functional"], minutes=40, org="org_a"),
                    b.completion("u1", "c-3", IN_WINDOW, areas=["behavioural"], minutes=15, org="org_a")])
    assert progress(world, c["id"], "u1")["minutes"] == 20
    assert progress(world, a["id"], "u1")["minutes"] == 15


def test_overlapping_national_and_state_campaigns_both_count_an_event(world):
    national, state = create(world), create(world, scope="state:state_s")
    ministry = create(world, scope="ministry:min_m")
    deliver(world, [b.time_spent("u9", 45, IN_WINDOW, org="org_c")])
    assert progress(world, national["id"], "u9")["minutes"] == 45
    assert progress(world, state["id"], "u9")["minutes"] == 45
    assert progress(world, ministry["id"], "u9")["minutes"] == 0  # org_c is not in the ministry


def test_late_events_count_inside_the_grace_period_and_not_after(world):
    c = create(world, grace_hours=72)
    deliver(world, [b.time_spent("u1", 40, IN_WINDOW, org="org_a", id="in-grace")],
            received=END + timedelta(hours=71))
    deliver(world, [b.time_spent("u1", 50, IN_WINDOW, org="org_a", id="too-late")],
            received=END + timedelta(hours=73))
    assert progress(world, c["id"], "u1")["minutes"] == 40


def test_progress_goal_and_rank_within_the_org(world):
    c = create(world, goal={"kind": "courses", "target": 2})
    deliver(world, [b.completion("u1", f"c{n}", IN_WINDOW + timedelta(minutes=n), areas=["domain"], org="org_a")
                    for n in range(3)]
            + [b.completion("u2", "c0", IN_WINDOW, areas=["domain"], org="org_a")])
    p1, p2 = progress(world, c["id"], "u1"), progress(world, c["id"], "u2")
    assert (p1["score"], p1["goal_met"], p1["percent"], p1["rank_in_org"]) == (3, True, 100.0, 1)
    assert (p2["score"], p2["goal_met"], p2["percent"], p2["rank_in_org"]) == (1, False, 50.0, 2)


def test_a_rejected_event_leaves_the_progress(world):
    c = create(world)
    deliver(world, [b.time_spent("u1", 30, IN_WINDOW, org="org_a")])
    stats = world.campaigns.stats(c["id"], "org_a", 1)["total"]
    assert (stats["participants"], stats["minutes"]) == (1, 30)
    # the same events read again change nothing (replay)
    deliver(world, [b.time_spent("u1", 30, IN_WINDOW, org="org_a")])
    assert world.campaigns.stats(c["id"], "org_a", 1)["total"]["minutes"] == 30


# --- multiplier ------------------------------------------------------------------------------------------------

def test_the_multiplier_doubles_points_in_the_window_for_the_scope_and_the_ledger_says_so(world):
    create(world, scope="state:state_s", multiplier=2)
    deliver(world, [b.completion("u1", "c1", IN_WINDOW, areas=["domain"], org="org_c"),
                    b.completion("u1", "c2", END + timedelta(days=1), areas=["domain"], org="org_c"),
                    b.completion("u2", "c1", IN_WINDOW, areas=["domain"], org="org_a")])
    assert world.learners.get("u1").standing.points == 10 + 5
    assert world.learners.get("u2").standing.points == 5  # org_a is not in the state
    notes = [e.note for e in world.learners.ledger("u1")]
    assert any("(x2 during campaign 'Karmayogi Saptah')" in n for n in notes)


def test_multipliers_of_overlapping_campaigns_do_not_stack():
    events = b.models([b.completion("u1", "c1", IN_WINDOW, areas=["domain"])])
    boost2 = rules.Boost("a", "A", START, END, 2.0)
    boost3 = rules.Boost("b", "B", START, END, 3.0)
    standing = rules_evaluate(events, {b.ORG: [boost2, boost3]})
    assert standing.points == 15


def rules_evaluate(events, boosts):
    from chalicelib.rules.config import badge_catalogue, default_rules
    from chalicelib.rules.learner import evaluate
    return evaluate("u1", events, default_rules(), badge_catalogue(), None, boosts)


# --- dashboard ------------------------------------------------------------------------------------------------

def test_the_dashboard_counts_the_subtree_compares_sub_orgs_and_lists_who_has_not_started(world):
    c = create(world, scope="ministry:min_m", goal={"kind": "minutes", "target": 60})
    ids_a, ids_b = roster(world, "org_a", 20), roster(world, "org_b", 5)
    deliver(world, [b.time_spent(ids_a[0], 90, IN_WINDOW, org="org_a"),
                    b.time_spent(ids_a[1], 30, IN_WINDOW + timedelta(days=1), org="org_a"),
                    b.time_spent(ids_b[0], 60, IN_WINDOW, org="org_b")])
    admin = principal("admin-d", ("mdo_admin",), "dept_d")
    d = campaign_reports.dashboard(c["id"], {"org_id": "dept_d", "limit": "10"}, admin, world)
    assert (d["headcount"], d["participants"], d["goal_met"], d["minutes"]) == (25, 3, 2, 180)
    assert d["goal_met_percent"] == 8.0 and d["participation_percent"] == 12.0
    assert [(x["date"], x["active"], x["minutes"]) for x in d["days"]] == [("2026-12-03", 2, 150),
                                                                          ("2026-12-04", 1, 30)]
    assert [(s["org_id"], s["headcount"], s["participants"], s["goal_met"]) for s in d["sub_orgs"]] == \
        [("org_a", 20, 2, 1), ("org_b", 5, 1, 1)]
    assert [e["points"] for e in d["top_learners"]] == [90, 60, 30]
    page = d["not_started"]
    assert len(page["employees"]) == 10 and ids_a[0] not in [e["learner_id"] for e in page["employees"]]
    seen = [e["learner_id"] for e in page["employees"]]
    while page["next_cursor"]:
        page = campaign_reports.dashboard(c["id"], {"org_id": "dept_d", "cursor": page["next_cursor"], "limit": "10"},
                                   admin, world)["not_started"]
        seen += [e["learner_id"] for e in page["employees"]]
    assert sorted(seen) == sorted(set(ids_a + ids_b) - {ids_a[0], ids_a[1], ids_b[0]})
    learner_view = campaign_reports.dashboard(c["id"], {"org_id": "org_a"}, principal(ids_a[0], ("learner",), "org_a"),
                                       world)
    assert learner_view["not_started"] is None and learner_view["participants"] == 2


# --- closing -------------------------------------------------------------------------------------------------

def close_all(world, when=END + timedelta(hours=80)):
    return campaign_lifecycle.advance(world, when.astimezone(UTC))


def test_closing_awards_once_emits_the_badge_event_shape_and_freezes_results(world):
    c = create(world, goal={"kind": "minutes", "target": 60}, awards={"top_learners_per_org": 1})
    deliver(world, [b.time_spent("u1", 90, IN_WINDOW, org="org_a"), b.time_spent("u2", 30, IN_WINDOW, org="org_a"),
                    b.time_spent("u3", 60, IN_WINDOW, org="org_b"), b.upserted("u1", IN_WINDOW, org="org_a")])
    assert close_all(world)[c["id"]][-1] == "closed"
    facts = world.campaigns.facts
    goal = f"campaign.{c['id']}.goal"
    award = facts[f"badge.awarded:u1:{goal}"]
    assert award.kind == "badge.awarded" and award.learner_id == "u1"
    assert set(award.payload) == {"badge_id", "campaign_id", "name", "description", "criteria", "event_id"}
    assert award.payload["badge_id"] == goal and award.payload["event_id"] is None
    assert f"badge.awarded:u2:{goal}" not in facts
    assert f"badge.awarded:u1:campaign.{c['id']}.top" in facts and f"badge.awarded:u3:campaign.{c['id']}.top" in facts
    result = facts[f"campaign.result:{c['id']}:u2"].payload
    assert result == {"campaign_id": c["id"], "goal_met": False, "minutes": 30, "rank_in_org": 2, "awards": [],
                      "org_id": "org_a", "participants_in_org": 2, "award_names": []}
    snapshot = (dict(facts), dict(world.campaigns.awards), world.campaigns.results(c["id"]))
    # a second close run (the schedule fires again, late) changes nothing
    world.campaigns.set_status(c["id"], "closed", "closing")
    close_all(world, END + timedelta(days=30))
    assert (dict(facts), dict(world.campaigns.awards), world.campaigns.results(c["id"])) == snapshot
    badges = summary_of(world.learners.get("u1"), world, END.astimezone(UTC))["badges"]
    assert goal in [x["id"] for x in badges]


def test_closing_resumes_from_its_cursor_when_a_run_runs_out_of_time(world):
    c = create(world)
    deliver(world, [b.time_spent(f"u{n}", 10, IN_WINDOW, org="org_a") for n in range(30)])
    at = (END + timedelta(hours=80)).astimezone(UTC)
    campaign_lifecycle.advance(world, at, budget_seconds=0)  # no time at all: results frozen, nobody awarded yet
    assert status_of(world, c["id"]) == "closing" and world.campaigns.results(c["id"]) is not None
    assert campaign_lifecycle.advance(world, at)[c["id"]] == ["closed"]
    assert len([f for f in world.campaigns.facts if f.startswith("campaign.result:")]) == 30


def test_the_report_ranks_orgs_in_size_categories(world):
    c = create(world)
    roster(world, "org_a", 20)
    roster(world, "org_b", 12)
    deliver(world, [b.time_spent(f"e-org_a-{n:05d}", 10, IN_WINDOW, org="org_a") for n in range(10)]
            + [b.time_spent(f"e-org_b-{n:05d}", 10, IN_WINDOW, org="org_b") for n in range(3)])
    rows = campaign_reports.report(c["id"], {}, NATIONAL, world)["orgs"]
    assert [(r["org_id"], r["headcount"], r["participants"], r["size_category"], r["rank_in_category"], r["award"])
            for r in rows] == [("org_a", 20, 10, "XS", 1, True), ("org_b", 12, 3, "XS", 2, False)]
    csv = campaign_reports.report(c["id"], {"format": "csv"}, NATIONAL, world)
    assert csv.splitlines()[0].startswith("org_id,name,headcount,participants")


# --- progress is a pure function of the events: duplicates and reordering change nothing ----------------------

from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402

from chalicelib.campaigns.rules import Awards, Campaign, Counts, Goal  # noqa: E402
from chalicelib.events import parse_event  # noqa: E402

CAMPAIGN = Campaign("cmp-h", "H", "national", START.astimezone(UTC), END.astimezone(UTC), "Asia/Kolkata", 72,
                    Goal("minutes", 120), Counts(), Awards())


@st.composite
def event_streams(draw):
    events, received = [], {}
    for n in range(draw(st.integers(0, 25))):
        at = START + timedelta(minutes=draw(st.integers(-3000, 13000)))
        kind = draw(st.sampled_from(["time", "done", "attend", "rate"]))
        org = draw(st.sampled_from(["org_a", "org_b", "org_x"]))
        course = f"c{draw(st.integers(0, 4))}"
        if kind == "time":
            d = b.time_spent("u1", draw(st.integers(0, 120)), at, id=f"e{n}", org=org)
        elif kind == "done":
            d = b.completion("u1", course, at, areas=draw(st.sampled_from([[], ["domain"]])), id=f"e{n}", org=org)
        elif kind == "attend":
            d = b.attended("u1", f"w{draw(st.integers(0, 2))}", at, id=f"e{n}", org=org)
        else:
            d = b.rating("u1", course, at, id=f"e{n}", org=org)
        events.append(parse_event(d))
        received[f"e{n}"] = END.astimezone(UTC) + timedelta(hours=draw(st.integers(-200, 100)))
    return events, received


@hsettings(max_examples=150, deadline=None)
@given(event_streams(), st.randoms(use_true_random=False), st.integers(0, 5))
def test_duplicates_and_reordering_never_change_campaign_progress(stream, random, copies):
    events, received = stream
    once = rules.progress(CAMPAIGN, "u1", "org_a", events, received, {"org_a", "org_b"})
    replayed = list(events) + [random.choice(events) for _ in range(copies)] if events else []
    random.shuffle(replayed)
    assert rules.progress(CAMPAIGN, "u1", "org_a", replayed, received, {"org_a", "org_b"}) == once
