"""What one course-completion event costs in DynamoDB, measured on DynamoDB Local: `python -m local.measure_event_cost`.

Starts DynamoDB Local on a free port, creates the tables, wires the real DynamoDB adapters (the scoring queue
is in memory: its messages are counted, not sent) and meters every DynamoDB call (local/metering.py)
for two steps of one event: the webhook storing it (POST /v1/events) and the scoring step recomputing its
learner (the SQS handler). Three cases: a learner's first event, a learner with 20 prior events, and a duplicate
delivery of that last event.
"""
from __future__ import annotations

import copy
import json
import os
import sys
from datetime import datetime, timedelta, timezone

from local.dynamodb_local import run_against_fresh

SECRET = "measure-secret"
PRIOR_EVENTS = 20


def _completion(learner: str, n: int, at: datetime) -> dict:
    """Shaped like local/fixtures/events/course.completed.json: ACBP, a passed assessment, two competencies."""
    return {
        "id": f"evt_{learner}_{n:03d}", "type": "course.completed", "occurred_at": at.isoformat(),
        "learner": {"id": learner, "org_id": "org_mines_hq"},
        "course": {"id": f"do_1139429317042257{n:04d}", "name": "Cyber Security Awareness for Government Employees",
                   "primary_category": "Course", "duration_minutes": 90,
                   "competencies": [{"id": "FRAC-C-0412", "name": "Information Security", "area": "domain"},
                                    {"id": "FRAC-C-0031", "name": "Attention to Detail", "area": "behavioural"}]},
        "batch_id": "0139429387493703686", "acbp": {"plan_id": "acbp-2024-mines-17", "end_date": "2024-12-31"},
        "assessment": {"passed": True, "score_percent": 82}, "certificate_id": f"cert_{n:08d}",
    }


def _history(learner: str, start_at: datetime) -> list[dict]:
    """PRIOR_EVENTS events over two months: a profile, an enrolment, completions, ratings, learning time."""
    ref = {"id": learner, "org_id": "org_mines_hq"}
    events = [{"id": f"evt_{learner}_profile", "type": "learner.upserted", "occurred_at": start_at.isoformat(),
               "learner": {**ref, "name": "Ananya Mehta", "designation": "Section Officer", "language": "hi"}},
              {"id": f"evt_{learner}_enrol", "type": "course.enrolled",
               "occurred_at": (start_at + timedelta(hours=1)).isoformat(), "learner": ref,
               "course": {"id": "do_113942931704225790000"}}]
    n = 0
    while len(events) < PRIOR_EVENTS:
        at = start_at + timedelta(days=2 + 3 * n)
        kind = n % 3
        if kind == 0:
            events.append(_completion(learner, 100 + n, at))
        elif kind == 1:
            events.append({"id": f"evt_{learner}_rate_{n}", "type": "course.rated", "occurred_at": at.isoformat(),
                           "learner": ref, "course": {"id": f"do_1139429317042257{100 + n - 1:04d}"}, "rating": 4.5})
        else:
            events.append({"id": f"evt_{learner}_time_{n}", "type": "learning.time_spent",
                           "occurred_at": at.isoformat(), "learner": ref, "content_id": "do_11394293170422579211",
                           "minutes": 35, "competency_linked": True})
        n += 1
    return events


def main() -> int:
    return run_against_fresh(_measure)


def _measure() -> int:
    from chalicelib.bootstrap import Adapters
    from chalicelib.ingestion.signature import sign
    from chalicelib.ingestion.webhook import handle
    from chalicelib.scoring.pipeline import recompute_stream
    from chalicelib.leaderboards.settings import board_settings
    from chalicelib.leaderboards.store import DynamoBoardStore
    from chalicelib.storage.dynamodb import (DynamoEventStore, DynamoLearnerRepository, DynamoOrgRepository,
                                             create_tables)
    from chalicelib.storage.memory import MemoryStreamQueue
    from local.metering import DynamoMeter
    from chalicelib.review.store import DynamoReviewStore

    create_tables()
    adapters = Adapters(events=DynamoEventStore(), learners=DynamoLearnerRepository(), orgs=DynamoOrgRepository(),
                        queue=MemoryStreamQueue(), boards=DynamoBoardStore(board_settings()),
                        reviews=DynamoReviewStore(), webhook_secrets=lambda: [SECRET])
    meter = DynamoMeter().install_for(adapters)
    now = datetime.now(timezone.utc)

    def store(payload: dict) -> tuple[str, list[str]]:
        raw = json.dumps(payload).encode()
        status, body = handle(raw, sign(raw, SECRET, int(now.timestamp())), adapters, now)
        assert status == 202, body
        return body["results"][0]["status"], adapters.queue.drain()

    def score(streams: list[str]) -> None:
        for stream in dict.fromkeys(streams):
            recompute_stream(stream, adapters)

    def measure(label: str, payload: dict) -> list[tuple]:
        before = meter.snapshot()
        status, streams = store(payload)
        stored = meter.since(before)
        before = meter.snapshot()
        score(streams)
        scored = meter.since(before)
        messages = len(set(streams))
        return [(label, f"store ({status})", stored, messages), (label, "score", scored, 0)]

    base = datetime(2024, 10, 1, 4, 30, tzinfo=timezone.utc)
    rows = measure("(a) first event", _completion("learner-first", 1, base + timedelta(days=20)))
    for event in _history("learner-twenty", base - timedelta(days=40)):  # arrivals, each scored: not measured
        score(store(event)[1])
    event = _completion("learner-twenty", 1, base + timedelta(days=20))
    rows += measure(f"(b) {PRIOR_EVENTS} prior events", event)
    rows += measure("(c) duplicate of (b)", copy.deepcopy(event))

    print(f"One course.completed event (~{len(json.dumps(event))} bytes of JSON), DynamoDB Local "
          f"{os.path.basename(str(_jar()))}; WCU/RCU as AWS bills them (see local/metering.py)\n")
    for label, step, used, messages in rows:
        print(f"== {label}: {step}" + (f"; SQS messages sent: {messages}" if step.startswith("store") else ""))
        print(used.table())
        if used.total.reported_wcu != used.total.wcu:
            print(f"(DynamoDB Local itself reported {used.total.reported_wcu:.1f} WCU)")
        print()
    print("== Summary per event")
    print(f"{'case':<22} {'step':<19} {'requests':>8} {'RCU':>6} {'WCU':>6} {'SQS msgs':>8}")
    for label, step, used, messages in rows:
        print(f"{label:<22} {step:<19} {used.requests:>8} {used.rcu:>6.1f} {used.wcu:>6.1f} {messages:>8}")
    for label in dict.fromkeys(r[0] for r in rows):
        both = [r for r in rows if r[0] == label]
        print(f"{label:<22} {'total':<19} {sum(r[2].requests for r in both):>8} {sum(r[2].rcu for r in both):>6.1f} "
              f"{sum(r[2].wcu for r in both):>6.1f} {sum(r[3] for r in both):>8}")
    for label, step, used, _ in rows:
        if step == "score" and used.requests:
            print(f"\n== {label}: score, by table")
            print(used.table(by="table"))
    return 0


def _jar():
    from local.dynamodb_local import jar_dir
    return jar_dir()


if __name__ == "__main__":
    sys.exit(main())
