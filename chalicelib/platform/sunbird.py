"""The platform's own Kafka records (Sunbird CB / Sunbird Lern), as they are, read into intake Activities.

Shapes (field names as the platform's code writes them; see docs/platform-events.md for the sources):
- certificate: {"eid": "BE_JOB_REQUEST", "ets", "mid", "object", "edata": {"action": "issue-certificate", "userIds",
  "courseId", "batchId", "reIssue", ...}}: one completion per user; a re-issue is the same completion.
- enrolment: {"edata": {"userId", "courseId", "batchId"}} (no mid: the natural key user+course+batch).
- rating: {"action": "ratingAdd"|"ratingUpdate", "activity_id", "activity_Type", "user_id", "created_Date",
  "updatedValues": {"updatedOn", "rating", "review"}}: times are time-based (version 1) UUIDs.
- acbp_claim: {"edata": {"userId", "courseId"}}.
- attendance: {"user_id", "event_id", "batch_id", "ets" or "etc"} (epoch milliseconds; both spellings exist).
- progress: {"eid": "BE_JOB_REQUEST", "mid", "ets", "edata": {"action": "batch-enrolment-update", "userId",
  "courseId", "batchId", "contents": [{"contentId", "status"}]}}: status 2 is a content completed; learning
  activity, never a course completion.

Pure: no I/O. Raises InvalidRecord naming the field.
"""
from __future__ import annotations

import tomllib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Optional

from chalicelib.events import is_id
from chalicelib.platform.intake import Activity, UserRef

_GREGORIAN = datetime(1582, 10, 15, tzinfo=timezone.utc)


class InvalidRecord(ValueError):
    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Parsed:
    """A record's idempotency key (the platform's mid, or its natural key), and what it says: no activities for a
    record that is valid but says nothing we count (another BE_JOB_REQUEST action, progress without a content
    completed), with why."""
    record_id: str
    activities: tuple[Activity, ...]
    ignored: Optional[str] = None


@lru_cache(maxsize=1)
def config() -> dict:
    return tomllib.loads((Path(__file__).parent / "config.toml").read_text())


def kind_of_topic(topic: str) -> Optional[str]:
    """The record shape of a topic, with or without its environment prefix ("prod.rating.event")."""
    topics = config()["topics"]
    if topic in topics:
        return topics[topic]
    _, _, rest = topic.partition(".")
    return topics.get(rest)


def time_uuid_instant(value) -> datetime:
    """The instant a time-based (version 1) UUID was made, UTC."""
    try:
        parsed = uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise ValueError("is not a UUID") from None
    if parsed.version != 1:
        raise ValueError("is not a time-based (version 1) UUID")
    return _GREGORIAN + timedelta(microseconds=parsed.time // 10)


def parse(topic_kind: str, value, now: datetime) -> Parsed:
    if not isinstance(value, dict):
        raise InvalidRecord("record", "must be a JSON object")
    return _PARSERS[topic_kind](value, now)


def _text(data: dict, name: str, path: str) -> str:
    value = data.get(name)
    if not is_id(value):
        raise InvalidRecord(f"{path}{name}", "is required: an id (letters, digits, _ . : @ -)")
    return value


def _edata(value: dict) -> dict:
    edata = value.get("edata")
    if not isinstance(edata, dict):
        raise InvalidRecord("edata", "must be a JSON object")
    return edata


def _millis(value: dict, *names: str, path: str = "", default: Optional[datetime] = None) -> datetime:
    for name in names:
        if name in value:
            ms = value[name]
            if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not 0 < ms < 253402300800000:
                raise InvalidRecord(path + name, "must be epoch milliseconds")
            return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    if default is None:
        raise InvalidRecord(path + names[0], "is required (epoch milliseconds)")
    return default


def _mid(value: dict) -> Optional[str]:
    mid = value.get("mid")
    return mid if is_id(mid) else None


def _certificate(value: dict, now: datetime) -> Parsed:
    edata = _edata(value)
    if edata.get("action") != "issue-certificate":
        raise InvalidRecord("edata.action", "must be issue-certificate on this topic")
    course, batch = _text(edata, "courseId", "edata."), _text(edata, "batchId", "edata.")
    users = edata.get("userIds")
    if not isinstance(users, list) or not users or not all(is_id(u) for u in users):
        raise InvalidRecord("edata.userIds", "must be a non-empty list of user ids")
    if "reIssue" in edata and not isinstance(edata["reIssue"], bool):
        raise InvalidRecord("edata.reIssue", "must be true or false")
    when = _millis(value, "ets")
    source = "platform:issue.certificate.request"
    details = {"batch_id": batch, **({"re_issue": True} if edata.get("reIssue") else {})}
    activities = tuple(Activity(source, f"{course}:{user}", "course.completed", UserRef(user_id=user), course,
                                when, details) for user in dict.fromkeys(users))
    return Parsed(_mid(value) or f"{course}:{batch}:{'+'.join(users)}", activities)


def _enrolment(value: dict, now: datetime) -> Parsed:
    edata = _edata(value)
    user, course = _text(edata, "userId", "edata."), _text(edata, "courseId", "edata.")
    batch = edata.get("batchId") if is_id(edata.get("batchId")) else ""
    key = f"{user}:{course}:{batch}"
    when = _millis(value, "ets", default=now)
    return Parsed(_mid(value) or key, (Activity("platform:user.enrolment.event", key, "course.enrolled",
                                                UserRef(user_id=user), course, when, {"batch_id": batch}),))


def _rating(value: dict, now: datetime) -> Parsed:
    if value.get("action") not in ("ratingAdd", "ratingUpdate"):
        raise InvalidRecord("action", "must be ratingAdd or ratingUpdate")
    user, course = _text(value, "user_id", ""), _text(value, "activity_id", "")
    updated = value.get("updatedValues")
    if not isinstance(updated, dict):
        raise InvalidRecord("updatedValues", "must be a JSON object")
    rating = updated.get("rating")
    if isinstance(rating, bool) or not isinstance(rating, (int, float)):
        raise InvalidRecord("updatedValues.rating", "must be a number")
    stamp, field = (updated.get("updatedOn"), "updatedValues.updatedOn") if updated.get("updatedOn") else (
        value.get("created_Date"), "created_Date")
    try:
        when = time_uuid_instant(stamp)
    except ValueError as exc:
        raise InvalidRecord(field, str(exc)) from None
    key = f"{user}:{course}:{stamp}"
    return Parsed(key, (Activity("platform:rating.event", key, "course.rated", UserRef(user_id=user), course, when,
                                 {"rating": rating, "activity_type": str(value.get("activity_Type") or ""),
                                  "action": value["action"]}),))


def _acbp_claim(value: dict, now: datetime) -> Parsed:
    edata = _edata(value)
    user, course = _text(edata, "userId", "edata."), _text(edata, "courseId", "edata.")
    key = f"{user}:{course}"
    when = _millis(value, "ets", default=now)
    return Parsed(_mid(value) or key, (Activity("platform:user.claim.acbp.karma.points", key, "acbp.claimed",
                                                UserRef(user_id=user), course, when, {}),))


def _attendance(value: dict, now: datetime) -> Parsed:
    user, event = _text(value, "user_id", ""), _text(value, "event_id", "")
    batch = value.get("batch_id") if is_id(value.get("batch_id")) else ""
    when = _millis(value, "ets", "etc")
    key = f"{user}:{event}:{batch}"
    return Parsed(key, (Activity("platform:user.event.karma.points", key, "event.attended", UserRef(user_id=user),
                                 event, when, {"batch_id": batch}),))


def _progress(value: dict, now: datetime) -> Parsed:
    edata = _edata(value)
    action = edata.get("action")
    mid = _mid(value)
    if action != "batch-enrolment-update":
        return Parsed(mid or "", (), ignored=f"edata.action {action!r} is not learning activity")
    user, course = _text(edata, "userId", "edata."), _text(edata, "courseId", "edata.")
    batch = edata.get("batchId") if is_id(edata.get("batchId")) else ""
    contents = edata.get("contents")
    if not isinstance(contents, list):
        raise InvalidRecord("edata.contents", "must be a list")
    when = _millis(value, "ets", default=now)
    done = config()["limits"]["content_completed_status"]
    activities = []
    for position, content in enumerate(contents):
        if not isinstance(content, dict) or not is_id(content.get("contentId")):
            raise InvalidRecord(f"edata.contents.{position}.contentId", "is required: an id")
        if content.get("status") == done:
            key = f"{user}:{course}:{content['contentId']}"
            activities.append(Activity("platform:coursebatch.job.request", key, "learning.progress",
                                       UserRef(user_id=user), content["contentId"], when,
                                       {"content_id": content["contentId"], "course_id": course, "batch_id": batch}))
    key = mid or f"{user}:{course}:{batch}:{int(when.timestamp() * 1000)}"
    return Parsed(key, tuple(activities), ignored=None if activities else "no content completed")


_PARSERS = {"certificate": _certificate, "enrolment": _enrolment, "rating": _rating, "acbp_claim": _acbp_claim,
            "attendance": _attendance, "progress": _progress}
