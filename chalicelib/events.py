"""The event contract with the learning platform (docs/brief.md, "The event contract").

These models are the domain's vocabulary: ingestion validates webhook bodies with them, the store keeps
their JSON, and the rules read them back. Pure: no I/O.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timezone
from typing import Annotated, Literal, Optional, Union

from pydantic import (AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter,
                      ValidationError, field_validator)

# Limits on strings and lists: generous for real payloads, small enough that nobody can bloat an item.
ID = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@\-]+$")]
ID_PATTERN = r"[A-Za-z0-9_.:@\-]{1,128}"  # the same shape, for checking ids that arrive in paths and cursors


def is_id(value) -> bool:
    """Could this be an id we accepted? Anything else is unknown, and never reaches a database key."""
    return isinstance(value, str) and re.fullmatch(ID_PATTERN, value) is not None


# Bidi overrides, embeddings, isolates and marks, and zero-width characters: invisible, they can make a name
# display as something else ("\u202egnp.exe"), or two names that look alike compare different. Stripped.
FORMAT_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]")


def clean_text(value: str) -> str:
    """Text people see (names, campaign text): one Unicode form (NFC), without invisible format controls."""
    return FORMAT_CONTROLS.sub("", unicodedata.normalize("NFC", value))


def _nfc(value: str) -> str:
    """Names arrive from many keyboards; store one Unicode form so search and display agree."""
    return clean_text(value).strip()


def _a_number(value):
    """JSON true/false are not numbers (Python would take True as 1), nor is "30"."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a number")
    return value


Text = Annotated[str, Field(max_length=300), AfterValidator(_nfc)]
Int = Annotated[int, BeforeValidator(_a_number)]
Float = Annotated[float, BeforeValidator(_a_number)]


class _Model(BaseModel):
    # Upstream adds fields over time; unknown ones are kept in the stored JSON, not rejected.
    model_config = ConfigDict(extra="allow", frozen=True)


class Competency(_Model):
    id: ID
    name: Optional[Text] = None
    area: Literal["behavioural", "functional", "domain"]


class Course(_Model):
    id: ID
    name: Optional[Text] = None
    primary_category: Text = "Course"
    duration_minutes: Int = Field(default=0, ge=0, le=100_000)
    competencies: list[Competency] = Field(default_factory=list, max_length=50)


class CourseRef(_Model):
    id: ID
    name: Optional[Text] = None


class Acbp(_Model):
    plan_id: ID
    end_date: date


class Assessment(_Model):
    passed: bool
    score_percent: Optional[Annotated[float, Field(ge=0, le=100), BeforeValidator(_a_number)]] = None


class LearnerRef(_Model):
    id: ID
    org_id: ID


class LearnerProfile(LearnerRef):
    name: Optional[Text] = None
    designation: Optional[Text] = None
    group: Optional[Text] = None
    email: Optional[Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = None
    phone: Optional[Annotated[str, Field(max_length=20, pattern=r"^\+?[0-9 \-]{8,19}$")]] = None
    language: Optional[Annotated[str, Field(max_length=10, pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")]] = None
    employee_code: Optional[Text] = None


class LiveEvent(_Model):
    """A webinar or other live learning event."""
    id: ID
    name: Optional[Text] = None
    duration_minutes: Int = Field(default=0, ge=0, le=10_000)
    competencies: list[Competency] = Field(default_factory=list, max_length=50)


class OrgBlock(_Model):
    id: ID
    name: Text
    type: Literal["ministry", "department", "mdo", "state"]
    parent_id: Optional[ID] = None


class _Event(_Model):
    id: ID
    occurred_at: AwareDatetime

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        try:
            return value.astimezone(timezone.utc)
        except OverflowError:  # year 1 east of UTC, year 9999 west of it: no such instant in UTC
            raise ValueError("is out of range") from None

    @property
    def order_key(self) -> tuple[datetime, str]:
        """The one order every order-dependent rule uses: when it happened, then id; never arrival."""
        return (self.occurred_at, self.id)


class _LearnerEvent(_Event):
    learner: LearnerRef


class CourseCompleted(_LearnerEvent):
    type: Literal["course.completed"]
    course: Course
    acbp: Optional[Acbp] = None
    assessment: Optional[Assessment] = None


class CourseEnrolled(_LearnerEvent):
    type: Literal["course.enrolled"]
    course: CourseRef


class CourseRated(_LearnerEvent):
    type: Literal["course.rated"]
    course: CourseRef
    rating: Float = Field(ge=0, le=5)


class LearningTimeSpent(_LearnerEvent):
    type: Literal["learning.time_spent"]
    content_id: Optional[ID] = None
    minutes: Int = Field(ge=0, le=1440)
    competency_linked: bool = False


class EventAttended(_LearnerEvent):
    type: Literal["event.attended"]
    event: LiveEvent


class LearnerFirstLogin(_LearnerEvent):
    type: Literal["learner.first_login"]


class LearnerUpserted(_Event):
    type: Literal["learner.upserted"]
    learner: LearnerProfile


class OrgUpserted(_Event):
    type: Literal["org.upserted"]
    org: OrgBlock


Event = Annotated[
    Union[CourseCompleted, CourseEnrolled, CourseRated, LearningTimeSpent, EventAttended,
          LearnerFirstLogin, LearnerUpserted, OrgUpserted],
    Field(discriminator="type"),
]
EVENT_TYPES = ("course.completed", "course.enrolled", "course.rated", "learning.time_spent",
               "event.attended", "learner.first_login", "learner.upserted", "org.upserted")
LearnerEvent = Union[CourseCompleted, CourseEnrolled, CourseRated, LearningTimeSpent, EventAttended,
                     LearnerFirstLogin, LearnerUpserted]

_adapter: TypeAdapter = TypeAdapter(Event)


class InvalidEvent(ValueError):
    """An event that breaks the contract, with the dotted path of the first offending field."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def parse_event(data: object) -> Event:
    """Validate one event. Raises InvalidEvent naming the first bad field."""
    if not isinstance(data, dict):
        raise InvalidEvent("event", "must be a JSON object")
    if data.get("type") not in EVENT_TYPES:
        raise InvalidEvent("type", f"must be one of {', '.join(EVENT_TYPES)}")
    try:
        return _adapter.validate_python(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        # The discriminated union puts the type tag first in the path; people think in payload fields.
        path = [str(p) for p in error["loc"][1:]]
        raise InvalidEvent(".".join(path) or "event", _without_input(dict(error))) from None


def _without_input(error: dict) -> str:
    """Pydantic's message, unless it quotes what was sent: an answer (or a log) never echoes an email or a
    phone number. Its messages for our fields do not today; this keeps it so if that changes."""
    value = error.get("input")
    if isinstance(value, (str, int, float)) and len(str(value)) >= 4 and str(value) in error["msg"]:
        return "is not valid"
    return error["msg"]


def parse_stored(data: dict) -> Event:
    """Read back an event we validated on the way in (no need to re-report field paths)."""
    return _adapter.validate_python(data)


def stream_of(event: Event) -> str:
    """Events are stored per stream: one per learner, one per org."""
    if isinstance(event, OrgUpserted):
        return f"org:{event.org.id}"
    return f"learner:{event.learner.id}"


def rewrite_event(adapters, stream: str, event_id: str, body: dict) -> None:
    """Change a stored event in place (a pass added to its completion, a claimed ACBP plan, a course's new
    duration): the learner's checkpoint of the fold folded the old body, so it goes, and the next run folds from
    scratch (rules/checkpoint.py). Queue the stream to have it re-scored."""
    adapters.events.rewrite(stream, event_id, body)
    kind, _, learner_id = stream.partition(":")
    if kind == "learner":
        adapters.learners.drop_checkpoint(learner_id)
