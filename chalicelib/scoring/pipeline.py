"""The scoring use case: bring everything derived from one stream up to date with its stored events.

For a learner: load a Snapshot (reads only), `compute` it (pure), apply the projections wired in bootstrap.py in
their order, then save the learner with its new ledger entries and facts, conditioned on the version read. The
projections write before the save: a crash in between leaves the stored learner as it was, so the retry sees the
same difference and finishes the job; a save that loses to a concurrent one re-reads and recomputes. Reactions
that can wait for the save (digests, credentials, results) are facts, handled after it (chalicelib/facts.py).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from chalicelib import deadletters
from chalicelib.events import OrgUpserted
from chalicelib.facts import org_moved, react, record
from chalicelib.rules import abuse, checkpoint as checkpoints
from chalicelib.rules.checkpoint import Checkpoint, CheckpointSettings
from chalicelib.rules.config import as_book
from chalicelib.rules.periods import utc_stamp
from chalicelib.scoring.compute import Scored, Snapshot, compute, unchanged
from chalicelib.storage.ports import ConcurrentUpdate

ATTEMPTS = 5


@dataclass(frozen=True)
class Change:
    """What one scoring run found: the snapshot it read, what the rules say now, the learner's board scopes."""
    snapshot: Snapshot
    scored: Scored
    scopes: list  # leaderboards.boards.Scope, nearest first

    @property
    def scope_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.scopes)


@dataclass(frozen=True)
class Projection:
    """One thing kept in line with the learner's events, written before the learner is saved. `apply` gets the
    change, the adapters and `touched` (board keys an earlier, failed attempt may have changed: re-check them)."""
    name: str
    apply: Callable[[Change, Any, set[str]], None]
    on_replay: bool = False  # also runs when the learner itself has nothing new (its records may still lag)


@dataclass(frozen=True)
class Pipeline:
    """What scoring needs from the features, wired in bootstrap.scoring_pipeline()."""
    boosts: Callable[..., dict]  # campaign multipliers by org, for these events (and orgs=...)
    scopes: Callable[[Optional[str], Any], list]  # a learner's board scopes, from their org
    projections: tuple[Projection, ...]
    checkpoints: CheckpointSettings = field(default_factory=CheckpointSettings)
    # A projection needs every event of a learner with these orgs now (an active campaign's progress).
    whole_stream: Callable[[Any, set], bool] = lambda adapters, orgs: False


WHOLE_STREAM = "a projection reads the whole stream"


def load(learner_id: str, adapters, from_scratch: bool = False) -> Snapshot:
    """Everything scoring reads about a learner. Reads only: the audit loads the same, `from_scratch` (every
    event and ledger entry, whatever checkpoint there is: so it can tell a wrong checkpoint).

    The stored learner (and its version) first, then its checkpoint and ledger, the events last: a save by
    someone else in between makes ours fail and retry, so an older set of events can never overwrite a newer
    one, and every recorded entry is for an event we have read. From a checkpoint (rules/checkpoint.py), only
    the entries recorded and the events received after it are read; anything that makes it unusable (a late
    event, a review decision, a rule version or campaign multiplier up to its horizon) means a fold from scratch."""
    stored = adapters.learners.get(learner_id)
    base, refold = None, "asked" if from_scratch else ""
    if not refold:
        base = adapters.learners.checkpoint(learner_id)
        refold = ("no checkpoint" if base is None
                  else checkpoints.why_not(base, as_book(adapters.rules, adapters.catalogue)))
    if base is not None and not refold:
        if base.version > (stored.version if stored else 0):
            raise ConcurrentUpdate(learner_id)  # saved since we read the learner: read again
        snapshot = _load_after(base, stored, adapters)
        refold = snapshot.refold
        if not refold:
            return snapshot
    recorded = adapters.learners.ledger(learner_id)
    taken_at = datetime.now(timezone.utc)
    events, received = adapters.events.stream_received(f"learner:{learner_id}")
    # Review items exist only for learners who have or had held events: nothing to read for everyone else.
    had_held = stored is not None and bool(stored.standing.held_events or stored.standing.rejected_events)
    reviews = (adapters.reviews.for_learner(learner_id)
               if had_held or abuse.holds(events, adapters.rules) else {})
    return Snapshot(learner_id, stored, recorded, events, received, reviews, adapters.scoring.boosts(events, adapters),
                    taken_at=taken_at, refold=refold)


def _load_after(base: Checkpoint, stored, adapters) -> Snapshot:
    """The snapshot from a checkpoint; its `refold` says why it cannot be used, if it cannot."""
    learner_id = base.learner_id
    recorded = adapters.learners.ledger_after(learner_id, base.ledger_after)
    taken_at = datetime.now(timezone.utc)
    read, received = adapters.events.received_since(f"learner:{learner_id}", base.cutoff)
    events = [e for e in read if e.id not in base.recent]
    received = {e.id: received[e.id] for e in events if e.id in received}
    had_held = bool(base.holds) or (stored is not None and bool(stored.standing.held_events
                                                                or stored.standing.rejected_events))
    reviews = (adapters.reviews.for_learner(learner_id)
               if had_held or checkpoints.holds_with(base, events, adapters.rules) else {})
    boosts = adapters.scoring.boosts(events, adapters, orgs=base.orgs)
    snapshot = Snapshot(learner_id, stored, recorded, events, received, reviews, boosts, base, taken_at)
    orgs = set(base.orgs) | {e.learner.org_id for e in events if getattr(e, "learner", None)}
    orgs |= {stored.standing.profile.org_id} if stored else set()
    refold = (WHOLE_STREAM if adapters.scoring.whole_stream(adapters, orgs - {None})
              else checkpoints.why_not_after_reading(base, events, snapshot.decisions, boosts))
    return dataclasses.replace(snapshot, refold=refold) if refold else snapshot


def next_checkpoint(snapshot: Snapshot, scored: Scored, adapters) -> Optional[Checkpoint]:
    """The checkpoint to write with this run's save, if it is time for one (rules/checkpoint.py take)."""
    return checkpoints.take(snapshot.learner_id, snapshot.base, snapshot.events, snapshot.received, scored.state,
                            scored.holds, snapshot.decisions, snapshot.boosts, scored.told,
                            as_book(adapters.rules, adapters.catalogue),
                            snapshot.taken_at or datetime.now(timezone.utc), adapters.scoring.checkpoints,
                            snapshot.latest_recorded)


def score_learner(learner_id: str, adapters, touched: Optional[set[str]] = None, from_scratch: bool = False) -> None:
    touched = touched if touched is not None else set()
    snapshot = load(learner_id, adapters, from_scratch)
    scored = compute(snapshot, adapters.rules, adapters.catalogue)
    change = Change(snapshot, scored, adapters.scoring.scopes(scored.standing.profile.org_id, adapters))
    replay = unchanged(snapshot, scored, change.scope_keys)
    for projection in adapters.scoring.projections:
        if projection.on_replay or not replay:
            projection.apply(change, adapters, touched)
    checkpoint = next_checkpoint(snapshot, scored, adapters)
    stored = snapshot.stored
    if replay:
        # Nothing to write, but a checkpoint found unusable is replaced, so that the next run need not re-fold.
        # (A re-fold for a projection's sake that records nothing leaves the stored checkpoint as right as it was.)
        if checkpoint is not None and stored is not None and snapshot.refold != WHOLE_STREAM:
            adapters.learners.put_checkpoint(checkpoint, stored.version)
        return
    adapters.learners.save(scored.standing, scored.entries, scored.facts, stored.version if stored else 0,
                           change.scope_keys, checkpoint)


def recompute_stream(stream: str, adapters, from_scratch: bool = False) -> None:
    """Bring everything derived from one stream up to date with its stored events. Idempotent. `from_scratch`
    ignores the learner's checkpoint (and replaces it): the audit's repair, which cannot trust derived data."""
    kind, _, key = stream.partition(":")
    if kind == "org":
        return _apply_org_events(key, stream, adapters)
    touched: set[str] = set()  # boards a failed attempt may have changed: the next attempt re-checks them
    for attempt in range(ATTEMPTS):
        try:
            return score_learner(key, adapters, touched, from_scratch)
        except ConcurrentUpdate:
            if attempt == ATTEMPTS - 1:
                raise


def _apply_org_events(org_id: str, stream: str, adapters) -> None:
    """Write the org as its latest event says (the stream holds its whole history, so no stored org is newer)."""
    events = [e for e in adapters.events.stream(stream) if isinstance(e, OrgUpserted)]
    if not events:
        return
    latest = max(events, key=lambda e: e.order_key)
    token = f"{utc_stamp(latest.occurred_at)}|{latest.id}"
    current = adapters.orgs.get(org_id)
    # A new org, or one that moves in the tree: everyone below it belongs to other boards now. The fact is
    # recorded before the write, so a crash after the write leaves it pending for the minute's dispatch, never
    # lost; a replay, or an older event arriving late, finds the org as written and re-scores nobody.
    moves = current is None or (current.type, current.parent_id) != (latest.org.type, latest.org.parent_id)
    fact = [org_moved(org_id, token, latest.occurred_at)] if moves else []
    now = datetime.now(timezone.utc)
    record(fact, adapters, now)
    adapters.orgs.upsert(latest.org, token)
    react(fact, adapters, now)


def recompute_streams(messages: list[tuple[str, str]], adapters, log,
                      reasons: dict[str, str] | None = None) -> list[str]:
    """Recompute each stream named in a queue batch once; returns the ids of messages that failed, so that
    only those are retried (and reach the dead-letter queue if they keep failing). `reasons`, if given, gets
    message id -> why it failed (chalicelib/deadletters.py puts it on the dead letter)."""
    by_stream: dict[str, list[str]] = {}
    for message_id, stream in messages:
        by_stream.setdefault(stream, []).append(message_id)
    failed = []
    for stream, message_ids in by_stream.items():
        try:
            recompute_stream(stream, adapters)
        except Exception as exc:  # one bad stream must not sink the batch
            # Only the stream id and the error's type: messages can carry personal data.
            log.error("recompute failed", extra={"stream": stream, "error": type(exc).__name__})
            failed.extend(message_ids)
            if reasons is not None:
                reasons.update(dict.fromkeys(message_ids, deadletters.reason_of(exc)))
    return failed

