"""Shared set-up for the campaign tests: an org tree, principals, campaigns and event delivery with receipt times."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from chalicelib.campaigns import service as campaigns
from chalicelib.events import OrgBlock
from chalicelib.identity.tokens import Principal
from chalicelib.rosters.employees import Employee
from tests import rules_builders

IST = timezone(timedelta(hours=5, minutes=30))
# ministry M -> department D -> orgs A, B; state S -> org C
TREE = [("min_m", "ministry", None), ("dept_d", "department", "min_m"), ("org_a", "mdo", "dept_d"),
        ("org_b", "mdo", "dept_d"), ("state_s", "state", None), ("org_c", "mdo", "state_s")]
START, END = datetime(2026, 12, 1, 0, 0, tzinfo=IST), datetime(2026, 12, 8, 0, 0, tzinfo=IST)
IN_WINDOW = datetime(2026, 12, 3, 11, 0, tzinfo=IST)


def build_tree(adapters) -> None:
    for org_id, kind, parent in TREE:
        adapters.orgs.upsert(OrgBlock(id=org_id, name=f"Org {org_id}", type=kind, parent_id=parent),
                             "2026-01-01T00:00:00.000000Z|seed")


def principal(sub="admin-n", roles=("national_admin",), org_id=None) -> Principal:
    return Principal(sub=sub, roles=frozenset(roles), org_id=org_id)


NATIONAL = principal()


def body(**overrides) -> bytes:
    data = {"name": "Karmayogi Saptah", "scope": "national", "start": "2026-12-01T00:00", "end": "2026-12-08T00:00",
            "status": "scheduled"}
    data.update(overrides)
    return json.dumps({k: v for k, v in data.items() if v is not None}).encode()


def create(adapters, who=NATIONAL, **overrides) -> dict:
    return campaigns.create(body(**overrides), who, adapters, datetime(2026, 11, 20, tzinfo=timezone.utc))


def deliver(adapters, dicts, received: datetime = IN_WINDOW + timedelta(minutes=5), recompute=True) -> None:
    rules_builders.deliver(adapters, dicts, recompute, received)


def roster(adapters, org_id: str, count: int, prefix: str = "e") -> list[str]:
    ids = [f"{prefix}-{org_id}-{n:05d}" for n in range(count)]
    for learner_id in ids:
        adapters.rosters.put(Employee(learner_id, org_id, f"Employee {learner_id}"))
    return ids
