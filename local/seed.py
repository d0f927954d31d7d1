"""Demo data: an org tree, a few thousand learners with Indian names, and a month of activity ending now.

generate_events() is pure (no I/O, deterministic for a seed and a `now`) so a benchmark can reuse it.
seed_population() sends the events through the real ingestion use case and has them scored through the real
queue handler. Run alone against a running stack: python -m local.seed --learners N --orgs M
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, NamedTuple, Optional

IST = timezone(timedelta(hours=5, minutes=30))
BATCH = 100  # the webhook's batch limit
# Events are independent writes: several batches at once keep DynamoDB busy while Python works. Scoring
# writes shared items (board score counts, org statistics), so more concurrent scorers mostly collide and retry.
INGEST_WORKERS = 4
SCORE_WORKERS = 2


# --- the org tree ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OrgSpec:
    id: str
    name: str
    type: str
    parent_id: Optional[str] = None
    region: Optional[str] = None  # where most of an mdo's staff come from (see REGIONS)


# Parents before children. The six orgs of local/fixtures/orgs.csv come first, with their ids, so that the
# fixture mdos are the first ones picked when fewer orgs are asked for.
ORG_TREE = (
    OrgSpec("min_mines", "Ministry of Mines", "ministry"),
    OrgSpec("dept_mines", "Department of Mines", "department", "min_mines"),
    OrgSpec("org_mines_hq", "Ministry of Mines (Headquarters)", "mdo", "dept_mines", "hindi"),
    OrgSpec("org_gsi_kolkata", "Geological Survey of India (Kolkata)", "mdo", "dept_mines", "bengali"),
    OrgSpec("state_bihar", "Government of Bihar", "state"),
    OrgSpec("org_bipard", "Bihar Institute of Public Administration and Rural Development", "mdo", "state_bihar",
            "hindi"),
    OrgSpec("org_ibm_nagpur", "Indian Bureau of Mines (Nagpur)", "mdo", "dept_mines", "marathi"),
    OrgSpec("min_finance", "Ministry of Finance", "ministry"),
    OrgSpec("dept_revenue", "Department of Revenue", "department", "min_finance"),
    OrgSpec("org_cbic_delhi", "Central Board of Indirect Taxes and Customs (Delhi Zone)", "mdo", "dept_revenue",
            "hindi"),
    OrgSpec("org_itd_mumbai", "Income Tax Department (Mumbai Region)", "mdo", "dept_revenue", "marathi"),
    OrgSpec("org_cbic_chennai", "Central Board of Indirect Taxes and Customs (Chennai Zone)", "mdo",
            "dept_revenue", "tamil"),
    OrgSpec("dept_expenditure", "Department of Expenditure", "department", "min_finance"),
    OrgSpec("org_cga", "Office of the Controller General of Accounts", "mdo", "dept_expenditure", "hindi"),
    OrgSpec("min_health", "Ministry of Health and Family Welfare", "ministry"),
    OrgSpec("dept_health", "Department of Health and Family Welfare", "department", "min_health"),
    OrgSpec("org_mohfw_hq", "Ministry of Health and Family Welfare (Headquarters)", "mdo", "dept_health", "hindi"),
    OrgSpec("org_cghs_bengaluru", "Central Government Health Scheme (Bengaluru)", "mdo", "dept_health",
            "kannada"),
    OrgSpec("org_aiims_delhi", "All India Institute of Medical Sciences, New Delhi", "mdo", "dept_health", "hindi"),
    OrgSpec("dept_health_research", "Department of Health Research", "department", "min_health"),
    OrgSpec("org_niv_pune", "National Institute of Virology (Pune)", "mdo", "dept_health_research", "marathi"),
    OrgSpec("min_railways", "Ministry of Railways", "ministry"),
    OrgSpec("dept_railway_board", "Railway Board", "department", "min_railways"),
    OrgSpec("org_sr_chennai", "Southern Railway (Chennai)", "mdo", "dept_railway_board", "tamil"),
    OrgSpec("org_er_kolkata", "Eastern Railway (Kolkata)", "mdo", "dept_railway_board", "bengali"),
    OrgSpec("org_wr_mumbai", "Western Railway (Mumbai)", "mdo", "dept_railway_board", "marathi"),
    OrgSpec("org_scr_secunderabad", "South Central Railway (Secunderabad)", "mdo", "dept_railway_board",
            "telugu"),
    OrgSpec("org_rdso_lucknow", "Research Designs and Standards Organisation (Lucknow)", "mdo",
            "dept_railway_board", "hindi"),
    OrgSpec("dept_bihar_rural", "Rural Development Department, Bihar", "department", "state_bihar"),
    OrgSpec("org_jeevika", "Bihar Rural Livelihoods Promotion Society (JEEViKA)", "mdo", "dept_bihar_rural",
            "hindi"),
    OrgSpec("state_karnataka", "Government of Karnataka", "state"),
    OrgSpec("dept_ka_personnel", "Department of Personnel and Administrative Reforms, Karnataka", "department",
            "state_karnataka"),
    OrgSpec("org_ka_ati", "Administrative Training Institute, Mysuru", "mdo", "dept_ka_personnel", "kannada"),
    OrgSpec("org_ka_egov", "Centre for e-Governance, Karnataka", "mdo", "dept_ka_personnel", "kannada"),
)


def org_tree(mdo_count: int) -> list[OrgSpec]:
    """The first `mdo_count` mdos with their ancestors, parents first. Past the 20 named ones, regional
    offices of the named departments are added."""
    by_id = {o.id: o for o in ORG_TREE}
    mdos = [o for o in ORG_TREE if o.type == "mdo"][:mdo_count]
    departments = [o for o in ORG_TREE if o.type == "department"]
    for n in range(len(mdos), mdo_count):
        dept = departments[n % len(departments)]
        office = n // len(departments) + 1
        mdos.append(OrgSpec(f"{dept.id}_ro{office}", f"{dept.name}, Regional Office {office}", "mdo", dept.id))
    wanted = set()
    for org in mdos:
        while org is not None and org.id not in wanted:
            wanted.add(org.id)
            org = by_id.get(org.parent_id)
    return [o for o in ORG_TREE if o.id in wanted] + [o for o in mdos if o.id not in by_id]


# --- people ----------------------------------------------------------------------------------------------

# region -> (language, given names, family names). Mixed regions, as in any central ministry.
REGIONS = {
    "hindi": ("hi", ["Aarav", "Priya", "Rahul", "Neha", "Amit", "Pooja", "Vikas", "Sunita", "Rohit", "Kavita",
                     "Manoj", "Anjali", "Suresh", "Rekha", "Deepak", "Shweta", "Alok", "Nidhi"],
              ["Sharma", "Verma", "Gupta", "Singh", "Yadav", "Mishra", "Pandey", "Srivastava", "Tiwari",
               "Chauhan", "Kumar", "Jha", "Sinha", "Prasad"]),
    "bengali": ("bn", ["Sourav", "Ananya", "Arijit", "Moumita", "Debashis", "Riya", "Subhajit", "Payel",
                       "Abhijit", "Sudipta"],
                ["Das", "Banerjee", "Chatterjee", "Mukherjee", "Bose", "Ghosh", "Sen", "Dutta", "Roy"]),
    "tamil": ("ta", ["Karthik", "Lakshmi", "Senthil", "Divya", "Arun", "Meena", "Vignesh", "Kavitha",
                     "Saravanan", "Revathi"],
              ["Subramanian", "Krishnan", "Raman", "Natarajan", "Venkatesan", "Sundaram", "Narayanan"]),
    "telugu": ("te", ["Srinivas", "Padma", "Venkatesh", "Sravani", "Ravi", "Swathi", "Naveen", "Anusha"],
               ["Reddy", "Rao", "Naidu", "Chowdary", "Varma", "Goud"]),
    "marathi": ("mr", ["Sachin", "Snehal", "Prasad", "Aishwarya", "Mahesh", "Swati", "Omkar", "Pallavi"],
                ["Patil", "Deshpande", "Kulkarni", "Jadhav", "Pawar", "Joshi", "Gaikwad"]),
    "kannada": ("kn", ["Manjunath", "Shruti", "Raghavendra", "Deepa", "Girish", "Pavithra", "Kiran"],
                ["Gowda", "Hegde", "Shetty", "Kamath", "Bhat", "Rao"]),
    "malayalam": ("ml", ["Anoop", "Aswathy", "Jithin", "Lekha", "Sreejith", "Anjana"],
                  ["Nair", "Menon", "Pillai", "Kurup", "Varghese", "Thomas"]),
    "gujarati": ("gu", ["Hardik", "Komal", "Jignesh", "Hetal", "Bhavesh", "Nirali"],
                 ["Patel", "Shah", "Desai", "Mehta", "Parmar", "Trivedi"]),
    "punjabi": ("pa", ["Gurpreet", "Harpreet", "Manpreet", "Jaspreet", "Amandeep", "Simran"],
                ["Gill", "Sandhu", "Dhillon", "Grewal", "Bajwa", "Sidhu"]),
    "odia": ("or", ["Subhashree", "Debasis", "Sasmita", "Prakash", "Itishree", "Bijay"],
             ["Mohanty", "Panda", "Behera", "Nayak", "Sahoo", "Das"]),
}

# group -> (share of staff, designations)
GROUPS = {
    "Group A": (0.10, ["Under Secretary", "Deputy Secretary", "Director", "Joint Secretary", "Scientist C"]),
    "Group B": (0.25, ["Section Officer", "Assistant Section Officer", "Senior Private Secretary",
                       "Assistant Accounts Officer"]),
    "Group C": (0.45, ["Assistant", "Upper Division Clerk", "Lower Division Clerk", "Stenographer",
                       "Junior Engineer", "Tax Assistant"]),
    "Group D": (0.10, ["Multi Tasking Staff"]),
    "Contractual": (0.10, ["Consultant", "Young Professional", "Data Entry Operator"]),
}


@dataclass(frozen=True)
class RosterLearner:
    id: str
    name: str
    email: Optional[str]
    phone: str
    group: str
    designation: str
    employee_code: str
    org_id: str
    language: str
    sessions: int  # how active they are in the seeded month: the demo needs one busy learner and one idle


# local/fixtures/roster.csv, so that the fixture events and the README's example URLs find these people.
ROSTER = (
    RosterLearner("5f1c2a9e-8d44-4b7a-9a6e-1c2d3e4f5a6b", "Ananya Mehta", "ananya.mehta@example.gov.in",
                  "9812345678", "Group B", "Section Officer", "MINES-2231", "org_mines_hq", "hi", 14),
    RosterLearner("u-0001", "Rakesh Kumar", "rakesh.kumar@example.gov.in", "9811111111", "Group C", "Assistant",
                  "MINES-3310", "org_mines_hq", "hi", 5),
    RosterLearner("u-0004", "Lakshmi Narayanan", "lakshmi.n@example.gov.in", "+919822222222", "Group A",
                  "Deputy Secretary", "MINES-0042", "org_mines_hq", "ta", 30),
    RosterLearner("u-0005", "Sourav Das", None, "9833333333", "Group D", "Multi Tasking Staff", "MINES-4120",
                  "org_mines_hq", "bn", 0),
)


# --- what there is to learn ------------------------------------------------------------------------------

COMPETENCIES = {
    "citizen": ("FRAC-C-0102", "Citizen Centricity", "behavioural"),
    "detail": ("FRAC-C-0031", "Attention to Detail", "behavioural"),
    "integrity": ("FRAC-C-0011", "Integrity and Ethics", "behavioural"),
    "teamwork": ("FRAC-C-0054", "Teamwork", "behavioural"),
    "communication": ("FRAC-C-0060", "Effective Communication", "behavioural"),
    "resilience": ("FRAC-C-0077", "Self-awareness and Resilience", "behavioural"),
    "drafting": ("FRAC-C-0201", "Noting and Drafting", "functional"),
    "procurement": ("FRAC-C-0215", "Public Procurement", "functional"),
    "finance": ("FRAC-C-0230", "Financial Management", "functional"),
    "data": ("FRAC-C-0244", "Data Analysis", "functional"),
    "project": ("FRAC-C-0256", "Project Management", "functional"),
    "rules": ("FRAC-C-0268", "Service Rules", "functional"),
    "infosec": ("FRAC-C-0412", "Information Security", "domain"),
    "mining": ("FRAC-C-0433", "Mineral Exploration", "domain"),
    "health": ("FRAC-C-0451", "Public Health Administration", "domain"),
    "railways": ("FRAC-C-0468", "Railway Safety", "domain"),
    "disaster": ("FRAC-C-0476", "Disaster Management", "domain"),
    "tax": ("FRAC-C-0489", "Indirect Taxation", "domain"),
    "rural": ("FRAC-C-0495", "Rural Livelihoods", "domain"),
}

# (name, minutes, competencies, primary category). Only "Course" earns completion points.
COURSES = (
    ("Noting and Drafting in Government", 120, ["drafting", "detail"], "Course"),
    ("Right to Information Act, 2005", 90, ["rules", "citizen"], "Course"),
    ("Prevention of Sexual Harassment at the Workplace", 60, ["integrity", "teamwork"], "Course"),
    ("Citizen-centric Governance", 75, ["citizen", "communication"], "Course"),
    ("Procurement through the Government e-Marketplace (GeM)", 150, ["procurement", "finance"], "Course"),
    ("General Financial Rules, 2017", 180, ["finance", "rules"], "Course"),
    ("Public Financial Management System (PFMS) Basics", 90, ["finance", "data"], "Course"),
    ("Emotional Intelligence at the Workplace", 45, ["resilience", "communication"], "Course"),
    ("Yoga Break at the Workplace", 30, ["resilience"], "Course"),
    ("e-Office: Digital File Management", 60, ["drafting", "data"], "Course"),
    ("Mission LiFE: Lifestyle for Environment", 40, ["citizen"], "Course"),
    ("Stress Management for Public Servants", 50, ["resilience"], "Course"),
    ("Data Analytics for Policy Making", 240, ["data", "project"], "Course"),
    ("Artificial Intelligence for Public Servants", 120, ["data", "infosec"], "Course"),
    ("Vigilance Administration and Preventive Vigilance", 90, ["integrity", "rules"], "Course"),
    ("Basics of Disaster Management", 100, ["disaster", "teamwork"], "Course"),
    ("CCS (Conduct) Rules, 1964", 80, ["rules", "integrity"], "Course"),
    ("Leadership for Government Officers", 180, ["teamwork", "communication", "project"], "Course"),
    ("Gender Sensitisation", 45, ["citizen", "integrity"], "Course"),
    ("Project Management Essentials", 200, ["project"], "Course"),
    ("Rajbhasha: Working in Hindi", 60, ["communication", "drafting"], "Course"),
    ("Public Grievance Redressal through CPGRAMS", 70, ["citizen", "detail"], "Course"),
    ("Cyber Hygiene for Government Offices", 60, ["infosec", "detail"], "Course"),
    ("Mineral Exploration: An Introduction", 150, ["mining"], "Course"),
    ("Railway Safety Management Systems", 180, ["railways", "detail"], "Course"),
    ("Public Health Programmes in India", 160, ["health"], "Course"),
    ("GST for Officers", 200, ["tax", "finance"], "Course"),
    ("Rural Livelihood Missions", 120, ["rural", "citizen"], "Course"),
    ("Karmayogi Orientation Video", 10, [], "Learning Resource"),
    ("Handbook on Office Procedure", 25, ["drafting"], "Learning Resource"),
)

WEBINARS = (
    ("Karmayogi Talk: Leading Change in Government", 60, ["teamwork"]),
    ("Karmayogi Talk: Digital Public Infrastructure", 60, ["data"]),
    ("Karmayogi Talk: Wellbeing at Work", 45, ["resilience"]),
)


def content_id(name: str) -> str:
    """A stable platform-style id ("do_" + 20 digits) derived from the name."""
    return "do_" + str(int(hashlib.sha256(name.encode()).hexdigest(), 16))[:20]


def _competencies(keys) -> list[dict]:
    return [{"id": COMPETENCIES[k][0], "name": COMPETENCIES[k][1], "area": COMPETENCIES[k][2]} for k in keys]


def _course_block(course) -> dict:
    name, minutes, keys, category = course
    return {"id": content_id(name), "name": name, "primary_category": category, "duration_minutes": minutes,
            "competencies": _competencies(keys)}


# --- the generator ---------------------------------------------------------------------------------------

class SeedEvents(NamedTuple):
    orgs: list[dict]
    profiles: list[dict]
    activity: list[dict]  # in occurred_at order, as the platform would send them live


@dataclass
class _Learner:
    id: str
    org_id: str
    number: int  # position in the population, for event ids
    sessions: int
    joined: datetime  # profile created; a learner who joined within the window logs in for the first time
    acbp: Optional[dict] = None
    acbp_courses: tuple = ()
    events: list = field(default_factory=list)


def _iso(moment: datetime) -> str:
    return moment.astimezone(IST).isoformat(timespec="seconds")


def _pick_weighted(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _org_event(org: OrgSpec, at: datetime, seed: int) -> dict:
    block = {"id": org.id, "name": org.name, "type": org.type}
    if org.parent_id:
        block["parent_id"] = org.parent_id
    return {"id": f"seed{seed}_org_{org.id}", "type": "org.upserted", "occurred_at": _iso(at), "org": block}


def _profile_event(rng: random.Random, number: int, org: OrgSpec, at: datetime, seed: int) -> dict:
    region = org.region if org.region and rng.random() < 0.6 else rng.choice(sorted(REGIONS))
    language, given, family = REGIONS[region]
    first, last = rng.choice(given), rng.choice(family)
    group = _pick_weighted(rng, {g: share for g, (share, _) in GROUPS.items()})
    learner = {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "org_id": org.id,
        "name": f"{first} {last}",
        "designation": rng.choice(GROUPS[group][1]),
        "group": group,
        "email": f"{first}.{last}{number}@example.gov.in".lower(),
        "phone": "98" + f"{rng.randrange(10 ** 8):08d}",
        "language": language if rng.random() < 0.6 else "en",
        "employee_code": f"{org.id.split('_')[1].upper()}-{number:05d}",
    }
    return {"id": f"seed{seed}_profile_{number:06d}", "type": "learner.upserted", "occurred_at": _iso(at),
            "learner": learner}


def _roster_event(person: RosterLearner, at: datetime, seed: int) -> dict:
    learner = {"id": person.id, "org_id": person.org_id, "name": person.name, "designation": person.designation,
               "group": person.group, "phone": person.phone, "language": person.language,
               "employee_code": person.employee_code}
    if person.email:
        learner["email"] = person.email
    return {"id": f"seed{seed}_profile_{person.id}", "type": "learner.upserted", "occurred_at": _iso(at),
            "learner": learner}


# Chance of activity by hour of day (IST): office hours, then evenings at home.
HOUR_WEIGHT = [0.02] * 7 + [0.2, 0.4, 0.7] + [1.0] * 8 + [0.6, 0.5, 0.5, 0.5, 0.3, 0.1]


def _session_time(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A plausible moment for a learning session: weekdays and office hours more likely."""
    span = (end - start).total_seconds()
    for _ in range(50):
        moment = start + timedelta(seconds=rng.random() * span)
        local = moment.astimezone(IST)
        if rng.random() < HOUR_WEIGHT[local.hour] * (0.3 if local.weekday() >= 5 else 1.0):
            return moment
    return moment


def _sessions(rng: random.Random) -> int:
    """A long tail: 15% never active, most a session or two, a few dozens."""
    if rng.random() < 0.15:
        return 0
    return min(int(rng.paretovariate(1.3)), 40)


class _Activity:
    """One learner's month: sessions of reading, enrolling, completing, rating; webinars on their dates."""

    def __init__(self, rng: random.Random, learner: _Learner, seed: int, start: datetime, now: datetime):
        self.rng, self.learner, self.seed, self.start, self.now = rng, learner, seed, start, now
        self.enrolled: list = []
        self.completed: set = set()

    def emit(self, kind: str, at: datetime, **body) -> None:
        learner = self.learner
        event = {"id": f"seed{self.seed}_{learner.number:06d}_{len(learner.events):03d}", "type": kind,
                 "occurred_at": _iso(min(at, self.now)), "learner": {"id": learner.id, "org_id": learner.org_id}}
        event.update(body)
        learner.events.append(event)

    def generate(self, webinar_times: list[datetime]) -> None:
        rng, learner = self.rng, self.learner
        if not learner.sessions:
            return
        since = max(self.start, learner.joined + timedelta(hours=1))
        times = sorted(_session_time(rng, since, self.now) for _ in range(learner.sessions))
        if learner.joined >= self.start:  # the others logged in for the first time before this month
            self.emit("learner.first_login", times[0] - timedelta(minutes=2))
        for at in times:
            self.session(at)
        for (name, minutes, keys), at in zip(WEBINARS, webinar_times):
            if at <= self.now and rng.random() < min(0.6, 0.04 * learner.sessions):
                self.emit("event.attended", at, event={"id": content_id(name), "name": name,
                                                        "duration_minutes": minutes,
                                                        "competencies": _competencies(keys)})

    def session(self, at: datetime) -> None:
        rng = self.rng
        if not self.enrolled or rng.random() < 0.15:
            self.enrol(at)
        if not self.enrolled:
            return
        course = self.enrolled[0]
        minutes = rng.randint(10, 75)
        if rng.random() < 0.5:
            # A completion brings the course's minutes with it: no separate time-spent event for this session.
            self.complete(course, at + timedelta(minutes=minutes))
        else:
            self.emit("learning.time_spent", at + timedelta(minutes=minutes), content_id=content_id(course[0]),
                      minutes=minutes, competency_linked=bool(course[2]))

    def enrol(self, at: datetime) -> None:
        options = [c for c in COURSES if c not in self.enrolled and content_id(c[0]) not in self.completed]
        if not options:
            return
        plan = [c for c in options if c in self.learner.acbp_courses]
        course = self.rng.choice(plan if plan and self.rng.random() < 0.6 else options)
        self.enrolled.append(course)
        self.emit("course.enrolled", at, course={"id": content_id(course[0]), "name": course[0]})

    def complete(self, course, at: datetime) -> None:
        rng = self.rng
        self.enrolled.remove(course)
        self.completed.add(content_id(course[0]))
        body = {"course": _course_block(course)}
        if course in self.learner.acbp_courses:
            body["acbp"] = self.learner.acbp
        if course[3] == "Course" and rng.random() < 0.7:
            passed = rng.random() < 0.85
            body["assessment"] = {"passed": passed, "score_percent": rng.randint(60, 100) if passed
                                  else rng.randint(20, 59)}
        self.emit("course.completed", at, **body)
        if rng.random() < 0.3:
            self.emit("course.rated", at + timedelta(minutes=2),
                      course={"id": content_id(course[0]), "name": course[0]},
                      rating=rng.choice([3, 3.5, 4, 4, 4.5, 4.5, 5, 5]))


def _acbp_plans(rng: random.Random, mdos: list[OrgSpec], now: datetime) -> dict:
    """Each mdo's annual plan: a few assigned courses and an end date, in the past for some orgs."""
    courses = [c for c in COURSES if c[3] == "Course"]
    plans = {}
    for org in mdos:
        end = now.astimezone(IST).date() + timedelta(days=rng.choice([-45, 20, 60, 120]))
        plans[org.id] = ({"plan_id": f"acbp-{end.year}-{org.id}", "end_date": end.isoformat()},
                         tuple(rng.sample(courses, 4)))
    return plans


def generate_events(learners: int = 3000, orgs: int = 20, days: int = 30, seed: int = 1,
                    now: Optional[datetime] = None) -> SeedEvents:
    """Org, profile and activity events (JSON-ready dicts) for a population; pure and deterministic for a
    given seed and `now`. The four roster learners are always included, in org_mines_hq."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    start = now - timedelta(days=days)
    rng = random.Random(seed)
    tree = org_tree(max(orgs, 1))
    mdos = [o for o in tree if o.type == "mdo"]
    mdo_by_id = {o.id: o for o in mdos}
    org_events = [_org_event(o, start - timedelta(days=400), seed) for o in tree]
    plans = _acbp_plans(rng, mdos, now)
    sizes = {o.id: rng.lognormvariate(0, 1) for o in mdos}  # org headcounts vary a lot
    webinar_times = [(start + timedelta(days=round(days * share))).astimezone(IST).replace(
        hour=16, minute=0, second=0) for share in (0.2, 0.5, 0.85)]

    people, profiles = [], []
    roster = [p for p in ROSTER if p.org_id in sizes][:learners]
    for number, person in enumerate(roster):
        joined = start + timedelta(days=1) if person.sessions else start - timedelta(days=90)
        profiles.append(_roster_event(person, joined, seed))
        people.append(_Learner(person.id, person.org_id, number, person.sessions, joined))
    for number in range(len(roster), learners):
        org = mdo_by_id[_pick_weighted(rng, sizes)]
        # One in five joined during the month (new staff, an onboarding drive); the rest earlier.
        joined = start + (now - start) * rng.random() * 0.8 if rng.random() < 0.2 else \
            start - timedelta(days=rng.randint(1, 365))
        profile = _profile_event(rng, number, org, joined, seed)
        profiles.append(profile)
        people.append(_Learner(profile["learner"]["id"], org.id, number, _sessions(rng), joined))

    for person in people:
        if rng.random() < 0.6:  # most staff have courses assigned on their org's plan
            person.acbp, person.acbp_courses = plans[person.org_id]
        _Activity(rng, person, seed, start, now).generate(webinar_times)
    activity = sorted((e for p in people for e in p.events), key=lambda e: (e["occurred_at"], e["id"]))
    return SeedEvents(org_events, profiles, activity)


# --- rosters ---------------------------------------------------------------------------------------------

ROSTER_HEADER = "learner_id,full_name,email,mobile,group,designation,employee_id,org_id,language"
ROSTER_ONLY_SHARE = 0.15  # staff on an org's roster who have no account activity at all (never started)
_MOBILE_STYLES = ("{}", "+91{}", "+91 {} {}", "0{}", "{}-{}")  # as people type them; the import normalises


def _mobile_as_written(rng: random.Random, phone: str) -> str:
    digits = phone[-10:]
    style = rng.choice(_MOBILE_STYLES)
    return style.format(digits[:5], digits[5:]) if style.count("{}") == 2 else style.format(digits)


def _csv_line(values) -> str:
    return ",".join('"' + v.replace('"', '""') + '"' if ("," in v or '"' in v) else v for v in values)


def roster_csvs(events: SeedEvents, seed: int = 1) -> dict[str, list[str]]:
    """Each seeded mdo's roster CSV (lines, header first): its learners as their profiles describe them, plus
    about 15% staff the service knows only from the roster (they never logged in or learned). Pure."""
    rng = random.Random(f"roster-{seed}")
    lines: dict[str, list[str]] = {}
    for profile in events.profiles:
        p = profile["learner"]
        lines.setdefault(p["org_id"], [ROSTER_HEADER]).append(_csv_line([
            p["id"], p["name"], p.get("email") or "", _mobile_as_written(rng, p["phone"]) if p.get("phone") else "",
            p.get("group") or "", p.get("designation") or "", p.get("employee_code") or "",
            rng.choice([p["org_id"], ""]), p.get("language") or ""]))
    for org_id, org_lines in lines.items():
        region = rng.choice(sorted(REGIONS))
        language, given, family = REGIONS[region]
        for n in range(max(1, round((len(org_lines) - 1) * ROSTER_ONLY_SHARE))):
            first, last = rng.choice(given), rng.choice(family)
            org_lines.append(_csv_line([f"seed{seed}-staff-{org_id}-{n:04d}", f"{first} {last}", "",
                                        _mobile_as_written(rng, "9" + f"{rng.randrange(10 ** 9):09d}"),
                                        "Group C", "Assistant", "", org_id, language]))
    return lines


def import_rosters(adapters, events: SeedEvents, seed: int = 1) -> Counter:
    """Each mdo's roster through the real import use case (as `make import-roster` would)."""
    from chalicelib.rosters.service import import_roster  # imported late: chalicelib reads env at import
    totals = Counter()
    for org_id, lines in roster_csvs(events, seed).items():
        report = import_roster(org_id, lines, adapters)
        totals.update({k: report[k] for k in ("added", "updated", "unchanged", "rejected_rows")})
    return totals


# --- seeding through the real code -----------------------------------------------------------------------

@dataclass
class SeedReport:
    outcomes: Counter
    scoring: Counter
    ingest_seconds: float
    score_seconds: float


def learner_batches(events: SeedEvents, size: int = BATCH) -> list[list[dict]]:
    """Orgs first, then each learner's profile and activity together, whole learners packed into batches.
    A backfill sent this way puts each learner in one batch (unless they have more than `size` events), so
    each is queued, and scored, once instead of once per batch they appear in."""
    grouped: dict[str, list[dict]] = {p["learner"]["id"]: [p] for p in events.profiles}
    for event in events.activity:
        grouped[event["learner"]["id"]].append(event)
    batches = [events.orgs[i:i + size] for i in range(0, len(events.orgs), size)]
    current: list[dict] = []
    for group in grouped.values():
        if current and len(current) + len(group) > size:
            batches.append(current)
            current = []
        for i in range(0, len(group), size):
            current.extend(group[i:i + size])
            if len(current) >= size:
                batches.append(current)
                current = []
    return batches + ([current] if current else [])


def ingest(batches: list[list[dict]], adapters, now: datetime, pool: ThreadPoolExecutor) -> Counter:
    """accept_events() on each batch, several at once (as concurrent webhook calls would be)."""
    from chalicelib.ingestion.webhook import accept_events  # imported late: chalicelib reads env at import
    outcomes = Counter()
    for results in pool.map(lambda batch: accept_events(batch, adapters, now), batches):
        rejected = [o for o in results if o.status == "rejected"]
        if rejected and not outcomes["rejected"]:  # the first one only; field and problem, never the value
            print(f"  rejected {rejected[0].id}: {rejected[0].error['field']}: {rejected[0].error['message']}")
        outcomes.update(o.status for o in results)
    return outcomes


def already_seeded(adapters) -> bool:
    return bool(adapters.events.stream(f"org:{ORG_TREE[0].id}"))


def seed_population(adapters, score: Callable[..., Counter], *, learners: int = 3000, orgs: int = 20,
                    days: int = 30, seed: int = 1, now: Optional[datetime] = None, quiet: bool = False,
                    ingest_workers: int = INGEST_WORKERS, score_workers: int = SCORE_WORKERS,
                    progress: Optional[Callable[[int, int], None]] = None) -> SeedReport:
    """Generate the population, ingest it, and have it scored by `score` (the pump's drain); `progress` is told
    (events done, events in all) after each round, whether or not `quiet`.

    Ingestion and scoring alternate, one batch per ingest worker at a time: moto's SQS spends CPU in
    proportion to the messages waiting on every send and receive (about 0.5 ms each), so a queue thousands
    deep would cost more than the scoring itself."""
    say = (lambda *a, **k: None) if quiet else (lambda *a, **k: print(*a, flush=True, **k))
    now = now or datetime.now(timezone.utc)
    started = time.monotonic()
    events = generate_events(learners=learners, orgs=orgs, days=days, seed=seed, now=now)
    batches = learner_batches(events)
    total = sum(len(b) for b in batches)
    say(f"seeding {len(events.orgs)} orgs, {len(events.profiles):,} learners and {len(events.activity):,} "
        f"activity events over {days} days (seed {seed})")
    received_at = max(now, datetime.now(timezone.utc))
    campaign = demo_campaign(adapters, now)
    say(f"  a live national learning week to watch: {campaign['id']} ({campaign['start']} to {campaign['end']} IST)")
    outcomes, scoring, timing = Counter(), Counter(), Counter()
    done = reported = 0
    pool = ThreadPoolExecutor(max_workers=ingest_workers)
    try:
        for first in range(0, len(batches), ingest_workers):
            round_batches = batches[first:first + ingest_workers]
            lap = time.monotonic()
            outcomes += ingest(round_batches, adapters, received_at, pool)
            timing["ingest"] += time.monotonic() - lap
            lap = time.monotonic()
            scoring += score(workers=score_workers)
            timing["score"] += time.monotonic() - lap
            done += sum(len(b) for b in round_batches)
            if progress:
                progress(done, total)
            if done - reported >= total / 10 or done == total:
                reported = done
                say(f"  {done:,}/{total:,} events ingested and scored ({time.monotonic() - started:.1f} s)")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # on Ctrl-C, start no more batches
    lap = time.monotonic()
    rostered = import_rosters(adapters, events, seed)
    say(f"  rosters imported: {rostered['added']:,} employees added ({rostered['rejected_rows']:,} rows rejected) "
        f"in {time.monotonic() - lap:.1f} s")
    lap = time.monotonic()
    from local import platform_sample
    through_platform = platform_sample.replay(adapters, events, now, lambda: score(workers=score_workers), seed)
    say(f"  the platform's own records replayed: {dict(sorted(through_platform.items()))} in "
        f"{time.monotonic() - lap:.1f} s")
    lap = time.monotonic()
    through_xapi = seed_xapi_door(adapters, events, now, score, seed)
    say(f"  xAPI: {through_xapi['learners']} learners with an LMS account, {through_xapi['statements']} statements "
        f"posted by {through_xapi['client']} in {time.monotonic() - lap:.1f} s")
    report = SeedReport(outcomes, scoring, timing["ingest"], timing["score"])
    say(f"seeded in {time.monotonic() - started:.1f} s (ingesting {report.ingest_seconds:.1f} s, scoring "
        f"{report.score_seconds:.1f} s): {outcomes['accepted']:,} events accepted, {outcomes['duplicate']:,} "
        f"duplicate, {outcomes['rejected']:,} rejected; {scoring['received']:,} scoring messages, "
        f"{scoring['failed']:,} failed")
    return report


def seed_xapi_door(adapters, events: SeedEvents, now: datetime, score: Callable[..., Counter], seed: int = 1) -> dict:
    """Demo learners earn through the xAPI door too: a training institute's LMS posts cmi5 and Moodle statements
    for some of them (local/xapi_demo.py)."""
    from local import xapi_demo
    counts = xapi_demo.seed_xapi(adapters, events.profiles, now, score, seed=seed)
    return {**counts, "client": xapi_demo.CLIENT}


def demo_campaign(adapters, now: datetime) -> dict:
    """A National Learning Week that began three days ago and ends in four, published and moved to live
    before the events are scored, so that the dashboards and goal bars have something to show."""
    from chalicelib.campaigns import service as campaigns
    from chalicelib.campaigns import lifecycle as campaign_lifecycle  # imported late: chalicelib reads env at import
    from chalicelib.identity.tokens import Principal
    local = now.astimezone(IST).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    body = {"name": "National Learning Week (demo)", "scope": "national", "status": "scheduled",
            "start": (local - timedelta(days=3)).isoformat(timespec="minutes"),
            "end": (local + timedelta(days=4)).isoformat(timespec="minutes")}
    created = campaigns.create(json.dumps(body).encode(), Principal("seed", None, frozenset({"national_admin"})), adapters, now)
    campaign_lifecycle.advance(adapters, now)
    return created


def seed_if_empty(adapters, pump, **options) -> Optional[SeedReport]:
    if already_seeded(adapters):
        print("demo data already there: not seeding")
        return None
    return seed_population(adapters, pump.drain, **options)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.seed",
                                     description="Seed demo data into a running local stack (make run).")
    parser.add_argument("--learners", type=int, default=3000)
    parser.add_argument("--orgs", type=int, default=20, help="mdo organisations learners belong to")
    parser.add_argument("--days", type=int, default=30, help="days of activity, ending now")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    from local import stack
    from local.pump import Pump
    ports = stack.Ports.from_env()
    stack.require_listening(ports)
    app, adapters, sqs = stack.wire(ports)
    seed_if_empty(adapters, Pump(app.app, sqs, stack.REGION), learners=args.learners, orgs=args.orgs,
                  days=args.days, seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
