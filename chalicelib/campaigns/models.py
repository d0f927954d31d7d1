"""Karmayogi Saptah campaign tables (campaigns/store.py): definitions, progress, org statistics, awards.
PynamoDB models; infra/resources.yaml declares the same tables for AWS (tests/test_infra.py checks it)."""
from __future__ import annotations

from pynamodb.attributes import JSONAttribute, ListAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.storage.models import table_meta


class CampaignsByScopeStatusIndex(GlobalSecondaryIndex):
    """GET /v1/campaigns?scope=...: one partition per scope and status, newest start first."""
    class Meta:
        index_name = "by_scope_status"
        projection = AllProjection()
    scope_status = UnicodeAttribute(hash_key=True)  # "<scope>|<status>"
    list_sort = UnicodeAttribute(range_key=True)  # "<start, utc_stamp>#<campaign id>"


class CampaignsByStatusIndex(GlobalSecondaryIndex):
    """GET /v1/campaigns without a scope: one partition per status, newest start first."""
    class Meta:
        index_name = "by_status"
        projection = AllProjection()
    status = UnicodeAttribute(hash_key=True)
    list_sort = UnicodeAttribute(range_key=True)


class CampaignRecord(Model):
    """One campaign: its definition, lifecycle status, frozen results and the closing run's cursor."""
    Meta = table_meta("campaigns")
    campaign_id = UnicodeAttribute(hash_key=True)
    scope = UnicodeAttribute()
    status = UnicodeAttribute()
    # The listing's index keys (campaigns/store.py keeps them in step with scope, status and start).
    scope_status = UnicodeAttribute(null=True)
    list_sort = UnicodeAttribute(null=True)
    by_scope_status = CampaignsByScopeStatusIndex()
    by_status = CampaignsByStatusIndex()
    definition = JSONAttribute()
    version = NumberAttribute(default=1)
    results = JSONAttribute(null=True)  # written once, when closing starts computing results
    close_step = NumberAttribute(default=0)  # the closing run's progress: the cursor moves only from this step
    close_cursor = JSONAttribute(null=True)  # progress shard -> last learner handled, or "done"
    updated_at = UTCDateTimeAttribute(null=True)


class CampaignProgressRecord(Model):
    """One learner's progress in one campaign. Spread over `progress_shards` partitions per campaign
    ("<campaign id>#<n>", by learner hash), which closing pages through."""
    Meta = table_meta("campaign-progress")
    campaign_shard = UnicodeAttribute(hash_key=True)
    learner_id = UnicodeAttribute(range_key=True)
    org_id = UnicodeAttribute(null=True)
    ancestors = ListAttribute(of=UnicodeAttribute, default=list)  # the org's ancestors its stats were added to
    score = NumberAttribute(default=0)
    state = UnicodeAttribute()  # the condition that makes each change of the statistics apply once
    body = JSONAttribute()


class CampaignStatsRecord(Model):
    """Pre-aggregated campaign statistics of one org, read by the dashboard with one query per shard.

    stats_key "<campaign id>|<org id>#<shard>", bucket "own", "total" (subtree) or "day:<local date>";
    stats_key "<campaign id>|report", bucket <org id>: the frozen per-org results row written at closing."""
    Meta = table_meta("campaign-stats")
    stats_key = UnicodeAttribute(hash_key=True)
    bucket = UnicodeAttribute(range_key=True)
    participants = NumberAttribute(default=0)
    goal_met = NumberAttribute(default=0)
    courses = NumberAttribute(default=0)
    minutes = NumberAttribute(default=0)
    active = NumberAttribute(default=0)  # day buckets: learners with counted activity that day
    row = JSONAttribute(null=True)


class CampaignAwardRecord(Model):
    """A campaign badge a learner earned at closing: the learner summary lists them with one query."""
    Meta = table_meta("campaign-awards")
    learner_id = UnicodeAttribute(hash_key=True)
    badge_id = UnicodeAttribute(range_key=True)
    campaign_id = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute()
    awarded_at = UTCDateTimeAttribute()


CAMPAIGN_MODELS = (CampaignRecord, CampaignProgressRecord, CampaignStatsRecord, CampaignAwardRecord)
