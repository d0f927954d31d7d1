"""Use cases about learners: read their standing, ranks and ledger. Scoring them is chalicelib/scoring/."""
from __future__ import annotations

from datetime import datetime

from chalicelib.errors import not_found
from chalicelib.events import is_id
from chalicelib.leaderboards import service as leaderboards
from chalicelib.identity.access import forbidden, require_learner_access
from chalicelib.orgtree import parent_lookup
from chalicelib.paging import decode_cursor, encode_cursor, parse_limit
from chalicelib.rules.learner import current_clap_streak
from chalicelib.rules.periods import month_of, utc_iso, week_of
from chalicelib.rules.privacy import mask_email, mask_phone

LEDGER_CURSOR = r"\d{10}\.\d{3}"  # a ledger seq: learner version and position


# --- reading ------------------------------------------------------------------------------------------

def readable_learner(learner_id: str, principal, adapters):
    """The stored learner, if the caller may see them: themself, an admin of their org, a national admin."""
    # An id that could never have been accepted is simply unknown (and never reaches DynamoDB's key limits).
    stored = adapters.learners.get(learner_id) if is_id(learner_id) else None
    if stored is None:
        if principal.sub != learner_id and not principal.has("national_admin"):
            raise forbidden("you may only see your own data, or that of learners in orgs you administer")
        raise not_found(f"learner {learner_id[:128]}")
    require_learner_access(principal, learner_id, stored.standing.profile.org_id, parent_lookup(adapters))
    return stored


def learner_summary(learner_id: str, principal, adapters, now: datetime) -> dict:
    return summary_of(readable_learner(learner_id, principal, adapters), adapters, now)


def summary_of(stored, adapters, now: datetime) -> dict:
    s, zone = stored.standing, adapters.rules.timezone
    catalogue = {b.id: b for b in adapters.catalogue}
    this_week, this_month = f"week:{week_of(now, zone)}", f"month:{month_of(now, zone)}"
    return {
        "learner_id": s.learner_id,
        "name": s.profile.name,
        "org_id": s.profile.org_id,
        "contact": {"email": mask_email(s.profile.email), "phone": mask_phone(s.profile.phone)},
        "points": s.points,
        "points_this_week": s.points_by_period.get(this_week, 0),
        "points_this_month": s.points_by_period.get(this_month, 0),
        "courses_completed": s.courses_completed,
        "learning_minutes": s.learning_minutes,
        "competency_areas": sorted(s.competency_areas),
        "claps": {"current": current_clap_streak(s.clap_weeks, week_of(now, zone)), "best": s.best_clap_streak,
                  "weekly_minutes_needed": adapters.rules.clap_weekly_minutes},
        "badges": [{"id": b.badge_id, "name": catalogue[b.badge_id].name if b.badge_id in catalogue else b.badge_id,
                    "awarded_at": utc_iso(b.awarded_at), "event_id": b.event_id,
                    "why": catalogue[b.badge_id].description if b.badge_id in catalogue else None}
                   for b in sorted(s.badges.values(), key=lambda b: (b.awarded_at, b.badge_id))]
        # campaign awards (campaigns/service.py close), in the same shape
        + [{"id": a.badge_id, "name": a.name, "awarded_at": utc_iso(a.awarded_at), "event_id": None,
            "why": a.description} for a in adapters.campaigns.awards_of(s.learner_id)],
        "last_active_at": utc_iso(s.last_active_at) if s.last_active_at else None,
        "held_events": s.held_events,
        "ranks": leaderboards.learner_ranks(s, adapters, now),
    }


def ledger_page(learner_id: str, principal, adapters, limit, cursor) -> dict:
    readable_learner(learner_id, principal, adapters)
    size = parse_limit(limit, 20, adapters.limits.max_page_size)
    entries, next_seq = adapters.learners.ledger_page(learner_id, size, decode_cursor(cursor, LEDGER_CURSOR) if cursor else None)
    return {
        "learner_id": learner_id,
        "entries": [ledger_entry(e) for e in entries],
        "next_cursor": encode_cursor(next_seq) if next_seq else None,
    }


def ledger_entry(e) -> dict:
    return {"event_id": e.event_id, "rule": e.rule, "amount": e.amount, "note": e.note, "kind": e.kind,
            "occurred_at": utc_iso(e.occurred_at), "recorded_at": utc_iso(e.recorded_at) if e.recorded_at else None,
            "rules_version": e.rules_version or None}  # the rule version applied (null: recorded before versions)


def badge_catalogue(adapters) -> dict:
    return {"badges": [b.as_dict() for b in adapters.catalogue]}
