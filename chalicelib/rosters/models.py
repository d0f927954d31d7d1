"""Org roster tables (rosters/store.py): employees and per-org headcount counters.
PynamoDB models; infra/resources.yaml declares the same tables for AWS (tests/test_infra.py checks it)."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.storage.models import table_meta


class ByOrgIndex(GlobalSecondaryIndex):
    """An org's roster in learner-id order: a page of employees is one Query."""
    class Meta:
        index_name = "by_org"
        projection = AllProjection()
    org_id = UnicodeAttribute(hash_key=True)
    learner_id = UnicodeAttribute(range_key=True)


class RosterRecord(Model):
    """One employee on an org's roster (rosters/employees.py), keyed by learner id: `get` is one read and an
    employee is on one org's roster at a time (the last import that lists them)."""
    Meta = table_meta("roster")
    learner_id = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute()
    by_org = ByOrgIndex()
    name = UnicodeAttribute()
    email = UnicodeAttribute(null=True)  # never logged
    phone = UnicodeAttribute(null=True)  # E.164; never logged
    group = UnicodeAttribute(null=True)
    designation = UnicodeAttribute(null=True)
    employee_id = UnicodeAttribute(null=True)
    language = UnicodeAttribute(null=True)
    digest = UnicodeAttribute()  # of all the above: the condition that makes each change apply once
    updated_at = UTCDateTimeAttribute()


class RosterHeadcountRecord(Model):
    """Employees on an org's own roster, as a few counters summed on read (rosters/store.py COUNTER_SHARDS):
    each moved in the same transaction as the rows it counts, by one of the importer's concurrent writers."""
    Meta = table_meta("roster-headcounts")
    org_id = UnicodeAttribute(hash_key=True)
    shard = NumberAttribute(range_key=True)
    employees = NumberAttribute(default=0)


ROSTER_MODELS = (RosterRecord, RosterHeadcountRecord)
