"""Privacy as pure rules: who sees a learner's name on a board, masked contact details, and what of an event
is personal data. No I/O.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from chalicelib.rules.learner import Profile

Visibility = Literal["public", "org", "hidden"]
VISIBILITIES: tuple[str, ...] = ("public", "org", "hidden")
# Colleagues know each other already; the rest of the country sees a name only when the learner says so.
DEFAULT_VISIBILITY: Visibility = "org"
# What a learner block keeps when the learner has been erased: what points, boards and org figures need.
KEPT_LEARNER_FIELDS = ("id", "org_id")


@dataclass(frozen=True)
class Listing:
    """What a board needs to know about a learner to list them (LearnerRepository.names)."""
    name: Optional[str] = None
    org_id: Optional[str] = None
    visibility: Optional[str] = None  # the learner's choice; None: DEFAULT_VISIBILITY
    erased: bool = False
    scopes: tuple[str, ...] = ()  # the learner's board scopes: their org and the orgs above it


def shows_name(viewer, learner_id: str, listing: Listing) -> bool:
    """May `viewer` (a Principal) see this learner's name and id on a board?

    public: everyone. org: colleagues in the same org, admins of that org or an org above it, national
    admins. hidden: nobody but the learner. Erased: nobody.
    """
    if listing.erased:
        return False
    if viewer.sub == learner_id:
        return True
    visibility = listing.visibility if listing.visibility in VISIBILITIES else DEFAULT_VISIBILITY
    if visibility != "org":
        return visibility == "public"
    if viewer.has("national_admin"):
        return True
    if viewer.org_id is None:
        return False
    if viewer.org_id == listing.org_id:
        return True
    # The scopes name the learner's org and every org above it, so no org-tree reads are needed per row.
    above = {scope.split(":", 1)[1] for scope in listing.scopes if ":" in scope}
    return viewer.has("mdo_admin") and viewer.org_id in above


def anonymous_name(org_name: Optional[str]) -> str:
    return f"A Karmayogi from {org_name}" if org_name else "A Karmayogi"


def mask_email(email: Optional[str]) -> Optional[str]:
    """a•••••@example.gov.in: the first character and the domain; the length of the rest is not shown."""
    if not email:
        return None
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}•••••@{domain}" if local else "•••••"


def mask_phone(phone: Optional[str]) -> Optional[str]:
    """••••••5678: the last four digits only."""
    if not phone:
        return None
    digits = "".join(c for c in phone if c.isdigit())
    return "••••••" + digits[-4:]


def personal_fields(learner: object) -> list[str]:
    """The fields of an event's learner block that hold personal data: any set field but the id and the org."""
    if not isinstance(learner, dict):
        return []
    return sorted(k for k, v in learner.items() if k not in KEPT_LEARNER_FIELDS and v is not None)


def without_personal_data(body: dict) -> dict:
    """The event (as stored JSON) with the learner block cut down to id and org: what erasure keeps."""
    learner = body.get("learner")
    if not isinstance(learner, dict):
        return body
    return {**body, "learner": {k: v for k, v in learner.items() if k in KEPT_LEARNER_FIELDS}}


def anonymous_profile(profile: Profile) -> Profile:
    """An erased learner's profile: the org alone, which points, boards and org figures need."""
    return Profile(org_id=profile.org_id)
