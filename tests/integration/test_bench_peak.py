"""`make bench-peak --quick` on DynamoDB Local: the figures are printed, and the conflict model really cancels the
second of two overlapping transactions on one item with the TransactionConflict shape the code handles.

The benchmark runs as its own process (it starts its own DynamoDB Local and sets the environment before importing
chalicelib); the model is checked here against the DynamoDB Local of this tier (tests/integration/conftest.py).
About 20 s on a 2-core machine.
"""
import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from local.bench_peak import ConflictModel

PROJECT = Path(__file__).resolve().parents[2]


def test_quick_run_prints_the_figures(tmp_path):
    chart, figures_file = tmp_path / "peak.png", tmp_path / "peak.json"
    done = subprocess.run([sys.executable, "-m", "local.bench_peak", "--quick", "--learners", "20", "--events", "40",
                           "--history", "20", "--chart", str(chart), "--json", str(figures_file)],
                          cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "Evening surge: 20 learners" in out and "events/s" in out and "conflicts/1k" in out, out
    assert "p50 ms" in out and "p99 ms" in out and "req/event" in out and "WCU/event" in out, out
    assert "One new course.completed scored" in out and "score RCU" in out, out
    results = json.loads(figures_file.read_text())
    assert [r["scorers"] for r in results["runs"]] == [1, 8, 32]
    for run in results["runs"]:
        assert run["accepted"] == 40 and run["on_board"] == 40 and run["not_on_board"] == 0, run
        assert run["events_per_s"] > 0 and run["p99_ms"] >= run["p50_ms"] > 0, run
        assert run["requests_per_event"] > 1 and run["wcu_per_event"] > 1, run
        # the national board is the folded summary: every entry change went through the board stream's fold
        assert run["folded_records"] >= 40 and run["fold_batches"] > 0 and run["scored_p99_ms"] > 0, run
        assert "board-summaries" in run["per_event_by_table"], run
    assert results["runs"][0]["conflicts"] == 0  # one scorer never overlaps itself
    assert [r["prior"] for r in results["history"]] == [20]
    assert results["history"][0]["requests"] > 1 and results["history"][0]["rcu"] > 0
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def conflict_model():
    model = ConflictModel(hold_ms=300)  # the first transaction holds its items long enough for the second to meet them
    remove = model.install()
    yield model
    remove()


def test_history_only_skips_the_surge():
    from local.bench_peak import parse_args
    args = parse_args(["--history-only", "--history", "20,2000"])
    assert args.scorer_counts == [] and args.history_sizes == [20, 2000]


def test_two_overlapping_transactions_on_one_item_conflict(adapters, conflict_model):
    from chalicelib.leaderboards.models import OrgStatsRecord  # any table with a counter does
    board = f"national|week:test-{uuid.uuid4().hex[:8]}#0"
    connection = OrgStatsRecord._get_connection().connection
    first_inside, outcomes = threading.Event(), {}

    def bump(name: str, points: int) -> None:
        try:
            with TransactWrite(connection=connection) as tx:
                tx.update(OrgStatsRecord(board, f"org_{points}"), actions=[OrgStatsRecord.learners.add(1)])
                tx.update(OrgStatsRecord(board, "org_500"), actions=[OrgStatsRecord.learners.add(1)])  # shared item
                if name == "first":
                    first_inside.set()
            outcomes[name] = "committed"
        except TransactWriteError as exc:
            outcomes[name] = [r.code if r else None for r in exc.cancellation_reasons]

    first = threading.Thread(target=bump, args=("first", 10))
    first.start()
    first_inside.wait(5)
    while conflict_model.transactions < 1:  # the first one's request is under way (and holds its items)
        threading.Event().wait(0.01)
    bump("second", 20)
    first.join(10)

    assert outcomes["first"] == "committed"
    assert outcomes["second"] == [None, "TransactionConflict"]  # only the contended item carries the reason
    assert conflict_model.conflicts == 1
    assert OrgStatsRecord.get(board, "org_500").learners == 1 and OrgStatsRecord.get(board, "org_10").learners == 1
    assert OrgStatsRecord.count(board) == 2  # the cancelled one wrote nothing

    # Once the first has finished, the same transaction goes through.
    bump("again", 20)
    assert outcomes["again"] == "committed" and OrgStatsRecord.get(board, "org_500").learners == 2


def test_a_failed_condition_stays_conditional_check_failed(adapters, conflict_model):
    from chalicelib.leaderboards.models import OrgStatsRecord  # any table with a counter does
    board = f"national|week:test-{uuid.uuid4().hex[:8]}#0"
    connection = OrgStatsRecord._get_connection().connection
    with pytest.raises(TransactWriteError) as caught:
        with TransactWrite(connection=connection) as tx:
            tx.update(OrgStatsRecord(board, "org_1"), actions=[OrgStatsRecord.learners.add(1)],
                      condition=OrgStatsRecord.learners.exists())
    assert [r.code if r else None for r in caught.value.cancellation_reasons] == ["ConditionalCheckFailed"]
    assert conflict_model.conflicts == 0
