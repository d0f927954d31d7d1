"""make audit: corrupt each kind of derived figure behind the code's back, the audit reports it, --repair fixes
it, and the audit comes back clean with the tables as a fault-free run left them. On moto."""
import json
from collections import Counter

import pytest

from chalicelib import audit, settings
from chalicelib.ops import audit as audit_cli
from chalicelib.leaderboards.store import _stats_shard
from chalicelib.storage.models import LearnerRecord, LedgerRecord
from chalicelib.leaderboards.models import BoardEntryRecord, BoardSummaryRecord, OrgStatsRecord
from tests.test_faults import LEARNER, OTHER, post, scenario, snapshot, world, drain


@pytest.fixture
def scored():
    with world() as (client, adapters, sqs, dlq, pump):
        post(client, scenario())
        drain(pump)
        adapters.boards.poller.drain()  # the board figures, folded from the entries' stream
        yield adapters


def run(adapters, repair=False, segments=3):
    adapters.boards.poller.drain()  # what the entries add up to is folded from their stream within a second
    return audit.run(adapters, repair=repair, segments=segments, workers=2)


def bump_summary(board: str, points: int, by: int) -> None:
    BoardSummaryRecord._get_connection().connection.client.update_item(
        TableName=BoardSummaryRecord.Meta.table_name, Key={"summary": {"S": board}}, UpdateExpression="ADD #s :d",
        ExpressionAttributeNames={"#s": f"s{points}"}, ExpressionAttributeValues={":d": {"N": str(by)}})


def test_a_fault_free_store_audits_clean(scored):
    report = run(scored)
    assert report.clean and report.complete, report.as_dict()
    assert report.scanned["learners"] == 2 and report.scanned["board-figures"] > 10
    assert report.segments_done == {"learners": 3, "board-figures": 3, "orphan-figures": 3,
                                    "campaign-progress": 3, "campaign-stats": 3}


def corrupt(adapters):
    """One of each: a learner total, a streak, a badge, a ledger entry, a board entry, a score count, an org
    statistic, and figures on a board nobody is on."""
    record = LearnerRecord.get(LEARNER)
    record.update(actions=[LearnerRecord.points.set(999), LearnerRecord.best_clap_streak.set(7)])
    other = LearnerRecord.get(OTHER)
    other.update(actions=[LearnerRecord.badges.set({})])
    next(iter(LedgerRecord.query(OTHER))).delete()
    entry = next(r for r in BoardEntryRecord.scan() if r.learner_id == OTHER and r.board_shard.startswith("national|all"))
    entry.update(actions=[BoardEntryRecord.minutes.set(1)])
    adapters.boards.poller.drain()
    board = next(r.summary for r in BoardSummaryRecord.scan() if r.summary.startswith("org:")
                 and not r.summary.endswith("#top") and adapters.boards.scores(r.summary))
    bump_summary(board, next(iter(adapters.boards.scores(board))), 3)
    stat = next(r for r in OrgStatsRecord.scan() if r.period_shard.startswith("all#"))
    stat.update(actions=[OrgStatsRecord.points.add(50)])
    bump_summary("org:org_ghost|all", 12, 1)
    shard = _stats_shard("org_ghost", adapters.boards.config.org_stats_shards)
    OrgStatsRecord(f"month:2024-01#{shard}", "org_ghost", learners=2, points=10, minutes=5).save()


def test_the_audit_reports_each_corruption_and_repair_restores_the_fault_free_tables(scored):
    expected = snapshot()
    corrupt(scored)
    report = run(scored)
    kinds = report.differences
    assert kinds["learner-total"] == 1 and kinds["streak"] == 1 and kinds["badge"] == 1 and kinds["ledger"] == 1
    assert kinds["board-entry"] == 1
    assert kinds["score-count"] == 2  # the bumped count, and the count on a board nobody is on
    assert kinds["org-stat"] == 2
    sample = report.samples["learner-total"][0]
    assert sample.key == LEARNER and sample.live == {"points": 999} and sample.expected["points"] < 999
    assert report.samples["board-entry"][0].key.startswith("national|all|")
    json.dumps(report.as_dict())  # the report is loggable

    repaired = run(scored, repair=True)
    assert repaired.repaired == repaired.differences
    again = run(scored)
    assert again.clean, again.as_dict()
    after = snapshot()
    # Figures for the ghost board stay as rows at zero; the deleted ledger entry comes back as a new entry (the
    # ledger is append-only), so ledgers are compared by what they add up to per event and rule; everything
    # else is exactly as the fault-free run left it.
    for table in after:
        after[table] = [r for r in after[table] if "org_ghost" not in json.dumps(r, default=repr)]
    ledger = LedgerRecord.Meta.table_name
    for tables in (after, expected):
        totals = Counter()
        for row in tables.pop(ledger):
            totals[(row["learner_id"], row["event_id"], row["rule"])] += row["amount"]
        tables[ledger] = +totals
    assert after == expected


def test_a_segment_at_a_time_covers_the_same_ground(scored):
    corrupt(scored)
    whole = run(scored, segments=3)
    parts = [audit.run(scored, segments=3, only_segment=k) for k in range(3)]
    assert sum((p.differences for p in parts), start=type(whole.differences)()) == whole.differences


def test_the_command_line_prints_a_report_and_fails_while_differences_remain(scored, capsys):
    LearnerRecord.get(LEARNER).update(actions=[LearnerRecord.points.set(1)])
    assert audit_cli.main(["--segments", "2"]) == 1
    assert json.loads(capsys.readouterr().out)["differences"] == {"learner-total": 1}
    assert audit_cli.main(["--segments", "2", "--repair"]) == 0
    assert audit_cli.main(["--segments", "2"]) == 0


@pytest.mark.parametrize("learners, segments", [(0, 4), (19_999, 4), (20_001, 5), (10_00_000, 200),
                                                (1_00_00_000, 1000)])
def test_a_weekly_run_has_segments_enough_for_its_learners_and_every_auditor_covers_each(learners, segments):
    messages = audit.plan_weekly("run-1", learners, per_segment=5000, least=4, most=1000)
    assert {m["segments"] for m in messages} == {segments}
    auditors = [a.name for a in audit.registry()]
    assert sorted((m["auditor"], m["segment"]) for m in messages) == sorted(
        (a, k) for a in auditors for k in range(segments))


def test_the_weekly_start_sizes_the_run_by_the_learners_it_counts(monkeypatch):
    from chalicelib import bootstrap
    adapters = bootstrap.memory_adapters()
    for n in range(7):
        adapters.learners.learners[f"l{n}"] = None  # only the count matters to the start
    monkeypatch.setattr(settings, "AUDIT_LEARNERS_PER_SEGMENT", 1)
    log = Log()
    started = audit.start_weekly(adapters, "2026-11-29T20:30Z", log)
    assert started == {"run": "2026-11-29T20:30Z", "learners": 7, "segments": 7,
                       "messages": 7 * len(audit.registry())}
    assert adapters.audit_queue.sent == audit.plan_weekly("2026-11-29T20:30Z", 7, 1, settings.AUDIT_MIN_SEGMENTS,
                                                          settings.AUDIT_MAX_SEGMENTS)
    assert log.lines == [("info", "audit started", {"audit": started})]


class Log:
    def __init__(self):
        self.lines = []

    def info(self, message, extra):
        self.lines.append(("info", message, extra))

    def warning(self, message, extra):
        self.lines.append(("warning", message, extra))

    def error(self, message, extra):
        self.lines.append(("error", message, extra))


def test_a_weekly_segment_reports_and_stops_before_the_timeout(scored):
    LearnerRecord.get(LEARNER).update(actions=[LearnerRecord.points.set(1)])
    log = Log()
    found = [audit.audit_segment(scored, {"run": "r", "auditor": "learners", "segment": k, "segments": 2}, log,
                                 remaining_ms=lambda: 900_000) for k in range(2)]
    assert sum((Counter(f["differences"]) for f in found), Counter()) == {"learner-total": 1}
    assert ("warning", "audit found differences") in [line[:2] for line in log.lines]
    assert LearnerRecord.get(LEARNER).points == 1  # report only
    left = iter([900_000] + [10_000] * 1000)  # 15 minutes at the start, then 10 s: past the one-minute reserve
    cut = audit.audit_segment(scored, {"run": "r", "auditor": "board-figures", "segment": 0, "segments": 1}, log,
                              remaining_ms=lambda: next(left))
    assert cut["complete"] is False and log.lines[-1][:2] == ("warning", "audit incomplete")
    assert "--segments 1 --segment 0 --auditor board-figures" in log.lines[-1][2]["finish_with"]


def test_the_schedule_fans_out_and_the_queue_consumer_audits_every_segment_through_the_app(scored):
    from tests.conftest import app_client
    from tests.notify_helpers import pump_queue
    LearnerRecord.get(LEARNER).update(actions=[LearnerRecord.points.set(1)])
    with app_client() as client:
        started = client.lambda_.invoke("audit_weekly", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[])).payload
        assert started["learners"] == 2 and started["segments"] == 4
        assert started["messages"] == 4 * len(audit.registry())
        logged = []
        with patch_logger(logged):
            assert pump_queue(client, settings.AUDIT_QUEUE, "audit_segments", rounds=100) == started["messages"]
    reports = [extra["audit"] for message, extra in logged if "audit" in extra]
    assert len(reports) == started["messages"] and {r["run"] for r in reports} == {started["run"]}
    assert sum((Counter(r["differences"]) for r in reports), Counter()) == {"learner-total": 1}
    assert sum(r["scanned"].get("learners", 0) for r in reports) == 2


def test_a_malformed_audit_message_is_retried_then_dead_lettered_with_its_reason_and_spares_its_batch(scored):
    import app as application
    from chalicelib import bootstrap
    from tests.conftest import app_client
    sqs = bootstrap._aws_clients()["sqs"]
    dlq = sqs.create_queue(QueueName=f"{settings.AUDIT_QUEUE}-dlq")["QueueUrl"]
    arn = f"arn:aws:sqs:{settings.REGION}:123456789012:{settings.AUDIT_QUEUE}"
    good = {"run": "r", "auditor": "learners", "segment": 0, "segments": 1}
    bad = {"run": "r", "auditor": "no-such-auditor", "segment": 0, "segments": 1}

    def batch(receives):
        return {"Records": [{"messageId": name, "receiptHandle": name, "body": json.dumps(body), "md5OfBody": "",
                             "attributes": {"ApproximateReceiveCount": str(receives)}, "messageAttributes": {},
                             "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": settings.REGION}
                            for name, body in (("good", good), ("bad", bad))]}
    with app_client() as client:
        first = client.lambda_.invoke("audit_segments", batch(1)).payload
        last = client.lambda_.invoke("audit_segments", batch(5)).payload
    assert first == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert last == {"batchItemFailures": []}  # moved to the DLQ, with why
    [dead] = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(dead["Body"]) == bad
    assert dead["MessageAttributes"]["failure_error"]["StringValue"] == "KeyError"
    assert "audit_segments" in application.app.handler_map


class patch_logger:
    """Collects what the app's logger says (message, extra) while the block runs."""

    def __init__(self, into: list):
        self.into = into

    def __enter__(self):
        import app as application
        self.app, self.was = application, application.logger
        into = self.into

        class Collect:
            def __getattr__(self, level):
                return lambda message, *args, extra=None, **kwargs: into.append((message, extra or {}))
        application.logger = Collect()

    def __exit__(self, *exc):
        self.app.logger = self.was


def test_the_schedule_is_registered_with_the_app_and_the_local_pump():
    import app as application
    from local.pump import SCHEDULES
    assert "audit_weekly" in application.app.handler_map and SCHEDULES["audit_weekly"] >= 3600


def test_a_materialised_top_that_drifted_is_found_and_read_again(scored):
    """A board's first page is served from its summary's top: a wrong top (a fold lost, an edit by hand) is a
    difference, and the repair reads it from the index again."""
    client = BoardSummaryRecord._get_connection().connection.client
    key = next(r.summary for r in BoardSummaryRecord.scan() if r.summary.startswith("national|all") and r.top)
    right = client.get_item(TableName=BoardSummaryRecord.Meta.table_name, Key={"summary": {"S": key}})["Item"]
    client.put_item(TableName=BoardSummaryRecord.Meta.table_name,
                    Item={**right, "top": {"L": right["top"]["L"][:1]}})  # a learner lost from the top
    report = run(scored)
    assert report.differences == {"board-top": 1}, report.as_dict()
    run(scored, repair=True)
    assert run(scored).clean
    assert client.get_item(TableName=BoardSummaryRecord.Meta.table_name, Key={"summary": {"S": key}})["Item"]["top"] \
        == right["top"]
