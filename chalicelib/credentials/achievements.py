"""Which achievement a badge id stands for, and when the learner earned it.

Catalogue badges (rules/badges.toml) are awarded by the scoring engine and sit on the learner's standing.
Campaign badges ("campaign.<campaign id>.goal" / ".top") are awarded by campaigns as `badge.awarded` domain
events whose payload names and describes them; where they are read from is pluggable (CampaignAwards).
"""
from __future__ import annotations

import re
from typing import Optional, Protocol

from chalicelib.credentials.ob3 import Achievement, Award
from chalicelib.rules.config import Badge

CAMPAIGN_BADGE = re.compile(r"campaign\.(?P<campaign>.+)\.(?P<kind>goal|top)")
_CAMPAIGN_KINDS = {"goal": ("Campaign goal met", "Met the learning goal of a learning-week campaign."),
                   "top": ("Campaign top learner", "Among the top learners of a learning-week campaign.")}


class CampaignAwards(Protocol):
    def award(self, learner_id: str, badge_id: str) -> Optional[tuple[dict, Award]]:
        """The award's payload (badge_id, campaign_id, name, description, criteria) and when, or None."""


def area_of(badge: Badge) -> str:
    metric, _, area = badge.metric.partition(".")
    return area if metric == "courses_in_area" and area else "general"


def criteria_of(badge: Badge) -> str:
    t = badge.threshold
    metric, _, area = badge.metric.partition(".")
    return {
        "courses_completed": f"Complete {t} course{'s' if t != 1 else ''} on iGOT Karmayogi.",
        "courses_in_area": f"Complete {t} courses on iGOT Karmayogi that build a {area} competency.",
        "learning_minutes": f"Spend {t / 60:g} hours learning on iGOT Karmayogi.",
        "best_clap_streak": f"Earn the weekly claps {t} weeks in a row.",
        "ratings": f"Rate {t} course{'s' if t != 1 else ''} on iGOT Karmayogi.",
    }.get(metric, badge.description)


def catalogue_achievement(badge: Badge) -> Achievement:
    return Achievement(badge.id, badge.name, badge.description, criteria_of(badge), badge.level, area_of(badge))


def campaign_achievement(badge_id: str, payload: Optional[dict] = None) -> Optional[Achievement]:
    """From the award's payload; without one (the public image), the campaign design with a generic name."""
    match = CAMPAIGN_BADGE.fullmatch(badge_id)
    if match is None:
        return None
    name, description = _CAMPAIGN_KINDS[match["kind"]]
    payload = payload or {}

    def text(field: str, default: str) -> str:
        value = payload.get(field)
        return value.strip()[:500] if isinstance(value, str) and value.strip() else default
    return Achievement(badge_id, text("name", name), text("description", description),
                       text("criteria", text("description", description)), "campaign", "campaign", "campaign")


def public_achievement(badge_id: str, catalogue) -> Optional[Achievement]:
    """What anyone may know about a badge id without knowing who earned it (badge images)."""
    badge = next((b for b in catalogue if b.id == badge_id), None)
    return catalogue_achievement(badge) if badge else campaign_achievement(badge_id)


def achievement_for(badge_id: str, learner_id: str, standing, catalogue,
                    campaign_awards: CampaignAwards) -> Optional[tuple[Achievement, Award]]:
    """The achievement and the learner's award of it, or None if they do not hold this badge."""
    badge = next((b for b in catalogue if b.id == badge_id), None)
    if badge is not None:
        award = standing.badges.get(badge_id) if standing is not None else None
        return (catalogue_achievement(badge), Award(award.awarded_at, award.event_id)) if award else None
    if CAMPAIGN_BADGE.fullmatch(badge_id):
        found = campaign_awards.award(learner_id, badge_id)
        if found is not None:
            payload, award = found
            return campaign_achievement(badge_id, payload), award
    return None


class DomainEventCampaignAwards:
    """The default source: the `badge.awarded:<learner>:<badge>` domain event campaigns write."""

    def __init__(self, domain_events):
        self.domain_events = domain_events

    def award(self, learner_id: str, badge_id: str) -> Optional[tuple[dict, Award]]:
        fact = self.domain_events.get(f"badge.awarded:{learner_id}:{badge_id}")
        if fact is None or fact.kind != "badge.awarded" or fact.learner_id != learner_id:
            return None
        payload = fact.payload or {}
        return payload, Award(fact.occurred_at, payload.get("event_id"))
