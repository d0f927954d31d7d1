"""Stored partition keys are built on sharding.shard_of: these values are in DynamoDB already, so they must not
change (a different hash or modulo would hide every item written before)."""
import pytest

from chalicelib.sharding import shard_of


@pytest.mark.parametrize("key, shards, expected", [
    ("learner_a", 4, 0), ("learner_a", 8, 4), ("learner_a", 16, 12),
    ("learner_b", 4, 2), ("learner_b", 16, 6),
    ("user-42|badge#2024-W10", 8, 6),
    ("évent", 16, 9),  # UTF-8 bytes
    ("l1|ev1", 4, 1), ("ev_123", 4, 1),
])
def test_known_values(key, shards, expected):
    assert shard_of(key, shards) == expected


@pytest.mark.parametrize("shards", [1, 0, -3])
def test_one_shard_or_none_is_shard_zero(shards):
    assert shard_of("learner_a", shards) == 0


def test_feature_keys_built_on_it():
    from datetime import datetime, timezone
    from chalicelib.review.store import shard_of as held_shard
    from chalicelib.rules.abuse import Hold
    from chalicelib.storage.models import pending_fact_key
    assert pending_fact_key("badge_awarded", "ev_123") == "badge_awarded#1"
    hold = Hold("ev1", "l1", None, "course_completed", datetime(2024, 1, 1, tzinfo=timezone.utc), 5, 4, 60)
    assert held_shard(hold) == "held#1"
