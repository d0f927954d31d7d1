"""Issue 15: GET /v1/campaigns queries an index by scope and status and pages (limit/cursor) instead of scanning
the whole table on every call; and one admin may create only so many campaigns a day."""
import json
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib import bootstrap
from chalicelib.campaigns import rules, service as campaigns
from chalicelib.errors import ApiError
from tests.campaign_builders import NATIONAL, body, build_tree, principal
from tests.openapi_check import assert_matches_spec

DAY = datetime(2026, 11, 20, 6, tzinfo=timezone.utc)


@pytest.fixture(params=["memory", "dynamodb"])
def world(request):
    if request.param == "memory":
        adapters = bootstrap.memory_adapters()
        build_tree(adapters)
        yield adapters
    else:
        from tests.conftest import aws_world
        with aws_world() as adapters:
            build_tree(adapters)
            yield adapters


def make(adapters, n, who=NATIONAL, now=DAY, **overrides):
    start = datetime(2026, 12, 1) + timedelta(days=n)
    data = dict(name=f"Week {n}", start=start.strftime("%Y-%m-%dT%H:%M"),
                end=(start + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"))
    data.update(overrides)
    return campaigns.create(body(**data), who, adapters, now)


def test_the_list_is_paged_newest_first_with_a_cursor(world):
    made = [make(world, n, now=DAY + timedelta(days=n))["id"] for n in range(5)]
    seen, cursor = [], None
    while True:
        page = campaigns.list_campaigns({"limit": "2", **({"cursor": cursor} if cursor else {})}, NATIONAL, world)
        assert len(page["campaigns"]) <= 2
        seen += [c["id"] for c in page["campaigns"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))


def test_the_list_never_scans_the_table(world, monkeypatch):
    make(world, 1)
    monkeypatch.setattr(type(world.campaigns), "all", lambda self: pytest.fail("listing scanned the table"))
    assert len(campaigns.list_campaigns({}, NATIONAL, world)["campaigns"]) == 1


def test_scope_and_status_select_from_the_index(world):
    make(world, 1, scope="org:org_a", status="scheduled")
    make(world, 2, scope="org:org_a", status="draft")
    make(world, 3, scope="national", status="scheduled")
    listed = campaigns.list_campaigns({"scope": "org:org_a", "status": "scheduled"}, NATIONAL, world)
    assert [c["name"] for c in listed["campaigns"]] == ["Week 1"]
    assert [c["name"] for c in campaigns.list_campaigns({"scope": "org:org_a"}, NATIONAL, world)["campaigns"]] \
        == ["Week 2", "Week 1"]
    assert [c["name"] for c in campaigns.list_campaigns({"status": "scheduled"}, NATIONAL, world)["campaigns"]] \
        == ["Week 3", "Week 1"]
    learner = principal("u-1", ("learner",), "org_a")
    assert [c["name"] for c in campaigns.list_campaigns({}, learner, world)["campaigns"]] == ["Week 3", "Week 1"]


def test_a_status_change_and_an_edit_move_the_campaign_in_the_index(world):
    c = make(world, 1, status="draft")
    campaigns.update(c["id"], json.dumps({"status": "scheduled", "start": "2026-12-20T00:00",
                                          "end": "2026-12-22T00:00"}).encode(), NATIONAL, world)
    assert [x["id"] for x in campaigns.list_campaigns({"status": "scheduled"}, NATIONAL, world)["campaigns"]] \
        == [c["id"]]
    assert campaigns.list_campaigns({"status": "draft"}, NATIONAL, world)["campaigns"] == []
    campaigns.cancel(c["id"], NATIONAL, world)
    assert [x["id"] for x in campaigns.list_campaigns({"status": "cancelled"}, NATIONAL, world)["campaigns"]] \
        == [c["id"]]


@pytest.mark.parametrize("query,field", [({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"),
                                         ({"cursor": "not-a-cursor"}, "cursor")])
def test_bad_paging_parameters_are_400(world, query, field):
    with pytest.raises(ApiError) as raised:
        campaigns.list_campaigns(query, NATIONAL, world)
    assert (raised.value.status, raised.value.field) == (400, field)


def test_one_admin_may_create_only_so_many_campaigns_a_day(world):
    cap = rules.campaign_config().max_created_per_admin_per_day
    admin = principal("admin-a", ("mdo_admin",), "org_a")
    for n in range(cap):
        make(world, n, who=admin, scope="org:org_a")
    with pytest.raises(ApiError) as raised:
        make(world, cap, who=admin, scope="org:org_a")
    assert raised.value.status == 429 and str(cap) in raised.value.message
    make(world, cap, who=principal("admin-b", ("mdo_admin",), "org_a"), scope="org:org_a")  # another admin
    make(world, cap, who=admin, scope="org:org_a", now=DAY + timedelta(days=1))  # the next day


def test_the_route_pages_and_matches_the_spec(client, aws):
    build_tree(aws)
    for n in range(3):
        start = datetime(2026, 12, 1) + timedelta(days=n)
        response = client.http.post("/v1/campaigns", headers={"Content-Type": "application/json"}, body=json.dumps({
            "name": f"Week {n}", "scope": "national", "start": start.strftime("%Y-%m-%dT%H:%M"),
            "end": (start + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")}).encode())
        assert response.status_code == 201
    response = client.http.get("/v1/campaigns?limit=2")
    assert response.status_code == 200 and len(response.json_body["campaigns"]) == 2
    assert_matches_spec("/v1/campaigns", "get", 200, response.json_body)
    response = client.http.get(f"/v1/campaigns?limit=2&cursor={response.json_body['next_cursor']}")
    assert [c["name"] for c in response.json_body["campaigns"]] == ["Week 0"]
    assert response.json_body["next_cursor"] is None
    assert_matches_spec("/v1/campaigns", "get", 200, response.json_body)


def test_campaigns_stored_before_the_index_are_listed_after_the_backfill(aws):
    from chalicelib.campaigns.rules import as_dict
    from chalicelib.campaigns.models import CampaignRecord
    build_tree(aws)
    c = make(aws, 1)
    old = rules.from_dict(dict(c, id="cmp-old", name="Before the index"))
    CampaignRecord("cmp-old", scope=old.scope, status=old.status, definition=as_dict(old), close_step=0).save()
    assert [x["id"] for x in campaigns.list_campaigns({}, NATIONAL, aws)["campaigns"]] == [c["id"]]
    assert aws.campaigns.backfill_index_keys() == 1
    assert aws.campaigns.backfill_index_keys() == 0  # idempotent
    assert {x["id"] for x in campaigns.list_campaigns({}, NATIONAL, aws)["campaigns"]} == {c["id"], "cmp-old"}
