"""Where a campaign applies: the org tree as campaigns ask about it, and the campaign definitions, cached for
scoring (which asks once per learner)."""
from __future__ import annotations

import time
from typing import Optional

from chalicelib.campaigns import rules
from chalicelib.campaigns.rules import Campaign, campaign_config
from chalicelib.identity.access import within
from chalicelib.leaderboards.boards import Scope

# --- the org tree, as campaigns ask about it ------------------------------------------------------------

def chain(org_id: Optional[str], parent_of) -> list[str]:
    """The org and its ancestors, nearest first."""
    chain, seen = [], set()
    while org_id and org_id not in seen:
        seen.add(org_id)
        chain.append(org_id)
        found = parent_of(org_id)
        org_id = found[1] if found else None
    return chain


def in_scope(scope: str, org_id: Optional[str], parent_of) -> bool:
    kind, ident = rules.scope_parts(scope)
    if not org_id:
        return False
    return kind == "national" or within(org_id, ident, parent_of)


def org_type(org_id: str, parent_of) -> Optional[str]:
    found = parent_of(org_id)
    return found[0] if found else None


def board_scope(org_id: Optional[str], parent_of) -> Scope:
    """The board scope that holds an org's whole subtree: its type decides (a department's is dept:...)."""
    if org_id is None:
        return Scope("national")
    kind = {"department": "dept", "ministry": "ministry", "state": "state"}.get(org_type(org_id, parent_of), "org")
    return Scope(kind, org_id)


# --- definitions, cached for scoring ---------------------------------------------------------------------

def cached_campaigns(adapters) -> list[Campaign]:
    """Every campaign, re-read at most once per definitions_cache_seconds (scoring calls this per learner)."""
    cache = adapters.caches.setdefault("campaign", {})
    if cache.get("until", 0) < time.monotonic():
        cache["campaigns"] = adapters.campaigns.all()
        cache["until"] = time.monotonic() + campaign_config().operation["definitions_cache_seconds"]
    return cache["campaigns"]


def forget_campaigns(adapters) -> None:
    adapters.caches.pop("campaign", None)
