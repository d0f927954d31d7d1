"""xAPI statements in, our activities out: the version header, validation with ralph's pydantic models (the xAPI
1.0.3 data model; 2.0 as the same models with 2.0's version and context agents and groups), statement ids, the
content digest that tells an identical re-post from a conflicting one, and what a statement means for scoring
(an intake Activity, or nothing). Pure: no I/O, no clock (`now` and `new_id` are given).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, List, Literal, Optional

from pydantic import StringConstraints, ValidationError
from ralph.models.xapi.base.agents import BaseXapiAgent
from ralph.models.xapi.base.common import IRI
from ralph.models.xapi.base.contexts import BaseXapiContext
from ralph.models.xapi.base.groups import BaseXapiGroup
from ralph.models.xapi.base.statements import BaseXapiStatement
from ralph.models.xapi.config import BaseModelWithConfig
from typing_extensions import Annotated

from chalicelib.errors import ApiError, bad_request
from chalicelib.platform.intake import Activity, UserRef

HERE = Path(__file__).resolve().parent
VERSION_HEADER = "X-Experience-API-Version"
# What we answer with: the newest version of each line a client may speak.
SPOKEN = {"1.0": "1.0.3", "2.0": "2.0.0"}
CMI5_CATEGORY = "https://w3id.org/xapi/cmi5/context/categories/cmi5"
KINDS = ("completion", "passed", "attendance", "time")
# A statement's own properties the comparison of a re-post ignores (xAPI: set by the LRS, or not part of the
# statement's meaning): what we stored it with would otherwise make every re-post a conflict.
NOT_COMPARED = ("id", "stored", "authority", "version")


# --- configuration ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class XapiConfig:
    max_statements: int = 100
    max_statement_bytes: int = 32768
    max_minutes_per_statement: int = 1440
    max_courses: int = 100
    verbs: dict[str, str] = field(default_factory=dict)  # verb IRI -> completion | passed | attendance | time
    iri_patterns: tuple[re.Pattern, ...] = ()  # IRIs naming a catalogue course: the `course` group is its id


def config_from(data: dict) -> XapiConfig:
    verbs = dict(data.get("verbs", {}))
    wrong = sorted(v for v in verbs.values() if v not in KINDS)
    if wrong:
        raise ValueError(f"xapi verbs must map to one of {KINDS}, got {wrong}")
    patterns = tuple(re.compile(p) for p in data.get("catalogue", {}).get("iri_patterns", []))
    if any("course" not in p.groupindex for p in patterns):
        raise ValueError("each xapi catalogue.iri_patterns entry needs a (?P<course>...) group")
    numbers = {k: int(data[k]) for k in ("max_statements", "max_statement_bytes", "max_minutes_per_statement",
                                         "max_courses") if k in data}
    if any(v < 1 for v in numbers.values()):
        raise ValueError("xapi limits must be at least 1")
    return XapiConfig(**numbers, verbs=verbs, iri_patterns=patterns)


@lru_cache(maxsize=1)
def default_config() -> XapiConfig:
    with open(os.environ.get("KARMAYOGI_XAPI_FILE") or HERE / "config.toml", "rb") as f:
        return config_from(tomllib.load(f))


# --- versions -------------------------------------------------------------------------------------------------

def protocol_version(header: Optional[str]) -> str:
    """"1.0" or "2.0" from the request's X-Experience-API-Version ("1.0", "1.0.3", "2.0.0"...); 400 otherwise."""
    if not header:
        raise bad_request(VERSION_HEADER, "is required (1.0.3 or 2.0.0)", "unsupported_version")
    match = re.fullmatch(r"\s*([12])\.0(?:\.(\d{1,4}))?\s*", header)
    if match is None or (match.group(1) == "1" and match.group(2) is not None and int(match.group(2)) > 3):
        raise bad_request(VERSION_HEADER, "must be 1.0.x (x up to 3) or 2.0.x", "unsupported_version")
    return f"{match.group(1)}.0"


# xAPI 2.0 adds contextAgents and contextGroups to the context, and its statements say version 2.0.x; the rest of
# the data model is 1.0.3's, which ralph's models implement (extra properties forbidden, IRIs, language tags,
# mailto addresses, durations, empty values checked).
class ContextAgent(BaseModelWithConfig):
    objectType: Literal["contextAgent"]
    agent: BaseXapiAgent
    relevantTypes: Optional[List[IRI]] = None


class ContextGroup(BaseModelWithConfig):
    objectType: Literal["contextGroup"]
    group: BaseXapiGroup
    relevantTypes: Optional[List[IRI]] = None


class Context20(BaseXapiContext):
    contextAgents: Optional[List[ContextAgent]] = None
    contextGroups: Optional[List[ContextGroup]] = None


class Statement20(BaseXapiStatement):
    context: Optional[Context20] = None  # type: ignore[assignment]
    version: Annotated[str, StringConstraints(pattern=r"^[12]\.0\.[0-9]+$")] = "2.0.0"  # type: ignore[assignment]


MODELS: dict[str, type[BaseXapiStatement]] = {"1.0": BaseXapiStatement, "2.0": Statement20}


# --- validation -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Statement:
    """One valid statement: its id (given or ours), its JSON as validated (the id included), and the digest of
    what a re-post must repeat."""
    id: str
    body: dict
    digest: str
    model: BaseXapiStatement
    occurred_at: datetime


def statements_in(payload: Any, version: str, config: XapiConfig, now: datetime, new_id: Callable[[], str],
                  earliest: datetime, future_seconds: int) -> list[Statement]:
    """The statements of a POST body (one statement or an array), all valid or none: 400 naming the first bad
    field (`[index].path` in an array), as the specification wants a batch stored whole or not at all."""
    batch = isinstance(payload, list)
    items = payload if batch else [payload]
    if batch and not items:
        raise bad_request("body", "an array must hold at least one statement")
    if len(items) > config.max_statements:
        raise ApiError(413, "batch_too_large",
                       f"a request holds at most {config.max_statements} statements, got {len(items)}", "body")
    statements, seen = [], set()
    for index, item in enumerate(items):
        prefix = f"[{index}]." if batch else ""
        statement = one_statement(item, version, config, now, new_id, earliest, future_seconds, prefix)
        if statement.id in seen:
            raise bad_request(f"{prefix}id", "is the id of another statement of this request", "duplicate_id")
        seen.add(statement.id)
        statements.append(statement)
    return statements


def one_statement(item: Any, version: str, config: XapiConfig, now: datetime, new_id: Callable[[], str],
                  earliest: datetime, future_seconds: int, prefix: str = "",
                  statement_id: Optional[str] = None) -> Statement:
    """One statement validated (400 naming `prefix` + the field). `statement_id`: the id a PUT names, which the
    statement must carry or leave out."""
    if not isinstance(item, dict):
        raise bad_request(prefix.rstrip(".") or "body", "must be a statement (a JSON object)", "invalid_statement")
    try:
        size = len(json.dumps(item, ensure_ascii=False).encode())
    except (UnicodeEncodeError, ValueError, RecursionError):
        raise bad_request(prefix.rstrip(".") or "body", "could not be read", "invalid_statement") from None
    if size > config.max_statement_bytes:
        raise ApiError(413, "statement_too_large", f"a statement is at most {config.max_statement_bytes} bytes",
                       prefix.rstrip(".") or "body")
    if statement_id is not None:
        if item.get("id") not in (None, statement_id):
            raise bad_request(f"{prefix}id", "differs from the statementId parameter", "invalid_statement")
        item = {**item, "id": statement_id}
    try:
        model = MODELS[version].model_validate(item)
    except ValidationError as exc:
        path, message = _first_error(exc)
        raise bad_request(prefix + path if path else (prefix.rstrip(".") or "body"), message,
                          "invalid_statement") from None
    except Exception:  # noqa: BLE001 - a validator of the library failing in its own way (ralph's context check
        # reads `object` before the model says it is missing): this statement's problem, never a 5xx
        raise bad_request(prefix.rstrip(".") or "body", "is not a valid statement", "invalid_statement") from None
    body = model.model_dump(mode="json", exclude_none=True)
    body["id"] = str(model.id) if model.id is not None else new_id()
    occurred = _utc(model.timestamp) if model.timestamp is not None else now
    if occurred < earliest:
        raise bad_request(f"{prefix}timestamp", f"is before {earliest.isoformat()}", "invalid_statement")
    if (occurred - now).total_seconds() > future_seconds:
        raise bad_request(f"{prefix}timestamp", "is in the future", "invalid_statement")
    return Statement(id=body["id"], body=body, digest=digest(body), model=model, occurred_at=occurred)


def digest(body: dict) -> str:
    """SHA-256 of the statement's canonical JSON without the properties a comparison ignores."""
    compared = {k: v for k, v in body.items() if k not in NOT_COMPARED}
    canonical = json.dumps(compared, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _utc(moment: datetime) -> datetime:
    """xAPI: a timestamp without a time zone is taken as UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _first_error(exc: ValidationError) -> tuple[str, str]:
    """The most telling error's dotted path, without the names of the library's union branches (an actor is
    tried as each kind of agent), and its message without the value sent (an mbox never comes back)."""
    errors = exc.errors()
    telling = next((e for e in errors if e["type"] not in ("missing", "extra_forbidden", "literal_error",
                                                           "union_tag_invalid", "model_type")), errors[0])
    path = ".".join(str(part) for part in telling["loc"] if not _branch(part))
    message, value = telling["msg"], telling.get("input")
    if isinstance(value, (str, int, float)) and len(str(value)) >= 3 and str(value) in message:
        message = "is not valid"
    return path, message


def _branch(part) -> bool:
    """A loc element naming a model class or a validator (not a field): BaseXapiAgentWithMbox, function-after[...]"""
    return isinstance(part, str) and (part[:1].isupper() and part != "IRI" and part.isidentifier() and
                                      any(c.islower() for c in part) and "Xapi" in part or "[" in part)


def kept(body: dict, client: str, stored_at: datetime, base_url: str) -> dict:
    """The statement as we keep it: an agent's `mbox` as its `mbox_sha1sum` (xAPI's own hashed form of the same
    identifier) and without agents' `name`, so that the statements table holds no email address or name (the
    learner is found, and the event stored, before this); `stored` and `authority` set as an LRS does."""
    def scrub(value):
        if isinstance(value, list):
            return [scrub(v) for v in value]
        if not isinstance(value, dict):
            return value
        out = {k: scrub(v) for k, v in value.items() if k != "extensions"}
        if "extensions" in value:
            out["extensions"] = value["extensions"]
        if isinstance(out.get("mbox"), str):
            out["mbox_sha1sum"] = hashlib.sha1(out.pop("mbox").encode()).hexdigest()  # noqa: S324 (xAPI's IFI)
        if out.get("objectType") in ("Agent", "Group") or {"mbox_sha1sum", "account", "openid"} & set(out):
            out.pop("name", None)
        return out
    return {**scrub(body), "stored": stored_at.isoformat(),
            "authority": {"objectType": "Agent", "account": {"homePage": base_url, "name": client}}}


# --- meaning ----------------------------------------------------------------------------------------------------

def learner_of(statement: Statement) -> Optional[UserRef]:
    """The learner a statement is about: an Agent with an account (homePage + name) or an mbox. A group, an
    openid or an mbox_sha1sum names nobody the directory can find: such a statement scores nothing."""
    actor = statement.body.get("actor", {})
    if actor.get("objectType", "Agent") != "Agent":
        return None
    account = actor.get("account")
    if account:
        return UserRef(account_home_page=str(account["homePage"]), account_name=str(account["name"]))
    if actor.get("mbox"):
        return UserRef(mbox=str(actor["mbox"]))
    return None


def minutes_of(duration: Optional[timedelta], cap: int) -> int:
    """Whole minutes of a result.duration (rounded down), at most `cap`."""
    if duration is None or duration.total_seconds() <= 0:
        return 0
    return min(math.floor(duration.total_seconds() / 60), cap)


def course_candidates(statement: Statement, config: XapiConfig) -> list[str]:
    """The course a statement may be about, most specific first: its object (an Activity), then the activities
    of its context's parent and grouping (Moodle puts the course there). Each is a catalogue course id when the
    IRI names one (config catalogue.iri_patterns), else the IRI as the client registered it."""
    body = statement.body
    iris = []
    if body.get("object", {}).get("objectType", "Activity") == "Activity":
        iris.append(body["object"]["id"])
    activities = body.get("context", {}).get("contextActivities", {})
    for kind in ("parent", "grouping"):
        found = activities.get(kind) or []
        iris.extend(a["id"] for a in (found if isinstance(found, list) else [found]))
    return list(dict.fromkeys(catalogue_id(iri, config) or iri for iri in iris))


def catalogue_id(iri: str, config: XapiConfig) -> Optional[str]:
    for pattern in config.iri_patterns:
        match = pattern.match(iri)
        if match:
            return match.group("course")
    return None


def is_cmi5(statement: Statement) -> bool:
    category = statement.body.get("context", {}).get("contextActivities", {}).get("category") or []
    return any(a.get("id") == CMI5_CATEGORY for a in (category if isinstance(category, list) else [category]))


@dataclass(frozen=True)
class Meaning:
    """What a statement means for scoring: an intake kind, the learner, the course candidates, the details."""
    kind: str
    user: UserRef
    courses: tuple[str, ...]
    details: dict


def meaning_of(statement: Statement, config: XapiConfig) -> Optional[Meaning]:
    """None: stored and answered like any other, and scoring nothing (a verb we do not count, a voided one, no
    findable learner, an `experienced` without a duration, an object that is no activity)."""
    kind = config.verbs.get(statement.body["verb"]["id"])
    user = learner_of(statement)
    if kind is None or user is None or statement.body["object"].get("objectType", "Activity") != "Activity":
        return None
    result = statement.model.result
    details: dict[str, Any] = {"verb": statement.body["verb"]["id"]}
    if is_cmi5(statement):
        details["cmi5"] = True
    if kind == "time":
        minutes = minutes_of(result.duration if result else None, config.max_minutes_per_statement)
        if minutes == 0:
            return None
        return Meaning("learning.time", user, (), {**details, "minutes": minutes})
    courses = tuple(course_candidates(statement, config))
    if not courses:
        return None
    if kind == "attendance":
        return Meaning("event.attended", user, courses, details)
    passed = True if kind == "passed" else (result.success if result is not None else None)
    if passed is not None:
        details["passed"] = passed
        score = result.score.scaled if result is not None and result.score is not None else None
        if score is not None and 0 <= score <= 1:
            details["score_percent"] = round(float(score) * 100, 2)
    return Meaning("course.completed", user, courses, details)


def activity_of(statement: Statement, meaning: Meaning, client: str, course_id: Optional[str]) -> Activity:
    """The intake's Activity for a statement whose meaning and course (one of its candidates) are decided."""
    return Activity(source=f"xapi:{client}", record_id=statement.id, kind=meaning.kind, user=meaning.user,
                    course_id=course_id, occurred_at=statement.occurred_at, details=dict(meaning.details))

