"""Campaigns as scoring sees them: the multipliers of live campaigns (an input of the pure computation) and
the campaign progress projection (each learner's progress record, campaign boards and org statistics).

Both run inside the scoring pipeline (scoring/pipeline.py, wired in bootstrap.py); expected_progress is also
what the campaign auditor (audit/campaigns.py) compares stored progress with.
"""
from __future__ import annotations

from collections import Counter
from typing import Optional

from chalicelib.campaigns import rules
from chalicelib.campaigns.rules import ACTIVE, Campaign, Progress, campaign_config
from chalicelib.campaigns.scope import cached_campaigns, chain, in_scope, org_type
from chalicelib.identity.access import within
from chalicelib.leaderboards.boards import Scope
from chalicelib.leaderboards.projection import scopes_of, sync_learner
from chalicelib.orgtree import parent_lookup
from chalicelib.rules.learner import LearnerStanding, Profile

def boosts_for(events, adapters, orgs=()) -> dict[str, list[rules.Boost]]:
    """org id -> multipliers of campaigns whose scope contains it, for the orgs in these events (and `orgs`)."""
    boosts = [(c, rules.boost_of(c)) for c in cached_campaigns(adapters)]
    boosts = [(c, b) for c, b in boosts if b]
    if not boosts:
        return {}
    parent_of = parent_lookup(adapters)
    orgs = set(orgs) | {e.learner.org_id for e in events if hasattr(e, "learner")}
    return {org: [b for c, b in boosts if in_scope(c.scope, org, parent_of)] for org in orgs}


def needs_whole_stream(adapters, orgs) -> bool:
    """While a campaign whose scope holds one of the learner's orgs is active, its progress projection (below)
    reads every event of their stream: scoring then loads them all rather than those after its checkpoint
    (rules/checkpoint.py). A learner none of whose orgs is in an active campaign's scope gets no progress there."""
    active = [c for c in cached_campaigns(adapters) if c.status in ACTIVE]
    if not active:
        return False
    parent_of = parent_lookup(adapters)
    return any(in_scope(c.scope, org, parent_of) for c in active for org in orgs)


def _campaign_standing(learner_id: str, p: Optional[Progress], period: str) -> Optional[LearnerStanding]:
    """A standing holding only one campaign's period, for the board mechanism (leaderboards.sync_learner)."""
    if p is None:
        return None
    return LearnerStanding(learner_id, profile=Profile(org_id=p.org_id), points_by_period=Counter({period: p.score}),
                           minutes_by_period=Counter({period: p.minutes}),
                           reached_at={period: p.reached_at} if p.reached_at else {})


def _board_scopes(campaign: Campaign, org_id: Optional[str], adapters) -> list[Scope]:
    """The learner's board scopes that lie inside the campaign's scope."""
    parent_of = parent_lookup(adapters)
    kind, ident = rules.scope_parts(campaign.scope)
    return [s for s in scopes_of(org_id, adapters)
            if (s.kind == "national" and kind == "national")
            or (s.kind != "national" and (kind == "national" or within(s.id, ident, parent_of)))]


def expected_progress(learner_id: str, events, received, current_org: Optional[str], decisions, adapters,
                      campaigns: list[Campaign]) -> list[tuple[Campaign, str, Optional[Progress], tuple[str, ...]]]:
    """(campaign, org, progress, the org's ancestors) for each of `campaigns` in which some event of the learner
    happened in an org of its scope: a pure function of the learner's events (and the org tree). Campaigns not
    listed keep no progress record for the learner. Shared by scoring and the audit (chalicelib/audit/)."""
    parent_of = parent_lookup(adapters)
    latest_org: dict[str, tuple] = {}  # org -> (occurred_at, id) of the learner's latest event there
    for e in events:
        if hasattr(e, "learner") and e.type != "learner.upserted":
            latest_org[e.learner.org_id] = max(latest_org.get(e.learner.org_id, e.order_key), e.order_key)
    found = []
    for campaign in campaigns:
        orgs = {o for o in latest_org if in_scope(campaign.scope, o, parent_of)}
        if not orgs:
            continue
        org = current_org if current_org in orgs else max(orgs, key=lambda o: latest_org[o])
        new = rules.progress(campaign, learner_id, org, events, received, orgs, decisions, adapters.rules)
        found.append((campaign, org, new, tuple(chain(org, parent_of)[1:])))
    return found


def sync_progress(learner_id: str, events, received, standing: LearnerStanding, decisions, adapters,
                  touched: set[str]) -> None:
    """Bring the learner's progress in every active campaign (and its boards and org statistics) in line with
    their events. Called by scoring; each write is conditioned on what it read, so a retry is safe."""
    campaigns = [c for c in cached_campaigns(adapters) if c.status in ACTIVE]
    if not campaigns:
        return
    wanted = expected_progress(learner_id, events, received, standing.profile.org_id, decisions, adapters,
                               campaigns)
    if not wanted:
        return
    parent_of = parent_lookup(adapters)
    stored = adapters.campaigns.progress([(c.id, learner_id) for c, *_ in wanted])
    config = campaign_config()
    for campaign, org, new, ancestors in wanted:
        old = stored.get((campaign.id, learner_id))
        if (old.progress.state() if old else None) == (new.state() if new else None) \
                and (not old or old.ancestors == ancestors):
            continue
        # Boards first, the progress record last: a crash in between leaves the old record, so the retry sees
        # the same difference and finishes (the boards are then found right already).
        old_org = old.progress.org_id if old else None
        sync_learner(
            _campaign_standing(learner_id, old.progress if old else None, campaign.period),
            _campaign_standing(learner_id, new, campaign.period) or LearnerStanding(learner_id, Profile(org_id=org)),
            _board_scopes(campaign, org, adapters),
            tuple(s.key for s in _board_scopes(campaign, old_org, adapters)) if old else (),
            adapters, touched, members=False)
        delta = rules.stats_delta(old.progress if old else None, old.ancestors if old else (), new, ancestors)
        shards = {o: config.shards_for(org_type(o, parent_of)) for o, _ in delta}
        adapters.campaigns.apply_progress(old, new, ancestors, delta, shards)


def project_progress(change, adapters, touched: set[str]) -> None:
    """Scoring's projection (bootstrap.scoring_pipeline); runs on a replay too, since campaigns come and go
    while the learner's events stay the same."""
    snapshot = change.snapshot
    sync_progress(snapshot.learner_id, snapshot.events, snapshot.received, change.scored.standing,
                  snapshot.decisions, adapters, touched)
