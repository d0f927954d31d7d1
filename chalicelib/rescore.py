"""Re-scoring many learners at once: a resumable job, fanned out over scan segments like the weekly audit.

Three triggers, one job (docs/rule-versions.md):
  rules     a rule version that reaches into the past: every learner active since its effective_from
            (`make rules-apply VERSION=...`, or the national-admin route)
  campaign  a campaign published after its start: every learner of its scope active since the start, so learning
            already done in its window shows on the dashboard at once (campaigns/service.py)
  org       an org that moved in the tree (the org.moved fact): every learner in the org or below it, active or
            not, whose board scopes (department, ministry) and campaign scopes changed (`rescore_moved_orgs`)

Each message is one scan segment of the learners table. A segment is read a page at a time; each learner the
target names is re-scored by the normal pipeline (scoring/pipeline.py recompute_stream: ledger corrections, boards,
campaign progress, org statistics, the rules.rescored fact that tells the learner), and after each page the
segment's position is moved by a conditional write (counters.py). A run that stops (out of time, a crash) is
resumed from the last position; the learners of the page it was in are re-scored again, which writes nothing: a
re-score is a difference against what is stored, so nothing is ever scored twice.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable, Optional

from chalicelib import deadletters, settings
from chalicelib.rules.periods import utc_iso

PAGE = 100
DONE = "done"
RULES, CAMPAIGN, ORG = "rules", "campaign", "org"


def rules_target(version_id: str, effective_from: datetime) -> dict:
    return {"kind": RULES, "version": version_id, "since": utc_iso(effective_from)}


def campaign_target(campaign_id: str, scope: str, start: datetime) -> dict:
    return {"kind": CAMPAIGN, "campaign_id": campaign_id, "scope": scope, "since": utc_iso(start)}


def org_target(org_id: str, token: str) -> dict:
    """`token`: the org event that moved it (the org.moved fact's): each move is its own job, and the same move's
    fact handled again (a crash before it was consumed) starts the same job, which resumes."""
    return {"kind": ORG, "org_id": org_id, "token": token}


def job_id(target: dict) -> str:
    """One job per target: starting it again resumes it (its positions are kept), it never re-runs pages."""
    if target["kind"] == ORG:
        return f"{ORG}:{target['org_id']}:{target['token']}"
    return f"{target['kind']}:{target.get('version') or target.get('campaign_id')}"


def plan(target: dict, learners: int, per_segment: int, least: int, most: int) -> list[dict]:
    """Sized as the weekly audit is (audit.segments_for): enough segments that one runs inside a function."""
    segments = max(least, min(most, -(-learners // max(1, per_segment))))
    return [{"rescore": job_id(target), "target": target, "segment": segment, "segments": segments}
            for segment in range(segments)]


def start(adapters, target: dict, log, delay_seconds: int = 0) -> dict:
    """Queue the job's segments on the audit queue (sized by the learner count, like the weekly audit).
    `delay_seconds`: past the caches (campaign definitions, org tree) of the functions that will run it."""
    learners = adapters.learners.approximate_count()
    messages = plan(target, learners, settings.AUDIT_LEARNERS_PER_SEGMENT, settings.AUDIT_MIN_SEGMENTS,
                    settings.AUDIT_MAX_SEGMENTS)
    adapters.audit_queue.send_json(messages, delay_seconds=delay_seconds)
    summary = {"job": job_id(target), "learners": learners, "segments": len(messages)}
    log.info("rescore started", extra={"rescore": summary})
    return summary


def _wanted(target: dict, adapters) -> Callable[[Optional[str], Optional[datetime]], bool]:
    if target["kind"] == ORG:
        # Everyone in the moved org's subtree, active or not: their entries on every period's boards move.
        from chalicelib.identity.access import within
        from chalicelib.orgtree import parent_lookup
        parent_of, moved = parent_lookup(adapters), target["org_id"]
        return lambda org, active: within(org, moved, parent_of)
    since = datetime.fromisoformat(target["since"].replace("Z", "+00:00"))
    if target["kind"] == CAMPAIGN:
        from chalicelib.campaigns.scope import in_scope
        from chalicelib.orgtree import parent_lookup
        parent_of = parent_lookup(adapters)
        return lambda org, active: bool(active and active >= since and in_scope(target["scope"], org, parent_of))
    # A learner with no event since the version took effect earns exactly what they did: nothing to re-score.
    return lambda org, active: bool(active and active >= since)


def position_key(message: dict) -> str:
    return f"rescore#{message['rescore']}#{message['segment']}/{message['segments']}"


def run_segment(adapters, message: dict, out_of_time: Callable[[], bool] = lambda: False,
                page: int = PAGE, rescore: Optional[Callable[[str], None]] = None) -> dict:
    """One segment of a job, from its stored position. Returns counts and whether the segment is done."""
    from chalicelib.scoring.pipeline import recompute_stream
    rescore = rescore or (lambda learner: recompute_stream(f"learner:{learner}", adapters))
    counters, key = adapters.notifications.counters, position_key(message)
    wanted = _wanted(message["target"], adapters)
    position = counters.position(key)
    scanned = rescored = 0
    while position != DONE:
        if out_of_time():
            return {"done": False, "scanned": scanned, "rescored": rescored, "position": position}
        rows, after = adapters.learners.scan_page(int(message["segment"]), int(message["segments"]),
                                                  position or None, page)
        for learner_id, org_id, last_active_at in rows:
            scanned += 1
            if wanted(org_id, last_active_at):
                rescore(learner_id)
                rescored += 1
        moved = after or DONE
        if not counters.move(key, position, moved):
            # Another run of the same segment moved it meanwhile: that run carries on from there.
            return {"done": False, "scanned": scanned, "rescored": rescored, "position": counters.position(key)}
        position = moved
    return {"done": True, "scanned": scanned, "rescored": rescored, "position": DONE}


def rescore_moved_orgs(facts, adapters, now: datetime, log=None) -> int:
    """The org.moved handler (bootstrap.fact_handlers): everyone below a moved org belongs to other department and
    ministry boards, and maybe to other campaigns' scopes, now. Starts the org's job, delayed until every function
    has dropped its cached copy of the tree (SQS delays at most 15 minutes). The fact is consumed only once the
    job's messages are queued: a crash before leaves it pending for the minute's dispatch, which starts the same
    job again (same id, same positions: it resumes, and a re-score writes only what is missing)."""
    import logging
    from chalicelib.facts import consume
    from chalicelib.orgtree import forget_org
    log = log or logging.getLogger(__name__)
    delay = min(adapters.boards.config.org_tree_cache_seconds + 5, 900)
    for fact in facts:
        org_id = fact.payload["org_id"]
        forget_org(org_id, adapters)
        token = fact.id[len(f"{fact.kind}:{org_id}:"):]  # facts.org_moved: the id ends with the moving event
        start(adapters, org_target(org_id, token), log, delay_seconds=max(delay, 0))
        consume(adapters, [fact])
    return len(facts)


def rescore_segment(adapters, message: dict, log, remaining_ms: Callable[[], int], reserve_ms: int = 60_000) -> dict:
    """The audit queue's consumer for a re-score message: stops a minute before the function's timeout and queues
    the same message again, which resumes from the stored position."""
    reserve = min(reserve_ms, remaining_ms() // 10)
    summary = {"job": message["rescore"], "segment": message["segment"],
               **run_segment(adapters, message, out_of_time=lambda: remaining_ms() < reserve)}
    if not summary["done"] and summary["position"] != DONE:
        adapters.audit_queue.send_json([message])
    log.info("rescore segment", extra={"rescore": summary})
    return summary


def rescore_segments(messages: list[tuple[str, dict]], adapters, log, remaining_ms: Callable[[], int],
                     reasons: dict[str, str]) -> None:
    for message_id, message in messages:
        try:
            rescore_segment(adapters, message, log, remaining_ms)
        except Exception as exc:  # noqa: BLE001 (retried by SQS from the stored position, then the DLQ)
            log.error("rescore segment failed", extra={"message_id": message_id, "error": type(exc).__name__})
            reasons[message_id] = deadletters.reason_of(exc)


def run_all(adapters, target: dict, segments: int = 4, out_of_time: Callable[[], bool] = lambda: False,
            page: int = PAGE) -> dict:
    """Every segment of a job in this process (make rules-apply, tests): resumable the same way."""
    totals = {"segments": segments, "done": 0, "scanned": 0, "rescored": 0}
    for segment in range(segments):
        message = {"rescore": job_id(target), "target": target, "segment": segment, "segments": segments}
        result = run_segment(adapters, message, out_of_time, page)
        totals["scanned"] += result["scanned"]
        totals["rescored"] += result["rescored"]
        totals["done"] += int(result["done"])
    totals["complete"] = totals["done"] == segments
    return totals
