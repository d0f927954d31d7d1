"""A learner's preferences: one small document, stored on the learner record, written only by the learner.

To add a preference (notification channels, say), add a field with a default to Preferences: stored documents
without it read back with the default, and a PUT that leaves it out sets it back to the default.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, ValidationError

from chalicelib.errors import bad_request, not_found, json_object
from chalicelib.identity.access import forbidden
from chalicelib.learners.service import readable_learner
from chalicelib.rules.privacy import DEFAULT_VISIBILITY, Visibility

# English and the languages of the Eighth Schedule (ISO 639 codes), as the platform offers them.
LANGUAGES = ("en", "as", "bn", "brx", "doi", "gu", "hi", "kn", "kok", "ks", "mai", "ml", "mni", "mr", "ne", "or",
             "pa", "sa", "sat", "sd", "ta", "te", "ur")


class Channels(BaseModel):
    """Whether one category of notification may reach the learner by email and by SMS."""
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    email: bool = True
    sms: bool = False


class NotificationChoices(BaseModel):
    """Per category and channel. Defaults: email on for everything; SMS only for nudges, and then only when
    email did not work or on the ladder's SMS rung (notifications/policy.py choose_channel)."""
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    awards: Channels = Channels()
    campaign_reminders: Channels = Channels()
    nudges: Channels = Channels(sms=True)
    admin_summaries: Channels = Channels()


class Preferences(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    language: Literal[LANGUAGES] = "en"  # type: ignore[valid-type]  # pydantic expands the tuple
    leaderboard_visibility: Visibility = DEFAULT_VISIBILITY
    notifications: NotificationChoices = NotificationChoices()


def effective(stored: Optional[dict], profile_language: Optional[str]) -> Preferences:
    """What applies now: the learner's choices, else the language the platform told us, else the defaults.
    A stored field this version does not know or accept (written by a later one) is ignored."""
    chosen = {k: v for k, v in (stored or {}).items() if k in Preferences.model_fields and _valid(k, v)}
    platform = (profile_language or "").split("-")[0].lower()
    if "language" not in chosen and platform in LANGUAGES:
        chosen["language"] = platform
    return Preferences(**chosen)


def channel_allowed(stored: Optional[dict], category: str, channel: str) -> bool:
    """The learner's (or the default) choice for one category and channel."""
    choices = effective(stored, None).notifications
    return getattr(getattr(choices, category), channel)


def without_channel(stored: Optional[dict], category: str, channel: str) -> dict:
    """The stored document with one category's channel turned off (an unsubscribe link), all else as it was."""
    chosen = {k: v for k, v in (stored or {}).items() if k in Preferences.model_fields and _valid(k, v)}
    notifications = {k: dict(v) for k, v in dict(chosen.get("notifications") or {}).items()}
    notifications.setdefault(category, {})[channel] = False
    return {**chosen, "notifications": notifications}


def _valid(name: str, value) -> bool:
    try:
        Preferences(**{name: value})
    except ValidationError:
        return False
    return True


def parse(raw_body: Optional[bytes]) -> dict:
    """A PUT body: the fields the learner set (the others take their defaults). 400 naming the field."""
    data = json_object(raw_body)
    try:
        return Preferences(**data).model_dump(exclude_unset=True)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"])[:128] or "body"
        if error["type"] == "extra_forbidden":
            raise bad_request(field, "is not a preference") from None
        raise bad_request(field, error["msg"]) from None
    except TypeError:  # a key that is not a string cannot be a keyword argument
        raise bad_request("body", "has a field that is not a preference") from None


# --- use cases ----------------------------------------------------------------------------------------

def get_preferences(learner_id: str, principal, adapters) -> dict:
    stored = readable_learner(learner_id, principal, adapters)
    return effective(stored.preferences, stored.standing.profile.language).model_dump()


def put_preferences(learner_id: str, principal, adapters, raw_body: Optional[bytes]) -> dict:
    """The learner themself (or a national admin) replaces the document. One write of one attribute: no race
    with a scoring save, which never writes it."""
    stored = readable_learner(learner_id, principal, adapters)
    if principal.sub != learner_id and not principal.has("national_admin"):
        raise forbidden("only the learner may change their preferences")
    chosen = parse(raw_body)
    if not adapters.learners.set_preferences(learner_id, chosen):
        raise not_found(f"learner {learner_id}")
    return effective(chosen, stored.standing.profile.language).model_dump()
