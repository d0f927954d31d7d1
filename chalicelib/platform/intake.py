"""The shared intake of every outside door (the platform's Kafka topics and POST /v1/platform/events, xAPI):
an Activity in, our own events (chalicelib/events.py) out, stored through the same event store and scoring queue
as the webhook (ingestion/webhook.py), exactly once.

What an outside record does not say (the learner's org, the course's duration and competencies) comes from the
directories (chalicelib/directory/). An activity whose user or course is not known yet is parked, never dropped
or guessed, and accepted when the directory learns it (directory/service.py release).

Exactly once: our event id is derived from the activity's source and record_id (the platform's `mid`, a natural
key, an xAPI statement id), so a re-delivery is a duplicate. A completion's id is derived from (user, course)
whatever the door, so a certificate re-issue or a second report of the same completion is a duplicate too.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Optional

from chalicelib.events import rewrite_event
from chalicelib.directory.store import CatalogueCourse, DirectoryUser, Parked
from chalicelib.events import InvalidEvent, is_id, parse_event, stream_of

log = logging.getLogger(__name__)

# What an outside record means, in our words. learning.progress is content progress (never a completion).
KINDS = ("course.completed", "course.enrolled", "course.rated", "acbp.claimed", "event.attended",
         "learning.progress", "learning.time")
# The kinds that need the course's own facts (duration, competencies, name) to be scored: parked when the
# catalogue does not know the course. The others need only its id.
NEEDS_COURSE = ("course.completed", "acbp.claimed", "event.attended")


@dataclass(frozen=True)
class UserRef:
    """Who, as the record says it: a platform user id, or an xAPI account (homePage, name), or an mbox."""
    user_id: Optional[str] = None
    account_home_page: Optional[str] = None
    account_name: Optional[str] = None
    mbox: Optional[str] = None  # "mailto:..." or the bare address; never logged

    def park_key(self) -> tuple[str, str]:
        """What a parked activity waits for (directory/store.Parked.waits_for); no email in it."""
        if self.user_id:
            return ("user", self.user_id)
        if self.account_home_page and self.account_name:
            return ("user", account_key(self.account_home_page, self.account_name))
        return ("user", mbox_key(self.mbox or ""))


def account_key(home_page: str, name: str) -> str:
    return f"account:{home_page}|{name}"


def mbox_key(mbox: str) -> str:
    email = mbox.strip().lower().removeprefix("mailto:")
    return "mbox:" + hashlib.sha256(email.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Activity:
    """One thing a learner did, as an outside door reports it.

    source: "platform:<topic without env>" or "xapi:<client>". record_id: the idempotency key within the source.
    course_id: a catalogue course id, or (xAPI) the activity IRI of a course the client registered. details:
    rating (course.rated), minutes (learning.time, learning.progress), batch_id, content_id, passed and
    score_percent (course.completed), event_name, plan_id and end_date (acbp.claimed), anything else kept."""
    source: str
    record_id: str
    kind: str
    user: UserRef
    course_id: Optional[str]
    occurred_at: datetime
    details: dict = field(default_factory=dict)


def activity_to_json(activity: Activity) -> dict:
    data = asdict(activity)
    data["occurred_at"] = activity.occurred_at.astimezone(timezone.utc).isoformat()
    return data


def activity_from_json(data: dict) -> Activity:
    return Activity(source=data["source"], record_id=data["record_id"], kind=data["kind"],
                    user=UserRef(**data["user"]), course_id=data.get("course_id"),
                    occurred_at=datetime.fromisoformat(data["occurred_at"]), details=dict(data.get("details") or {}))


def event_id(source: str, record_id: str) -> str:
    """Our event id for (source, record_id): readable when it fits the id shape, a digest otherwise."""
    readable = f"{source}:{record_id}"
    if is_id(readable) and len(readable) <= 120:
        return readable
    return "x-" + hashlib.sha256(f"{source}\x1f{record_id}".encode()).hexdigest()[:48]


def completion_id(user_id: str, course_id: str) -> str:
    """One completion per (learner, course), whichever door reports it and however often."""
    return event_id("completion", f"{user_id}:{course_id}")


def result(record_id: Optional[str], status: str, error: Optional[dict] = None, **extra) -> dict:
    """A per-record result shaped like the webhook's ({id, status, error}); status: accepted, duplicate, parked or
    rejected."""
    return {"id": record_id, "status": status, "error": error, **extra}


def accept(activities: list[Activity], adapters, now: datetime) -> list[dict]:
    """Resolve, store, queue: one result per activity, in order. One bad activity never sinks the others; what was
    stored is queued even when a later store fails (the exception then propagates, for the sender's retry)."""
    directory = adapters.directory
    users = directory.users.get_many(sorted({a.user.user_id for a in activities if a.user.user_id}))
    courses = directory.courses.get_many(sorted({a.course_id for a in activities
                                                 if a.course_id and a.kind in NEEDS_COURSE + ("learning.progress",)}))
    results: list[dict] = []
    streams: list[str] = []
    try:
        for activity in activities:
            results.append(_accept_one(activity, users, courses, adapters, now, streams))
    finally:
        if streams:
            adapters.queue.send(list(dict.fromkeys(streams)))
    if any(r["status"] == "parked" for r in results):
        from chalicelib.directory.metrics import report_parked
        report_parked(directory.parked)
    return results


def _accept_one(activity: Activity, users: dict, courses: dict, adapters, now: datetime, streams: list) -> dict:
    rid = activity.record_id
    if activity.kind not in KINDS:
        return result(rid, "rejected", {"field": "kind", "message": f"must be one of {', '.join(KINDS)}"})
    user = _user(activity.user, users, adapters.directory.users)
    course = None
    if activity.kind in NEEDS_COURSE:
        if not activity.course_id:
            return result(rid, "rejected", {"field": "course_id", "message": "is required"})
        course = courses.get(activity.course_id) or _client_course(activity, adapters.directory.courses)
    elif activity.kind == "learning.progress" and activity.course_id:
        course = courses.get(activity.course_id)  # the content's duration, when the catalogue has it
    waits = activity.user.park_key() if user is None else (
        ("course", activity.course_id) if activity.kind in NEEDS_COURSE and course is None else None)
    if waits is not None:
        adapters.directory.parked.park(Parked(park_id=event_id(activity.source, rid), waits_for=waits,
                                              activity=activity_to_json(activity), parked_at=now))
        return result(rid, "parked", None, waits_for=waits[0])
    assert user is not None
    try:
        event = parse_event(to_event(activity, user, course))
    except InvalidEvent as exc:
        return result(rid, "rejected", {"field": exc.field, "message": exc.problem})
    limits = adapters.limits
    if event.occurred_at < datetime.fromisoformat(limits.earliest_occurred_at):
        return result(rid, "rejected", {"field": "occurred_at", "message": f"is before {limits.earliest_occurred_at}"})
    if (event.occurred_at - now).total_seconds() > limits.future_tolerance_seconds:
        return result(rid, "rejected", {"field": "occurred_at", "message": "is in the future"})
    stream = stream_of(event)
    if activity.kind == "acbp.claimed":
        status = _claim(event, adapters, now)
    else:
        status = "accepted" if adapters.events.add(event, now) else "duplicate"
    if activity.kind in ("course.completed", "acbp.claimed"):
        # Duplicates too (an idempotent put): the first delivery may have been stored but never noted.
        adapters.directory.courses.note_completion(event.course.id, stream, event.id)  # type: ignore[union-attr]
    streams.append(stream)  # duplicates too: the first delivery may have been stored but never queued
    return result(rid, status, None, event_id=event.id)


def _user(ref: UserRef, known: dict, directory) -> Optional[DirectoryUser]:
    if ref.user_id:
        return known.get(ref.user_id)
    if ref.account_home_page and ref.account_name:
        return directory.find_by_account(ref.account_home_page, ref.account_name)
    if ref.mbox:
        return directory.find_by_email(ref.mbox.strip().removeprefix("mailto:"))
    return None


def _client_course(activity: Activity, catalogue) -> Optional[CatalogueCourse]:
    if activity.source.startswith("xapi:") and activity.course_id:
        return catalogue.by_activity(activity.source.removeprefix("xapi:"), activity.course_id)
    return None


def course_block(course: CatalogueCourse) -> dict:
    return {"id": course.course_id, **({"name": course.name} if course.name else {}),
            "primary_category": course.primary_category, "duration_minutes": course.duration_minutes,
            "competencies": [dict(c) for c in course.competencies]}


def to_event(activity: Activity, user: DirectoryUser, course: Optional[CatalogueCourse]) -> dict:
    """Our webhook event (events.py) for a resolved activity, as JSON (parse_event validates it)."""
    d = activity.details
    base = {"occurred_at": activity.occurred_at.isoformat(), "learner": {"id": user.user_id, "org_id": user.org_id}}
    own_id = event_id(activity.source, activity.record_id)
    kind = activity.kind
    if kind in ("course.completed", "acbp.claimed"):
        assert course is not None
        body = {**base, "id": completion_id(user.user_id, course.course_id), "type": "course.completed",
                "course": course_block(course)}
        if "passed" in d:
            body["assessment"] = {"passed": bool(d["passed"]),
                                  **({"score_percent": d["score_percent"]} if d.get("score_percent") is not None
                                     else {})}
        if kind == "acbp.claimed":
            body["acbp"] = acbp_block(activity)
        return body
    if kind == "course.enrolled":
        return {**base, "id": own_id, "type": "course.enrolled", "course": {"id": activity.course_id}}
    if kind == "course.rated":
        return {**base, "id": own_id, "type": "course.rated", "course": {"id": activity.course_id},
                "rating": d.get("rating")}
    if kind == "event.attended":
        assert course is not None
        return {**base, "id": own_id, "type": "event.attended",
                "event": {"id": course.course_id, **({"name": course.name} if course.name else {}),
                          "duration_minutes": course.duration_minutes,
                          "competencies": [dict(c) for c in course.competencies]}}
    # learning.progress, learning.time: learning activity, never a completion. A content completed counts its
    # catalogue duration (0 when the catalogue does not have it: progress is never parked).
    minutes = d.get("minutes")
    if minutes is None:
        minutes = min(course.duration_minutes, 1440) if course is not None else 0  # one event: at most a day
    linked = d.get("competency_linked", bool(course is not None and course.competencies))
    return {**base, "id": own_id, "type": "learning.time_spent", "minutes": minutes,
            **({"content_id": d["content_id"]} if is_id(d.get("content_id")) else {}),
            "competency_linked": bool(linked)}


def acbp_block(activity: Activity) -> dict:
    """The claim says the course is on the learner's ACBP plan (the platform checked it against the plan before
    offering the claim); its plan and due date when the record has them, else the claim itself, due that day."""
    d = activity.details
    end = d.get("end_date") or activity.occurred_at.astimezone(timezone.utc).date().isoformat()
    return {"plan_id": str(d.get("plan_id") or "acbp"), "end_date": end}


def _claim(event, adapters, now: datetime) -> str:
    """An ACBP claim marks the learner's completion of the course as on their plan: stored as that completion
    when there is none yet (the certificate that follows is then a duplicate), else written into it once."""
    if adapters.events.add(event, now):
        return "accepted"
    stream = stream_of(event)
    stored = next((e for e in adapters.events.stream(stream) if e.id == event.id), None)
    if stored is None or getattr(stored, "acbp", None) is not None:
        return "duplicate"
    body = stored.model_dump(mode="json")
    body["acbp"] = event.acbp.model_dump(mode="json")
    rewrite_event(adapters, stream, event.id, body)
    return "accepted"
