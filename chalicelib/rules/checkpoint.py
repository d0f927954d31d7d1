"""A checkpoint of a learner's fold, so that scoring one more event does not re-read and re-fold their history.

Pure (no I/O): scoring/pipeline.py reads and writes checkpoints through the learner repository. A checkpoint is
the fold's state (rules/learner.py `fold`) after every event up to its *horizon*, the (occurred_at, id) of the
latest event it folded, plus what is needed to go on exactly as a fold from scratch would:

* `rules`: the fingerprint of the rule versions in force up to the horizon (rules/config.py fingerprint). A new
  version effective after the horizon leaves it valid (it only scores later events); any change at or before it
  (a new earlier version, an edited one) does not.
* `abuse`: the widest anti-abuse window of the book it was folded with (each completion is judged by the limits
  of its own version: those up to the horizon are in `rules`; a later version may only widen the window so far
  that `tail` still covers it), `tail` the course completions within that window before the horizon (they count towards holding later ones), `holds`
  every held event up to the horizon, `decisions` the review decisions on them then: a decision since then
  on an event up to the horizon means a re-fold.
* `boosts`: a digest of the campaign multipliers that could apply up to the horizon for the orgs it saw.
* `version`: the learner version whose save wrote it. Every ledger entry of events up to the horizon was
  recorded at or before that save, so scoring reads only the entries after it (`told` and `last_recorded` keep
  what the older entries still say: the rule versions a learner was told of, when the latest was recorded).
* `cutoff` and `recent`: events received at or after `cutoff` may not all have been seen; `recent` are those of
  them that were. Scoring reads only the events received since `cutoff` (the events table's `by_arrival`
  index): one it did not see that occurred at or before the horizon is a *late* event and means a re-fold.

A re-fold reads everything (as before checkpoints), and writes a fresh checkpoint with the save.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Optional, Sequence

from chalicelib.campaigns.rules import Boost
from chalicelib.rules import abuse
from chalicelib.rules.abuse import Hold
from chalicelib.rules.config import RuleBook, fingerprint


@dataclass(frozen=True)
class CheckpointSettings:
    """Configuration (chalicelib/settings.py): how often to take a checkpoint, and the clock-skew margin."""
    every: int = 50  # events folded after a checkpoint before the next save takes a new one
    margin: timedelta = timedelta(minutes=5)  # an event stamped received_at may become readable this much later


@dataclass(frozen=True)
class Checkpoint:
    learner_id: str
    horizon: tuple[datetime, str]
    rules: str
    abuse: str
    state: dict
    cutoff: datetime
    recent: Mapping[str, datetime] = field(default_factory=dict)  # event id -> received_at
    holds: Mapping[str, Hold] = field(default_factory=dict)
    tail: tuple[tuple[str, datetime], ...] = ()
    decisions: Mapping[str, str] = field(default_factory=dict)
    boosts: str = ""
    orgs: tuple[str, ...] = ()
    told: tuple[str, ...] = ()
    events: int = 0  # how many events it folded
    version: int = 0  # set by the repository's save: the learner version written with it
    last_recorded: Optional[datetime] = None  # when the latest ledger entry up to `version` was recorded

    @property
    def ledger_after(self) -> str:
        """The ledger `seq` every entry recorded after this checkpoint is greater than."""
        return seq_bound(self.version)


def seq_bound(version: int) -> str:
    return f"{version:010d}.999"  # ledger seqs are "<version>.<position>", position < 100 (storage/dynamodb.py)


def rules_fingerprint(book: RuleBook, until: datetime) -> str:
    """The fingerprint of the versions that score events up to `until` (the first one always does)."""
    return fingerprint(RuleBook(tuple(v for n, v in enumerate(book.versions) if n == 0 or v.effective_from <= until)))


def boosts_digest(boosts: Mapping[str, Sequence[Boost]], orgs: Iterable[str], until: datetime) -> str:
    """A digest of the multipliers that could apply up to `until` to these orgs' learners."""
    parts = sorted(f"{org}:{sorted(repr(b) for b in boosts.get(org, ()) if b.start <= until)}"
                   for org in set(orgs))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _Someone:
    id: str = ""
    org_id: Optional[str] = None


@dataclass(frozen=True)
class _Completion:
    """A course completion before the horizon, as far as the anti-abuse window needs one (its own hold, if it
    has one, is the checkpoint's)."""
    id: str
    occurred_at: datetime
    type: str = "course.completed"
    learner: _Someone = _Someone()

    @property
    def order_key(self) -> tuple[datetime, str]:
        return (self.occurred_at, self.id)


def widest_window(book: RuleBook) -> timedelta:
    """The longest anti-abuse window of any version: how far back a later completion may count earlier ones."""
    return timedelta(minutes=max(v.rules.abuse.window_minutes for v in book.versions))


def holds_with(checkpoint: Checkpoint, events: Iterable, limits: Any) -> dict[str, Hold]:
    """Every held event: the checkpoint's, and those among `events` (all after it) counting its tail. `limits`: a
    rule book (each completion judged by its version's limits) or anything else abuse.holds takes."""
    events = list(events)
    new = abuse.holds(list(events) + [_Completion(i, at) for i, at in checkpoint.tail], limits)
    ids = {e.id for e in events}
    return {**checkpoint.holds, **{i: h for i, h in new.items() if i in ids}}


def why_not(checkpoint: Checkpoint, book: RuleBook) -> Optional[str]:
    """Why the checkpoint cannot be used with these rules (None: it can)."""
    if checkpoint.rules != rules_fingerprint(book, checkpoint.horizon[0]):
        return "rule versions changed up to the horizon"
    if not checkpoint.abuse.isdigit() or widest_window(book) > timedelta(minutes=int(checkpoint.abuse)):
        return "anti-abuse limits changed"
    return None


def why_not_after_reading(checkpoint: Checkpoint, events: Sequence, decisions: Mapping[str, str],
                          boosts: Mapping[str, Sequence[Boost]]) -> Optional[str]:
    """Why the checkpoint cannot be used with what was read after it (None: it can): `events` are those read
    since its cutoff that it did not see, `decisions` the learner's review decisions, `boosts` the multipliers
    for its orgs."""
    if any(e.order_key <= checkpoint.horizon for e in events):
        return "an event older than the horizon arrived"
    ids = {e.id for e in events}
    if {i: d for i, d in decisions.items() if i not in ids} != dict(checkpoint.decisions):
        return "a review decision changed"
    if boosts_digest(boosts, checkpoint.orgs, checkpoint.horizon[0]) != checkpoint.boosts:
        return "campaign multipliers changed"
    return None


def take(learner_id: str, base: Optional[Checkpoint], events: Sequence, received: Mapping[str, datetime],
         state: dict, holds: Mapping[str, Hold], decisions: Mapping[str, str],
         boosts: Mapping[str, Sequence[Boost]], told: Iterable[str], book: RuleBook,
         taken_at: datetime, settings: CheckpointSettings,
         last_recorded: Optional[datetime]) -> Optional[Checkpoint]:
    """The checkpoint after folding `events` (on top of `base`, if any), or None when there is none to take:
    no events at all, or fewer than `settings.every` since `base` (unless it would drop many recent ids). `received` says when each of `events` was
    received; `taken_at`, a moment no later than the read of the events."""
    if not events and base is None:
        return None
    # Not later than the latest event received, should received_at stamps lag behind our clock.
    cutoff = min(taken_at, max(received.values(), default=taken_at)) - settings.margin
    seen = {**(base.recent if base else {}), **{e.id: received[e.id] for e in events if e.id in received}}
    recent = {i: at for i, at in seen.items() if at >= cutoff}
    # Every `every` events; or sooner when the base's recent events (a history received all at once, re-read
    # by every run until a checkpoint moves its cutoff on) are many and mostly past the margin now.
    if base is not None and len(events) < settings.every and not (
            len(base.recent) >= settings.every and len(recent) <= len(base.recent) // 2):
        return None
    horizon = max([e.order_key for e in events] + ([base.horizon] if base else []))
    window = widest_window(book)
    completions = list(base.tail if base else ()) + [(e.id, e.occurred_at) for e in events
                                                     if e.type == "course.completed"]
    tail = tuple(sorted((i, at) for i, at in completions if horizon[0] - at < window))
    orgs = set(base.orgs if base else ()) | {e.learner.org_id for e in events if getattr(e, "learner", None)}
    orgs.discard(None)
    return Checkpoint(
        learner_id, horizon, rules_fingerprint(book, horizon[0]), str(int(window.total_seconds() // 60)), state, cutoff, recent,
        dict(holds), tail, dict(decisions), boosts_digest(boosts, orgs, horizon[0]), tuple(sorted(orgs)),
        tuple(sorted(set(told))), (base.events if base else 0) + len(events), last_recorded=last_recorded)


# --- as stored (storage/dynamodb.py compresses this JSON) -------------------------------------------------------

def to_json(c: Checkpoint) -> dict:
    return {"learner_id": c.learner_id, "horizon": [c.horizon[0].isoformat(), c.horizon[1]], "rules": c.rules,
            "abuse": c.abuse, "state": c.state, "cutoff": c.cutoff.isoformat(), "recent": {i: at.isoformat() for i, at in c.recent.items()},
            "holds": {i: [h.learner_id, h.org_id, h.type, h.occurred_at.isoformat(), h.count, h.limit,
                          h.window_minutes, h.rule] for i, h in c.holds.items()},
            "tail": [[i, at.isoformat()] for i, at in c.tail], "decisions": dict(c.decisions), "boosts": c.boosts,
            "orgs": list(c.orgs), "told": list(c.told), "events": c.events, "version": c.version,
            "last_recorded": c.last_recorded.isoformat() if c.last_recorded else None}


def from_json(d: dict) -> Checkpoint:
    return Checkpoint(
        d["learner_id"], (datetime.fromisoformat(d["horizon"][0]), d["horizon"][1]), d["rules"], d["abuse"],
        d["state"], datetime.fromisoformat(d["cutoff"]), {i: datetime.fromisoformat(at) for i, at in d["recent"].items()},
        {i: Hold(i, learner, org, kind, datetime.fromisoformat(at), count, limit, window, rule)
         for i, (learner, org, kind, at, count, limit, window, rule) in d["holds"].items()},
        tuple((i, datetime.fromisoformat(at)) for i, at in d["tail"]), dict(d["decisions"]), d["boosts"],
        tuple(d["orgs"]), tuple(d["told"]), int(d["events"]), int(d["version"]),
        datetime.fromisoformat(d["last_recorded"]) if d["last_recorded"] else None)


def saved_as(c: Checkpoint, version: int, last_recorded: Optional[datetime]) -> Checkpoint:
    """The checkpoint as a save writes it: with the learner version it wrote, and when its entries were recorded."""
    return replace(c, version=version, last_recorded=last_recorded or c.last_recorded)
