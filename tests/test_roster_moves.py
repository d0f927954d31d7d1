"""Issue 15: a roster import moved other orgs' employees. An admin may add only employees on no roster or on a
roster inside their own subtree; anyone else is a rejected row naming the reason. Roster contact details never
replace (or stand in for) what the platform sent for a learner of another org."""
import json

import pytest

from chalicelib import bootstrap
from chalicelib.events import OrgBlock
from chalicelib.identity.tokens import Principal
from chalicelib.notifications.outbox import contact_of
from chalicelib.rosters.employees import Employee, MemoryRosterStore
from chalicelib.rosters.service import import_from_request, import_upload

HEADER = "learner_id,full_name,email,mobile,group,designation,employee_id,org_id,language"
# ministry M -> department D -> orgs A, B; state S -> org C
TREE = [("min_m", "ministry", None), ("dept_d", "department", "min_m"), ("org_a", "mdo", "dept_d"),
        ("org_b", "mdo", "dept_d"), ("state_s", "state", None), ("org_c", "mdo", "state_s")]


@pytest.fixture
def world():
    adapters = bootstrap.memory_adapters(rosters=MemoryRosterStore([
        Employee("u-c1", "org_c", "Chandra", email="chandra@c.gov.in", phone="+919800000001"),
        Employee("u-b1", "org_b", "Bina", email="bina@b.gov.in")]))
    for org_id, kind, parent in TREE:
        adapters.orgs.upsert(OrgBlock(id=org_id, name=org_id, type=kind, parent_id=parent), "2026-01-01|seed")
    return adapters


def admin(org_id):
    return Principal(sub=f"admin-{org_id}", roles=frozenset({"mdo_admin"}), org_id=org_id)


NATIONAL = Principal(sub="admin-n", roles=frozenset({"national_admin"}), org_id=None)


def csv(*rows) -> bytes:
    return "\n".join([HEADER, *rows]).encode()


def test_an_org_admin_cannot_take_an_employee_from_an_org_outside_their_subtree(world):
    report = import_from_request("org_a", csv("u-c1,Chandra,evil@a.gov.in,9811111111,,,,,",
                                              "u-new,Naya,,,,,,,"), admin("org_a"), world, {})
    assert report["added"] == 1 and report["rejected_rows"] == 1
    [rejected] = report["rejected"]
    assert rejected["line"] == 2 and rejected["learner_id"] == "u-c1"
    assert rejected["errors"][0]["field"] == "learner_id"
    assert "another org" in rejected["errors"][0]["message"]
    moved = world.rosters.get("u-c1")
    assert (moved.org_id, moved.email) == ("org_c", "chandra@c.gov.in")  # stays, contact unchanged
    assert world.rosters.headcounts(["org_a", "org_c"]) == {"org_a": 1, "org_c": 1}


def test_merge_mode_is_refused_the_same_way(world):
    report = import_from_request("org_a", csv("u-c1,Chandra,,,,,,,"), admin("org_a"), world, {"mode": "merge"})
    assert report["rejected_rows"] == 1 and world.rosters.get("u-c1").org_id == "org_c"


def test_an_admin_may_move_employees_inside_their_own_subtree(world):
    report = import_from_request("org_a", csv("u-b1,Bina,,,,,,,"), admin("dept_d"), world, {})
    assert report["added"] == 1 and report["rejected_rows"] == 0
    assert world.rosters.get("u-b1").org_id == "org_a"


def test_an_org_admin_cannot_take_from_a_sibling_org_either(world):
    report = import_from_request("org_a", csv("u-b1,Bina,,,,,,,"), admin("org_a"), world, {})
    assert report["rejected_rows"] == 1 and world.rosters.get("u-b1").org_id == "org_b"


def test_a_national_admin_may_move_anyone(world):
    report = import_from_request("org_a", csv("u-c1,Chandra,,,,,,,"), NATIONAL, world, {})
    assert report["added"] == 1 and world.rosters.get("u-c1").org_id == "org_a"


class _Body:
    def __init__(self, data):
        self.data = data

    def iter_lines(self, chunk_size=0):
        return iter(self.data.splitlines())

    def close(self):
        pass


class _S3:
    def __init__(self, data):
        self.data, self.put = data, {}

    def get_object(self, Bucket, Key):
        return {"Body": _Body(self.data)}

    def put_object(self, Bucket, Key, Body, **kwargs):
        self.put[Key] = json.loads(Body)


class _Log:
    def info(self, *a, **k):
        pass

    warning = error = info


def test_an_s3_upload_cannot_take_employees_from_outside_the_orgs_subtree(world):
    s3 = _S3(csv("u-c1,Chandra,,,,,,,", "u-new,Naya,,,,,,,"))
    report = import_upload("bucket", "rosters/org_a/nov.csv", s3, world, _Log())
    assert report["rejected_rows"] == 1 and report["rejected"][0]["learner_id"] == "u-c1"
    assert world.rosters.get("u-c1").org_id == "org_c"
    s3 = _S3(csv("u-c1,Chandra,,,,,,,"))  # the state's upload may take from org_c below it
    assert import_upload("bucket", "rosters/state_s/nov.csv", s3, world, _Log())["added"] == 1


def _learner(world, learner_id, org_id, email=None, phone=None):
    from tests.notify_helpers import add_learner
    add_learner(world, learner_id, email_address=email, phone=phone)
    stored = world.learners.get(learner_id)
    import dataclasses
    profile = dataclasses.replace(stored.standing.profile, org_id=org_id, email=email, phone=phone)
    world.learners.learners[learner_id] = dataclasses.replace(
        stored, standing=dataclasses.replace(stored.standing, profile=profile))


def test_roster_contact_never_replaces_what_the_platform_sent(world):
    _learner(world, "u-c1", "org_c", email="chandra@platform.gov.in", phone="+919800000009")
    contact = contact_of("u-c1", world)
    assert (contact.email, contact.phone) == ("chandra@platform.gov.in", "+919800000009")


def test_a_roster_of_another_org_than_the_platforms_lends_no_contact(world):
    """The platform says u-x is in org_c and sent no phone; org_a's roster (u-x was on no roster, so org_a's
    admin could add them) must not become the number their messages go to."""
    _learner(world, "u-x", "org_c", email="x@platform.gov.in")
    world.rosters.put(Employee("u-x", "org_a", "X", email="x@evil.example", phone="+919811111111"))
    contact = contact_of("u-x", world)
    assert (contact.email, contact.phone) == ("x@platform.gov.in", None)


def test_the_learners_own_orgs_roster_still_fills_a_missing_phone(world):
    _learner(world, "u-c1", "org_c", email="chandra@platform.gov.in")
    assert contact_of("u-c1", world).phone == "+919800000001"
