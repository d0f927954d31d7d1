"""The nudge ladder: 7 days without learning, an email; 14 days, a second email (with a suggested course when
one is known); 30 days, an SMS if the learner allows it. It stops as soon as the learner learns again.

Selection costs what it selects: each learner has one item in the nudge-schedule table, whose sparse `due`
index holds (shard, local date the next rung is due). Scoring starts a new spell whenever last_active_at moves
(on_scored, one call in learners/service.py); the nightly run queries `due <= today` in each shard and reads
only the learners due. A spell is "a:<date last active>" or, for a roster employee who never started,
"0:<date the roster knew them>" (sorts before any activity, so activity always wins).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Callable, Optional

from chalicelib.notifications import policy
from chalicelib.notifications.outbox import Intent, decide
from chalicelib.notifications.schedule import on_scored  # noqa: F401 (part of this module's interface)
from chalicelib.notifications.nudge_store import NudgeEntry

PAGE = 100
__all__ = ["on_scored", "schedule_never_started", "schedule_never_started_many", "run_nightly", "still_inactive"]


def _base_date(spell: str, config: policy.Config) -> date:
    """The date the ladder counts from. A never-started employee's first rung falls due the day they are known."""
    kind, _, day = spell.partition(":")
    known = date.fromisoformat(day)
    return known if kind == "a" else known - timedelta(days=config.rung_days[0])


def schedule_never_started(employee, adapters, now: datetime) -> bool:
    """For the roster import: an employee with no learning yet gets the ladder's first rung (as a
    nudge_never_started) from the day the roster knows them. False when they have learned already."""
    stored = adapters.learners.get(employee.learner_id)
    if stored is not None and stored.standing.last_active_at is not None:
        return False
    n = adapters.notifications
    config = n.settings()
    today = policy.local_date_of(now, config)
    n.schedule.start_spell(NudgeEntry(employee.learner_id, f"0:{today.isoformat()}", 1, today.isoformat(),
                                      employee.org_id), config.pending_shards)
    return True


def schedule_never_started_many(employees, adapters, now: datetime) -> int:
    """schedule_never_started for a chunk of a roster import: one batch read (learners.started) instead of a
    read per employee. Someone who has learned is left alone (their spell of activity already wins: "0:" sorts
    before "a:"). Returns how many were scheduled."""
    employees = list(employees)
    if not employees:
        return 0
    started = adapters.learners.started([e.learner_id for e in employees])
    n = adapters.notifications
    config = n.settings()
    today = policy.local_date_of(now, config).isoformat()
    scheduled = 0
    for employee in employees:
        if employee.learner_id in started:
            continue
        n.schedule.start_spell(NudgeEntry(employee.learner_id, f"0:{today}", 1, today, employee.org_id),
                               config.pending_shards)
        scheduled += 1
    return scheduled


def run_nightly(adapters, now: datetime,
                suggest_course: Optional[Callable[[str], Optional[dict]]] = None, log=None) -> dict:
    """Send the rung due to every learner the index says is due today or overdue; move each to its next rung.
    Idempotent: the dedupe key (learner, kind, rung and spell) makes a second run send nothing new."""
    n = adapters.notifications
    config = n.settings()
    today = policy.local_date_of(now, config)
    outcomes: dict[str, int] = {}
    for shard in range(config.pending_shards):
        after = None
        while True:
            entries, after = n.schedule.due_entries(shard, today.isoformat(), PAGE, after)
            for entry in entries:
                try:
                    outcome = _climb(entry, today, adapters, now, config, suggest_course)
                except Exception as exc:  # noqa: BLE001 (one learner's trouble must not stop the run)
                    if log:
                        log.error("nudge failed", extra={"error": type(exc).__name__})
                    outcome = "error"  # still due: tomorrow's run tries again
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if after is None:
                break
    return outcomes


def _climb(entry: NudgeEntry, today: date, adapters, now, config, suggest_course) -> str:
    n = adapters.notifications
    base = _base_date(entry.spell, config)
    rung = policy.rung_due(base, today, config)
    if rung is None or rung < entry.rung:  # not due yet after all (a clock or config change): look again then
        n.schedule.advance(entry, entry.rung, policy.rung_date(base, entry.rung, config).isoformat(),
                           config.pending_shards)
        return "not_due"
    never = entry.spell.startswith("0:")
    context = {"spell": entry.spell, "rung": rung, "days_inactive": (today - base).days, "course": None}
    if never:
        org = adapters.orgs.get(entry.org_id) if entry.org_id else None
        context["org_name"] = org.name if org else ""
        del context["days_inactive"]
    if rung >= 2 and suggest_course is not None:
        context["course"] = suggest_course(entry.learner_id)
    intent = Intent(entry.learner_id, "nudge_never_started" if never else "nudge_inactive",
                    f"rung{rung}:{entry.spell}", context, entry.org_id, prefer_sms=rung == config.sms_rung)
    decision = decide(intent, adapters, now)
    following = policy.rung_date(base, rung + 1, config)
    n.schedule.advance(entry, rung + 1, following.isoformat() if following else None, config.pending_shards)
    return decision.status


def still_inactive(record, adapters) -> bool:
    """At delivery: is the spell this nudge was decided for still the learner's current one?"""
    entry = adapters.notifications.schedule.get(record.learner_id)
    return entry is None or entry.spell == record.context.get("spell")
