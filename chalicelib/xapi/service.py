"""The xAPI door's use cases: statements posted or put by an LMS client, and the client's own courses.

A request is authenticated (Basic, per client), its version header checked, its statements validated all or none
(statements.py), checked against the ids already stored (a different statement under a known id is 409, the
same statement again is accepted once more, idempotently), stored, and handed to the shared intake
(platform/intake.py) as activities: resolved through the directories, stored as our own events exactly once, or
parked until the directory knows the learner or course.
"""
from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from datetime import datetime
from typing import Callable, Optional

from chalicelib.events import rewrite_event
from chalicelib import settings
from chalicelib.errors import ApiError, bad_request
from chalicelib.platform import intake
from chalicelib.xapi import clients as xapi_clients
from chalicelib.xapi.statements import (SPOKEN, Statement, XapiConfig, activity_of, default_config, kept,
                                        meaning_of, one_statement, protocol_version, statements_in)
from chalicelib.xapi.store import StoredStatement

log = logging.getLogger(__name__)


def about() -> dict:
    """GET /xapi/about: the versions this endpoint speaks."""
    return {"version": sorted(SPOKEN.values())}


def response_headers(version: str) -> dict:
    return {"X-Experience-API-Version": SPOKEN[version]}


def error_headers(error: ApiError, version_header: Optional[str]) -> dict:
    """An LRS answers every request with its version, errors included (the request's line when it named one we
    speak, else 1.0.3), and a 401 names the scheme to use."""
    try:
        version = protocol_version(version_header)
    except ApiError:
        version = "1.0"
    headers = response_headers(version)
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="xapi", charset="UTF-8"'
    return headers


def _body(raw_body: Optional[bytes], adapters):
    limit = adapters.limits.max_body_bytes
    if raw_body is not None and len(raw_body) > limit:
        raise ApiError(413, "payload_too_large", f"body is over {limit} bytes", "body")
    try:
        return json.loads(raw_body or b"")
    except (ValueError, UnicodeDecodeError):
        raise bad_request("body", "is not valid JSON", "invalid_json") from None
    except RecursionError:
        raise bad_request("body", "is nested too deeply", "invalid_json") from None


def _limits(adapters) -> tuple[datetime, int]:
    limits = adapters.limits
    return datetime.fromisoformat(limits.earliest_occurred_at), limits.future_tolerance_seconds


def post_statements(raw_body: Optional[bytes], authorization: Optional[str], version_header: Optional[str],
                    adapters, now: datetime, new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
                    config: Optional[XapiConfig] = None) -> tuple[list[str], str]:
    """POST /xapi/statements: the statement ids, in order, and the protocol version spoken."""
    client = xapi_clients.authenticate(authorization, adapters.xapi_clients())
    version = protocol_version(version_header)
    config = config or default_config()
    earliest, future = _limits(adapters)
    payload = _body(raw_body, adapters)
    statements = statements_in(payload, version, config, now, new_id, earliest, future)
    _store_and_take(statements, client, adapters, now, config, batch=isinstance(payload, list))
    return [s.id for s in statements], version


def put_statement(statement_id: Optional[str], raw_body: Optional[bytes], authorization: Optional[str],
                  version_header: Optional[str], adapters, now: datetime,
                  config: Optional[XapiConfig] = None) -> str:
    """PUT /xapi/statements?statementId=: one statement under the id the client chose (204 when stored)."""
    client = xapi_clients.authenticate(authorization, adapters.xapi_clients())
    version = protocol_version(version_header)
    try:
        wanted = str(uuid.UUID(statement_id or ""))
    except ValueError:
        raise bad_request("statementId", "is required: a UUID", "invalid_statement") from None
    config = config or default_config()
    earliest, future = _limits(adapters)
    statement = one_statement(_body(raw_body, adapters), version, config, now, lambda: wanted, earliest, future,
                              statement_id=wanted)
    _store_and_take([statement], client, adapters, now, config)
    return version


def _store_and_take(statements: list[Statement], client: str, adapters, now: datetime, config: XapiConfig,
                    batch: bool = False) -> None:
    """Nothing is stored when one statement's id is taken by other content (409 naming it: `[index].id` when the
    body was an array, as validation errors name fields). The new ones are
    stored; new ones and identical re-posts of this client's own go to the intake (which stores each event once,
    so a re-post whose first delivery got through changes nothing)."""
    store = adapters.xapi_statements
    known = store.digests([s.id for s in statements])
    for index, s in enumerate(statements):
        if s.id in known and known[s.id][1] != s.digest:
            raise _conflict(index if batch else None)
    taken, raced = [], None
    for index, s in enumerate(statements):
        if s.id in known:
            if known[s.id][0] == client:
                taken.append(s)
            continue
        stored = store.add(StoredStatement(s.id, client, s.digest, now,
                                           kept(s.body, client, now, settings.public_base_url())))
        if stored is not None and stored != (client, s.digest):
            if stored[1] != s.digest:  # another request stored other content under this id meanwhile
                raced = index
                break
            continue
        taken.append(s)
    # What was stored is taken in even when a race ends the request with 409 (a client need not retry a 409).
    outcomes = _take(taken, client, _remembering(adapters), now, config)
    log.info("xapi statements", extra={"client": client, "statements": len(statements), "outcomes": outcomes})
    if raced is not None:
        raise _conflict(raced if batch else None)


class _Remembered:
    """A directory port whose look-ups are remembered for one request: an array of statements by one learner about
    one course reads the learner and the course once, not once per statement. Writes pass through."""
    LOOKUPS = ("get", "find_by_account", "find_by_email", "by_activity")

    def __init__(self, port):
        self._port, self._seen = port, {}

    def __getattr__(self, name):
        found = getattr(self._port, name)
        if name not in self.LOOKUPS:
            return found

        def remembered(*args):
            if (name, args) not in self._seen:
                self._seen[(name, args)] = found(*args)
            return self._seen[(name, args)]
        return remembered


def _remembering(adapters):
    from dataclasses import replace

    from chalicelib.directory.store import Directory
    directory = adapters.directory
    return replace(adapters, directory=Directory(_Remembered(directory.courses), _Remembered(directory.users),
                                                 directory.parked))


def _conflict(index: Optional[int]) -> ApiError:
    return ApiError(409, "conflict", "a different statement with this id was already received",
                    f"[{index}].id" if index is not None else "id")


def _take(statements: list[Statement], client: str, adapters, now: datetime, config: XapiConfig) -> dict:
    """The statements' activities through the intake; how many were accepted, duplicates, parked, not scored."""
    activities: list = []
    counts: Counter = Counter()
    for s in statements:
        meaning = meaning_of(s, config)
        if meaning is None:
            counts["not_scored"] += 1
            continue
        course = _course(meaning.courses, client, adapters) if meaning.courses else None
        activities.append(activity_of(s, meaning, client, course))
    outcomes = intake.accept(activities, adapters, now) if activities else []
    for activity, outcome in zip(activities, outcomes):
        counts[outcome["status"]] += 1
        if outcome["status"] == "rejected":  # the statement is kept; why its activity could not be is logged
            log.warning("an xapi statement's activity was rejected",
                        extra={"client": client, "statement_id": outcome["id"], "error": outcome["error"]})
        elif outcome["status"] == "duplicate" and activity.kind == "course.completed" and \
                activity.details.get("passed") is True and _assessment_passed(activity, outcome, adapters):
            counts["assessment_added"] += 1
    return dict(counts)


def _assessment_passed(activity: intake.Activity, outcome: dict, adapters) -> bool:
    """A `passed` after the `completed` of the same course (cmi5 AUs send them in either order): the completion is
    one event per learner and course, so the assessment is written into the one stored, once, and the learner
    queued for scoring. A pass is never taken back by a later `failed`. True when it was written."""
    users = adapters.directory.users
    ref = activity.user
    user = users.get(ref.user_id) if ref.user_id else (
        users.find_by_account(ref.account_home_page, ref.account_name) if ref.account_home_page and ref.account_name
        else users.find_by_email((ref.mbox or "").strip().removeprefix("mailto:")))
    if user is None:
        return False
    stream = f"learner:{user.user_id}"
    stored = next((e for e in adapters.events.stream(stream) if e.id == outcome.get("event_id")), None)
    if stored is None or getattr(stored, "assessment", None) is not None and stored.assessment.passed:
        return False
    body = stored.model_dump(mode="json")
    score = activity.details.get("score_percent")
    body["assessment"] = {"passed": True, **({"score_percent": score} if score is not None else {})}
    rewrite_event(adapters, stream, stored.id, body)
    adapters.queue.send([stream])
    return True


def _course(candidates: tuple[str, ...], client: str, adapters) -> str:
    """The first candidate the catalogue knows (a catalogue id, or an activity IRI the client registered); none
    known: the statement's own object, which the activity then waits for."""
    if len(candidates) == 1:
        return candidates[0]
    catalogue = adapters.directory.courses
    for candidate in candidates:
        known = catalogue.by_activity(client, candidate) if ":" in candidate else catalogue.get(candidate)
        if known is not None:
            return candidate
    return candidates[0]


# --- the client's own courses ----------------------------------------------------------------------------------

def register_courses(raw_body: Optional[bytes], authorization: Optional[str], adapters, now: datetime,
                     config: Optional[XapiConfig] = None) -> dict:
    """PUT /xapi/courses: courses the catalogue does not know, registered by the client under their activity IRIs,
    with their duration and competencies (one object or an array). Written through the catalogue like the
    platform's own (directory/service.py import_courses): statements parked for the course are released, and a
    change of duration or competencies re-scores those who completed it."""
    from chalicelib.directory import service as directory
    client = xapi_clients.authenticate(authorization, adapters.xapi_clients())
    config = config or default_config()
    payload = _body(raw_body, adapters)
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise bad_request("body", "an array must hold at least one course")
    if len(items) > config.max_courses:
        raise ApiError(413, "batch_too_large", f"at most {config.max_courses} courses per request, got {len(items)}",
                       "body")
    translated, refused = [], {}
    for index, item in enumerate(items):
        try:
            translated.append(course_item(item, client))
        except ValueError as exc:
            refused[index] = {"field": exc.args[0], "message": exc.args[1]}
            translated.append(None)
    imported: dict = directory.import_courses([t for t in translated if t is not None], adapters, now) \
        if any(t is not None for t in translated) else {"results": [], "released": 0, "rescored": 0}
    answers = iter(imported["results"])
    results = []
    for index, item in enumerate(items):
        iri = item.get("activityId") if isinstance(item, dict) else None
        iri = iri if isinstance(iri, str) and len(iri) <= 2048 else None  # echoed only when it could be one
        if index in refused:
            results.append({"activityId": iri, "id": None, "status": "rejected", "error": refused[index]})
        else:
            answer = next(answers)
            results.append({"activityId": iri, **answer})
    return {"results": results, "released": imported["released"], "rescored": imported["rescored"]}


def course_item(item, client: str) -> dict:
    """A client's course in the catalogue's import shape (directory/service.py course_from_platform). Raises
    ValueError(field, problem). The duration may be ISO 8601 (PT1H30M, as xAPI writes durations) or seconds."""
    from datetime import timedelta

    from pydantic import TypeAdapter, ValidationError
    from ralph.models.xapi.base.common import IRI
    if not isinstance(item, dict):
        raise ValueError("item", "must be a JSON object")
    iri = item.get("activityId")
    try:
        IRI.model_validate(iri)
    except (ValidationError, ValueError, TypeError):
        raise ValueError("activityId", "is required: the course's activity IRI, as its statements name it") from None
    if not isinstance(iri, str) or len(iri) > 2048:
        raise ValueError("activityId", "is at most 2,048 characters")
    duration = item.get("duration", 0)
    if isinstance(duration, str) and duration.strip().upper().startswith("P"):
        try:
            seconds = int(TypeAdapter(timedelta).validate_python(duration.strip()).total_seconds())
        except ValidationError:
            raise ValueError("duration", "must be an ISO 8601 duration (PT1H30M) or whole seconds") from None
        if seconds < 0:
            raise ValueError("duration", "must not be negative")
        duration = seconds
    unknown = sorted(set(item) - {"activityId", "name", "primaryCategory", "duration", "competencies_v5"})
    if unknown:
        raise ValueError(unknown[0], "is not a course field (activityId, name, primaryCategory, duration, "
                                     "competencies_v5)")
    return {**{k: v for k, v in item.items() if k != "duration"}, "duration": duration, "client": client}
