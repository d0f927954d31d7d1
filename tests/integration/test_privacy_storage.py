"""Preferences and erasure on DynamoDB Local: single-attribute updates, if_not_exists, version bumps."""
import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.events import parse_event
from chalicelib.learners.erasure import anonymous_profile
from chalicelib.rules.learner import evaluate
from chalicelib.rules.privacy import Listing, without_personal_data
from chalicelib.storage.models import EventRecord
from chalicelib.storage.ports import ConcurrentUpdate
from tests.rules_builders import completion, ist, upserted

RECEIVED = datetime(2024, 11, 1, 6, 30, tzinfo=timezone.utc)


def _saved(adapters, learner_id, version=0, name="Ananya Mehta"):
    events = [parse_event(upserted(learner_id, ist(2024, 10, 1), name=name, org="org_a")),
              parse_event(completion(learner_id, "do_1", ist(2024, 10, 2), org="org_a"))]
    for event in events:
        adapters.events.add(event, RECEIVED)
    standing = evaluate(learner_id, events, adapters.rules, adapters.catalogue)
    adapters.learners.save(standing, [], [], version, ("org:org_a", "national"))
    return standing


def test_a_scoring_save_keeps_the_preferences_and_the_erasure_mark(adapters, learner_id):
    standing = _saved(adapters, learner_id)
    assert adapters.learners.set_preferences(learner_id, {"leaderboard_visibility": "hidden"}) is True
    adapters.learners.save(standing, [], [], 1, ("org:org_a", "national"))  # scoring writes again
    stored = adapters.learners.get(learner_id)
    assert (stored.version, stored.preferences, stored.standing.points) == (2, {"leaderboard_visibility": "hidden"}, 5)
    assert adapters.learners.names([learner_id, "nobody"]) == {
        learner_id: Listing("Ananya Mehta", "org_a", "hidden", False, ("org:org_a", "national"))}
    assert adapters.learners.set_preferences("nobody", {"language": "hi"}) is False
    assert adapters.learners.get("nobody") is None  # the failed update created nothing


def test_marking_erased_empties_the_profile_bumps_the_version_and_keeps_the_first_time(adapters, learner_id):
    standing = _saved(adapters, learner_id)
    adapters.learners.set_preferences(learner_id, {"language": "ta"})
    first = adapters.learners.mark_erased(learner_id, anonymous_profile(standing.profile), RECEIVED)
    assert first == RECEIVED
    with pytest.raises(ConcurrentUpdate):  # a scoring save that read version 1 before the erasure
        adapters.learners.save(standing, [], [], 1, ("org:org_a", "national"))
    stored = adapters.learners.get(learner_id)
    assert (stored.version, stored.preferences, stored.erased_at) == (2, None, RECEIVED)
    assert dataclasses.asdict(stored.standing.profile) == {**{k: None for k in dataclasses.asdict(standing.profile)},
                                                          "org_id": "org_a"}
    assert stored.standing.points == 5
    later = adapters.learners.mark_erased(learner_id, anonymous_profile(standing.profile), RECEIVED + timedelta(days=1))
    assert later == RECEIVED and adapters.learners.get(learner_id).version == 3
    assert adapters.learners.erased([learner_id, "nobody"]) == {learner_id}
    assert adapters.learners.names([learner_id])[learner_id].erased is True
    assert adapters.learners.mark_erased("nobody", anonymous_profile(standing.profile), RECEIVED) is None


def test_rewriting_an_event_keeps_when_it_was_received(adapters, learner_id):
    event = parse_event({**upserted(learner_id, ist(2024, 10, 1), org="org_a"),
                         "learner": {"id": learner_id, "org_id": "org_a", "email": "a@example.gov.in"}})
    adapters.events.add(event, RECEIVED)
    adapters.events.rewrite(f"learner:{learner_id}", event.id, without_personal_data(event.model_dump(mode="json")))
    record = EventRecord.get(f"learner:{learner_id}", event.id, consistent_read=True)
    assert record.received_at == RECEIVED and record.body["learner"] == {"id": learner_id, "org_id": "org_a"}
    assert adapters.events.stream(f"learner:{learner_id}")[0].learner.email is None
