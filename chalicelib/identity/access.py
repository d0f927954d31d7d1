"""What each role may do. The one table, in words (README has it as a table):

- learner: their own summary, ledger, badges and preferences; any leaderboard; their own campaign progress.
- mdo_admin: what a learner may, plus everything about learners and orgs in their own org and below it.
- national_admin: all of it.
"""
from __future__ import annotations

from typing import Callable, Optional

from chalicelib.errors import ApiError
from chalicelib.identity.tokens import Principal

ParentOf = Callable[[str], Optional[tuple[str, Optional[str]]]]  # org id -> (type, parent id) or None


def forbidden(reason: str) -> ApiError:
    return ApiError(403, "forbidden", reason)


def within(org_id: Optional[str], ancestor_id: Optional[str], parent_of: ParentOf) -> bool:
    """Is org_id the ancestor itself or somewhere below it in the org tree?"""
    seen = set()
    while org_id and org_id not in seen:
        if org_id == ancestor_id:
            return True
        seen.add(org_id)
        found = parent_of(org_id)
        org_id = found[1] if found else None
    return False


def administers(principal: Principal, org_id: Optional[str], parent_of: ParentOf) -> bool:
    if principal.has("national_admin"):
        return True
    return principal.has("mdo_admin") and within(org_id, principal.org_id, parent_of)


def require_learner_access(principal: Principal, learner_id: str, learner_org: Optional[str],
                           parent_of: ParentOf) -> None:
    """The learner themself, an admin of their org (or above it), or a national admin."""
    if principal.sub == learner_id or administers(principal, learner_org, parent_of):
        return
    raise forbidden("you may only see your own data, or that of learners in orgs you administer")


def require_org_admin(principal: Principal, org_id: Optional[str], parent_of: ParentOf) -> None:
    if not administers(principal, org_id, parent_of):
        raise forbidden("you do not administer this org")


def require_national_admin(principal: Principal) -> None:
    if not principal.has("national_admin"):
        raise forbidden("only a national admin may do this")
