"""The board entries' stream folded by the app's fold_board_changes function (Lambda's event source mapping in
AWS; a poller of the stream API here), on moto: each record applied once, whatever is delivered again."""
from collections import Counter
from datetime import datetime, timezone

from chalicelib.leaderboards.boards import Entry
from local.board_stream import BoardStreamPoller


def _entry(board, learner, points, minutes=10, org="org_a"):
    return Entry(board, learner, org, points, minutes, datetime(2024, 10, 14, 3, 30, tzinfo=timezone.utc))


def test_the_fold_function_counts_each_record_once_however_often_a_batch_comes_again(aws, client):
    boards = aws.boards
    delivered = []

    def invoke(records):
        delivered.append(records)
        client.lambda_.invoke("fold_board_changes", {"Records": records})
    poller = BoardStreamPoller(aws, handler=invoke)
    a, b = _entry("national|all", "l1", 30), _entry("org:org_a|all", "l1", 30)
    boards.apply([(None, a), (None, b), (None, _entry("national|all", "l2", 20))], {"org_a": ["dept:dept_d"]})
    assert poller.drain() == 3
    boards.apply([(a, _entry("national|all", "l1", 45))], {"org_a": ["dept:dept_d"]})
    assert poller.drain() == 1
    for records in delivered:  # Lambda retries a failed batch whole: every batch again, and both as one
        client.lambda_.invoke("fold_board_changes", {"Records": records})
    client.lambda_.invoke("fold_board_changes", {"Records": [r for records in delivered for r in records]})
    read = boards  # the test wiring drains its own poller first: every record a third time, from the start
    assert read.scores("national|all") == Counter({45: 1, 20: 1})
    assert [(s.org_id, s.learners, s.points, s.minutes, s.parents) for s in read.org_stats("all")] == [
        ("org_a", 1, 30, 10, ("dept:dept_d",))]
    assert [(e.learner_id, e.points) for e in read.page("national|all", None, 5)] == [("l1", 45), ("l2", 20)]
