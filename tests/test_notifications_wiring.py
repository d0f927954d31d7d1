"""Notifications wired to the real campaigns and rosters: campaign reminders from the schedule over roster
employees of the scope (resumable), results notices and campaign badges from closing a campaign, the
never-started rung from a roster import, the Monday admin summary, the unsubscribe secret from SSM. The
end-to-end ones read back what moto's SES received."""
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib import bootstrap, parameters, settings
from chalicelib.campaigns import service as campaigns
from chalicelib.campaigns import lifecycle as campaign_lifecycle
from chalicelib.notifications import campaigns as notices
from chalicelib.notifications import digest, nudges, unsubscribe
from chalicelib.rosters.employees import Employee, RosterChange
from chalicelib.rosters.service import import_roster
from tests import rules_builders as b
from tests.campaign_builders import END, IN_WINDOW, NATIONAL, START, build_tree, create, deliver
from tests.notify_helpers import (SENDER, add_learner, body_text, create_notification_infra, ist, pump_notifications,
                                  ses_sent)

UTC = timezone.utc
DAY_BEFORE = ist(2026, 11, 30, 10)  # START is 1 December 00:00 IST
HALFWAY = ist(2026, 12, 4, 10)  # 1 to 7 December: the middle is 4 December
LAST_DAY = ist(2026, 12, 7, 10)  # END is 8 December 00:00 IST, exclusive


def outbox(adapters, kind) -> dict:
    """learner id -> outbox record of this kind (in-memory store)."""
    found = {}
    for (learner_id, _key), record in adapters.notifications.store.records.items():
        if record.kind == kind:
            found[learner_id] = record
    return found


def roster(adapters, org_id: str, count: int) -> list[str]:
    """Roster employees with an email address each (reachable without a learner record)."""
    ids = [f"e-{org_id}-{n:05d}" for n in range(count)]
    for learner_id in ids:
        adapters.rosters.apply([RosterChange(None, Employee(learner_id, org_id, f"Employee {n}",
                                                            email=f"{learner_id}@example.gov.in"))
                                for n in [0]])
    return ids


@pytest.fixture
def world():
    adapters = bootstrap.memory_adapters()
    build_tree(adapters)
    return adapters


# --- 1. campaign reminders over the roster of the scope ---------------------------------------------------------

def test_reminders_the_day_before_half_way_and_on_the_last_day_reach_every_roster_employee_of_the_scope(world):
    c = create(world, scope="ministry:min_m", goal={"kind": "minutes", "target": 240})
    in_scope = roster(world, "org_a", 3) + roster(world, "org_b", 2) + roster(world, "dept_d", 1)
    outside = roster(world, "org_c", 2)  # state S: not in the ministry
    first = in_scope[0]

    assert notices.run_campaign_reminders(world, DAY_BEFORE) == {"queued": 6}
    starting = outbox(world, "campaign_starting")
    assert set(starting) == set(in_scope) and not set(outside) & set(starting)
    assert starting[first].dedupe_key == f"campaign_starting#{c['id']}"
    assert starting[first].context["campaign"]["goal_minutes"] == 240
    assert notices.run_campaign_reminders(world, DAY_BEFORE + timedelta(hours=1)) == {}  # done for today

    deliver(world, [b.time_spent(first, 90, IN_WINDOW, org="org_a")])
    campaign_lifecycle.advance(world, START.astimezone(UTC) + timedelta(minutes=1))  # scheduled -> live
    assert notices.run_campaign_reminders(world, HALFWAY) == {"queued": 6}
    halfway = outbox(world, "campaign_halfway")
    assert set(halfway) == set(in_scope)
    assert (halfway[first].context["minutes_done"], halfway[first].context["minutes_left"]) == (90, 150)
    assert halfway[in_scope[1]].context["minutes_done"] == 0
    assert halfway[first].context["suggested_course"] is None  # no course catalogue to suggest from

    assert notices.run_campaign_reminders(world, LAST_DAY) == {"queued": 6}
    last = outbox(world, "campaign_last_day")
    assert set(last) == set(in_scope) and last[first].context["minutes_left"] == 150
    assert notices.run_campaign_reminders(world, LAST_DAY + timedelta(hours=3)) == {}
    # no reminder on the day after the end (8 December: the end is exclusive)
    assert notices.run_campaign_reminders(world, ist(2026, 12, 8, 10)) == {}


def test_a_days_reminder_is_spread_over_runs_from_a_stored_position_and_sends_each_once(world, monkeypatch):
    create(world, scope="national")
    people = roster(world, "org_a", 5) + roster(world, "org_c", 4)
    for learner in ("u-a", "u-c"):  # a national campaign finds its orgs through the org statistics
        deliver(world, [b.upserted(learner, IN_WINDOW - timedelta(days=30), org="org_a" if learner == "u-a"
                                   else "org_c")])
    monkeypatch.setattr(notices, "REMINDER_PAGE", 2)

    class Clock:  # each page costs a "second"; a run has two
        now = 0.0

        def __call__(self):
            self.now += 1
            return self.now
    total, runs = {}, 0
    positions = world.notifications.counters.positions
    while "done" not in positions.values() and runs < 50:
        outcome = notices.run_campaign_reminders(world, DAY_BEFORE, budget_seconds=2.5, clock=Clock())
        runs += 1
        for k, v in outcome.items():
            total[k] = total.get(k, 0) + v
        if runs == 1:
            assert list(positions.values()) == ["2|"]  # two empty orgs looked at, then out of time
    assert 3 < runs < 50  # it really stopped and resumed, and finished
    assert set(outbox(world, "campaign_starting")) == set(people)
    assert total == {"queued": len(people)}  # each decided once: never re-read from the start


def test_a_campaign_counted_in_courses_and_a_cancelled_one_get_no_reminders(world):
    create(world, scope="org:org_a", goal={"kind": "courses", "target": 2})
    cancelled = create(world, scope="org:org_a", name="Another")
    campaigns.cancel(cancelled["id"], NATIONAL, world)
    roster(world, "org_a", 2)
    assert notices.run_campaign_reminders(world, DAY_BEFORE) == {}


def test_the_one_reminder_a_day_cap_holds_across_two_campaigns(world):
    create(world, scope="org:org_a", name="First")
    create(world, scope="org:org_a", name="Second")
    roster(world, "org_a", 2)
    outcome = notices.run_campaign_reminders(world, DAY_BEFORE)
    assert outcome == {"queued": 2, "capped": 2}


# --- 2. results notices and campaign badges from closing ----------------------------------------------------------

def close(adapters):
    return campaign_lifecycle.advance(adapters, (END + timedelta(hours=80)).astimezone(UTC))


def test_closing_a_campaign_becomes_one_results_message_per_learner_and_badges_in_the_digest(world):
    c = create(world, goal={"kind": "minutes", "target": 60}, awards={"top_learners_per_org": 1})
    deliver(world, [b.time_spent("u1", 90, IN_WINDOW, org="org_a"), b.time_spent("u2", 30, IN_WINDOW, org="org_a")])
    world.rosters.apply([RosterChange(None, Employee(i, "org_a", i, email=f"{i}@example.gov.in")) for i in ("u1", "u2")])
    assert close(world)[c["id"]][-1] == "closed"
    at = (END + timedelta(hours=81)).astimezone(UTC)
    assert notices.send_campaign_results(world, at) == 2
    assert notices.send_campaign_results(world, at) == 0  # consumed: nothing again
    results = outbox(world, "campaign_results")
    assert set(results) == {"u1", "u2"}
    u1, u2 = results["u1"].context, results["u2"].context
    assert results["u1"].dedupe_key == f"campaign_results#{c['id']}"
    assert (u1["goal_met"], u1["minutes_done"], u1["rank"], u1["participants"]) == (True, 90, 1, 2)
    assert u1["award"] == "Karmayogi Saptah: goal met, Karmayogi Saptah: top learner"
    assert (u2["goal_met"], u2["rank"], u2["award"]) == (False, 2, None)

    assert digest.send_badge_digests(world, at + timedelta(hours=2)) >= 1
    [badge_digest] = outbox(world, "badge_awarded").values()
    names = {x["id"]: x["name"] for x in badge_digest.context["badges"]}
    assert names == {f"campaign.{c['id']}.goal": "Karmayogi Saptah: goal met",
                     f"campaign.{c['id']}.top": "Karmayogi Saptah: top learner"}


def test_results_of_a_big_campaign_are_spread_over_runs_and_each_is_sent_once(world):
    create(world, goal={"kind": "minutes", "target": 60})
    people = [f"p{n}" for n in range(5)]
    deliver(world, [b.time_spent(p, 10 * (n + 1), IN_WINDOW, org="org_a") for n, p in enumerate(people)])
    world.rosters.apply([RosterChange(None, Employee(p, "org_a", p, email=f"{p}@example.gov.in")) for p in people])
    close(world)
    at = (END + timedelta(hours=81)).astimezone(UTC)

    class Clock:  # two facts fit in a run's budget
        def __init__(self):
            self.now = 0.0

        def __call__(self):
            self.now += 1
            return self.now
    runs = [notices.send_campaign_results(world, at, budget_seconds=2.5, clock=Clock()) for _ in range(4)]
    assert runs == [2, 2, 1, 0]
    assert set(outbox(world, "campaign_results")) == set(people)
    assert outbox(world, "campaign_results")["p4"].context["rank"] == 1


# --- 3. never started: from the roster import ---------------------------------------------------------------------

CSV = ["learner_id,full_name,email,language",
       "emp-new-1,Ravi Kumar,ravi@example.gov.in,hi",
       "emp-new-2,Meena Iyer,meena@example.gov.in,en",
       "emp-learns,Asha Rao,asha@example.gov.in,en"]


def test_a_roster_import_schedules_the_never_started_rung_only_for_those_who_never_learned(world):
    build_tree(world)
    deliver(world, [b.time_spent("emp-learns", 30, IN_WINDOW, org="org_a")])
    import_roster("org_a", iter(CSV), world, now=ist(2026, 11, 25, 8))
    schedule = world.notifications.schedule
    assert schedule.get("emp-new-1").spell == "0:2026-11-25" and schedule.get("emp-new-1").due == "2026-11-25"
    assert schedule.get("emp-learns").spell.startswith("a:")  # their activity, not a never-started spell
    # importing the same file again changes nothing (nobody is new)
    before = dict(schedule.entries)
    import_roster("org_a", iter(CSV), world, now=ist(2026, 11, 26, 8))
    assert schedule.entries == before


# --- end to end on moto -------------------------------------------------------------------------------------------

@pytest.fixture
def moto_world(aws, monkeypatch):
    monkeypatch.setenv("KARMAYOGI_UNSUBSCRIBE_SECRET", "test-unsubscribe-secret")
    create_notification_infra()
    monkeypatch.setattr(settings, "SES_SENDER", SENDER)
    aws.notifications = bootstrap.aws_notifications()
    aws.notifications.email._sender = SENDER
    aws.notifications.sleep = lambda _: None
    build_tree(aws)
    return aws


@pytest.fixture
def app(moto_world, monkeypatch):
    """The app, its clock set by the test (CLOCK[0]): campaign dates lie ahead of today's date."""
    import app as application
    from tests.conftest import app_client
    CLOCK[0] = datetime.now(UTC)
    monkeypatch.setattr(application, "_now", lambda: CLOCK[0])
    with app_client() as c:
        yield c


CLOCK = [datetime.now(UTC)]


def mails_to(address):
    return [mail for destinations, mail in ses_sent() if address in destinations]


def test_import_roster_then_the_nightly_run_emails_the_never_started_employee(moto_world, app):
    import_roster("org_a", iter(CSV), moto_world, now=ist(2026, 11, 25, 8))  # a Wednesday
    outcomes = nudges.run_nightly(moto_world, ist(2026, 11, 25, 9, 5))
    assert outcomes.get("queued") == 3  # the learner of emp-learns has no record in this world: never started
    pump_notifications(app)
    [mail] = mails_to("ravi@example.gov.in")
    assert "Ravi" in body_text(mail) and "Org org_a" in body_text(mail)
    [record] = moto_world.notifications.store.page("emp-new-1", 5, None)[0]
    assert (record.kind, record.status, record.locale) == ("nudge_never_started", "sent", "hi")
    assert nudges.run_nightly(moto_world, ist(2026, 11, 25, 21)).get("queued") is None  # nothing twice


def test_reminders_results_and_campaign_badges_reach_ses_from_the_schedules(moto_world, app):
    world = moto_world
    c = create(world, scope="org:org_a", goal={"kind": "minutes", "target": 60})
    world.rosters.apply([RosterChange(None, Employee("emp-1", "org_a", "Kavya Nair", email="kavya@example.gov.in"))])
    CLOCK[0] = DAY_BEFORE
    assert notices.run_campaign_reminders(world, DAY_BEFORE) == {"queued": 1}
    pump_notifications(app)
    [mail] = mails_to("kavya@example.gov.in")
    assert mail["Subject"] and "Karmayogi Saptah" in body_text(mail) and "begins tomorrow" in body_text(mail)

    # Scoring's learner record has no email (the events carry none): the roster's is used.
    deliver(world, [b.time_spent("emp-1", 75, IN_WINDOW, org="org_a")])
    assert close(world)[c["id"]][-1] == "closed"
    at = (END + timedelta(hours=81)).astimezone(UTC)
    assert notices.send_campaign_results(world, at) == 1  # through the domain-events table's pending index
    assert digest.send_badge_digests(world, at + timedelta(hours=2)) == 1
    CLOCK[0] = at + timedelta(hours=2)
    pump_notifications(app)
    texts = [body_text(m) for m in mails_to("kavya@example.gov.in")]
    assert len(texts) == 3
    assert any("has ended" in t and "Karmayogi Saptah: goal met" in t for t in texts)  # results, with the award
    assert any("Karmayogi Saptah: goal met" in t and "has ended" not in t for t in texts)  # the badge digest


# --- 4. the weekly admin summary ----------------------------------------------------------------------------------

def test_the_monday_summary_goes_to_each_orgs_configured_admins_once_with_the_weeks_figures(moto_world, app):
    world = moto_world
    create(world, scope="ministry:min_m", name="Saptah", start="2026-11-20T00:00", end="2026-12-20T00:00",
           goal={"kind": "minutes", "target": 100})
    campaign_lifecycle.advance(world, ist(2026, 11, 21, 10))  # live
    roster(world, "org_a", 3)
    roster(world, "org_b", 1)
    last_week = ist(2026, 11, 25, 11)  # week 2026-W48 (23 to 29 November)
    deliver(world, [b.time_spent("e-org_a-00000", 120, last_week, org="org_a"),
                    b.completion("e-org_a-00000", "do_course_1", last_week, org="org_a"),
                    b.time_spent("e-org_b-00000", 30, last_week, org="org_b")], received=last_week)
    add_learner(world, "admin-d", email_address="admin.d@example.gov.in", org="dept_d", name="Dept Admin")
    world.admin_summary_recipients = lambda: {"dept_d": ["admin-d"], "org_c": []}
    monday = ist(2026, 11, 30, 8)
    CLOCK[0] = monday
    assert notices.run_admin_summaries(world, monday) == {"queued": 1}
    assert notices.run_admin_summaries(world, monday + timedelta(hours=1)) == {"duplicate": 1}
    pump_notifications(app)
    [mail] = mails_to("admin.d@example.gov.in")
    text = body_text(mail)
    assert "23 November 2026 to 29 November 2026" in text
    assert "Employees: 4" in text and "Learned this week: 2 (50%)" in text
    assert "Learning time: 3 hours" in text  # 120 + 30 minutes spent, 30 of the completed course
    points = sum(s.points for s in world.boards.org_stats("week:2026-W48") if s.org_id in ("org_a", "org_b"))
    assert points > 0 and f"Points earned: {points:,}" in text
    assert "Saptah: goal met: 1 (25%)" in text  # of the 4 employees of the department
    [record] = world.notifications.store.page("admin-d", 5, None)[0]
    assert record.context["minutes_total"] == 180 and record.context["employees"] == 4


def test_admin_summary_recipients_come_from_ssm_and_a_missing_parameter_means_nobody(aws):
    ssm = bootstrap._ssm_client()
    config = settings.SecretsConfig("ssm", "/w", "/j", None, 60,
                                    admin_summary_recipients_parameter="/karmayogi/test/admin-summary-recipients")
    source = parameters.admin_summary_recipients_source(config, bootstrap._ssm_client)
    assert source() == {}
    ssm.put_parameter(Name="/karmayogi/test/admin-summary-recipients", Type="String",
                      Value='{"org_a": ["admin-a"]}')
    fresh = parameters.admin_summary_recipients_source(config, bootstrap._ssm_client)
    assert fresh() == {"org_a": ["admin-a"]}


# --- 5. the unsubscribe secret from SSM ---------------------------------------------------------------------------

def test_unsubscribe_links_are_signed_and_read_with_the_secret_from_ssm(moto_world, app, monkeypatch):
    ssm = bootstrap._ssm_client()
    ssm.put_parameter(Name="/karmayogi/test/unsubscribe-secrets", Type="SecureString",
                      Value="ssm-unsub-new,ssm-unsub-old")
    monkeypatch.setenv("KARMAYOGI_SECRETS_SOURCE", "ssm")
    monkeypatch.setenv("KARMAYOGI_UNSUBSCRIBE_SECRETS_PARAMETER", "/karmayogi/test/unsubscribe-secrets")
    monkeypatch.setenv("KARMAYOGI_UNSUBSCRIBE_SECRET", "the-environment-must-play-no-part")
    wired = bootstrap.aws_adapters()
    wired.notifications = moto_world.notifications
    bootstrap.use(wired)
    add_learner(wired, "l-ssm", email_address="ssm@example.gov.in")
    from chalicelib.notifications.outbox import Intent, decide
    assert decide(Intent("l-ssm", "campaign_starting", "c-x", {"campaign": {
        "id": "c-x", "name": "Saptah", "scope": "national", "starts_at": "2026-12-01T03:30:00Z",
        "ends_at": "2026-12-08T18:29:59Z", "goal_minutes": 240}}), wired, ist(2026, 11, 25, 11)).status == "queued"
    pump_notifications(app)
    [mail] = mails_to("ssm@example.gov.in")
    link = mail["List-Unsubscribe"].strip("<>")
    token = parse_qs(urlsplit(link).query)["token"][0]
    assert unsubscribe.read_token(token, secrets=["ssm-unsub-new"]) == ("l-ssm", "campaign_reminders")
    with pytest.raises(unsubscribe.InvalidToken):
        unsubscribe.read_token(token, secrets=["the-environment-must-play-no-part"])
    # a link signed with the older secret still works during a rotation
    old = unsubscribe.make_token("l-ssm", "campaign_reminders", secrets=["ssm-unsub-old"])
    response = app.http.post(f"/v1/unsubscribe?token={old}", body=b"List-Unsubscribe=One-Click",
                             headers={"Content-Type": "application/x-www-form-urlencoded"}, authorization=None)
    assert response.status_code == 200, response.json_body
    assert response.json_body == {"learner_id": "l-ssm", "category": "campaign_reminders", "email": False}
    forged = unsubscribe.make_token("l-ssm", "nudges", secrets=["the-environment-must-play-no-part"])
    assert app.http.post(f"/v1/unsubscribe?token={forged}", body=b"", authorization=None,
                         headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 400
