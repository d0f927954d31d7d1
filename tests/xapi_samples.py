"""xAPI statements in the shapes LMS clients send: cmi5 AU statements (cmi5 spec, "cmi5 defined" statements: the
cmi5 and moveOn context categories, the session id extension, the registration; shapes copied, values our own),
a Moodle-like xAPI 1.0.3 statement (course in contextActivities.grouping) and an xAPI 2.0 statement with
context agents. Shared by tests/test_xapi.py and tests/test_xapi_routes.py (the demo's own, in local/xapi_demo.py,
have the same shapes)."""
from __future__ import annotations

import base64
import copy
from typing import Optional

HOME = "https://lms.lbsnaa.gov.in"
AU = "https://lms.lbsnaa.gov.in/cmi5/courses/ethics-in-governance/au/1"
COURSE_IRI = "https://lms.lbsnaa.gov.in/course/view.php?id=42"
CMI5 = "https://w3id.org/xapi/cmi5/context/categories/cmi5"
MOVE_ON = "https://w3id.org/xapi/cmi5/context/categories/moveon"
SESSION = "https://w3id.org/xapi/cmi5/context/extensions/sessionid"
VERB = "http://adlnet.gov/expapi/verbs/"


def basic(client: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client}:{secret}".encode()).decode()


def account(name: str, home: str = HOME) -> dict:
    return {"objectType": "Agent", "name": "A learner", "account": {"homePage": home, "name": name}}


def cmi5_statement(verb: str, sid: Optional[str], learner: str = "lbsnaa-1042", au: str = AU,
                   when: str = "2026-11-19T10:05:00.000+05:30", **result) -> dict:
    """A cmi5 defined statement (completed, passed, failed) from an AU."""
    categories = [{"id": CMI5, "objectType": "Activity"}]
    if verb in ("completed", "passed"):
        categories.insert(0, {"id": MOVE_ON, "objectType": "Activity"})
    statement = {
        "actor": account(learner),
        "verb": {"id": VERB + verb, "display": {"en-US": verb}},
        "object": {"id": au, "objectType": "Activity",
                   "definition": {"name": {"en-US": "Ethics in governance, unit 1"},
                                  "type": "http://adlnet.gov/expapi/activities/lesson"}},
        "result": {"duration": "PT38M20S", **result},
        "context": {
            "registration": "ec231277-b27b-4c15-8291-d29225b2b8f7",
            "contextActivities": {"category": categories},
            "extensions": {SESSION: "458240298378231"},
        },
        "timestamp": when,
    }
    if sid is not None:
        statement["id"] = sid
    if verb == "completed":
        statement["result"]["completion"] = True
    return statement


def cmi5_passed(sid: Optional[str], scaled: float = 0.82, **kw) -> dict:
    return cmi5_statement("passed", sid, success=True, score={"scaled": scaled}, **kw)


def moodle_experienced(sid: str, learner_mbox: str, minutes: int) -> dict:
    """Moodle's logstore_xapi style: the module as the object, the course in grouping, the time in result."""
    return {
        "id": sid,
        "actor": {"objectType": "Agent", "name": "A learner", "mbox": f"mailto:{learner_mbox}"},
        "verb": {"id": VERB + "experienced", "display": {"en": "experienced"}},
        "object": {"id": "https://lms.lbsnaa.gov.in/mod/page/view.php?id=7", "objectType": "Activity",
                   "definition": {"type": "http://id.tincanapi.com/activitytype/lms/module", "name": {"en": "Reading"}}},
        "result": {"duration": f"PT{minutes}M"},
        "context": {"platform": "Moodle", "language": "en",
                    "contextActivities": {"grouping": [{"id": COURSE_IRI, "objectType": "Activity"}]}},
        "timestamp": "2026-11-19T09:00:00Z",
    }


def attended(sid: str, learner: str, activity: str) -> dict:
    return {"id": sid, "actor": account(learner), "verb": {"id": VERB + "attended", "display": {"en-US": "attended"}},
            "object": {"id": activity, "objectType": "Activity"}, "timestamp": "2026-11-18T16:00:00+05:30"}


def xapi20_completed(sid: str, learner: str, activity: str) -> dict:
    """An xAPI 2.0 statement: version 2.0.0 and a context agent (2.0 only)."""
    return {"id": sid, "version": "2.0.0", "actor": account(learner),
            "verb": {"id": VERB + "completed", "display": {"en-US": "completed"}},
            "object": {"id": activity, "objectType": "Activity"},
            "result": {"completion": True, "success": True, "score": {"scaled": 0.9}},
            "context": {"contextAgents": [{"objectType": "contextAgent",
                                           "agent": {"objectType": "Agent", "mbox": "mailto:trainer@lbsnaa.gov.in"},
                                           "relevantTypes": ["https://example.gov.in/roles/instructor"]}]},
            "timestamp": "2026-11-19T11:00:00Z"}


def changed(statement: dict, **fields) -> dict:
    copied = copy.deepcopy(statement)
    copied.update(fields)
    return copied
