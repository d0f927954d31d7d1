"""The demo's platform door: a sample of each kind of the platform's own Kafka records (in its shapes, as
tests/fixtures/platform/ has them) replayed through the real use case (chalicelib/platform/service.py), so that
demo learners earn through it. `make run` calls replay() after seeding (local/seed.py).

The course catalogue is loaded from the seed's courses and webinars written as the platform's content search
results; the user directory already knows every seeded learner (their learner.upserted events kept it current).
One record names a newcomer the directory does not know: it is parked, then released when their user read is
imported, as in production.
"""
from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

from local.seed import COMPETENCIES, COURSES, WEBINARS, SeedEvents, content_id

_GREGORIAN = datetime(1582, 10, 15, tzinfo=timezone.utc)


def time_uuid(moment: datetime, rng: random.Random) -> str:
    """A time-based (version 1) UUID for an instant, as the platform's Cassandra writes them."""
    since = moment - _GREGORIAN
    ticks = ((since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds) * 10  # 100 ns, exactly
    return str(uuid.UUID(fields=(ticks & 0xFFFFFFFF, (ticks >> 32) & 0xFFFF, ((ticks >> 48) & 0x0FFF) | 0x1000,
                                 0x80 | rng.getrandbits(6), rng.getrandbits(8), rng.getrandbits(48))))


def content_search_results() -> list[dict]:
    """The seed's courses and webinars as the platform's content search returns them."""
    def competencies(keys):
        return [{"competencyAreaId": str(1 + ("behavioural", "functional", "domain").index(COMPETENCIES[k][2])),
                 "competencyArea": COMPETENCIES[k][2].title(), "competencyThemeId": COMPETENCIES[k][0],
                 "competencyTheme": COMPETENCIES[k][1]} for k in keys]
    courses = [{"identifier": content_id(name), "name": name, "primaryCategory": category,
                "duration": str(minutes * 60), "competencies_v5": competencies(keys)}
               for name, minutes, keys, category in COURSES]
    return courses + [{"identifier": content_id(name), "name": name, "primaryCategory": "Event",
                       "duration": str(minutes * 60), "competencies_v5": competencies(keys)}
                      for name, minutes, keys in WEBINARS]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def records(events: SeedEvents, now: datetime, seed: int = 1, sample: int = 40) -> dict[str, list]:
    """topic -> record values: a sample of the seeded learners doing a little of everything in the last days."""
    rng = random.Random(f"platform-{seed}")
    people = [p["learner"]["id"] for p in events.profiles][:sample]
    courses = [c for c in COURSES if c[3] == "Course"]
    resources = [c for c in COURSES if c[3] != "Course"]
    out: dict[str, list] = {t: [] for t in ("issue.certificate.request", "user.enrolment.event", "rating.event",
                                            "user.claim.acbp.karma.points", "user.event.karma.points",
                                            "coursebatch.job.request")}

    def moment() -> datetime:
        return now - timedelta(hours=rng.uniform(2, 72))

    for pair in range(0, len(people) - 1, 2):
        name = rng.choice(courses)[0]
        course, batch, at = content_id(name), f"01{rng.randrange(10 ** 17):017d}", moment()
        users = people[pair:pair + 2]
        out["issue.certificate.request"].append({
            "eid": "BE_JOB_REQUEST", "ets": _ms(at), "mid": f"LP.{_ms(at)}.{uuid.UUID(int=rng.getrandbits(128), version=4)}",
            "actor": {"id": "Course Certificate Generator", "type": "System"},
            "context": {"pdata": {"ver": "1.0", "id": "org.sunbird.platform"}},
            "object": {"id": f"{batch}_{course}", "type": "CourseCertificateGeneration"},
            "edata": {"userIds": users, "action": "issue-certificate", "iteration": 1, "trigger": "auto-issue",
                      "batchId": batch, "reIssue": False, "courseId": course}})
        out["user.enrolment.event"].extend({"edata": {"batchId": batch, "courseId": course, "userId": u}}
                                           for u in users)
        if pair % 4 == 0:
            out["user.claim.acbp.karma.points"].append({"edata": {"userId": users[0], "courseId": course}})
        rated = moment()
        stamp = time_uuid(rated, rng)
        out["rating.event"].append({
            "version": 1, "action": "ratingAdd", "activity_id": course, "activity_Type": "Course",
            "user_id": users[1], "created_Date": stamp, "prevValues": None,
            "updatedValues": {"updatedOn": stamp, "rating": float(rng.randint(3, 5)), "review": "Useful"}})
    for n, user in enumerate(people):
        webinar = content_id(rng.choice(WEBINARS)[0])
        out["user.event.karma.points"].append({"user_id": user, "event_id": webinar, "batch_id": f"{webinar}_b1",
                                               ("ets" if n % 2 else "etc"): _ms(moment())})
        at = moment()
        out["coursebatch.job.request"].append({
            "eid": "BE_JOB_REQUEST", "ets": _ms(at), "mid": f"LMS.{_ms(at)}.{uuid.UUID(int=rng.getrandbits(128), version=4)}",
            "actor": {"type": "System", "id": "Course Batch Updater"},
            "context": {"pdata": {"ver": "1.0", "id": "org.sunbird.platform"}},
            "object": {"type": "CourseBatchEnrolment", "id": f"b1_{user}"},
            "edata": {"contents": [{"contentId": content_id(resources[0][0]), "status": 2},
                                   {"contentId": content_id(resources[1][0]), "status": 1}],
                      "action": "batch-enrolment-update", "iteration": 1, "batchId": "b1", "userId": user,
                      "courseId": content_id(courses[0][0])}})
    return out


NEWCOMER = {"userId": "platform-newcomer-0001", "rootOrgId": "org_mines_hq", "firstName": "Kavya",
            "lastName": "Reddy", "organisations": [{"organisationId": "org_mines_hq"}], "language": ["te"],
            "profileDetails": {"professionalDetails": [{"designation": "Assistant Section Officer"}]}}


def replay(adapters, events: SeedEvents, now: datetime, score, seed: int = 1) -> Counter:
    """Load the catalogue, replay the sample (and a newcomer's certificate, parked), import the newcomer (released),
    and have it all scored. Returns the records' statuses, and "released"."""
    from chalicelib.directory import service as directory  # imported late: chalicelib reads env at import
    from chalicelib.platform import service as platform
    directory.import_courses(content_search_results(), adapters, now)
    totals: Counter = Counter()
    sample = records(events, now, seed)
    newcomer = dict(sample["issue.certificate.request"][0])
    newcomer["edata"] = {**newcomer["edata"], "userIds": [NEWCOMER["userId"]]}
    newcomer["mid"] = newcomer["mid"] + "-newcomer"
    sample["issue.certificate.request"].append(newcomer)
    for topic, values in sample.items():
        totals.update(r["status"] for r in platform.accept_records(topic, values, adapters, now))
    totals["released"] += directory.import_users([NEWCOMER], adapters, now)["released"]
    score()
    return totals
