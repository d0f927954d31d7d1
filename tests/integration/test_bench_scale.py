"""`make bench-scale --quick` on DynamoDB Local: the figures are printed and charted, and each read costs the same
number of requests at both populations (the point of the national-scale benchmark: flat lines).

Runs the benchmark as its own process (it starts its own DynamoDB Local and moto, and sets the environment
before importing chalicelib). About a minute and a half on a 2-core machine.
"""
import json
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
READS = ("board page", "learner rank", "org dashboard", "nudge selection")


def test_quick_run_prints_and_charts_flat_request_counts(tmp_path):
    chart, figures_file = tmp_path / "scale.png", tmp_path / "scale.json"
    done = subprocess.run([sys.executable, "-m", "local.bench_scale", "--quick", "--chart", str(chart),
                           "--json", str(figures_file), "--report-seconds", "60"],
                          cwd=PROJECT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout

    # Every read at both populations, with requests, RCU and milliseconds, in the printed table.
    for read in READS:
        rows = [line for line in out.splitlines() if line.startswith(read)]
        assert any(" 2,000 " in row for row in rows) and any(" 5,000 " in row for row in rows), (read, out)
    # Columns are as wide as their widest value (a run whose reads all take under 100 ms has a narrower "ms").
    headers = [line.split() for line in out.splitlines() if line.startswith("read ")]
    assert headers and all(h[:6] == ["read", "learners", "requests", "RCU", "ms", "ms"] for h in headers), headers
    assert "Learning-week replay at 5,000 learners" in out and "events/s" in out

    results = json.loads(figures_file.read_text())
    figures = results["figures"]
    assert sorted({f["population"] for f in figures}) == [2000, 5000]
    for read in READS:
        mine = {f["population"]: f for f in figures if f["read"] == read}
        assert set(mine) == {2000, 5000}, read
        assert mine[2000]["requests"] == mine[5000]["requests"] > 0, (read, mine)
        assert all(f["rcu"] > 0 and f["ms"] > 0 for f in mine.values()), (read, mine)
    assert all(results["flat_requests"].values())
    # Issue 18's read goals: a first page from the board's summary, a learner's ranks from one batch read.
    assert all(f["requests"] <= 5 for f in figures if f["read"] == "board page")
    assert all(f["requests"] <= 15 for f in figures if f["read"] == "learner rank")
    # The nudge selection reads the learners due, whoever else is on the schedule.
    assert all("50 due of" in f["note"] for f in figures if f["read"] == "nudge selection")

    # The population really grew in DynamoDB (the seeding reports what it wrote), and the replay went through.
    assert [s["learners"] for s in results["steps"]] == [2000, 5000]
    assert results["steps"][1]["learners_added"] == 3000 and results["steps"][1]["items"] > 3000 * 4
    replay = results["replay"]
    assert replay["events"] == replay["planned"] >= 2000 and not replay["stopped"]
    assert replay["outcomes"].get("accepted", 0) > 1500 and replay["requests_per_event"] > 1
    assert replay["fold_records"] > 1500 and replay["fold_wcu_per_event"] > 0  # the board stream, folded

    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000
