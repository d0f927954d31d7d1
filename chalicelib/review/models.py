"""The anti-abuse review table (review/store.py).
PynamoDB models; infra/resources.yaml declares the same tables for AWS (tests/test_infra.py checks it)."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.storage.models import table_meta


class HeldIndex(GlobalSecondaryIndex):
    """Sparse: only items still awaiting review carry held_shard, so the index lists exactly the held events.
    A fixed number of shards ("held#0".."held#3", by event id) spreads the writes of a burst; a page of the
    list is one query per shard, merged newest first."""
    class Meta:
        index_name = "held"
        projection = AllProjection()
    held_shard = UnicodeAttribute(hash_key=True)
    held_sort = UnicodeAttribute(range_key=True)  # "<occurred_at>|<learner id>|<event id>"


class ReviewRecord(Model):
    """One event held by the anti-abuse rate (rules/abuse.py): why, and the national admin's decision.

    Per learner, so that scoring reads a learner's decisions with one Query (only when they have held events).
    """
    Meta = table_meta("reviews")
    learner_id = UnicodeAttribute(hash_key=True)
    event_id = UnicodeAttribute(range_key=True)
    org_id = UnicodeAttribute(null=True)
    type = UnicodeAttribute()
    occurred_at = UTCDateTimeAttribute()
    rule = UnicodeAttribute()
    window_count = NumberAttribute()  # completions in the window up to this one (not "count": a Model method)
    max_allowed = NumberAttribute()
    window_minutes = NumberAttribute()
    status = UnicodeAttribute()  # held | released | rejected
    held_at = UTCDateTimeAttribute(null=True)
    decided_by = UnicodeAttribute(null=True)
    decided_at = UTCDateTimeAttribute(null=True)
    note = UnicodeAttribute(null=True)
    held_shard = UnicodeAttribute(null=True)  # set only while status is "held"
    held_sort = UnicodeAttribute(null=True)
    held = HeldIndex()


REVIEW_MODELS = (ReviewRecord,)
