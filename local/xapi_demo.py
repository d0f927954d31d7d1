"""The xAPI door in the demo (make run): a training institute's Moodle with cmi5 content, as an xAPI client.

Some demo learners get an account at the institute's LMS (their directory entry learns it), the LMS registers its
own courses (PUT /xapi/courses), and posts cmi5 completions and passes, Moodle reading time and a webinar's
attendance for them (POST /xapi/statements), through the real use cases; the pump then scores them. Deterministic
for a seed and a `now`; statement ids are derived from them, so a second run is a re-post (accepted, no change).
"""
from __future__ import annotations

import base64
import json
import random
import uuid
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Callable

CLIENT = "demo-lbsnaa-moodle"
# The local stack's own credentials for the demo client (local/stack.py sets KARMAYOGI_XAPI_CLIENTS with it).
SECRET = "karmayogi-local-xapi-secret"
HOME = "https://lms.lbsnaa.example.gov.in"
CMI5 = "https://w3id.org/xapi/cmi5/context/categories/cmi5"
MOVE_ON = "https://w3id.org/xapi/cmi5/context/categories/moveon"
SESSION = "https://w3id.org/xapi/cmi5/context/extensions/sessionid"
VERB = "http://adlnet.gov/expapi/verbs/"

COURSES = (
    {"activityId": f"{HOME}/cmi5/ethics-in-governance/au/1", "name": "Ethics in governance (LBSNAA)",
     "duration": "PT2H", "competencies_v5": [{"competencyArea": "Behavioural", "competencyThemeId": "lbsnaa_ethics",
                                              "competencyTheme": "Ethics and integrity"}]},
    {"activityId": f"{HOME}/cmi5/public-finance/au/1", "name": "Public finance basics (LBSNAA)", "duration": 5400,
     "competencies_v5": [{"competencyArea": "Functional", "competencyThemeId": "lbsnaa_finance",
                          "competencyTheme": "Financial management"}]},
    {"activityId": f"{HOME}/mod/bigbluebuttonbn/view.php?id=31", "name": "Disaster management webinar (LBSNAA)",
     "primaryCategory": "Event", "duration": "PT1H"},
)


def basic_credentials() -> str:
    return "Basic " + base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()


def _account(learner_id: str) -> str:
    return "ofc-" + learner_id[:8]


def _statement_id(seed: int, learner_id: str, what: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{HOME}/demo/{seed}/{learner_id}/{what}"))


def statements_for(learner_id: str, rng: random.Random, now: datetime, seed: int) -> list[dict]:
    """A learner's statements from the institute: cmi5 completed (and passed, for most) of one of its courses, a
    Moodle reading session, and perhaps the webinar."""
    actor = {"objectType": "Agent", "account": {"homePage": HOME, "name": _account(learner_id)}}
    course = rng.choice(COURSES[:2])["activityId"]
    when = now - timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 8))
    cmi5_context = {"registration": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "contextActivities": {"category": [{"id": MOVE_ON}, {"id": CMI5}]},
                    "extensions": {SESSION: f"{rng.getrandbits(40)}"}}
    out = []
    if rng.random() < 0.7:
        out.append({"id": _statement_id(seed, learner_id, "passed"), "actor": actor,
                    "verb": {"id": VERB + "passed", "display": {"en-US": "passed"}},
                    "object": {"id": course, "objectType": "Activity"},
                    "result": {"success": True, "score": {"scaled": round(rng.uniform(0.7, 1.0), 2)},
                               "duration": f"PT{rng.randint(20, 50)}M"},
                    "context": cmi5_context, "timestamp": when.isoformat()})
    out.append({"id": _statement_id(seed, learner_id, "completed"), "actor": actor,
                "verb": {"id": VERB + "completed", "display": {"en-US": "completed"}},
                "object": {"id": course, "objectType": "Activity"},
                "result": {"completion": True, "duration": f"PT{rng.randint(60, 110)}M"},
                "context": cmi5_context, "timestamp": (when + timedelta(seconds=5)).isoformat()})
    out.append({"id": _statement_id(seed, learner_id, "experienced"), "actor": actor,
                "verb": {"id": VERB + "experienced", "display": {"en": "experienced"}},
                "object": {"id": f"{HOME}/mod/page/view.php?id={rng.randint(100, 140)}", "objectType": "Activity"},
                "result": {"duration": f"PT{rng.randint(15, 75)}M"},
                "context": {"platform": "Moodle", "contextActivities": {"grouping": [{"id": course}]}},
                "timestamp": (when - timedelta(days=1)).isoformat()})
    if rng.random() < 0.4:
        out.append({"id": _statement_id(seed, learner_id, "attended"), "actor": actor,
                    "verb": {"id": VERB + "attended", "display": {"en-US": "attended"}},
                    "object": {"id": COURSES[2]["activityId"], "objectType": "Activity"},
                    "timestamp": (when - timedelta(days=2)).isoformat()})
    return out


def seed_xapi(adapters, profiles: list[dict], now: datetime, score: Callable[..., Counter], learners: int = 40,
              seed: int = 1) -> Counter:
    """Give `learners` of the demo population an LMS account, register the LMS's courses, post their statements,
    and score. Returns counts (learners, courses, statements, scoring messages)."""
    from chalicelib.directory.service import learn_user
    from chalicelib.directory.store import DirectoryUser
    from chalicelib.xapi import service as xapi
    # The demo client is known to this run whatever the environment says (the local stack configures it too,
    # for statements posted by hand: docs/xapi.md).
    adapters = replace(adapters, xapi_clients=lambda: [(CLIENT, SECRET)])
    rng = random.Random(f"xapi-{seed}")
    # The first demo learner (Ananya Mehta, the one the banner and docs name) always has an LMS account, so that
    # local/fixtures/xapi/*.json can be posted by hand (docs/xapi.md); the others are drawn.
    chosen = profiles[:1] + rng.sample(profiles[1:], max(0, min(learners, len(profiles)) - 1))
    counts: Counter = Counter()
    for profile in chosen:
        person = profile["learner"]
        known = adapters.directory.users.get(person["id"])
        user = known or DirectoryUser(person["id"], person["org_id"], name=person.get("name"),
                                      email=person.get("email"), language=person.get("language"))
        learn_user(replace(user, accounts=((HOME, _account(person["id"])),)), adapters, now)
        counts["learners"] += 1
    auth = basic_credentials()
    registered = xapi.register_courses(json.dumps(list(COURSES)).encode(), auth, adapters, now)
    counts["courses"] = sum(1 for r in registered["results"] if r["status"] != "rejected")
    statements = [s for profile in chosen for s in statements_for(profile["learner"]["id"], rng, now, seed)]
    for first in range(0, len(statements), 50):
        ids, _ = xapi.post_statements(json.dumps(statements[first:first + 50]).encode(), auth, "1.0.3", adapters,
                                      now)
        counts["statements"] += len(ids)
    counts += Counter({f"scoring {k}": v for k, v in score(workers=1).items()})
    return counts
