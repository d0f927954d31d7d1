"""Leaderboard tables (leaderboards/store.py): board entries, board summaries, org statistics.
PynamoDB models; infra/resources.yaml declares the same tables for AWS (tests/test_infra.py checks it).

Only board entries are written on a learner's path. Summaries and org statistics are folded from the entries'
stream (leaderboards/stream.py), one batch at a time: no item is written by two learners' requests."""
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


def _entries_meta():
    meta = table_meta("board-entries")
    meta.stream_view_type = "NEW_AND_OLD_IMAGES"  # type: ignore[attr-defined]  # the stream summaries are folded from
    return meta


class BoardEntryRecord(Model):
    """One learner on one board shard ("<scope>|<period>#<shard>")."""
    Meta = _entries_meta()
    board_shard = UnicodeAttribute(hash_key=True)
    learner_id = UnicodeAttribute(range_key=True)
    rank_key = UnicodeAttribute(null=True)
    by_rank = ByRankIndex()
    org_id = UnicodeAttribute(null=True)
    points = NumberAttribute(default=0)
    minutes = NumberAttribute(default=0)
    reached_at = UTCDateTimeAttribute(null=True)
    state = UnicodeAttribute()  # "<points>|<minutes>|<reached>": the condition that makes each change apply once
    # On org-scope entries: the org's ancestor scopes, carried by the stream to the org's statistics.
    parents = ListAttribute(of=UnicodeAttribute, null=True)


class BoardSummaryRecord(Model):
    """Per board, folded from the entries' stream (leaderboards/store.py DynamoBoardStore.fold):

    "<board>": the score histogram as attributes s<points> -> learners (dense ranks and the total in one read),
    `cut` (the rank key of the last materialised top entry, "" while the board has fewer) and q<n> -> the
    stream sequence number last applied from board shard n (exactly once under batch retries).
    "<board>#top": `top`, the board's first entries in rank order (rank key|org|minutes), read from the by_rank
    index when a batch changed something at or above the cut, and `top_at`, when that read was made.
    The histogram and q<n> attributes are dynamic, so the store reads and writes this table with the low-level
    connection; the declared attributes are the fixed ones."""
    Meta = table_meta("board-summaries")
    summary = UnicodeAttribute(hash_key=True)
    cut = UnicodeAttribute(null=True)
    top = ListAttribute(of=UnicodeAttribute, null=True)
    top_at = NumberAttribute(null=True)
    top_hash = UnicodeAttribute(null=True)  # on "<board>": a digest of the top kept, so an unchanged one is not rewritten


class OrgStatsRecord(Model):
    """Per org and period ("members" for headcount): learners, points and minutes, for org comparisons.
    Folded from the org boards' entries (with q<n> sequence guards, as the summaries)."""
    Meta = table_meta("org-stats")
    period_shard = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute(range_key=True)
    learners = NumberAttribute(default=0)
    points = NumberAttribute(default=0)
    minutes = NumberAttribute(default=0)
    parents = ListAttribute(of=UnicodeAttribute, default=list)


BOARD_MODELS = (BoardEntryRecord, BoardSummaryRecord, OrgStatsRecord)
