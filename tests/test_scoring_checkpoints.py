"""Scoring from a checkpoint of the fold (chalicelib/rules/checkpoint.py) gives exactly what folding from scratch gives.

Property: the same random stream (one learner; completions close enough to be held for review, ratings, time,
logins, enrolments) arrives in a random order, in random batches received at an advancing clock, with a rule
version added part-way (effective anywhere: before or after the checkpoint's horizon) and review decisions
taken on held events. Two worlds get the same deliveries: one scores from checkpoints taken every 1 to 6
events (with a margin of none or half an hour), the other always folds from scratch. After every run the
checkpoint world's stored learner is what a fold from scratch says (the audit's check), and in the end both
worlds hold the same learner, the same ledger (notes and rule versions too) and the same facts.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.events import parse_event
from chalicelib.rules.abuse import AbuseLimits, RELEASED, REJECTED
from chalicelib.rules.checkpoint import CheckpointSettings
from chalicelib.rules.config import RuleBook
from chalicelib.scoring.compute import compute, unchanged
from chalicelib.scoring.pipeline import load, recompute_stream
from tests.rules_builders import adapters, completion, ist
from tests.test_rule_versions import L, streams, versions

UTC = timezone.utc
RECEIVED_FROM = datetime(2027, 3, 1, tzinfo=UTC)


def _world(every: int, margin_minutes: int, from_scratch: bool):
    a = adapters()
    v0 = a.rules.versions[0]
    # Tight anti-abuse limits, so that streams hold completions (3 within a day at most).
    a.rules = RuleBook((dataclasses.replace(v0, rules=dataclasses.replace(v0.rules, abuse=AbuseLimits(3, 24 * 60))),))
    a.scoring = dataclasses.replace(
        a.scoring, checkpoints=CheckpointSettings(every, timedelta(minutes=margin_minutes)),
        whole_stream=(lambda adapters, orgs: True) if from_scratch else (lambda adapters, orgs: False))
    return a


def _agrees_with_a_fold_from_scratch(a) -> None:
    stored = a.learners.get(L)
    if stored is None:
        return
    snapshot = load(L, a, from_scratch=True)
    scored = compute(snapshot, a.rules, a.catalogue)
    assert unchanged(snapshot, scored, stored.scopes), (scored.entries, scored.standing, stored.standing)
    assert sum(e.amount for e in a.learners.ledger(L)) == stored.standing.points


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), streams(), versions(), st.integers(1, 6), st.sampled_from([0, 30]))
def test_scoring_from_checkpoints_equals_folding_from_scratch(data, events, b, every, margin):
    order = data.draw(st.permutations(events), label="arrival order")
    batches, position = [], 0
    while position < len(order):
        size = data.draw(st.integers(1, 4), label="batch size")
        batches.append(order[position:position + size])
        position += size
    version_at = data.draw(st.integers(0, len(batches)), label="the version arrives before batch")
    decide = data.draw(st.lists(st.sampled_from([RELEASED, REJECTED]), max_size=3), label="decisions")
    worlds = [_world(every, margin, from_scratch) for from_scratch in (False, True)]
    clock = RECEIVED_FROM
    for number, batch in enumerate(batches + [[]]):
        clock += timedelta(hours=data.draw(st.integers(0, 3), label="hours between batches"))
        for a in worlds:
            if number == version_at:
                a.rules = a.rules.with_version(dataclasses.replace(b, rules=dataclasses.replace(
                    b.rules, abuse=a.rules.versions[0].rules.abuse)))
            for event in batch:
                a.events.add(parse_event(event), clock)
            held = sorted((r for r in a.reviews.for_learner(L).values() if r.status == "held"),
                          key=lambda r: r.hold.event_id)
            if held and decide and number % 2:
                a.reviews.decide(held[0].hold, decide[0], "admin", clock, None)
            recompute_stream(f"learner:{L}", a)
            _agrees_with_a_fold_from_scratch(a)
        if decide and number % 2 and any(r.status != "held" for r in worlds[0].reviews.for_learner(L).values()):
            decide = decide[1:]
    checkpointed, scratch = worlds
    assert checkpointed.learners.get(L).standing == scratch.learners.get(L).standing
    assert [(e.event_id, e.rule, e.amount, e.kind, e.note, e.rules_version) for e in checkpointed.learners.ledger(L)] \
        == [(e.event_id, e.rule, e.amount, e.kind, e.note, e.rules_version) for e in scratch.learners.ledger(L)]
    assert sorted(checkpointed.learners.facts) == sorted(scratch.learners.facts)


def test_a_late_event_before_the_horizon_re_folds_and_a_new_one_does_not():
    a = _world(every=2, margin_minutes=0, from_scratch=False)
    for n in range(4):
        a.events.add(parse_event(completion(L, f"c{n}", ist(2026, 10, 1 + 3 * n), id=f"e{n}")),
                     RECEIVED_FROM + timedelta(hours=n))
        recompute_stream(f"learner:{L}", a)
    a.events.add(parse_event(completion(L, "new", ist(2026, 11, 1), id="new")), RECEIVED_FROM + timedelta(days=1))
    snapshot = load(L, a)
    # the checkpoint of the third run (e0 to e2), then what came after it
    assert snapshot.base is not None and not snapshot.refold and sorted(e.id for e in snapshot.events) == ["e3", "new"]
    recompute_stream(f"learner:{L}", a)
    a.events.add(parse_event(completion(L, "late", ist(2026, 10, 2), id="late")), RECEIVED_FROM + timedelta(days=2))
    assert load(L, a).refold == "an event older than the horizon arrived"
    recompute_stream(f"learner:{L}", a)  # a fold from scratch, which takes a new checkpoint
    _agrees_with_a_fold_from_scratch(a)
    snapshot = load(L, a)
    assert snapshot.base is not None and not snapshot.refold and snapshot.events == []


def test_a_rule_version_after_the_horizon_keeps_the_checkpoint_one_before_it_does_not():
    a = _world(every=1, margin_minutes=0, from_scratch=False)
    a.events.add(parse_event(completion(L, "c1", ist(2026, 10, 1), id="e1")), RECEIVED_FROM)
    recompute_stream(f"learner:{L}", a)
    v0 = a.rules.versions[0]
    later = dataclasses.replace(v0, id="later", effective_from=ist(2026, 11, 1), reason="later", digest="x")
    a.rules = a.rules.with_version(later)
    assert load(L, a).base is not None
    earlier = dataclasses.replace(v0, id="earlier", effective_from=ist(2026, 9, 1), reason="earlier", digest="y")
    a.rules = a.rules.with_version(earlier)
    snapshot = load(L, a)
    assert snapshot.base is None and snapshot.refold == "rule versions changed up to the horizon"


def test_erasure_drops_the_checkpoint():
    a = _world(every=1, margin_minutes=0, from_scratch=False)
    a.events.add(parse_event(completion(L, "c1", ist(2026, 10, 1), id="e1")), RECEIVED_FROM)
    recompute_stream(f"learner:{L}", a)
    assert a.learners.checkpoint(L) is not None
    a.learners.drop_checkpoint(L)
    assert a.learners.checkpoint(L) is None


def test_campaign_multipliers_up_to_the_horizon_re_fold_later_ones_do_not():
    from chalicelib.campaigns.rules import Boost
    from tests.rules_builders import ORG
    a = _world(every=1, margin_minutes=0, from_scratch=False)
    live: dict = {}
    a.scoring = dataclasses.replace(a.scoring, boosts=lambda events, adapters, orgs=(): live)
    a.events.add(parse_event(completion(L, "c1", ist(2026, 10, 1), id="e1")), RECEIVED_FROM)
    recompute_stream(f"learner:{L}", a)
    live[ORG] = [Boost("later", "Later", ist(2026, 10, 5), ist(2026, 10, 9), 2.0)]
    assert load(L, a).base is not None
    live[ORG] = [Boost("earlier", "Earlier", ist(2026, 9, 5), ist(2026, 10, 9), 2.0)]
    assert load(L, a).refold == "campaign multipliers changed"
    recompute_stream(f"learner:{L}", a)
    _agrees_with_a_fold_from_scratch(a)
    assert load(L, a).base is not None


def test_while_a_campaign_is_active_for_the_learner_scoring_reads_the_whole_stream():
    from tests.rules_builders import ORG
    a = _world(every=1, margin_minutes=0, from_scratch=False)
    asked: list = []
    a.scoring = dataclasses.replace(a.scoring, whole_stream=lambda adapters, orgs: bool(asked.append(orgs)) or
                                    ORG in campaigning)
    campaigning: set = set()
    a.events.add(parse_event(completion(L, "c1", ist(2026, 10, 1), id="e1")), RECEIVED_FROM)
    recompute_stream(f"learner:{L}", a)
    assert load(L, a).base is not None and asked[-1] == {ORG}
    campaigning.add(ORG)
    assert load(L, a).refold == "a projection reads the whole stream"


def test_a_history_received_at_once_is_re_read_only_until_the_margin_has_passed():
    a = _world(every=50, margin_minutes=5, from_scratch=False)
    received = datetime(2025, 1, 1, tzinfo=UTC)  # in the past: the margin has passed by now
    for n in range(60):
        a.events.add(parse_event(completion(L, f"c{n}", ist(2024, 1, 1) + timedelta(days=n), id=f"e{n:02d}")),
                     received + timedelta(seconds=n))
    recompute_stream(f"learner:{L}", a)
    assert len(a.learners.checkpoint(L).recent) == 60  # all received within 5 minutes of the latest
    a.events.add(parse_event(completion(L, "next", ist(2024, 6, 1), id="next")), received + timedelta(days=1))
    assert len(load(L, a).events) == 1
    recompute_stream(f"learner:{L}", a)  # one event, but the checkpoint moves its cutoff on
    assert list(a.learners.checkpoint(L).recent) == ["next"]
    _agrees_with_a_fold_from_scratch(a)


def test_only_a_learner_in_an_active_campaigns_scope_needs_the_whole_stream():
    from chalicelib.campaigns.progress import needs_whole_stream
    from tests.campaign_builders import build_tree, create
    a = adapters()
    build_tree(a)
    assert not needs_whole_stream(a, {"org_c"})
    create(a, scope="state:state_s")
    a.caches.clear()  # the campaign definitions are cached for a while
    assert needs_whole_stream(a, {"org_c"}) and needs_whole_stream(a, {"org_a", "org_c"})
    assert not needs_whole_stream(a, {"org_a"}) and not needs_whole_stream(a, set())
