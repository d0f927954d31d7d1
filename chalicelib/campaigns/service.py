"""Campaign use cases: who may manage a campaign, and managing one (create, list, read, edit, cancel).

Lifecycle: POST creates a draft (or, with "status": "scheduled", a published campaign); PATCH "status":
"scheduled" publishes a draft; lifecycle.py moves published campaigns by the clock and closes them; reports.py
reads progress, dashboards, boards and reports; progress.py keeps progress in step with scoring.
"""
from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timezone
from typing import Optional
from zoneinfo import ZoneInfo

from chalicelib.campaigns import rules
from chalicelib.campaigns.rules import EDITABLE, Campaign, as_dict, campaign_config
from chalicelib.errors import ApiError, bad_request, not_found, json_object
from chalicelib.events import ID_PATTERN, is_id
from chalicelib.identity.access import forbidden, within
from chalicelib.orgtree import parent_lookup
from chalicelib.paging import decode_cursor, encode_cursor, parse_limit
from chalicelib.campaigns.scope import (forget_campaigns)
from chalicelib.campaigns.store import list_key



def conflict(message: str, field: Optional[str] = None) -> ApiError:
    return ApiError(409, "conflict", message, field)


# --- access ---------------------------------------------------------------------------------------------

def can_manage(principal, scope: str, adapters) -> bool:
    if principal.has("national_admin"):
        return True
    kind, ident = rules.scope_parts(scope)
    return kind != "national" and principal.has("mdo_admin") and within(ident, principal.org_id,
                                                                         parent_lookup(adapters))


def _require_manage(principal, scope: str, adapters) -> None:
    if not can_manage(principal, scope, adapters):
        raise forbidden("only a national admin, or an admin of an org containing the scope, may manage this campaign")


def readable(campaign_id: str, principal, adapters) -> Campaign:
    campaign = adapters.campaigns.get(campaign_id) if is_id(campaign_id) else None
    if campaign is None or (campaign.status == "draft" and not can_manage(principal, campaign.scope, adapters)):
        raise not_found(f"campaign {campaign_id[:128]}")
    return campaign


# --- managing campaigns --------------------------------------------------------------------------------

def _check_scope_exists(scope: str, adapters) -> None:
    kind, ident = rules.scope_parts(scope)
    if kind == "national":
        return
    org = adapters.orgs.get(ident)
    if org is None:
        raise bad_request("scope", f"no org {ident} is known")
    if kind in ("ministry", "state") and org.type != kind:
        raise bad_request("scope", f"{ident} is a {org.type}, not a {kind}")


def create(raw_body, principal, adapters, now: datetime) -> dict:
    campaign = rules.definition_from(json_object(raw_body), campaign_config(), campaign_id=f"cmp-{uuid.uuid4().hex[:12]}", now=now)
    _check_scope_exists(campaign.scope, adapters)
    _require_manage(principal, campaign.scope, adapters)
    campaign = replace(campaign, created_by=principal.sub)
    config = campaign_config()
    day = now.astimezone(ZoneInfo(config.timezone)).date().isoformat()
    if not adapters.campaigns.take_creation(f"campaign-creations#{principal.sub}#{day}",
                                            config.max_created_per_admin_per_day):
        raise ApiError(429, "too_many_campaigns", f"one admin may create at most "
                       f"{config.max_created_per_admin_per_day} campaigns a day (max_created_per_admin_per_day)",
                       "body")
    adapters.campaigns.create(campaign)
    forget_campaigns(adapters)
    _backfill_if_started(None, campaign, adapters, now)
    return as_dict(campaign)


LIST_CURSOR = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z#" + ID_PATTERN  # campaigns/store.py list_key


def list_campaigns(query: dict, principal, adapters) -> dict:
    scope = rules.parse_scope(query["scope"]) if query.get("scope") else None
    status = query.get("status")
    if status is not None and status not in rules.STATUSES:
        raise bad_request("status", f"must be one of {', '.join(rules.STATUSES)}")
    limit = parse_limit(query.get("limit"), 50, adapters.limits.max_page_size)
    before = decode_cursor(query["cursor"], LIST_CURSOR) if query.get("cursor") else None
    statuses = [status] if status else list(rules.STATUSES)
    if not (principal.has("national_admin") or principal.has("mdo_admin")):
        statuses = [s for s in statuses if s != "draft"]  # drafts are only ever shown to their managers
    page = adapters.campaigns.listing(scope, statuses, before, limit + 1)
    more, page = len(page) > limit, page[:limit]
    # A draft the caller may not manage is left out of its page: a shorter page with a cursor may follow.
    shown = [c for c in page if c.status != "draft" or can_manage(principal, c.scope, adapters)]
    return {"campaigns": [as_dict(c) for c in shown],
            "next_cursor": encode_cursor(list_key(page[-1])) if more else None}


def get(campaign_id: str, principal, adapters) -> dict:
    return as_dict(readable(campaign_id, principal, adapters))


def update(campaign_id: str, raw_body, principal, adapters) -> dict:
    before = readable(campaign_id, principal, adapters)
    _require_manage(principal, before.scope, adapters)
    after = rules.definition_from(json_object(raw_body), campaign_config(), existing=before)
    if after.scope != before.scope:
        _check_scope_exists(after.scope, adapters)
        _require_manage(principal, after.scope, adapters)
    if before.status not in EDITABLE:
        changed = {k for k in ("scope", "multiplier", "awards") if getattr(after, k) != getattr(before, k)}
        if rules.window_or_goal_changed(before, after) or changed:
            raise conflict(f"a {before.status} campaign can change only its name and description")
    if not adapters.campaigns.replace(after, before.status):
        raise conflict("the campaign changed meanwhile: read it again")
    forget_campaigns(adapters)
    _backfill_if_started(before, after, adapters, datetime.now(timezone.utc))
    return as_dict(after)


def _backfill_if_started(before: Optional[Campaign], after: Campaign, adapters, now: datetime) -> None:
    """A campaign published after its start (or a published one whose window or scope now reaches back): the
    learning already done in its window counts at once. The re-score job (chalicelib/rescore.py) re-scores every
    learner of its scope active since the start, once the functions' cached definitions have expired."""
    if after.status != "scheduled" or after.start >= now:
        return
    if before is not None and before.status == "scheduled" and (before.start, before.scope) == (after.start,
                                                                                                after.scope):
        return  # already published with this window and scope: its backfill was queued then
    from chalicelib import rescore
    from chalicelib.logs import logger
    delay = min(int(campaign_config().operation["definitions_cache_seconds"]) + 5, 900)
    rescore.start(adapters, rescore.campaign_target(after.id, after.scope, after.start), logger, delay_seconds=delay)


def cancel(campaign_id: str, principal, adapters) -> dict:
    campaign = readable(campaign_id, principal, adapters)
    _require_manage(principal, campaign.scope, adapters)
    if campaign.status in ("closed", "cancelled"):
        raise conflict(f"a {campaign.status} campaign cannot be cancelled")
    if not adapters.campaigns.set_status(campaign.id, campaign.status, "cancelled"):
        raise conflict("the campaign changed meanwhile: read it again")
    forget_campaigns(adapters)
    return as_dict(replace(campaign, status="cancelled"))
