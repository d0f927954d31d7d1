"""The real DynamoBoardStore on DynamoDB Local: sharded boards read through the sparse rank index, score
counts for dense ranks and totals, transactions that apply each change once, and concurrent recomputes."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.identity.tokens import Principal
from chalicelib.events import parse_event
from chalicelib.leaderboards import service as leaderboards
from chalicelib.leaderboards.boards import Entry, shard_of
from chalicelib.learners.service import learner_summary
from chalicelib.scoring.pipeline import recompute_stream
from chalicelib.rules.learner import evaluate
from chalicelib.leaderboards.models import BoardEntryRecord, BoardSummaryRecord, OrgStatsRecord
from chalicelib.storage.ports import ConcurrentUpdate
from tests.rules_builders import completion, ist, time_spent, upserted
from tests.test_leaderboards import earn, org_event, oracle_ranks

RECEIVED = datetime(2024, 11, 1, 6, 30, tzinfo=timezone.utc)
NOW = ist(2024, 10, 30, 12)

ADMIN = Principal("admin-1", None, frozenset({"national_admin"}))  # may read any learner


def store(adapters, dicts) -> None:
    for d in dicts:
        adapters.events.add(parse_event(d), RECEIVED)


def deliver(adapters, dicts) -> None:
    store(adapters, dicts)
    for stream in dict.fromkeys(f"learner:{d['learner']['id']}" for d in dicts):
        recompute_stream(stream, adapters)


def add_orgs(adapters, dicts) -> None:
    for d in dicts:
        adapters.events.add(parse_event(d), RECEIVED)
        recompute_stream(f"org:{d['org']['id']}", adapters)


def walk(adapters, scope: str, period: str, limit: int) -> tuple[list[tuple], int]:
    seen, cursor = [], None
    for _ in range(100):
        query = {"scope": scope, "period": period, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        page = leaderboards.learner_board(query, adapters, NOW, ADMIN)
        seen += [(e["learner_id"], e["points"], e["rank"]) for e in page["entries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen, page["total"]
    raise AssertionError("the pages never end")


def expected_board(points_by_learner: dict[str, int], reached: dict[str, datetime]) -> list[tuple]:
    order = sorted((l for l, p in points_by_learner.items() if p > 0),
                   key=lambda l: (-points_by_learner[l], reached[l], l))
    points = [points_by_learner[l] for l in order]
    return list(zip(order, points, oracle_ranks(points)))


def run_together(functions) -> list[Exception]:
    start, errors = threading.Barrier(len(functions), timeout=30), []

    def run(function):
        try:
            start.wait()
            function()
        except Exception as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f,)) for f in functions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


# 20 learners over two orgs, with ties; each reaches its score at its own minute
POINTS = {f"n{k:02d}": p for k, p in enumerate([40, 12, 33, 12, 7, 40, 21, 5, 33, 12, 2, 19, 40, 7, 26, 12, 9, 4,
                                                 33, 14])}
ORG_OF = {learner: ("org_a" if k % 3 else "org_b") for k, learner in enumerate(POINTS)}
AT = {learner: ist(2024, 10, 14, 8) + timedelta(minutes=10 * k) for k, learner in enumerate(POINTS)}


@pytest.fixture
def twenty(adapters):
    deliver(adapters, [e for learner, p in POINTS.items() for e in earn(learner, p, AT[learner], ORG_OF[learner])])
    return adapters


def _reached() -> dict[str, datetime]:
    return {learner: AT[learner] + timedelta(minutes=(p % 5) * 3 % 5 + (p - 2 * ((p % 5) * 3 % 5)) // 5 - 1)
            for learner, p in POINTS.items()}


def test_a_sharded_board_merges_its_shards_in_rank_order(twenty):
    shards = twenty.boards.config.shards_for("national|all")
    assert shards == 8
    used = {shard_of(learner, shards) for learner in POINTS}
    assert len(used) >= 5  # the learners really are spread over the shards
    for shard in used:  # and each shard holds its own learners
        assert {r.learner_id for r in BoardEntryRecord.query(f"national|all#{shard}", consistent_read=True)} == {
            learner for learner in POINTS if shard_of(learner, shards) == shard}
    want = expected_board(POINTS, _reached())
    assert [r for _, _, r in want][:4] == [1, 1, 1, 2]  # three 40s share the top
    for limit in (1, 3, 7, 100):
        seen, total = walk(twenty, "national", "all", limit)
        assert seen == want and total == 20, limit
    assert twenty.boards.scores("national|all") == Counter(POINTS.values())
    for org in ("org_a", "org_b"):
        mine = {l: p for l, p in POINTS.items() if ORG_OF[l] == org}
        assert walk(twenty, f"org:{org}", "week:2024-W42", 4) == (expected_board(mine, _reached()), len(mine))


def test_around_me_reads_across_shards(twenty):
    want = expected_board(POINTS, _reached())
    for position in (0, 1, 9, 19):
        learner = want[position][0]
        body = leaderboards.learner_board({"scope": "national", "around": learner}, twenty, NOW, ADMIN)
        picked = sorted(set(range(3)) | {p for p in (position - 1, position, position + 1) if 0 <= p < 20})
        assert [(e["learner_id"], e["points"], e["rank"]) for e in body["entries"]] == [want[p] for p in picked]
    # an id too long to be a DynamoDB key is not on the board: the top three, not an error
    for nobody in ("nobody", "x" * 2000):
        body = leaderboards.learner_board({"scope": "national", "around": nobody}, twenty, NOW, ADMIN)
        assert [(e["learner_id"], e["points"], e["rank"]) for e in body["entries"]] == want[:3]


def test_previous_ranks_and_names_come_back_in_one_batch(adapters):
    deliver(adapters, [upserted("p1", ist(2024, 9, 1), name="Priya", org="org_a")]
            + earn("p1", 10, ist(2024, 10, 22), "org_a", "w43") + earn("p2", 20, ist(2024, 10, 23), "org_a", "w43")
            + earn("p1", 30, ist(2024, 10, 29), "org_a", "w44") + earn("p2", 5, ist(2024, 10, 29), "org_a", "w44")
            + earn("p3", 5, ist(2024, 10, 29, 13), "org_b", "w44"))
    body = leaderboards.learner_board({"scope": "national", "period": "week"}, adapters, NOW, ADMIN)
    assert [(e["learner_id"], e["name"], e["points"], e["rank"], e["previous_rank"]) for e in body["entries"]] == [
        ("p1", "Priya", 30, 1, 2), ("p2", None, 5, 2, 1), ("p3", None, 5, 2, None)]
    ranks = {(r["scope"], r["period"]): r for r in learner_summary("p2", ADMIN, adapters, NOW)["ranks"]}
    assert (ranks[("org:org_a", "week:2024-W44")]["rank"], ranks[("org:org_a", "week:2024-W44")]["previous_rank"]) \
        == (2, 1)


def _entry(board: str, learner: str, points: int, minutes: int = 0, org: str = "org_x",
           at: datetime = datetime(2024, 10, 14, 3, 30, tzinfo=timezone.utc)) -> Entry:
    return Entry(board, learner, org, points, minutes, at if points > 0 else None)


def test_the_same_change_twice_is_refused_the_second_time(adapters):
    boards = adapters.boards
    new = _entry("org:org_x|week:2024-W42", "t1", 15, 30)
    national = _entry("national|week:2024-W42", "t1", 15)
    parents = {"org_x": ["dept:d_x"]}
    boards.apply([(None, new), (None, national)], parents)
    with pytest.raises(ConcurrentUpdate):
        boards.apply([(None, new), (None, national)], parents)
    with pytest.raises(ConcurrentUpdate):  # each change on its own: the fresh one applies, the stale one not
        boards.apply([(None, _entry("national|all", "t1", 15)), (None, national)], parents)
    assert boards.current("t1", ["national|all"]) == {"national|all": _entry("national|all", "t1", 15)}
    assert boards.scores("org:org_x|week:2024-W42") == {15: 1} and boards.scores("national|week:2024-W42") == {15: 1}
    stats = [(s.org_id, s.learners, s.points, s.minutes, s.parents) for s in boards.org_stats("week:2024-W42")]
    assert stats == [("org_x", 1, 15, 30, ("dept:d_x",))]
    # a change from the state it really has applies; the same change again (a stale retry) does not
    more = _entry("org:org_x|week:2024-W42", "t1", 20, 45)
    boards.apply([(new, more)], parents)
    with pytest.raises(ConcurrentUpdate):
        boards.apply([(new, more)], parents)
    assert boards.scores("org:org_x|week:2024-W42") == {20: 1}
    assert [(s.learners, s.points, s.minutes) for s in boards.org_stats("week:2024-W42")] == [(1, 20, 45)]
    boards.apply([(more, None)], parents)
    with pytest.raises(ConcurrentUpdate):
        boards.apply([(more, None)], parents)
    assert boards.scores("org:org_x|week:2024-W42") == {}
    assert [(s.learners, s.points, s.minutes) for s in boards.org_stats("week:2024-W42")] == [(0, 0, 0)]


def _expected_counts(standings, board_scope: str, period: str) -> Counter:
    return Counter(s.points_by_period[period] for s in standings
                   if s.points_by_period.get(period, 0) > 0
                   and (board_scope == "national" or board_scope == f"org:{s.profile.org_id}"))


def test_concurrent_recomputes_of_different_learners_keep_the_counts(adapters):
    """Twelve learners scored at once: they share the national shards' score counts and their org's statistics
    (the same items), so transactions conflict and are retried; nothing is lost or counted twice."""
    learners = [f"c{n:02d}" for n in range(12)]
    org = {learner: "org_c" if n % 2 else "org_d" for n, learner in enumerate(learners)}
    dicts = {learner: [completion(learner, f"k{j}", ist(2024, 10, 14, 9, n) + timedelta(hours=j), org=org[learner])
                       for j in range(1 + n % 3)]  # 5, 10 or 15 points
             + [time_spent(learner, 10 * (n + 1), ist(2024, 10, 15, 9), org=org[learner])]
             for n, learner in enumerate(learners)}
    for l in learners:
        store(adapters, dicts[l])
    errors = run_together([lambda l=l: recompute_stream(f"learner:{l}", adapters) for l in learners])
    assert not errors, errors
    standings = [evaluate(l, [parse_event(d) for d in dicts[l]], adapters.rules, adapters.catalogue)
                 for l in learners]
    for period in ("all", "month:2024-10", "week:2024-W42"):
        for scope in ("national", "org:org_c", "org:org_d"):
            assert adapters.boards.scores(f"{scope}|{period}") == _expected_counts(standings, scope, period)
        stats = {s.org_id: (s.learners, s.points, s.minutes) for s in adapters.boards.org_stats(period)}
        assert stats == {org: (6, sum(s.points_by_period[period] for s in standings if s.profile.org_id == org),
                               sum(s.minutes_by_period[period] for s in standings if s.profile.org_id == org))
                         for org in ("org_c", "org_d")}
    assert {s.org_id: s.learners for s in adapters.boards.org_stats(leaderboards.MEMBERS)} == {"org_c": 6,
                                                                                            "org_d": 6}
    seen, total = walk(adapters, "national", "all", 5)
    assert total == 12 and [p for _, p, _ in seen] == sorted((s.points for s in standings), reverse=True)


def test_one_learner_recomputed_twice_at_once_ends_correct(adapters):
    first = earn("r1", 12, ist(2024, 10, 14, 9), "org_r", "a") + earn("r2", 9, ist(2024, 10, 14, 9), "org_r", "a")
    deliver(adapters, first)
    later = (earn("r1", 10, ist(2024, 10, 16, 9), "org_r", "b")
             + [time_spent("r1", 50, ist(2024, 10, 16, 9), org="org_r")])
    store(adapters, later)
    for _ in range(2):  # two rounds: the race on the boards and on the learner's version
        errors = run_together([lambda: recompute_stream("learner:r1", adapters)] * 3)
        assert not errors, errors
    assert walk(adapters, "org:org_r", "week:2024-W42", 1) == ([("r1", 22, 1), ("r2", 9, 2)], 2)
    for board in ("org:org_r|week:2024-W42", "national|week:2024-W42", "national|all", "org:org_r|month:2024-10"):
        assert adapters.boards.scores(board) == {22: 1, 9: 1}, board
    assert [(s.learners, s.points, s.minutes) for s in adapters.boards.org_stats("week:2024-W42")] == [(2, 31, 50)]
    assert [s.learners for s in adapters.boards.org_stats(leaderboards.MEMBERS)] == [2]


def _summaries() -> list:
    """Every board summary's lasting content: its histogram (counts at zero are nobody) and top."""
    client = BoardSummaryRecord._get_connection().connection.client
    found = []
    for page in client.get_paginator("scan").paginate(TableName=BoardSummaryRecord.Meta.table_name,
                                                      ConsistentRead=True):
        for item in page["Items"]:
            counts = sorted((k, v["N"]) for k, v in item.items() if k[:1] == "s" and k[1:].isdigit() and v["N"] != "0")
            found.append((item["summary"]["S"], tuple(counts), tuple(v["S"] for v in item.get("top", {}).get("L", []))))
    return found


def test_a_batch_folded_again_or_retried_longer_counts_each_record_once(adapters):
    """Lambda retries a failed batch whole, maybe with more records behind it: the sequence guards apply each
    record once, whatever was applied before."""
    from chalicelib.leaderboards.store import StreamChange
    boards = adapters.boards
    a, b = _entry("org:org_g|all", "g1", 10, 5), _entry("org:org_g|all", "g2", 10, 7)
    a2 = _entry("org:org_g|all", "g1", 25, 9)
    first = [StreamChange(0, "100", None, a, ("dept:d_g",)), StreamChange(0, "101", None, b, ("dept:d_g",))]
    boards.fold(first)
    boards.fold(first)  # the same batch again
    assert boards.scores("org:org_g|all") == {10: 2}
    boards.fold(first + [StreamChange(0, "102", a, a2, ("dept:d_g",))])  # retried, longer
    assert boards.scores("org:org_g|all") == {10: 1, 25: 1}
    assert [(s.learners, s.points, s.minutes, s.parents) for s in boards.org_stats("all")] == [
        (2, 35, 16, ("dept:d_g",))]


def _board_tables() -> dict:
    return {"entries": sorted((r.board_shard, r.learner_id, r.rank_key, int(r.points), int(r.minutes), r.state)
                              for r in BoardEntryRecord.scan(consistent_read=True)),
            "summaries": sorted(_summaries()),
            "stats": sorted((r.period_shard, r.org_id, int(r.learners), int(r.points), int(r.minutes),
                             tuple(r.parents or ())) for r in OrgStatsRecord.scan(consistent_read=True))}


def test_moving_org_and_replaying_everything_on_dynamodb(adapters):
    add_orgs(adapters, [org_event("min_m", "ministry"), org_event("dept_m", "department", "min_m"),
                        org_event("org_m1", "mdo", "dept_m"), org_event("state_s", "state"),
                        org_event("org_s1", "mdo", "state_s")])
    dicts = (earn("v1", 17, ist(2024, 10, 2), "org_m1") + earn("v2", 8, ist(2024, 10, 3), "org_m1")
             + earn("v3", 11, ist(2024, 10, 4), "org_s1") + [upserted("v1", ist(2024, 10, 20), org="org_s1")])
    deliver(adapters, dicts)
    assert walk(adapters, "ministry:min_m", "all", 10) == ([("v2", 8, 1)], 1)
    assert walk(adapters, "state:state_s", "month:2024-10", 10) == ([("v1", 17, 1), ("v3", 11, 2)], 2)
    stats = {(s.org_id, s.learners, s.parents) for s in adapters.boards.org_stats(leaderboards.MEMBERS)}
    assert stats == {("org_m1", 1, ("dept:dept_m", "ministry:min_m")), ("org_s1", 2, ("state:state_s",))}
    before = _board_tables()
    deliver(adapters, dicts)
    deliver(adapters, list(reversed(dicts)))
    assert _board_tables() == before

