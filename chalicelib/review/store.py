"""Anti-abuse review storage (review/ports.py ReviewStore): DynamoDB adapter and its in-memory twin.

One item per held event, keyed by (learner, event): the scoring use case reads a learner's decisions with one
Query, and only for learners who have held events. While an item awaits review it carries `held_shard` and
`held_sort`, which put it on the sparse `held` index: the review list is one query per shard, never a scan.
A decision removes the two attributes, so the item leaves the list in the same write that records it.
"""
from __future__ import annotations

import heapq
from datetime import datetime
from typing import Optional

from pynamodb.exceptions import DeleteError, UpdateError

from chalicelib import sharding
from chalicelib.rules.abuse import HELD, Hold
from chalicelib.review.models import ReviewRecord
from chalicelib.review.ports import AlreadyDecided, Review, held_position
from chalicelib.storage.conditions import conditional_failed

SHARDS = 4  # changing it hides the items already written under the old count from the list


def shard_of(hold: Hold) -> str:
    return f"held#{sharding.shard_of(f'{hold.learner_id}|{hold.event_id}', SHARDS)}"


def _review_from(r: ReviewRecord) -> Review:
    hold = Hold(r.event_id, r.learner_id, r.org_id, r.type, r.occurred_at, int(r.window_count),
                int(r.max_allowed), int(r.window_minutes), r.rule)
    return Review(hold, r.status, r.held_at, r.decided_by, r.decided_at, r.note)


def _hold_actions(hold: Hold, since: datetime) -> list:
    R = ReviewRecord
    actions = [R.type.set(hold.type), R.occurred_at.set(hold.occurred_at), R.rule.set(hold.rule),
               R.window_count.set(hold.count), R.max_allowed.set(hold.limit),
               R.window_minutes.set(hold.window_minutes), R.held_at.set(R.held_at | since)]
    if hold.org_id:
        actions.append(R.org_id.set(hold.org_id))
    return actions


class DynamoReviewStore:
    def for_learner(self, learner_id: str) -> dict[str, Review]:
        return {r.event_id: _review_from(r) for r in ReviewRecord.query(learner_id, consistent_read=True)}

    def hold(self, holds: list[Hold], now: datetime) -> None:
        for hold in holds:
            actions = _hold_actions(hold, now) + [ReviewRecord.status.set(HELD),
                                                  ReviewRecord.held_shard.set(shard_of(hold)),
                                                  ReviewRecord.held_sort.set(held_position(hold))]
            try:
                ReviewRecord(hold.learner_id, hold.event_id).update(
                    actions=actions,
                    condition=ReviewRecord.event_id.does_not_exist() | (ReviewRecord.status == HELD))
            except UpdateError as exc:
                if not conditional_failed(exc):
                    raise  # else: decided meanwhile, and a decision is never undone by scoring

    def unhold(self, holds: list[Hold]) -> None:
        for hold in holds:
            try:
                ReviewRecord(hold.learner_id, hold.event_id).delete(condition=ReviewRecord.status == HELD)
            except DeleteError as exc:
                if not conditional_failed(exc):
                    raise

    def decide(self, hold: Hold, status: str, by: str, at: datetime, note: Optional[str]) -> Review:
        R = ReviewRecord
        record = R(hold.learner_id, hold.event_id)
        actions = _hold_actions(hold, at) + [R.status.set(status), R.decided_by.set(by), R.decided_at.set(at),
                                             R.held_shard.remove(), R.held_sort.remove()]
        actions.append(R.note.set(note) if note else R.note.remove())
        try:
            record.update(actions=actions, condition=R.event_id.does_not_exist() | (R.status == HELD))
        except UpdateError as exc:
            if not conditional_failed(exc):
                raise
            existing = _review_from(R.get(hold.learner_id, hold.event_id, consistent_read=True))
            if existing.status == status:
                return existing  # the same decision again: the first one stands
            raise AlreadyDecided(existing) from None
        return _review_from(record)

    def held_page(self, limit: int, before: Optional[str]) -> tuple[list[Review], Optional[str]]:
        rows: list = []
        for shard in range(SHARDS):
            condition = ReviewRecord.held_sort < before if before else None
            rows.extend(ReviewRecord.held.query(f"held#{shard}", range_key_condition=condition,
                                                scan_index_forward=False, limit=limit + 1, page_size=limit + 1))
        newest = heapq.nlargest(limit + 1, rows, key=lambda r: r.held_sort)
        page = [_review_from(r) for r in newest[:limit]]
        return page, (newest[limit - 1].held_sort if len(newest) > limit else None)


class MemoryReviewStore:
    def __init__(self):
        self.items: dict[tuple[str, str], Review] = {}

    def for_learner(self, learner_id: str) -> dict[str, Review]:
        return {event_id: r for (learner, event_id), r in self.items.items() if learner == learner_id}

    def hold(self, holds: list[Hold], now: datetime) -> None:
        for hold in holds:
            key = (hold.learner_id, hold.event_id)
            before = self.items.get(key)
            if before is None or before.status == HELD:
                self.items[key] = Review(hold, HELD, before.held_at if before else now)

    def unhold(self, holds: list[Hold]) -> None:
        for hold in holds:
            key = (hold.learner_id, hold.event_id)
            if key in self.items and self.items[key].status == HELD:
                del self.items[key]

    def decide(self, hold: Hold, status: str, by: str, at: datetime, note: Optional[str]) -> Review:
        key = (hold.learner_id, hold.event_id)
        before = self.items.get(key)
        if before is not None and before.status != HELD:
            if before.status == status:
                return before
            raise AlreadyDecided(before)
        self.items[key] = Review(hold, status, before.held_at if before else at, by, at, note or None)
        return self.items[key]

    def held_page(self, limit: int, before: Optional[str]) -> tuple[list[Review], Optional[str]]:
        waiting = sorted((r for r in self.items.values() if r.status == HELD and
                          (before is None or held_position(r.hold) < before)),
                         key=lambda r: held_position(r.hold), reverse=True)
        page = waiting[:limit]
        return page, (held_position(page[-1].hold) if len(waiting) > limit else None)
