"""Deciding and delivering notifications, on in-memory adapters: dedupe, crash recovery, caps, quiet hours,
channel choice, the nudge ladder, badge digests and campaign reminders."""
from datetime import timedelta

import pytest

from chalicelib import bootstrap
from chalicelib.notifications import campaigns, delivery, digest, nudges, outbox, policy
from chalicelib.notifications.outbox import Intent, decide
from chalicelib.notifications.sending import SendError, with_retries
from chalicelib.rosters.employees import Employee, MemoryRosterStore
from chalicelib.facts import DomainEvent
from tests.notify_helpers import CONTEXTS, add_learner, ist

L1 = "learner-1"


@pytest.fixture
def world():
    adapters = bootstrap.memory_adapters(rosters=MemoryRosterStore())
    adapters.notifications.sleep = lambda _: None
    return adapters


def deliver_all(adapters, now):
    """What the queue consumer would do with everything queued so far."""
    return [delivery.deliver(lid, key, adapters, now) for lid, key in adapters.notifications.queue.drain()]


def records(adapters, learner_id=L1):
    return adapters.notifications.store.page(learner_id, 100, None)[0]


# --- dedupe and crash recovery --------------------------------------------------------------------------------

def test_the_same_decision_twice_sends_once(world):
    add_learner(world, L1)
    now = ist(2026, 11, 25, 11)  # a Wednesday, 11:00 IST
    intent = Intent(L1, "badge_awarded", "2026-11-25T10:00", CONTEXTS["badge_awarded"])
    assert decide(intent, world, now).status == "queued"
    assert decide(intent, world, now).status == "duplicate"
    assert deliver_all(world, now) == ["sent"]
    assert decide(intent, world, now + timedelta(hours=1)).status == "duplicate"
    assert len(world.notifications.email.sent) == 1
    [record] = records(world)
    assert record.status == "sent" and record.provider_id == "email-1"


def test_a_retried_delivery_sends_once(world):
    add_learner(world, L1)
    now = ist(2026, 11, 25, 11)
    decide(Intent(L1, "badge_awarded", "w1", CONTEXTS["badge_awarded"]), world, now)
    [(lid, key)] = world.notifications.queue.drain()
    assert delivery.deliver(lid, key, world, now) == "sent"
    assert delivery.deliver(lid, key, world, now) == "skipped"  # SQS delivered the message again
    assert len(world.notifications.email.sent) == 1


def test_a_crash_after_deciding_loses_nothing_the_sweeper_queues_it_again(world):
    add_learner(world, L1)
    now = ist(2026, 11, 25, 11)
    decide(Intent(L1, "badge_awarded", "w1", CONTEXTS["badge_awarded"]), world, now)
    world.notifications.queue.drain()  # the queue message is lost
    assert outbox.sweep(world, now + timedelta(minutes=1)) == 0  # not yet: the message may still be in flight
    assert outbox.sweep(world, now + timedelta(minutes=6)) == 1
    assert deliver_all(world, now + timedelta(minutes=6)) == ["sent"]
    assert outbox.sweep(world, now + timedelta(minutes=30)) == 0  # sent: off the sweeper's list


def test_a_crash_while_sending_is_retried_after_the_lease_and_sends_once(world):
    add_learner(world, L1)
    now = ist(2026, 11, 25, 11)
    decide(Intent(L1, "badge_awarded", "w1", CONTEXTS["badge_awarded"]), world, now)
    [(lid, key)] = world.notifications.queue.drain()
    assert world.notifications.store.claim(lid, key, now, now + timedelta(minutes=5))  # then the process died
    assert delivery.deliver(lid, key, world, now + timedelta(minutes=1)) == "skipped"  # lease still held
    assert outbox.sweep(world, now + timedelta(minutes=6)) == 1
    assert deliver_all(world, now + timedelta(minutes=6)) == ["sent"]
    assert len(world.notifications.email.sent) == 1


def test_transient_errors_are_retried_with_backoff_then_left_to_the_queue(world):
    add_learner(world, L1)
    now = ist(2026, 11, 25, 11)
    decide(Intent(L1, "badge_awarded", "w1", CONTEXTS["badge_awarded"]), world, now)
    [(lid, key)] = world.notifications.queue.drain()
    world.notifications.email.failures = [SendError("Throttling", True)] * 3
    assert delivery.deliver(lid, key, world, now) == "retry"
    assert world.notifications.store.get(lid, key).status == "queued"
    assert world.notifications.store.get(lid, key).reason == "transient: Throttling"
    world.notifications.email.failures = [SendError("Throttling", True)] * 3
    assert delivery.deliver(lid, key, world, now, final_attempt=True) == "dead"
    record = world.notifications.store.get(lid, key)
    assert (record.status, record.reason) == ("failed", "transient: Throttling")
    # Replayed from the DLQ once fixed: a failed record may be claimed again.
    assert delivery.deliver(lid, key, world, now) == "sent"


def test_backoff_grows_exponentially_with_jitter_and_stops_on_permanent_errors():
    waits, calls = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise SendError("Throttling", True)
        return "id"

    assert with_retries(flaky, 3, 0.5, waits.append, lambda: 1.0) == "id"
    assert waits == [0.5, 1.0]
    with pytest.raises(SendError):
        with_retries(lambda: (_ for _ in ()).throw(SendError("MessageRejected", False)), 3, 0.5,
                     waits.append, lambda: 1.0)
    assert waits == [0.5, 1.0]  # no wait: a permanent error is not retried in process


# --- quiet hours ------------------------------------------------------------------------------------------------

def test_sms_due_in_quiet_hours_waits_until_nine_ist_and_the_sweeper_sends_it_then(world):
    add_learner(world, L1, email_address=None, phone="+919812345678")
    night = ist(2026, 11, 25, 22, 30)
    decision = decide(Intent(L1, "nudge_inactive", "rung1:a:2026-11-18", CONTEXTS["nudge_inactive"]), world, night)
    assert (decision.channel, decision.not_before) == ("sms", ist(2026, 11, 26, 9))
    assert world.notifications.queue.drain() == []  # not queued now: SQS delays at most 15 minutes
    assert outbox.sweep(world, ist(2026, 11, 26, 8, 59)) == 0
    assert outbox.sweep(world, ist(2026, 11, 26, 9, 0)) == 1
    assert deliver_all(world, ist(2026, 11, 26, 9, 0)) == ["sent"]
    assert world.notifications.sms.sent[0].to == "+919812345678"


@pytest.mark.parametrize("hour,expected", [(20, None), (21, (26, 9)), (23, (26, 9)), (3, (25, 9)), (9, None)])
def test_sms_quiet_hours_boundaries(hour, expected):
    config = policy.default_config()
    due = ist(2026, 11, 25, hour, 0)
    wanted = due if expected is None else ist(2026, 11, expected[0], expected[1])
    assert policy.earliest_send("sms", "nudges", due, config) == wanted
    assert policy.earliest_send("email", "awards", due, config) == due


def test_no_email_nudges_on_sunday_they_wait_until_monday(world):
    add_learner(world, L1)
    sunday = ist(2026, 11, 29, 10)
    decision = decide(Intent(L1, "nudge_inactive", "rung1:a:2026-11-22", CONTEXTS["nudge_inactive"]), world, sunday)
    assert decision.not_before == ist(2026, 11, 30, 9)
    # Other categories go out on Sunday.
    decision = decide(Intent(L1, "badge_awarded", "w", CONTEXTS["badge_awarded"]), world, sunday)
    assert decision.not_before == sunday


# --- caps ---------------------------------------------------------------------------------------------------------

def test_at_most_one_nudge_a_week_and_three_in_ninety_days(world):
    add_learner(world, L1)
    start = ist(2026, 9, 1, 11)
    assert decide(Intent(L1, "nudge_inactive", "p1", CONTEXTS["nudge_inactive"]), world, start).status == "queued"
    capped = decide(Intent(L1, "nudge_inactive", "p2", CONTEXTS["nudge_inactive"]), world, start + timedelta(days=6))
    assert capped.status == "capped" and "a week" in capped.reason
    assert decide(Intent(L1, "nudge_inactive", "p2", CONTEXTS["nudge_inactive"]), world,
                  start + timedelta(days=8)).status == "queued"
    assert decide(Intent(L1, "nudge_inactive", "p3", CONTEXTS["nudge_inactive"]), world,
                  start + timedelta(days=16)).status == "queued"
    capped = decide(Intent(L1, "nudge_inactive", "p4", CONTEXTS["nudge_inactive"]), world, start + timedelta(days=30))
    assert capped.status == "capped" and "90 days" in capped.reason
    assert decide(Intent(L1, "nudge_inactive", "p4", CONTEXTS["nudge_inactive"]), world,
                  start + timedelta(days=91)).status == "queued"


def test_at_most_one_campaign_reminder_a_day(world):
    add_learner(world, L1)
    morning = ist(2026, 12, 1, 10)
    assert decide(Intent(L1, "campaign_last_day", "c1", CONTEXTS["campaign_last_day"]), world,
                  morning).status == "queued"
    assert decide(Intent(L1, "campaign_starting", "c2", CONTEXTS["campaign_starting"]), world,
                  morning + timedelta(hours=5)).status == "capped"
    assert decide(Intent(L1, "campaign_starting", "c2", CONTEXTS["campaign_starting"]), world,
                  ist(2026, 12, 2, 0, 5)).status == "queued"  # the next IST day


def test_the_sms_budget_per_org_per_campaign_then_email_only(world):
    config = policy.config_from({**_config_data(), "caps": {**_config_data()["caps"],
                                                           "sms_budget_per_org_per_campaign": 2}})
    world.notifications.config = config
    prefs = {"notifications": {"campaign_reminders": {"sms": True, "email": False}}}
    for n in range(3):
        add_learner(world, f"l{n}", phone=f"+91981234567{n}", preferences=prefs)
    now = ist(2026, 12, 1, 10)
    channels = [decide(Intent(f"l{n}", "campaign_last_day", "c1", CONTEXTS["campaign_last_day"],
                              campaign_id="c1"), world, now) for n in range(3)]
    assert [d.channel for d in channels[:2]] == ["sms", "sms"]
    # Budget spent; this learner turned email off for reminders, so nothing goes out.
    assert channels[2].status == "unreachable" and "budget" in channels[2].reason
    add_learner(world, "l9", phone="+919812345679",
                preferences={"notifications": {"campaign_reminders": {"sms": True}}})
    assert decide(Intent("l9", "campaign_last_day", "c1", CONTEXTS["campaign_last_day"], campaign_id="c1"),
                  world, now).channel == "email"


def _config_data():
    import tomllib
    from pathlib import Path
    return tomllib.loads((Path(policy.__file__).with_name("config.toml")).read_text())


# --- channels and suppression ---------------------------------------------------------------------------------------

def test_sms_only_for_nudges_after_email_did_not_work(world):
    add_learner(world, L1, phone="+919812345678")
    now = ist(2026, 11, 25, 11)
    assert decide(Intent(L1, "nudge_inactive", "a", CONTEXTS["nudge_inactive"]), world, now).channel == "email"
    add_learner(world, "l2", email_address=None, phone="+919812345670")
    assert decide(Intent("l2", "nudge_inactive", "a", CONTEXTS["nudge_inactive"]), world, now).channel == "sms"
    # Awards: SMS is off by default, so a learner without email gets nothing.
    assert decide(Intent("l2", "badge_awarded", "a", CONTEXTS["badge_awarded"]), world, now).status == "unreachable"
    world.notifications.suppressions.add("email", "bounced@example.gov.in", "bounce: General", now)
    add_learner(world, "l3", email_address="Bounced@example.gov.in", phone="+919812345671")
    assert decide(Intent("l3", "nudge_inactive", "a", CONTEXTS["nudge_inactive"]), world, now).channel == "sms"


def test_a_kind_without_a_dlt_template_is_never_sent_by_sms(world, monkeypatch):
    from chalicelib.notifications import messages
    monkeypatch.setattr(messages, "dlt_template", lambda kind, locale: None)
    prefs = {"notifications": {"awards": {"sms": True}}}
    add_learner(world, L1, email_address=None, phone="+919812345678", preferences=prefs)
    decision = decide(Intent(L1, "badge_awarded", "a", CONTEXTS["badge_awarded"]), world, ist(2026, 11, 25, 11))
    assert decision.status == "unreachable" and "DLT" in decision.reason
    assert world.notifications.sms.sent == []


def test_an_sms_opt_out_is_checked_before_sending(world):
    add_learner(world, L1, email_address=None, phone="+919812345678")
    now = ist(2026, 11, 25, 11)
    decide(Intent(L1, "nudge_inactive", "a", CONTEXTS["nudge_inactive"]), world, now)
    world.notifications.sms.opted.add("+919812345678")  # STOP arrived after the decision
    assert deliver_all(world, now) == ["suppressed"]
    assert records(world)[0].reason == "number opted out of SMS"


def test_a_preference_turned_off_after_deciding_suppresses_the_message(world):
    add_learner(world, L1)
    now = ist(2026, 11, 25, 11)
    decide(Intent(L1, "badge_awarded", "a", CONTEXTS["badge_awarded"]), world, now)
    world.learners.set_preferences(L1, {"notifications": {"awards": {"email": False}}})
    assert deliver_all(world, now) == ["suppressed"]
    assert world.notifications.email.sent == []


# --- the nudge ladder ---------------------------------------------------------------------------------------------

def _score_activity(world, learner_id, at):
    """What scoring does when a learner's last_active_at moves (learners/service.py calls on_scored)."""
    stored = world.learners.get(learner_id)
    standing = stored.standing
    from dataclasses import replace
    nudges.on_scored(stored, replace(standing, last_active_at=at), world)
    world.learners.learners[learner_id] = replace(stored, standing=replace(standing, last_active_at=at))


def test_the_ladder_emails_at_7_and_14_days_then_sms_at_30_and_stops(world):
    add_learner(world, L1, phone="+919812345678")
    _score_activity(world, L1, ist(2026, 11, 2, 10))  # Monday
    sent = []
    for day in range(3, 40):
        now = ist(2026, 11, 2, 9, 0) + timedelta(days=day - 2)
        nudges.run_nightly(world, now)
        outbox.sweep(world, now + timedelta(hours=1))
        deliver_all(world, now + timedelta(hours=1))
        sent = [(r.dedupe_key.split("#")[1].split(":")[0], r.channel, r.status, r.created_at)
                for r in reversed(records(world))]
    assert [(rung, channel) for rung, channel, _, _ in sent] == [("rung1", "email"), ("rung2", "email"),
                                                                  ("rung3", "sms")]
    assert [policy.local_date_of(at, policy.default_config()).isoformat() for *_, at in sent] == \
        ["2026-11-09", "2026-11-16", "2026-12-02"]
    assert all(status == "sent" for _, _, status, _ in sent)
    assert world.notifications.schedule.get(L1).due is None  # the ladder is over


def test_the_ladder_stops_as_soon_as_the_learner_learns_again(world):
    add_learner(world, L1)
    _score_activity(world, L1, ist(2026, 11, 2, 10))
    nudges.run_nightly(world, ist(2026, 11, 9, 9))
    assert deliver_all(world, ist(2026, 11, 9, 9)) == ["sent"]
    _score_activity(world, L1, ist(2026, 11, 12, 18))  # learns again
    for day in range(13, 19):
        nudges.run_nightly(world, ist(2026, 11, day, 9))
    assert len(records(world)) == 1  # no 14-day rung for the old spell
    nudges.run_nightly(world, ist(2026, 11, 19, 9))  # 7 days after the new spell began: rung 1 again
    assert [r.dedupe_key for r in records(world)][0] == "nudge_inactive#rung1:a:2026-11-12"


def test_a_nudge_waiting_for_monday_is_dropped_if_the_learner_learns_on_sunday(world):
    add_learner(world, L1)
    _score_activity(world, L1, ist(2026, 11, 22, 10))  # Sunday
    nudges.run_nightly(world, ist(2026, 11, 29, 9))  # 7 days later: a Sunday, so it waits until Monday
    _score_activity(world, L1, ist(2026, 11, 29, 15))
    outbox.sweep(world, ist(2026, 11, 30, 9))
    assert deliver_all(world, ist(2026, 11, 30, 9)) == ["suppressed"]
    assert records(world)[0].reason == "the learner learned again"


def test_the_nightly_run_twice_sends_nothing_twice(world):
    add_learner(world, L1)
    _score_activity(world, L1, ist(2026, 11, 2, 10))
    assert nudges.run_nightly(world, ist(2026, 11, 9, 9)) == {"queued": 1}
    assert nudges.run_nightly(world, ist(2026, 11, 9, 9, 30)) == {}  # not due any more
    assert len(records(world)) == 1


def test_never_started_employees_get_the_first_rung_once_the_roster_knows_them(world):
    employee = Employee("emp-1", "org_mines", "Ravi Kumar", email="ravi@example.gov.in", language="hi")
    world.rosters.put(employee)
    assert nudges.schedule_never_started(employee, world, ist(2026, 11, 24, 18))
    assert nudges.run_nightly(world, ist(2026, 11, 25, 9)) == {"queued": 1}
    [record] = records(world, "emp-1")
    assert (record.kind, record.locale) == ("nudge_never_started", "hi")
    assert deliver_all(world, ist(2026, 11, 25, 9)) == ["sent"]
    assert world.notifications.email.sent[0].to == "ravi@example.gov.in"


def test_an_employee_who_already_learns_is_not_scheduled_as_never_started(world):
    add_learner(world, L1, last_active=ist(2026, 11, 20))
    assert not nudges.schedule_never_started(Employee(L1, "org_mines", "A"), world, ist(2026, 11, 24))


# --- badge digests ------------------------------------------------------------------------------------------------

def _award(world, learner_id, badge_id, at):
    world.learners.facts[f"badge.awarded:{learner_id}:{badge_id}"] = DomainEvent(
        f"badge.awarded:{learner_id}:{badge_id}", "badge.awarded", learner_id, at, {"badge_id": badge_id})


def test_several_badges_within_an_hour_become_one_digest(world):
    add_learner(world, L1)
    badges = [b.id for b in world.catalogue][:3]
    _award(world, L1, badges[0], ist(2026, 11, 25, 10, 5))
    _award(world, L1, badges[1], ist(2026, 11, 25, 10, 40))
    _award(world, L1, badges[2], ist(2026, 11, 25, 11, 10))  # the next window
    assert digest.send_badge_digests(world, ist(2026, 11, 25, 10, 50)) == 0  # the window is still open
    assert digest.send_badge_digests(world, ist(2026, 11, 25, 11, 15)) == 1
    assert digest.send_badge_digests(world, ist(2026, 11, 25, 11, 16)) == 0  # consumed
    [record] = records(world)
    assert [b["id"] for b in record.context["badges"]] == badges[:2]
    assert digest.send_badge_digests(world, ist(2026, 11, 25, 12, 1)) == 1
    assert len(records(world)) == 2


def test_a_digest_decided_twice_after_a_crash_is_sent_once(world):
    add_learner(world, L1)
    _award(world, L1, world.catalogue[0].id, ist(2026, 11, 25, 10, 5))
    world.facts.consumed = lambda facts: None  # crash before consuming
    digest.send_badge_digests(world, ist(2026, 11, 25, 11, 15))
    digest.send_badge_digests(world, ist(2026, 11, 25, 11, 16))
    assert len(records(world)) == 1
    assert deliver_all(world, ist(2026, 11, 25, 11, 16)) == ["sent"]


# --- campaign reminders and the admin summary --------------------------------------------------------------------------

CAMPAIGN = campaigns.CampaignInfo("camp-1", "Karmayogi Saptah", "org:org_mines", ist(2026, 12, 1, 0),
                                  ist(2026, 12, 10, 23, 59), 240)


@pytest.mark.parametrize("day,kind", [(29, None), (30, "campaign_starting"), (5, "campaign_halfway"),
                                      (10, "campaign_last_day"), (11, "campaign_results"), (3, None)])
def test_which_reminder_each_day_calls_for(day, kind):
    month = 11 if day in (29, 30) else 12
    assert campaigns.reminder_kind(CAMPAIGN, ist(2026, month, day, 10), policy.default_config()) == kind


def test_campaign_reminders_are_sent_once_per_learner_and_kind(world):
    for n in range(3):
        add_learner(world, f"l{n}")
    def progress(lid): return campaigns.Progress(minutes_done=90, suggested_course={"title": "Data", "url": "u"})
    now = ist(2026, 12, 5, 10)
    assert campaigns.send_campaign_reminders(CAMPAIGN, ["l0", "l1", "l2"], progress, world, now) == {"queued": 3}
    assert campaigns.send_campaign_reminders(CAMPAIGN, ["l0", "l1", "l2"], progress, world, now) == {"duplicate": 3}
    assert deliver_all(world, now) == ["sent"] * 3
    record = records(world, "l0")[0]
    assert (record.kind, record.dedupe_key, record.context["minutes_left"]) == \
        ("campaign_halfway", "campaign_halfway#camp-1", 150)


def test_the_admin_summary_is_one_per_admin_per_week(world):
    add_learner(world, "admin-9")
    figures = {k: v for k, v in CONTEXTS["admin_weekly_summary"].items()
               if k not in ("org_name", "week_start", "week_end")}
    args = ("admin-9", "org_mines", "Ministry of Mines", "2026-W47", figures, "2026-11-16", "2026-11-22", world)
    assert campaigns.send_admin_summary(*args, ist(2026, 11, 23, 9)) == "queued"
    assert campaigns.send_admin_summary(*args, ist(2026, 11, 23, 10)) == "duplicate"
    assert deliver_all(world, ist(2026, 11, 23, 10)) == ["sent"]
