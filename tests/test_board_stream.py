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



# --- a batch the fold never applied: retried until its records expire, then named on the audit queue ----------

def test_a_batch_skipped_at_expiry_is_dead_lettered_at_once_naming_its_boards_and_the_repair(aws, client):
    """Lambda retries a failing batch of the board stream until its records are about to expire (infra), then sends
    its on-failure record to the audit queue: the consumer reads the batch again from the stream, and the message
    goes to the audit DLQ on this first receive with the boards it touched and the command that repairs them.
    That command then puts the boards right."""
    import json
    from chalicelib import audit, bootstrap, settings
    from chalicelib.audit.boards import BoardFiguresAuditor, OrphanFiguresAuditor
    boards, poller = aws.boards, aws.boards.poller
    parents = {"org_a": ["dept:dept_d"]}
    a, b = _entry("national|all", "l1", 30), _entry("org:org_a|all", "l1", 30)
    boards.apply([(None, a), (None, b), (None, _entry("national|all", "l2", 20))], parents)
    assert poller.drain() == 3
    skipped: list = []
    poller._handler = skipped.extend  # the fold fails on this batch until the stream lets it go
    boards.apply([(a, _entry("national|all", "l1", 45)), (b, _entry("org:org_a|all", "l1", 45, minutes=25))],
                 parents)
    assert poller.drain() == 2
    poller._handler = None
    boards.apply([(None, _entry("national|all", "l3", 10))], parents)  # later batches fold as usual
    assert poller.drain() == 1
    assert boards.scores("national|all") == Counter({30: 1, 20: 1, 10: 1})  # the skipped batch is missing

    [shard] = poller._shards()
    failure = {"version": "1.0", "requestContext": {"condition": "RecordAgeExceeded", "approximateInvokeCount": 90},
               "DDBStreamBatchInfo": {"shardId": shard["ShardId"], "streamArn": poller._stream_arn(), "batchSize": 2,
                                      "startSequenceNumber": skipped[0]["dynamodb"]["SequenceNumber"],
                                      "endSequenceNumber": skipped[-1]["dynamodb"]["SequenceNumber"]}}
    sqs = bootstrap.sqs_client()
    dlq = sqs.create_queue(QueueName=f"{settings.AUDIT_QUEUE}-dlq")["QueueUrl"]
    event = client.events.generate_sqs_event([json.dumps(failure)], queue_name=settings.AUDIT_QUEUE)
    assert client.lambda_.invoke("audit_segments", event).payload == {"batchItemFailures": []}  # not retried
    [dead] = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(dead["Body"]) == failure
    reason = dead["MessageAttributes"]["failure_reason"]["StringValue"]
    assert "2 records" in reason and "2 boards: national|all, org:org_a|all" in reason, reason
    assert "make audit ARGS='--repair --auditor board-figures'" in reason and "orphan-figures" in reason, reason

    # What the reason says to run: the boards recounted from their entries.
    for auditor in (BoardFiguresAuditor(), OrphanFiguresAuditor()):
        audit.run(aws, repair=True, segments=1, auditors=[auditor])
    assert boards.scores("national|all") == Counter({45: 1, 20: 1, 10: 1})
    assert [(e.learner_id, e.points) for e in boards.page("national|all", None, 5)] == [
        ("l1", 45), ("l2", 20), ("l3", 10)]
    assert [(s.org_id, s.learners, s.points, s.minutes) for s in boards.org_stats("all")] == [("org_a", 1, 45, 25)]


def test_the_stream_mapping_retries_until_expiry_and_names_what_it_skips_on_the_audit_queue():
    from pathlib import Path
    import yaml
    template = yaml.safe_load((Path(__file__).resolve().parents[1] / "infra" / "resources.yaml").read_text())
    mapping = template["Resources"]["BoardEntriesStream"]["Properties"]
    assert mapping["MaximumRetryAttempts"] == -1 and mapping["MaximumRecordAgeInSeconds"] == -1
    assert mapping["BisectBatchOnFunctionError"] is True and mapping["ParallelizationFactor"] == 1
    # No batching window: a 1 s window alone put the national board's p99 past the 2 s goal (docs/benchmarks.md).
    # The local poller and bench-peak poll as Lambda then does, 4 times a second.
    from local.board_stream import LAMBDA_POLL_SECONDS
    assert mapping["MaximumBatchingWindowInSeconds"] == 0 and LAMBDA_POLL_SECONDS == 0.25
    assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": ["AuditQueue", "Arn"]}}}
    behind = template["Resources"]["BoardStreamBehindAlarm"]["Properties"]
    assert behind["MetricName"] == "IteratorAge" and behind["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": "FoldBoardChanges"}}]
