"""Notification storage against DynamoDB Local: the conditional claim and the sweeper's sparse index, the nudge
schedule (spells never go back; paged due selection; conditional advance), the pending-facts index fed by real
scoring, and a whole decide -> deliver -> nudge cycle on the real tables (providers in memory)."""
from datetime import date, timedelta

import pytest

from chalicelib import bootstrap
from chalicelib.events import parse_event
from chalicelib.scoring.pipeline import recompute_stream
from chalicelib.notifications import delivery, digest, nudges, outbox
from chalicelib.notifications.outbox import Intent, decide
from chalicelib.notifications.sending import MemoryEmailSender, MemoryNotificationQueue, MemorySmsSender
from chalicelib.storage.dynamodb import DynamoFactFeed
from chalicelib.counters import DynamoCounters
from chalicelib.notifications.limits import DynamoSuppressionList
from chalicelib.notifications.nudge_store import DynamoNudgeSchedule, NudgeEntry
from chalicelib.notifications.store import DynamoNotificationStore
from tests.notify_helpers import CONTEXTS, add_learner, ist
from tests.rules_builders import completion

NOW = ist(2026, 11, 25, 11)


@pytest.fixture
def world(adapters):
    adapters.notifications = bootstrap.NotificationAdapters(
        DynamoNotificationStore(), DynamoSuppressionList(), DynamoCounters(), DynamoNudgeSchedule(),
        MemoryNotificationQueue(), MemoryEmailSender(), MemorySmsSender(), sleep=lambda _: None)
    adapters.facts = DynamoFactFeed()
    return adapters


def test_decide_deliver_once_and_the_sweeper_reads_only_pending_records(world, learner_id):
    add_learner(world, learner_id)
    intent = Intent(learner_id, "badge_awarded", "w1", CONTEXTS["badge_awarded"])
    assert decide(intent, world, NOW).status == "queued"
    assert decide(intent, world, NOW).status == "duplicate"
    world.notifications.queue.drain()  # lost
    assert outbox.sweep(world, NOW + timedelta(minutes=6)) == 1
    [(lid, key)] = world.notifications.queue.drain()
    assert delivery.deliver(lid, key, world, NOW + timedelta(minutes=6)) == "sent"
    assert delivery.deliver(lid, key, world, NOW + timedelta(minutes=6)) == "skipped"
    assert len(world.notifications.email.sent) == 1
    assert outbox.sweep(world, NOW + timedelta(days=1)) == 0


def test_a_held_claim_blocks_until_its_lease_runs_out(world, learner_id):
    add_learner(world, learner_id)
    decide(Intent(learner_id, "badge_awarded", "w1", CONTEXTS["badge_awarded"]), world, NOW)
    store, key = world.notifications.store, "badge_awarded#w1"
    assert store.claim(learner_id, key, NOW, NOW + timedelta(minutes=5))
    assert store.claim(learner_id, key, NOW + timedelta(minutes=4), NOW + timedelta(minutes=9)) is None
    assert store.claim(learner_id, key, NOW + timedelta(minutes=5, seconds=1), NOW + timedelta(minutes=10))


def test_the_nudge_schedule_never_goes_back_to_an_older_spell_and_pages_the_due(world, learner_id):
    schedule = world.notifications.schedule
    schedule.start_spell(NudgeEntry(learner_id, "a:2026-11-10", 1, "2026-11-17"), 4)
    schedule.start_spell(NudgeEntry(learner_id, "a:2026-11-01", 1, "2026-11-08"), 4)  # a late, older recompute
    assert schedule.get(learner_id).spell == "a:2026-11-10"
    schedule.start_spell(NudgeEntry(learner_id, "0:2026-11-20", 1, "2026-11-20"), 4)  # roster: activity wins
    assert schedule.get(learner_id).spell == "a:2026-11-10"
    others = [f"{learner_id}-{n:03d}" for n in range(250)]
    for other in others:
        schedule.start_spell(NudgeEntry(other, "a:2026-11-01", 1, "2026-11-08"), 4)
    schedule.start_spell(NudgeEntry(f"{learner_id}-later", "a:2026-11-20", 1, "2026-11-27"), 4)
    found = []
    for shard in range(4):
        after = None
        while True:
            entries, after = schedule.due_entries(shard, "2026-11-20", 100, after)
            found += [e.learner_id for e in entries]
            if after is None:
                break
    assert sorted(found) == sorted(others + [learner_id])
    entry = schedule.get(learner_id)
    assert schedule.advance(entry, 2, "2026-11-24", 4)
    assert not schedule.advance(entry, 2, "2026-11-24", 4)  # already advanced: the rung changed
    assert schedule.advance(schedule.get(learner_id), 4, None, 4)  # the ladder is over: off the index
    assert learner_id not in [e.learner_id for shard in range(4)
                              for e in schedule.due_entries(shard, "2026-12-31", 500)[0]]


def test_scoring_records_pending_badge_facts_and_a_digest_consumes_them(world, learner_id):
    for event in [completion(learner_id, f"do_{n}", ist(2026, 11, 20, 10 + n)) for n in range(3)]:
        world.events.add(parse_event(event), NOW)
    recompute_stream(f"learner:{learner_id}", world)
    later = NOW + timedelta(days=30)
    facts = [f for f, _ in world.facts.pending("badge.awarded", later, 100) if f.learner_id == learner_id]
    assert facts, "no pending badge fact"
    digest.send_badge_digests(world, later)
    assert [f for f, _ in world.facts.pending("badge.awarded", later, 100)
            if f.learner_id == learner_id] == []
    entry = world.notifications.schedule.get(learner_id)  # scoring's hook started a spell
    assert entry.spell == "a:2026-11-20" and entry.due == (date(2026, 11, 20) + timedelta(days=7)).isoformat()
    nudges.run_nightly(world, ist(2026, 11, 27, 9))
    assert world.notifications.schedule.get(learner_id).rung == 2
