"""Campaign routes through the Chalice test client on moto (the DynamoDB adapter): the whole path from webhook
to progress, dashboard, boards, the scheduled lifecycle handler, closing and the report; access by each role.
Every JSON response is checked against openapi.yaml."""
import json
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.events import OrgBlock
from chalicelib.rosters.service import import_roster
from tests import rules_builders as b
from tests.conftest import bearer, pump, signed_headers
from tests.openapi_check import assert_matches_spec
from tests.campaign_builders import TREE

NOW = datetime.now(timezone.utc)
IST = timezone(timedelta(hours=5, minutes=30))
LEARNER_A = bearer("u-a1", ("learner",), "org_a")
ADMIN_A = bearer("admin-a", ("mdo_admin",), "org_a")
ADMIN_C = bearer("admin-c", ("mdo_admin",), "org_c")
ADMIN_D = bearer("admin-d", ("mdo_admin",), "dept_d")


@pytest.fixture
def world(client, aws):
    for org_id, kind, parent in TREE:
        aws.orgs.upsert(OrgBlock(id=org_id, name=f"Org {org_id}", type=kind, parent_id=parent),
                        "2026-01-01T00:00:00.000000Z|seed")
    header = "learner_id,full_name,email,mobile,group,designation,employee_id,org_id,language"
    import_roster("org_a", [header] + [f"u-a{n},Employee A{n},,,,,,org_a," for n in range(15)], aws)
    return client, aws


def call(client, method, path, template, status, body=None, headers=None):
    kwargs = {"headers": {"Content-Type": "application/json", **(headers or {})}}
    if body is not None:
        kwargs["body"] = json.dumps(body).encode()
    response = client.http.request(method, path, **kwargs)
    assert response.status_code == status, response.body
    if response.headers.get("Content-Type", "").startswith("text/csv"):
        return response.body.decode()
    return assert_matches_spec(template, method.lower(), status, response.json_body)


def local(moment: datetime) -> str:
    return moment.astimezone(IST).strftime("%Y-%m-%dT%H:%M")


def new_campaign(client, headers=None, status=201, **fields):
    body = {"name": "Saptah", "scope": "ministry:min_m", "start": local(NOW - timedelta(days=1)),
            "end": local(NOW + timedelta(days=1)), "status": "scheduled", **fields}
    return call(client, "POST", "/v1/campaigns", "/v1/campaigns", status, body, headers)


def send(client, aws, events):
    body = json.dumps(events).encode()
    assert client.http.post("/v1/events", body=body, headers=signed_headers(body)).status_code == 202
    pump(client, aws)


def tick(client):
    return client.lambda_.invoke("advance_campaigns", client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[])).payload


def test_create_read_list_patch_and_cancel(world):
    client, _ = world
    c = new_campaign(client, status=201)
    assert c["status"] == "scheduled" and c["goal"] == {"kind": "minutes", "target": 240}
    assert call(client, "GET", f"/v1/campaigns/{c['id']}", "/v1/campaigns/{campaign_id}", 200)["id"] == c["id"]
    listed = call(client, "GET", "/v1/campaigns?scope=ministry:min_m", "/v1/campaigns", 200)["campaigns"]
    assert [x["id"] for x in listed] == [c["id"]]
    patched = call(client, "PATCH", f"/v1/campaigns/{c['id']}", "/v1/campaigns/{campaign_id}", 200,
                   {"goal": {"target": 120}})
    assert patched["goal"]["target"] == 120
    bad = call(client, "POST", "/v1/campaigns", "/v1/campaigns", 400,
               {"name": "x", "scope": "national", "start": "2026-12-08T00:00", "end": "2026-12-01T00:00"})
    assert bad["error"]["field"] == "end"
    assert call(client, "POST", "/v1/campaigns", "/v1/campaigns", 400,
                {"name": "x", "scope": "ministry:nope", "start": "2026-12-01", "end": "2026-12-08"})["error"]["field"] == "scope"
    cancelled = call(client, "POST", f"/v1/campaigns/{c['id']}/cancel", "/v1/campaigns/{campaign_id}/cancel", 200)
    assert cancelled["status"] == "cancelled"
    call(client, "POST", f"/v1/campaigns/{c['id']}/cancel", "/v1/campaigns/{campaign_id}/cancel", 409)
    call(client, "GET", "/v1/campaigns/cmp-nope", "/v1/campaigns/{campaign_id}", 404)


def test_access_by_role(world):
    client, _ = world
    new_campaign(client, headers=LEARNER_A, status=403)
    new_campaign(client, headers=ADMIN_C, status=403)  # org_c is not above min_m
    new_campaign(client, headers=ADMIN_D, status=403)  # the department is below the ministry, not above it
    own = new_campaign(client, headers=ADMIN_D, scope="org:org_a")
    assert own["scope"] == "org:org_a"
    national = new_campaign(client, scope="national")
    path = f"/v1/campaigns/{own['id']}"
    call(client, "PATCH", path, "/v1/campaigns/{campaign_id}", 403, {"name": "mine"}, ADMIN_C)
    call(client, "PATCH", path, "/v1/campaigns/{campaign_id}", 403, {"name": "mine"}, LEARNER_A)
    assert call(client, "PATCH", path, "/v1/campaigns/{campaign_id}", 200, {"name": "ours"}, ADMIN_A)["name"] == "ours"
    call(client, "GET", path, "/v1/campaigns/{campaign_id}", 200, headers=LEARNER_A)  # learners may read
    call(client, "POST", f"/v1/campaigns/{national['id']}/cancel", "/v1/campaigns/{campaign_id}/cancel", 403,
         headers=ADMIN_D)
    # progress: self, their admin, national; not a learner of another org nor another org's admin
    progress = f"/v1/campaigns/{own['id']}/progress"
    template = "/v1/campaigns/{campaign_id}/progress"
    call(client, "GET", progress, template, 200, headers=LEARNER_A)
    call(client, "GET", progress + "?learner_id=u-a1", template, 200, headers=ADMIN_D)
    call(client, "GET", progress + "?learner_id=u-a1", template, 403, headers=ADMIN_C)
    call(client, "GET", progress + "?learner_id=u-a2", template, 403, headers=LEARNER_A)
    # report: admins only
    report, rtemplate = f"/v1/campaigns/{own['id']}/report", "/v1/campaigns/{campaign_id}/report"
    call(client, "GET", report, rtemplate, 403, headers=LEARNER_A)
    call(client, "GET", report, rtemplate, 403, headers=ADMIN_C)
    call(client, "GET", report, rtemplate, 200, headers=ADMIN_A)
    # the not-started list only for admins of the org
    dash, dtemplate = f"/v1/campaigns/{own['id']}/dashboard", "/v1/campaigns/{campaign_id}/dashboard"
    assert call(client, "GET", dash, dtemplate, 200, headers=LEARNER_A)["not_started"] is None
    assert call(client, "GET", dash, dtemplate, 200, headers=ADMIN_C)["not_started"] is None
    assert len(call(client, "GET", dash, dtemplate, 200, headers=ADMIN_A)["not_started"]["employees"]) == 15


def test_from_webhook_to_dashboard_boards_schedule_close_and_report(world):
    client, aws = world
    c = new_campaign(client, goal={"kind": "minutes", "target": 60}, multiplier=2)
    cid = c["id"]
    assert tick(client) == {cid: ["live"]} and tick(client) == {}
    at = NOW - timedelta(hours=2)
    send(client, aws, [b.time_spent("u-a1", 90, at, org="org_a"), b.time_spent("u-a2", 30, at, org="org_a"),
                       b.completion("u-a1", "c1", at, areas=["domain"], minutes=30, org="org_a"),
                       b.time_spent("u-c1", 500, at, org="org_c")])  # org_c: not in the ministry
    progress = call(client, "GET", f"/v1/campaigns/{cid}/progress", "/v1/campaigns/{campaign_id}/progress", 200,
                    headers=LEARNER_A)
    assert (progress["minutes"], progress["courses"], progress["goal_met"], progress["rank_in_org"]) == \
        (120, 1, True, 1)
    ledger = client.http.get("/v1/learners/u-a1/ledger").json_body["entries"]
    assert [e["amount"] for e in ledger if e["rule"] == "course_completion"] == [10]  # x2 in the window
    dash = call(client, "GET", f"/v1/campaigns/{cid}/dashboard?org_id=min_m", "/v1/campaigns/{campaign_id}/dashboard",
                200)
    assert (dash["headcount"], dash["participants"], dash["goal_met"], dash["minutes"]) == (15, 2, 1, 150)
    assert dash["sub_orgs"] == [{"org_id": "dept_d", "name": "Org dept_d", "headcount": 15, "participants": 2,
                                 "goal_met": 1, "participation_percent": 13.3, "goal_met_percent": 6.7,
                                 "hours": 2.5}]
    assert [r["points"] for r in dash["top_learners"]] == [120, 30]
    board = call(client, "GET", f"/v1/campaigns/{cid}/leaderboards/learners",
                 "/v1/campaigns/{campaign_id}/leaderboards/learners", 200)
    assert board["period"] == f"campaign:{cid}" and [e["learner_id"] for e in board["entries"]] == ["u-a1", "u-a2"]
    call(client, "GET", f"/v1/campaigns/{cid}/leaderboards/orgs", "/v1/campaigns/{campaign_id}/leaderboards/orgs", 200)
    # the window ends and the grace period passes: close by the schedule, once
    aws.campaigns.replace(_shifted(aws, cid, days=-5), "live")
    assert tick(client) == {cid: ["closing", "closed"]}
    assert tick(client) == {}
    summary = client.http.get("/v1/learners/u-a1").json_body
    assert f"campaign.{cid}.goal" in [x["id"] for x in summary["badges"]]
    report = call(client, "GET", f"/v1/campaigns/{cid}/report", "/v1/campaigns/{campaign_id}/report", 200)
    assert report["frozen"] is True and [(r["org_id"], r["participants"], r["goal_met"]) for r in report["orgs"]] \
        == [("org_a", 2, 1)]
    csv = call(client, "GET", f"/v1/campaigns/{cid}/report?format=csv", "/v1/campaigns/{campaign_id}/report", 200)
    assert csv.splitlines()[1].startswith("org_a,Org org_a,15,2,1,")


def _shifted(aws, cid, days):
    from dataclasses import replace
    c = aws.campaigns.get(cid)
    return replace(c, start=c.start + timedelta(days=days), end=c.end + timedelta(days=days))


def test_a_progress_change_is_counted_once_even_when_written_twice(aws):
    """The DynamoDB store's transaction is conditioned on the previous progress: a replayed write fails and the
    statistics keep the first count."""
    from chalicelib.campaigns.rules import Progress, stats_delta
    from chalicelib.storage.ports import ConcurrentUpdate
    store = aws.campaigns
    new = Progress("cmp-x", "u1", "org_a", 30, 1, 0, 30, False, None, NOW, (("2026-12-03", 30, 1),))
    delta = stats_delta(None, (), new, ("dept_d",))
    store.apply_progress(None, new, ("dept_d",), delta, {"org_a": 1, "dept_d": 4})
    with pytest.raises(ConcurrentUpdate):
        store.apply_progress(None, new, ("dept_d",), delta, {"org_a": 1, "dept_d": 4})
    assert store.stats("cmp-x", "dept_d", 4)["total"]["minutes"] == 30
    assert store.stats("cmp-x", "org_a", 1)["own"]["participants"] == 1
    [(key, stored)] = store.progress([("cmp-x", "u1")]).items()
    assert stored.progress == new and stored.ancestors == ("dept_d",)
