"""What one platform record costs in DynamoDB, directory look-ups included, measured on DynamoDB Local:
`python -m local.measure_platform_cost` (docs/platform-events.md has a run's figures).

Starts DynamoDB Local on a free port, creates the tables, wires the real DynamoDB adapters (directories included;
the scoring queue is in memory: its messages are counted, not sent), meters every DynamoDB call
(local/metering.py) of POST /v1/platform/events (signed, one record per request, as the Kafka consumer takes them
per batch) for each kind of record, a re-delivery, a record whose user is not known (parked), the import of that
user (released and stored), a course whose duration changes (its completers re-scored), and what the directory
adds to a webhook learner.upserted. Scoring a stored event costs what it costs for the webhook's own events
(python -m local.measure_event_cost); one is measured here too.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from local.dynamodb_local import run_against_fresh

SECRET = "measure-secret"
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "platform"


def fixture(name: str):
    return json.loads((FIXTURES / f"{name}.json").read_text())


def main() -> int:
    return run_against_fresh(_measure)


def _measure() -> int:
    from chalicelib.bootstrap import Adapters
    from chalicelib.directory import service as directory
    from chalicelib.directory.dynamodb import DynamoCourseCatalogue, DynamoParkedStore, DynamoUserDirectory
    from chalicelib.directory.store import Directory
    from chalicelib.ingestion.signature import sign
    from chalicelib.ingestion.webhook import handle as webhook
    from chalicelib.leaderboards.settings import board_settings
    from chalicelib.leaderboards.store import DynamoBoardStore
    from chalicelib.platform.service import handle_http
    from chalicelib.review.store import DynamoReviewStore
    from chalicelib.scoring.pipeline import recompute_stream
    from chalicelib.storage.dynamodb import (DynamoEventStore, DynamoLearnerRepository, DynamoOrgRepository,
                                             create_tables)
    from chalicelib.storage.memory import MemoryStreamQueue
    from local.metering import DynamoMeter

    create_tables()
    parked = DynamoParkedStore()
    adapters = Adapters(events=DynamoEventStore(), learners=DynamoLearnerRepository(), orgs=DynamoOrgRepository(),
                        queue=MemoryStreamQueue(), boards=DynamoBoardStore(board_settings()),
                        reviews=DynamoReviewStore(), webhook_secrets=lambda: [SECRET],
                        directory=Directory(DynamoCourseCatalogue(), DynamoUserDirectory(), parked))
    meter = DynamoMeter().install_for(adapters)
    meter.install(connections=[parked._connection])
    now = datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc)
    directory.import_courses(fixture("courses"), adapters, now)
    users = fixture("users")
    directory.import_users(users, adapters, now)
    rows = []

    def post(label: str, topic: str, values: list) -> None:
        raw = json.dumps(values).encode()
        before = meter.snapshot()
        status, body = handle_http(raw, sign(raw, SECRET, int(now.timestamp())), topic, adapters, now)
        used = meter.since(before)
        assert status == 202, body
        kinds = sorted({r["status"] for r in body["results"]})
        statuses = "+".join(kinds) if len(body["results"]) == 1 else f"{len(body['results'])} x {'+'.join(kinds)}"
        rows.append((label, statuses, used, len(set(adapters.queue.drain()))))

    def step(label: str, what: str, work) -> None:
        before = meter.snapshot()
        outcome = work()
        rows.append((label, what, meter.since(before), len(set(adapters.queue.drain()))))
        return outcome

    one_user = fixture("certificate")
    one_user["edata"]["userIds"] = one_user["edata"]["userIds"][:1]
    post("certificate, 1 user", "issue.certificate.request", [one_user])
    post("certificate, 2 users", "issue.certificate.request", [fixture("certificate")])
    post("re-issue (duplicate)", "issue.certificate.request", [fixture("certificate_reissue")])
    post("enrolment", "user.enrolment.event", [fixture("enrolment")])
    post("rating", "rating.event", [fixture("rating_add")])
    post("ACBP claim", "user.claim.acbp.karma.points", [fixture("acbp_claim")])
    post("attendance", "user.event.karma.points", [fixture("attendance_ets")])
    post("progress (1 content done)", "coursebatch.job.request", [fixture("progress")])
    post("enrolment re-delivered", "user.enrolment.event", [fixture("enrolment")])
    batch = []
    for n in range(100):  # a Kafka batch: 100 ratings by two users, one BatchGetItem of users for all of them
        rating = fixture("rating_add")
        rating["user_id"] = users[n % 2]["userId"]
        rating["activity_id"] = f"do_11411000123456789{n:02d}"
        stamp = rating["updatedValues"]["updatedOn"]
        rating["updatedValues"] = {**rating["updatedValues"], "updatedOn": f"{stamp[:6]}{n:02x}{stamp[8:]}"}
        batch.append(rating)
    post("100 ratings in one batch", "rating.event", batch)
    newcomer = {**users[0], "userId": "measure-newcomer", "firstName": "Kavya", "lastName": "Reddy"}
    parked_record = {"edata": {**fixture("enrolment")["edata"], "userId": "measure-newcomer"}}
    post("unknown user (parked)", "user.enrolment.event", [parked_record])
    step("user import: 1 released", "import_users", lambda: directory.import_users([newcomer], adapters, now))
    step("user import: nothing waits", "import_users",
         lambda: directory.import_users([{**newcomer, "userId": "measure-other"}], adapters, now))
    longer = [{**fixture("courses")[0], "duration": "7200"}]
    step("course change: 2 completers", "import_courses", lambda: directory.import_courses(longer, adapters, now))
    profile = {"id": "measure-profile-1", "type": "learner.upserted", "occurred_at": (now - timedelta(hours=1)).isoformat(),
               "learner": {"id": "measure-webhook-learner", "org_id": "org_mines_hq", "name": "Ravi Shankar",
                           "email": "ravi.shankar@example.gov.in"}}
    raw = json.dumps(profile).encode()
    step("webhook learner.upserted", "POST /v1/events",
         lambda: webhook(raw, sign(raw, SECRET, int(now.timestamp())), adapters, now))
    stream = "learner:" + users[0]["userId"]
    step("scoring that learner", "recompute_stream", lambda: recompute_stream(stream, adapters))

    print("One record per request, DynamoDB Local; WCU/RCU as AWS bills them (see local/metering.py)\n")
    print(f"{'case':<30} {'result':<26} {'requests':>8} {'RCU':>6} {'WCU':>6} {'SQS msgs':>8}")
    for label, result, used, messages in rows:
        print(f"{label:<30} {result:<26} {used.requests:>8} {used.rcu:>6.1f} {used.wcu:>6.1f} {messages:>8}")
    for label, _, used, _ in rows:
        print(f"\n== {label}, by table")
        print(used.table(by="table"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
