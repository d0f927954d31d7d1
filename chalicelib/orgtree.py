"""The org tree as the rest of the code asks about it: an org's type and parent, briefly cached.

Boards need it on every score and access checks on every admin request; the tree changes rarely. After an
org moves, its learners are re-scored once every function's cache has run out (the org.moved fact, facts.py).
"""
from __future__ import annotations

import time
from typing import Callable, Optional

ParentOf = Callable[[str], Optional[tuple[str, Optional[str]]]]  # org id -> (type, parent id), None if unknown


def parent_lookup(adapters) -> ParentOf:
    cache = adapters.caches.setdefault("org", {})

    def parent_of(org_id: str):
        hit = cache.get(org_id)
        if hit is None or hit[0] < time.monotonic():
            org = adapters.orgs.get(org_id)
            hit = (time.monotonic() + adapters.boards.config.org_tree_cache_seconds,
                   (org.type, org.parent_id) if org else None)
            if org is not None:
                cache[org_id] = hit
        return hit[1]
    return parent_of


def forget_org(org_id: str, adapters) -> None:
    adapters.caches.get("org", {}).pop(org_id, None)


def subtree(org_id: str, adapters) -> list[str]:
    """The org and every org below it, the org first (one query per org of the subtree, not per employee)."""
    orgs, pending, seen = [], [org_id], set()
    while pending:
        org = pending.pop()
        if org in seen:
            continue
        seen.add(org)
        orgs.append(org)
        pending.extend(adapters.orgs.children(org))
    return orgs
