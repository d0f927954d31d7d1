"""Small builders of valid upstream events (as webhook dicts) and helpers to score them, for the rule tests.

Every builder returns a dict in the shape of local/fixtures/events/, so it goes through the same
`parse_event` validation as a real webhook body. `at` is an ISO 8601 string with an offset or an aware
datetime. Ids default to something derived from the arguments; pass `id=` when a test needs a particular
id (for example to control the (occurred_at, id) tie-break, or to build a duplicate).
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Optional, Union

from chalicelib import bootstrap
from chalicelib.events import parse_event
from chalicelib.scoring.pipeline import recompute_stream
from chalicelib.rules.config import badge_catalogue, default_rules
from chalicelib.rules.learner import LearnerStanding, evaluate

IST = timezone(timedelta(hours=5, minutes=30))
ORG = "org_test"
NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)  # "received at": the memory store ignores it

When = Union[str, datetime]


def ist(year: int, month: int, day: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """A wall-clock moment in India."""
    return datetime(year, month, day, hour, minute, second, tzinfo=IST)


def _iso(at: When) -> str:
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        return at.isoformat()
    return at


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.:@\-]", "_", text)


def _id(kind: str, learner: str, key: str, at: When) -> str:
    return _safe(f"{kind}-{learner}-{key}-{_iso(at)}")


def _learner(learner: str, org: str) -> dict:
    return {"id": learner, "org_id": org}


def _competencies(areas: Iterable[str]) -> list[dict]:
    return [{"id": f"FRAC-{area[:3].upper()}-{n}", "area": area} for n, area in enumerate(areas)]


def completion(learner: str, course: str, at: When, acbp_end: Optional[Union[str, date]] = None,
               passed: bool = False, category: str = "Course", areas: Iterable[str] = (), minutes: int = 30,
               *, id: Optional[str] = None, org: str = ORG, failed: bool = False) -> dict:
    """course.completed. `passed` adds a passed assessment; `failed` adds a failed one."""
    event = {
        "id": id or _id("done", learner, course, at),
        "type": "course.completed",
        "occurred_at": _iso(at),
        "learner": _learner(learner, org),
        "course": {"id": course, "name": f"Course {course}", "primary_category": category,
                   "duration_minutes": minutes, "competencies": _competencies(areas)},
    }
    if acbp_end is not None:
        end = acbp_end.isoformat() if isinstance(acbp_end, date) else acbp_end
        event["acbp"] = {"plan_id": "acbp-plan-1", "end_date": end}
    if passed or failed:
        event["assessment"] = {"passed": bool(passed), "score_percent": 80 if passed else 20}
    return event


def enrolment(learner: str, course: str, at: When, *, id: Optional[str] = None, org: str = ORG) -> dict:
    return {"id": id or _id("enrol", learner, course, at), "type": "course.enrolled", "occurred_at": _iso(at),
            "learner": _learner(learner, org), "course": {"id": course}}


def rating(learner: str, course: str, at: When, stars: float = 4.0, *, id: Optional[str] = None,
           org: str = ORG) -> dict:
    return {"id": id or _id("rate", learner, course, at), "type": "course.rated", "occurred_at": _iso(at),
            "learner": _learner(learner, org), "course": {"id": course}, "rating": stars}


def time_spent(learner: str, minutes: int, at: When, content: str = "do_any", *, id: Optional[str] = None,
               org: str = ORG) -> dict:
    return {"id": id or _id("time", learner, f"{content}-{minutes}", at), "type": "learning.time_spent",
            "occurred_at": _iso(at), "learner": _learner(learner, org), "content_id": content,
            "minutes": minutes, "competency_linked": True}


def attended(learner: str, webinar: str, at: When, minutes: int = 60, areas: Iterable[str] = (), *,
             id: Optional[str] = None, org: str = ORG) -> dict:
    return {"id": id or _id("attend", learner, webinar, at), "type": "event.attended", "occurred_at": _iso(at),
            "learner": _learner(learner, org),
            "event": {"id": webinar, "name": f"Webinar {webinar}", "duration_minutes": minutes,
                      "competencies": _competencies(areas)}}


def first_login(learner: str, at: When, *, id: Optional[str] = None, org: str = ORG) -> dict:
    return {"id": id or _id("login", learner, "first", at), "type": "learner.first_login",
            "occurred_at": _iso(at), "learner": _learner(learner, org)}


def upserted(learner: str, at: When, name: str = "A Learner", *, id: Optional[str] = None,
             org: str = ORG) -> dict:
    return {"id": id or _id("profile", learner, "p", at), "type": "learner.upserted", "occurred_at": _iso(at),
            "learner": {"id": learner, "org_id": org, "name": name}}


# --- scoring helpers ----------------------------------------------------------------------------------------

def models(dicts: Iterable[dict]) -> list:
    return [parse_event(d) for d in dicts]


def score(dicts: Iterable[dict], learner: str = "u1", rules=None, catalogue=None) -> LearnerStanding:
    """The pure rules on these events (validated as a webhook would), default rules and catalogue."""
    return evaluate(learner, models(dicts), rules or default_rules(),
                    badge_catalogue() if catalogue is None else catalogue)


def earned(standing: LearnerStanding) -> dict[tuple[str, str], int]:
    """(event id, rule) -> points, for the ledger lines that earn something."""
    return {line.key: line.points for line in standing.ledger if line.points}


def adapters(**overrides):
    """Use cases wired to fresh in-memory fakes (not installed globally)."""
    return bootstrap.memory_adapters(**overrides)


def deliver(adapters_, dicts: Iterable[dict], recompute: bool = True, received: datetime = NOW) -> None:
    """Store events as ingestion would (received at `received`); recompute each learner touched once afterwards."""
    streams = []
    for d in dicts:
        event = parse_event(d)
        adapters_.events.add(event, received)
        streams.append(f"learner:{event.learner.id}")
    if recompute:
        for stream in dict.fromkeys(streams):
            recompute_stream(stream, adapters_)


def deliver_one_by_one(adapters_, dicts: Iterable[dict]) -> None:
    """Arrival order: store one event, recompute its learner, then the next."""
    for d in dicts:
        deliver(adapters_, [d])


def run_rescore_jobs(adapters) -> list[str]:
    """Run the re-score jobs queued on the audit queue (an org move's, chalicelib/rescore.py) as its consumer would,
    and return the streams re-scored, each once, in order."""
    from chalicelib import rescore
    rescored: list[str] = []

    def score(learner_id: str) -> None:
        rescored.append(f"learner:{learner_id}")
        recompute_stream(f"learner:{learner_id}", adapters)

    while adapters.audit_queue.sent:
        messages, adapters.audit_queue.sent = adapters.audit_queue.sent, []
        for message in messages:
            if "rescore" in message:
                rescore.run_segment(adapters, message, rescore=score)
    return list(dict.fromkeys(rescored))
