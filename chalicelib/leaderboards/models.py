"""Leaderboard tables (leaderboards/store.py): board entries, score counts per board shard, org statistics.
PynamoDB models; infra/resources.yaml declares the same tables for AWS (tests/test_infra.py checks it)."""
from __future__ import annotations

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, LocalSecondaryIndex
from pynamodb.models import Model

from chalicelib.storage.models import table_meta


class ByRankIndex(LocalSecondaryIndex):
    """Sparse: only entries with points carry rank_key, so the index lists exactly the ranked learners."""
    class Meta:
        index_name = "by_rank"
        projection = AllProjection()
    board_shard = UnicodeAttribute(hash_key=True)
    rank_key = UnicodeAttribute(range_key=True)


class BoardEntryRecord(Model):
    """One learner on one board shard ("<scope>|<period>#<shard>")."""
    Meta = table_meta("board-entries")
    board_shard = UnicodeAttribute(hash_key=True)
    learner_id = UnicodeAttribute(range_key=True)
    rank_key = UnicodeAttribute(null=True)
    by_rank = ByRankIndex()
    org_id = UnicodeAttribute(null=True)
    points = NumberAttribute(default=0)
    minutes = NumberAttribute(default=0)
    reached_at = UTCDateTimeAttribute(null=True)
    state = UnicodeAttribute()  # "<points>|<minutes>|<reached>": the condition that makes each change apply once


class BoardScoreRecord(Model):
    """How many learners of one board shard have exactly `points`: dense ranks and totals without a scan."""
    Meta = table_meta("board-scores")
    board_shard = UnicodeAttribute(hash_key=True)
    points = NumberAttribute(range_key=True)
    learners = NumberAttribute(default=0)


class OrgStatsRecord(Model):
    """Per org and period ("members" for headcount): learners, points and minutes, for org comparisons."""
    Meta = table_meta("org-stats")
    period_shard = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute(range_key=True)
    learners = NumberAttribute(default=0)
    points = NumberAttribute(default=0)
    minutes = NumberAttribute(default=0)
    parents = ListAttribute(of=UnicodeAttribute, default=list)


BOARD_MODELS = (BoardEntryRecord, BoardScoreRecord, OrgStatsRecord)
