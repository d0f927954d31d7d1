"""Loading the directories, and what a change of them sets off: parked activities released, learners re-scored.

- import_courses: the platform's content search results (identifier, name, primaryCategory, duration in seconds
  as a string, competencies_v5), or an xAPI client's own course (client, activityId, with the same fields).
- import_users: the platform's user read (userId or id, rootOrgId, organisations, firstName/lastName,
  profileDetails.professionalDetails[].designation, email, phone, language, and xAPI accounts).
- learn_from_profiles: the webhook's learner.upserted events keep the user directory current.
- A course whose duration or competencies change re-scores the learners who completed it: their stored
  completion takes the catalogue's new facts, and their stream is queued for scoring.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from datetime import datetime
from typing import Iterable, Optional

from chalicelib.events import rewrite_event
from chalicelib.directory.metrics import report_parked
from chalicelib.directory.store import CatalogueCourse, DirectoryUser
from chalicelib.errors import ApiError, bad_request
from chalicelib.events import clean_text, is_id
from chalicelib.identity.access import require_national_admin
from chalicelib.paging import decode_cursor, encode_cursor, parse_limit
from chalicelib.platform import intake

log = logging.getLogger(__name__)

MAX_ITEMS = 1000  # per POST /v1/platform/courses or /v1/platform/users (the make targets send pages of this)
AREAS = ("behavioural", "functional", "domain")


class InvalidItem(ValueError):
    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


# --- reading the platform's shapes ---------------------------------------------------------------------------
def course_from_platform(item) -> CatalogueCourse:
    if not isinstance(item, dict):
        raise InvalidItem("item", "must be a JSON object")
    client = item.get("client")
    iri = item.get("activityId")
    if client is not None and (not is_id(client) or not isinstance(iri, str) or not 0 < len(iri) <= 2048):
        raise InvalidItem("activityId" if is_id(client) else "client",
                          "a client's own course needs client (an id) and activityId (its activity IRI)")
    identifier = item.get("identifier")
    if identifier is None and client is not None:
        identifier = f"xapi-{client}-" + hashlib.sha256(str(iri).encode()).hexdigest()[:20]
    if not is_id(identifier):
        raise InvalidItem("identifier", "is required: an id (letters, digits, _ . : @ -)")
    name = item.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 300):
        raise InvalidItem("name", "must be text of at most 300 characters")
    category = item.get("primaryCategory", "Course")
    if not isinstance(category, str) or not 0 < len(category) <= 100:
        raise InvalidItem("primaryCategory", "must be text")
    seconds = item.get("duration", "0")
    if isinstance(seconds, bool) or not (isinstance(seconds, int) or (isinstance(seconds, str) and seconds.isascii()
                                                                       and seconds.isdigit())):
        raise InvalidItem("duration", "must be whole seconds (the platform sends them as a string)")
    minutes = (int(seconds) + 30) // 60
    if minutes > 100_000:
        raise InvalidItem("duration", "is over 100,000 minutes")
    return CatalogueCourse(course_id=identifier, name=clean_text(name).strip() if name else None,
                           primary_category=clean_text(category).strip(), duration_minutes=minutes,
                           competencies=_competencies(item.get("competencies_v5") or []),
                           client=client, activity_iri=iri if client is not None else None)


def _competencies(raw) -> tuple[dict, ...]:
    if not isinstance(raw, list) or len(raw) > 50:
        raise InvalidItem("competencies_v5", "must be a list of at most 50 competencies")
    found: dict[str, dict] = {}
    for position, c in enumerate(raw):
        path = f"competencies_v5.{position}"
        if not isinstance(c, dict):
            raise InvalidItem(path, "must be a JSON object")
        area = str(c.get("competencyArea", "")).strip().lower()
        if area not in AREAS:
            raise InvalidItem(f"{path}.competencyArea", f"must be one of {', '.join(a.title() for a in AREAS)}")
        theme = c.get("competencyThemeId")
        theme = str(theme) if isinstance(theme, (str, int)) and not isinstance(theme, bool) else None
        if not is_id(theme):
            raise InvalidItem(f"{path}.competencyThemeId", "is required: an id")
        name = c.get("competencyTheme")
        found.setdefault(theme, {"id": theme, "area": area,
                                 **({"name": clean_text(name).strip()[:300]} if isinstance(name, str) and name
                                    else {})})
    return tuple(found.values())


def user_from_platform(item) -> DirectoryUser:
    if not isinstance(item, dict):
        raise InvalidItem("item", "must be a JSON object")
    user_id = item.get("userId", item.get("id"))
    if not is_id(user_id):
        raise InvalidItem("userId", "is required: an id")
    root = item.get("rootOrgId")
    orgs = item.get("organisations") or []
    org = next((o.get("organisationId") for o in orgs if isinstance(o, dict) and is_id(o.get("organisationId"))),
               None) if isinstance(orgs, list) else None
    org = org or root
    if not is_id(org):
        raise InvalidItem("rootOrgId", "is required (or organisations[].organisationId): an id")
    if root is not None and not is_id(root):
        raise InvalidItem("rootOrgId", "must be an id")
    name = " ".join(str(item.get(k) or "").strip() for k in ("firstName", "lastName")).strip() or None
    professional = (item.get("profileDetails") or {}).get("professionalDetails") if isinstance(
        item.get("profileDetails"), dict) else None
    designation = next((p.get("designation") for p in professional or [] if isinstance(p, dict)
                        and isinstance(p.get("designation"), str) and p.get("designation")), None) if isinstance(
        professional, list) else None
    language = item.get("language")
    if isinstance(language, list):
        language = next((x for x in language if isinstance(x, str)), None)
    accounts = []
    for position, a in enumerate(item.get("accounts") or []):
        if not isinstance(a, dict) or not isinstance(a.get("homePage"), str) or not isinstance(a.get("name"), str):
            raise InvalidItem(f"accounts.{position}", "must be {homePage, name}")
        accounts.append((a["homePage"], a["name"]))
    email, phone = item.get("email"), item.get("phone")
    return DirectoryUser(
        user_id=user_id, org_id=org, root_org_id=root, name=clean_text(name)[:300] if name else None,
        designation=clean_text(designation).strip()[:300] if designation else None,
        language=language[:10] if isinstance(language, str) else None,
        email=email.strip()[:254] if isinstance(email, str) and "@" in email else None,
        phone=phone.strip()[:20] if isinstance(phone, str) and phone.strip() else None,
        accounts=tuple(dict.fromkeys(accounts)))


# --- use cases -----------------------------------------------------------------------------------------------
def courses_request(principal, raw_body: Optional[bytes], adapters, now: datetime) -> dict:
    """POST /v1/platform/courses (national admins): a JSON array of the platform's content search results."""
    require_national_admin(principal)
    return import_courses(json_array(raw_body), adapters, now)


def users_request(principal, raw_body: Optional[bytes], adapters, now: datetime) -> dict:
    """POST /v1/platform/users (national admins): a JSON array of the platform's user reads."""
    require_national_admin(principal)
    return import_users(json_array(raw_body), adapters, now)


def json_array(raw_body: Optional[bytes]):
    import json
    try:
        return json.loads(raw_body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad_request("body", "is not valid JSON", "invalid_json") from None


def _items(payload) -> list:
    if not isinstance(payload, list) or not payload:
        raise bad_request("body", "must be a non-empty JSON array")
    if len(payload) > MAX_ITEMS:
        raise ApiError(413, "batch_too_large", f"at most {MAX_ITEMS} items per request, got {len(payload)}", "body")
    return payload


def import_courses(payload, adapters, now: datetime) -> dict:
    """Write each course; release what waited for it; re-score those who completed it if its duration or
    competencies changed. One result per item: new, changed, unchanged or rejected."""
    results, counts = [], {"released": 0, "rescored": 0}
    for item in _items(payload):
        try:
            course = course_from_platform(item)
        except InvalidItem as exc:
            results.append({"id": _raw(item, "identifier"), "status": "rejected",
                            "error": {"field": exc.field, "message": exc.problem}})
            continue
        before = adapters.directory.courses.put(course)
        status = "new" if before is None else ("unchanged" if before == course else "changed")
        if before is not None and before.scoring_fingerprint() != course.scoring_fingerprint():
            counts["rescored"] += rescore_course(course, adapters)
        keys = [("course", course.course_id)] + ([("course", course.activity_iri)] if course.activity_iri else [])
        counts["released"] += release(keys, adapters, now)["accepted"]
        results.append({"id": course.course_id, "status": status, "error": None})
    return {"results": results, **counts}


def import_users(payload, adapters, now: datetime) -> dict:
    results: list[Optional[dict]] = []
    released, users = 0, []
    for item in _items(payload):
        try:
            users.append(user_from_platform(item))
            results.append(None)
        except InvalidItem as exc:
            results.append({"id": _raw(item, "userId"), "status": "rejected",
                            "error": {"field": exc.field, "message": exc.problem}})
    erased = adapters.learners.erased([u.user_id for u in users]) if users else set()
    for position, user in zip([n for n, r in enumerate(results) if r is None], users):
        if user.user_id in erased:  # an erased learner's personal data never comes back (learners/erasure.py)
            user = without_personal_data(user)
        status, count = learn_user(replace(user, as_of=f"{now.isoformat()}|import"), adapters, now)
        released += count
        results[position] = {"id": user.user_id, "status": status, "error": None}
    return {"results": results, "released": released}


def without_personal_data(user: DirectoryUser) -> DirectoryUser:
    """What is kept of an erased learner: ids, org and xAPI accounts (which map statements to them), no name,
    designation, language, email or phone."""
    return replace(user, name=None, designation=None, language=None, email=None, phone=None)


def forget_personal_data(learner_id: str, adapters) -> bool:
    """Erasure (learners/erasure.py): the user directory keeps no personal data of the learner. True if it held
    some."""
    before = adapters.directory.users.get(learner_id)
    if before is None or before == without_personal_data(before):
        return False
    adapters.directory.users.put(without_personal_data(before))
    return True


_UNREAD = object()


def learn_user(user: DirectoryUser, adapters, now: datetime, before=_UNREAD) -> tuple[str, int]:
    """Write a user (accounts already known are kept) and release what waited for them. `before`: the stored
    user when the caller has read it already."""
    users = adapters.directory.users
    if before is _UNREAD:
        before = users.get(user.user_id)
    if before is not None:
        user = replace(user, accounts=tuple(dict.fromkeys(before.accounts + user.accounts)))
    if before == user:
        return "unchanged", 0
    users.put(user)
    keys = [("user", user.user_id)] + [("user", intake.account_key(h, n)) for h, n in user.accounts]
    if user.email:
        keys.append(("user", intake.mbox_key(user.email)))
    return ("new" if before is None else "changed"), release(keys, adapters, now)["accepted"]


def learn_from_profiles(events: Iterable, adapters, now: datetime) -> int:
    """The webhook's learner.upserted events keep the user directory current (ingestion/webhook.py calls this
    for what it accepted). Returns how many parked activities that released."""
    released = 0
    for event in events:
        if getattr(event, "type", None) != "learner.upserted":
            continue
        p = event.learner
        as_of = f"{event.occurred_at.isoformat()}|{event.id}"
        before = adapters.directory.users.get(p.id)
        if before is not None and before.as_of is not None and before.as_of >= as_of:
            continue  # a later profile (or import) is there already: the latest wins, as in scoring
        user = DirectoryUser(user_id=p.id, org_id=p.org_id, root_org_id=before.root_org_id if before else None,
                             name=p.name, designation=p.designation, language=p.language, email=p.email,
                             phone=p.phone, accounts=before.accounts if before else (), as_of=as_of)
        if before == user:
            continue
        released += learn_user(user, adapters, now, before)[1]
    return released


def release(keys: list[tuple[str, str]], adapters, now: datetime) -> dict:
    """Accept the activities parked for these users or courses, now that the directory knows them. What still
    cannot be resolved (its course, once its user is known) stays parked, waiting for that instead."""
    parked = adapters.directory.parked
    waiting = {p.park_id: p for kind, key in dict.fromkeys(keys) for p in parked.waiting_for(kind, key)}
    counts = {"accepted": 0, "duplicate": 0, "parked": 0, "rejected": 0}
    if not waiting:
        return counts
    items = list(waiting.values())
    outcomes = intake.accept([intake.activity_from_json(p.activity) for p in items], adapters, now)
    for p, outcome in zip(items, outcomes):
        status = outcome["status"]
        counts[status] = counts.get(status, 0) + 1
        if status == "rejected":
            log.warning("a released activity was rejected", extra={"park_id": p.park_id, "error": outcome["error"]})
        if status != "parked":
            parked.release(p.park_id)
    report_parked(parked)
    return counts


def rescore_course(course: CatalogueCourse, adapters) -> int:
    """The completions of this course take its new duration and competencies; their learners are queued."""
    streams = []
    for stream, event_id in adapters.directory.courses.completions(course.course_id):
        stored = next((e for e in adapters.events.stream(stream) if e.id == event_id), None)
        if stored is None or getattr(stored, "course", None) is None:
            continue
        body = stored.model_dump(mode="json")
        body["course"] = {**body["course"], **intake.course_block(course)}
        rewrite_event(adapters, stream, event_id, body)
        streams.append(stream)
    if streams:
        adapters.queue.send(list(dict.fromkeys(streams)))
    return len(streams)


PARKED_POSITION = r"[A-Za-z0-9_.:@\-]{1,128}"


def parked_list(principal, adapters, limit, cursor) -> dict:
    """GET /v1/platform/parked (national admins): what waits for the directory, a page at a time (in the store's
    order), with how many wait in all."""
    require_national_admin(principal)
    size = parse_limit(limit, 50, adapters.limits.max_page_size)
    rows, after = adapters.directory.parked.page(size, decode_cursor(cursor, PARKED_POSITION) if cursor else None)
    return {"parked": [parked_json(p) for p in rows], "count": adapters.directory.parked.count(),
            "next_cursor": encode_cursor(after) if after else None}


def parked_json(p) -> dict:
    a = p.activity
    kind, key = p.waits_for
    return {"id": p.park_id, "source": a["source"], "record_id": a["record_id"], "kind": a["kind"],
            "waits_for": {"kind": kind, "key": key}, "course_id": a.get("course_id"),
            "occurred_at": a["occurred_at"], "parked_at": p.parked_at.isoformat()}


def _raw(item, name: str) -> Optional[str]:
    value = item.get(name) if isinstance(item, dict) else None
    return value[:128] if isinstance(value, str) else None
