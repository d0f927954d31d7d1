"""What an xAPI statement costs in DynamoDB, measured on DynamoDB Local: `python -m local.measure_xapi_cost`.

Starts DynamoDB Local on a free port, creates the tables, wires the real DynamoDB adapters (statements table,
directories, events; the scoring queue in memory: its messages are counted, not sent) and meters every DynamoDB
call (local/metering.py) of POST /xapi/statements's use case, directory look-ups included, for:
(a) a cmi5 `completed` of a client-registered course by a learner known by account; (b) the identical re-post;
(c) a Moodle `experienced` by a learner known by mbox (no course needed); (d) a batch of 10 cmi5 completions;
(e) a statement from an unknown learner (parked), and (f) what the learner's arrival in the directory costs
(the release of what was parked for them). Scoring a stored event costs what the webhook's do
(`python -m local.measure_event_cost`, docs/benchmarks.md).
"""
from __future__ import annotations

import base64
import json
import os
import sys
import uuid
from datetime import datetime, timedelta, timezone

from local.dynamodb_local import run_against_fresh

CLIENT, SECRET = "measure-lms", "measure-secret"
HOME = "https://lms.example.gov.in"
AU = f"{HOME}/cmi5/course-{{n}}/au/1"
CMI5 = "https://w3id.org/xapi/cmi5/context/categories/cmi5"


def main() -> int:
    return run_against_fresh(_measure)


def _completed(learner: str, n: int, at: datetime) -> dict:
    """A cmi5 defined `completed` (moveOn and cmi5 categories, session id, registration), ~900 bytes."""
    return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{learner}/{n}")),
            "actor": {"objectType": "Agent", "account": {"homePage": HOME, "name": learner}},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
            "object": {"id": AU.format(n=n), "objectType": "Activity",
                       "definition": {"name": {"en-US": f"Course {n}, unit 1"},
                                      "type": "http://adlnet.gov/expapi/activities/lesson"}},
            "result": {"completion": True, "duration": "PT48M"},
            "context": {"registration": str(uuid.uuid5(uuid.NAMESPACE_URL, f"reg/{learner}/{n}")),
                        "contextActivities": {"category": [
                            {"id": "https://w3id.org/xapi/cmi5/context/categories/moveon"}, {"id": CMI5}]},
                        "extensions": {"https://w3id.org/xapi/cmi5/context/extensions/sessionid": "s-1"}},
            "timestamp": at.isoformat()}


def _experienced(mbox: str, at: datetime) -> dict:
    return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{mbox}/experienced")),
            "actor": {"objectType": "Agent", "mbox": f"mailto:{mbox}"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
            "object": {"id": f"{HOME}/mod/page/view.php?id=7", "objectType": "Activity"},
            "result": {"duration": "PT35M"},
            "context": {"platform": "Moodle", "contextActivities": {"grouping": [{"id": f"{HOME}/course/view.php?id=4"}]}},
            "timestamp": at.isoformat()}


def _measure() -> int:
    from chalicelib.bootstrap import Adapters
    from chalicelib.directory.dynamodb import DynamoCourseCatalogue, DynamoParkedStore, DynamoUserDirectory
    from chalicelib.directory.service import import_courses, learn_user
    from chalicelib.directory.store import Directory, DirectoryUser
    from chalicelib.leaderboards.settings import board_settings
    from chalicelib.leaderboards.store import DynamoBoardStore
    from chalicelib.storage.dynamodb import (DynamoEventStore, DynamoLearnerRepository, DynamoOrgRepository,
                                             create_tables)
    from chalicelib.storage.memory import MemoryStreamQueue
    from chalicelib.xapi import service as xapi
    from chalicelib.xapi.store import DynamoStatementStore
    from local.metering import DynamoMeter

    create_tables()
    adapters = Adapters(events=DynamoEventStore(), learners=DynamoLearnerRepository(), orgs=DynamoOrgRepository(),
                        queue=MemoryStreamQueue(), boards=DynamoBoardStore(board_settings()),
                        directory=Directory(DynamoCourseCatalogue(), DynamoUserDirectory(), DynamoParkedStore()),
                        xapi_statements=DynamoStatementStore(), xapi_clients=lambda: [(CLIENT, SECRET)])
    meter = DynamoMeter().install_for(adapters)
    meter.watch(adapters.directory.parked._connection)  # parking and releasing are transactions on its own
    now = datetime.now(timezone.utc)
    at = now - timedelta(hours=2)
    auth = "Basic " + base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()

    # The directory: the learners (one by account, one by email) and the client's courses.
    learn_user(DirectoryUser("u-acc", "org_mines_hq", accounts=((HOME, "ofc-1"),)), adapters, now)
    learn_user(DirectoryUser("u-mail", "org_mines_hq", email="reader@example.gov.in"), adapters, now)
    import_courses([{"client": CLIENT, "activityId": AU.format(n=n), "name": f"Course {n}", "duration": "5400",
                     "competencies_v5": [{"competencyArea": "Functional", "competencyThemeId": f"cmp_{n}",
                                          "competencyTheme": "Drafting"}]} for n in range(12)], adapters, now)

    def measure(label: str, payload, count: int = 1) -> tuple:
        before = meter.snapshot()
        xapi.post_statements(json.dumps(payload).encode(), auth, "1.0.3", adapters, now)
        used = meter.since(before)
        return (label, count, used, len(set(adapters.queue.drain())))

    completed = _completed("ofc-1", 0, at)
    rows = [measure("(a) cmi5 completed", completed),
            measure("(b) identical re-post", completed),
            measure("(c) experienced (mbox)", _experienced("reader@example.gov.in", at)),
            measure("(d) batch of 10", [_completed("ofc-1", n, at) for n in range(1, 11)], 10),
            measure("(e) unknown learner", _completed("ofc-unknown", 11, at))]
    before = meter.snapshot()
    released = learn_user(DirectoryUser("u-new", "org_mines_hq", accounts=((HOME, "ofc-unknown"),)), adapters, now)
    rows.append(("(f) learner arrives", 1, meter.since(before), len(set(adapters.queue.drain()))))
    assert released[1] == 1, released

    print(f"One xAPI statement (~{len(json.dumps(completed))} bytes of JSON) through POST /xapi/statements, "
          f"DynamoDB Local {os.path.basename(str(_jar()))}; WCU/RCU as AWS bills them (local/metering.py)\n")
    for label, _, used, _ in rows:
        print(f"== {label}")
        print(used.table(by="table"))
        print()
    print("== Summary")
    print(f"{'case':<26} {'statements':>10} {'requests':>8} {'RCU':>6} {'WCU':>6} {'SQS msgs':>8} {'WCU/stmt':>8}")
    for label, count, used, messages in rows:
        print(f"{label:<26} {count:>10} {used.requests:>8} {used.rcu:>6.1f} {used.wcu:>6.1f} {messages:>8} "
              f"{used.wcu / count:>8.1f}")
    return 0


def _jar():
    from local.dynamodb_local import jar_dir
    return jar_dir()


if __name__ == "__main__":
    sys.exit(main())
