"""The admin pages (campaigns list, create form, dashboard, report CSV, reminders, publish/cancel), the learner's
live campaign goal on /me and the credential page, through chalice.test.Client on moto: content, escaping, access
by role, the API's errors next to the form's fields, sizes."""
import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.events import OrgBlock
from chalicelib.pages import admin as admin_pages
from chalicelib.rosters.service import import_roster
from tests.campaign_builders import TREE
from tests.conftest import token
from tests.test_pages import MAX_PAGE_BYTES, completion, csrf_of, html, page, profile, send, session_cookie

NOW = datetime.now(timezone.utc)
IST = timezone(timedelta(hours=5, minutes=30))
LEARNER = "u-a1"
NATIONAL = {"sub": "admin-n", "roles": ("national_admin",), "org": None}
ADMIN_A = {"sub": "admin-a", "roles": ("mdo_admin",), "org": "org_a"}
ADMIN_C = {"sub": "admin-c", "roles": ("mdo_admin",), "org": "org_c"}
ADMIN_D = {"sub": "admin-d", "roles": ("mdo_admin",), "org": "dept_d"}
AS_LEARNER = {"sub": LEARNER, "roles": ("learner",), "org": "org_a"}


def local(moment: datetime) -> str:
    return moment.astimezone(IST).strftime("%Y-%m-%dT%H:%M")


def api(client, method, path, who=NATIONAL, body=None):
    return client.http.request(method, path, body=json.dumps(body).encode() if body is not None else b"",
                               headers={"Authorization": f"Bearer {token(who['sub'], who['roles'], who['org'])}",
                                        "Content-Type": "application/json"})


def as_(who):
    return {"sub": who["sub"], "roles": who["roles"], "org": who["org"]}


@pytest.fixture
def world(client, aws):
    """Ministry min_m > department dept_d > orgs org_a (15 on the roster, one with a name that is markup) and
    org_b; state_s > org_c. A live campaign for dept_d; learner u-a1 of org_a has completed two courses in it."""
    for org_id, kind, parent in TREE:
        aws.orgs.upsert(OrgBlock(id=org_id, name=f"Org {org_id}", type=kind, parent_id=parent),
                        "2026-01-01T00:00:00.000000Z|seed")
    header = "learner_id,full_name,email,mobile,group,designation,employee_id,org_id,language"
    rows = [f"u-a{n},Employee A{n},{'a0@example.gov.in' if n == 0 else ''},,,Clerk,,org_a," for n in range(14)] + ['u-a14,"<b>Bold</b> A14",,,,,,org_a,']
    import_roster("org_a", [header] + rows, aws)
    created = api(client, "POST", "/v1/campaigns", body={
        "name": "Saptah <Dept D>", "scope": "org:dept_d", "start": local(NOW - timedelta(days=1)),
        "end": local(NOW + timedelta(days=2)), "status": "scheduled"})
    assert created.status_code == 201, created.body
    send(client, aws, [profile(LEARNER, "Employee A1", org="org_a"), completion(LEARNER, 1, org="org_a"),
                       completion(LEARNER, 2, org="org_a")])
    return client, created.json_body


def dashboard(client, campaign, who, query=""):
    return page(client, f"/admin/campaigns/{campaign['id']}{query}", **as_(who))


# --- the dashboard --------------------------------------------------------------------------------------------

def test_the_dashboard_shows_the_headline_figures_chart_top_learners_and_not_started(world):
    client, campaign = world
    progress = api(client, "GET", f"/v1/campaigns/{campaign['id']}/progress?learner_id={LEARNER}").json_body
    assert progress["courses"] == 2 and progress["minutes"] > 0
    response = dashboard(client, campaign, ADMIN_A)
    assert response.status_code == 200, html(response)
    text = html(response)
    assert len(response.body) < MAX_PAGE_BYTES
    assert "Saptah &lt;Dept D&gt;" in text and "<Dept D>" not in text  # escaped
    assert 'data-testid="status">Live<' in text or 'data-testid="status">Scheduled<' in text
    assert 'data-testid="participants">1<' in text and "of 15 employees (6.7%)" in text  # org_a's roster
    assert 'data-testid="completions">2<' in text
    hours = round(progress["minutes"] / 60, 1)
    assert f'data-testid="hours">{hours:g}<' in text
    goal_met = "6.7%" if progress["goal_met"] else "0%"
    assert f'data-testid="goal-met">{goal_met}<' in text
    # the per-day chart, with its table
    today = NOW.astimezone(IST)
    assert '<svg class="chart"' in text and f"<td>{today.day} {today:%b}</td>" in text
    # top learners by the goal's measure, and the not-started list (14: everyone but u-a1), markup escaped
    top = text.split('data-testid="top-learners"')[1].split("</table>")[0]
    assert "Employee A1" in top and f'<td class="num">{progress["minutes"]}</td>' in top
    waiting = text.split('data-testid="not-started"')[1].split("</table>")[0]
    assert waiting.count("<tr>") == 1 + 14 and "Employee A1<" not in waiting
    assert "&lt;b&gt;Bold&lt;/b&gt; A14" in waiting and "<b>Bold" not in text
    assert 'name="learner_ids" value="u-a0"' in waiting
    assert re.search(r'name="learner_ids" value="u-a0,u-a10,[^"]*u-a9" data-testid="remind-all"', text)
    assert f'href="/admin/campaigns/{campaign["id"]}/report.csv" download' in text
    # in Hindi (an admin without a learner record keeps the language in a cookie)
    hindi = html(page(client, f"/admin/campaigns/{campaign['id']}",
                      cookie=session_cookie(ADMIN_A["sub"], ADMIN_A["roles"], ADMIN_A["org"]) + "; ke_lang=hi"))
    assert "<h1>अभियान डैशबोर्ड</h1>" in hindi and "15 कर्मचारियों में से (6.7%)" in hindi


def test_a_department_admin_compares_the_orgs_below_in_a_sortable_table_and_can_drill_down(world):
    client, campaign = world
    text = html(dashboard(client, campaign, ADMIN_D, "?sort=participants&order=desc"))
    table = text.split('data-testid="sub-orgs"')[1].split("</table>")[0]
    assert re.findall(r'<a href="/admin/campaigns/[^"?]+\?org_id=(org_\w)">', table) == ["org_a", "org_b"]
    assert 'aria-sort="descending"' in table and '<td class="num" data-sort="6.7">6.7%</td>' in table
    assert "Org org_b" in table and "—" in table  # org_b has no roster: no percentage
    drilled = dashboard(client, campaign, ADMIN_D, "?org_id=org_a")
    assert drilled.status_code == 200 and 'data-testid="participants">1<' in html(drilled)


def test_only_admins_of_the_org_see_a_dashboard(world):
    client, campaign = world
    learner = dashboard(client, campaign, AS_LEARNER)
    assert learner.status_code == 403 and "This page is for administrators" in html(learner)
    assert dashboard(client, campaign, ADMIN_C).status_code == 403  # another org: not theirs
    assert dashboard(client, campaign, ADMIN_A, "?org_id=dept_d").status_code == 403  # above their org
    assert dashboard(client, campaign, ADMIN_A, "?org_id=org_a").status_code == 200
    national = dashboard(client, campaign, NATIONAL)
    assert national.status_code == 200 and 'data-testid="participants">1<' in html(national)
    assert page(client, "/admin/campaigns/cmp-nope", **as_(NATIONAL)).status_code == 404
    assert page(client, f"/admin/campaigns/{campaign['id']}/report.csv", **as_(AS_LEARNER)).status_code == 403
    assert page(client, f"/admin/campaigns/{campaign['id']}/report.csv", **as_(ADMIN_C)).status_code == 403


def test_a_national_campaign_asks_a_national_admin_for_an_org_and_shows_an_mdo_admin_their_own(world):
    client, _ = world
    national = api(client, "POST", "/v1/campaigns", body={
        "name": "Karmayogi Saptah", "scope": "national", "start": local(NOW - timedelta(hours=1)),
        "end": local(NOW + timedelta(days=1)), "status": "scheduled"}).json_body
    text = html(dashboard(client, national, NATIONAL))
    assert 'data-testid="pick-org"' in text and '<label for="org_id">' in text
    assert 'data-testid="participants"' in html(dashboard(client, national, NATIONAL, "?org_id=org_a"))
    mine = html(dashboard(client, national, ADMIN_A))
    assert 'value="org_a"' in mine and 'data-testid="participants">0<' in mine  # events before it was created


def test_the_report_downloads_as_csv(world):
    client, campaign = world
    response = page(client, f"/admin/campaigns/{campaign['id']}/report.csv", **as_(ADMIN_A))
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == f'attachment; filename="campaign-{campaign["id"]}-report.csv"'
    lines = response.body.decode("utf-8").lstrip("\ufeff").splitlines()
    assert lines[0] == ("org_id,name,headcount,participants,goal_met,goal_met_percent,participation_percent,hours,"
                        "size_category,rank_in_category,award")
    assert lines[1].startswith("org_a,Org org_a,15,1,") and len(lines) == 2
    # the same figures as the API's report
    report = api(client, "GET", f"/v1/campaigns/{campaign['id']}/report").json_body
    assert report["orgs"][0]["participants"] == 1 and report["orgs"][0]["headcount"] == 15


def test_the_not_started_list_pages_on(world, monkeypatch):
    client, campaign = world
    from chalicelib.campaigns import reports as service, rules
    config = rules.campaign_config()
    monkeypatch.setattr(service, "campaign_config", lambda: config.__class__(
        **{**config.__dict__, "operation": {**config.operation, "not_started_page_size": 10}}))
    first = html(dashboard(client, campaign, ADMIN_A))
    assert first.split('data-testid="not-started"')[1].split("</table>")[0].count("<tr>") == 1 + 10
    next_href = re.search(r'<a href="([^"]+)" data-testid="next-page">', first).group(1).replace("&amp;", "&")
    second = html(page(client, next_href, **as_(ADMIN_A)))
    assert second.split('data-testid="not-started"')[1].split("</table>")[0].count("<tr>") == 1 + 4
    assert "First page" in second and 'data-testid="next-page"' not in second


# --- reminders ------------------------------------------------------------------------------------------------

def test_the_reminder_button_posts_to_queue_reminders_with_the_checked_learners(world, monkeypatch):
    client, campaign = world
    csrf = csrf_of(html(dashboard(client, campaign, ADMIN_A)))
    path = f"/admin/campaigns/{campaign['id']}/remind"
    # through the notification outbox: queued once per campaign, however often the button is pressed
    for reminded in (1, 0):
        response = page(client, path, method="POST", form={"csrf": csrf, "learner_ids": "u-a0", "org_id": "org_a"},
                        **as_(ADMIN_A))
        assert response.status_code == 303 and response.headers["Location"].endswith(f"&reminded={reminded}")
    calls = []
    monkeypatch.setattr(admin_pages, "queue_reminders",
                        lambda c, ids, session, adapters, now: calls.append((c.id, ids, session.principal.sub)) or 2)
    done = page(client, path, method="POST", form={"csrf": csrf, "learner_ids": "u-a0,u-a2,u-a0", "org_id": "org_a"},
                **as_(ADMIN_A))
    assert done.status_code == 303 and done.headers["Location"].endswith("?org_id=org_a&reminded=2")
    assert calls == [(campaign["id"], ["u-a0", "u-a2"], "admin-a")]
    assert "Reminders queued: 2." in html(page(client, done.headers["Location"], **as_(ADMIN_A)))
    # no CSRF token, a learner, another org's admin, nonsense ids: refused before anything is queued
    assert page(client, path, method="POST", form={"learner_ids": "u-a0"}, **as_(ADMIN_A)).status_code == 403
    learner_csrf = csrf_of(html(page(client, "/me", **as_(AS_LEARNER))))
    assert page(client, path, method="POST", form={"csrf": learner_csrf, "learner_ids": "u-a0"},
                **as_(AS_LEARNER)).status_code == 403
    c_csrf = csrf_of(html(page(client, "/admin", **as_(ADMIN_C))))
    assert page(client, path, method="POST", form={"csrf": c_csrf, "learner_ids": "u-a0"},
                **as_(ADMIN_C)).status_code == 403
    for bad in ("", "../x", ",".join(f"u-{n}" for n in range(51))):
        assert page(client, path, method="POST", form={"csrf": csrf, "learner_ids": bad},
                    **as_(ADMIN_A)).status_code == 400
    assert len(calls) == 1


# --- the create form ------------------------------------------------------------------------------------------

def form_of(**overrides):
    data = {"name": "Mines week", "scope": "org:org_a", "start": "2026-12-01T09:30", "end": "2026-12-08T09:30",
            "goal_kind": "minutes", "goal_target": "180", "grace_hours": "48", "multiplier": "1.5",
            "top_learners_per_org": "5", "org_awards_per_category": "1", "counts_courses": "1",
            "counts_time_spent": "1", "goal_badge": "1", "publish": "1"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_the_scope_selector_offers_only_what_the_admin_may_use(world):
    client, _ = world
    text = html(page(client, "/admin/campaigns/new", **as_(ADMIN_D)))
    options = re.findall(r'<option value="([^"]+)"', text.split('id="scope"')[1].split("</select>")[0])
    assert options == ["org:dept_d", "org:org_a", "org:org_b"]
    national = html(page(client, "/admin/campaigns/new", **as_(NATIONAL)))
    options = re.findall(r'<option value="([^"]+)"', national.split('id="scope"')[1].split("</select>")[0])
    assert options == ["national", "other"] and '<label for="scope_org">' in national
    assert 'type="datetime-local"' in text and "Date and time in IST." in text
    assert page(client, "/admin/campaigns/new", **as_(AS_LEARNER)).status_code == 403


def test_a_bad_end_date_is_shown_next_to_the_end_field_with_the_form_kept(world):
    client, _ = world
    csrf = csrf_of(html(page(client, "/admin/campaigns/new", **as_(ADMIN_A))))
    response = page(client, "/admin/campaigns/new", method="POST",
                    form=form_of(csrf=csrf, end="2026-11-30T09:30", name="<Mines>"), **as_(ADMIN_A))
    assert response.status_code == 400
    text = html(response)
    assert '<p class="error" id="end-error">must be after start</p>' in text
    assert re.search(r'<input id="end" name="end" type="datetime-local" value="2026-11-30T09:30" required '
                     r'aria-invalid="true" aria-describedby="end-hint end-error"', text)
    assert '<a href="#end">Ends: must be after start</a>' in text  # the summary at the top links to it
    assert 'value="&lt;Mines&gt;"' in text and 'value="180"' in text  # what was typed is kept, escaped
    assert re.search(r'id="goal_badge" name="goal_badge" type="checkbox" value="1" checked', text)
    assert not re.search(r'id="counts_events"[^>]* checked', text)
    assert len(response.body) < MAX_PAGE_BYTES


@pytest.mark.parametrize("overrides,field,message", [
    ({"goal_target": "lots"}, "goal_target", "must be a whole number from 1 to 100000"),
    ({"multiplier": "9"}, "multiplier", "must be a number from 1 to 5"),
    ({"name": ""}, "name", "is required"),
    ({"start": None}, "start", "is required"),
    ({"counts_courses": None, "counts_time_spent": None}, "counts_courses", "at least one of"),
    ({"scope": "org:org_c"}, "scope", "only a national admin, or an admin of an org containing the scope"),
])
def test_each_api_error_lands_next_to_its_field(world, overrides, field, message):
    client, _ = world
    csrf = csrf_of(html(page(client, "/admin/campaigns/new", **as_(ADMIN_A))))
    response = page(client, "/admin/campaigns/new", method="POST", form=form_of(csrf=csrf, **overrides),
                    **as_(ADMIN_A))
    assert response.status_code == 400
    assert re.search(rf'<p class="error" id="{field}-error">{re.escape(message)}', html(response)), html(response)


def test_a_good_form_creates_the_campaign_in_ist_and_opens_its_dashboard(world):
    client, _ = world
    csrf = csrf_of(html(page(client, "/admin/campaigns/new", **as_(ADMIN_A))))
    assert page(client, "/admin/campaigns/new", method="POST", form=form_of(), **as_(ADMIN_A)).status_code == 403
    response = page(client, "/admin/campaigns/new", method="POST", form=form_of(csrf=csrf), **as_(ADMIN_A))
    assert response.status_code == 303
    campaign_id = re.fullmatch(r"/admin/campaigns/(cmp-[0-9a-f]+)", response.headers["Location"]).group(1)
    created = api(client, "GET", f"/v1/campaigns/{campaign_id}").json_body
    assert created["start"] == "2026-12-01T04:00:00Z" and created["end"] == "2026-12-08T04:00:00Z"
    assert created["status"] == "scheduled" and created["scope"] == "org:org_a" and created["created_by"] == "admin-a"
    assert created["goal"] == {"kind": "minutes", "target": 180} and created["grace_hours"] == 48
    assert created["multiplier"] == 1.5
    assert created["counts"] | {"course_ids": [], "competency_areas": []} == {
        "courses": True, "events": False, "time_spent": True, "course_ids": [], "competency_areas": []}
    assert created["awards"] == {"goal_badge": True, "top_learners_per_org": 5, "org_awards": False,
                                 "org_awards_per_category": 1}
    shown = page(client, response.headers["Location"], **as_(ADMIN_A))
    assert shown.status_code == 200 and "Mines week" in html(shown)
    # the national admin's "another organisation" scope
    national_csrf = csrf_of(html(page(client, "/admin/campaigns/new", **as_(NATIONAL))))
    other = page(client, "/admin/campaigns/new", method="POST",
                 form=form_of(csrf=national_csrf, scope="other", scope_org="state:state_s"), **as_(NATIONAL))
    assert other.status_code == 303


def test_the_admin_home_lists_the_campaigns_an_admin_deals_with(world):
    client, campaign = world
    text = html(page(client, "/admin", **as_(ADMIN_A)))
    assert f'<a href="/admin/campaigns/{campaign["id"]}">Saptah &lt;Dept D&gt;</a>' in text
    assert '<a href="/admin/campaigns/new" data-testid="new-campaign">' in text and "Org dept_d" in text
    assert "Saptah" not in html(page(client, "/admin", **as_(ADMIN_C)))  # not their campaign
    assert "Saptah" in html(page(client, "/admin", **as_(NATIONAL)))


def test_a_draft_is_published_and_a_campaign_cancelled_from_its_dashboard(world):
    client, _ = world
    draft = api(client, "POST", "/v1/campaigns", who=ADMIN_A, body={
        "name": "Draft week", "scope": "org:org_a", "start": "2026-12-01T00:00", "end": "2026-12-08T00:00"}).json_body
    text = html(dashboard(client, draft, ADMIN_A))
    assert 'data-testid="status">Draft<' in text and 'data-testid="publish"' in text
    path = f"/admin/campaigns/{draft['id']}/status"
    assert page(client, path, method="POST", form={"csrf": csrf_of(text), "action": "publish"},
                **as_(ADMIN_C)).status_code == 403
    published = page(client, path, method="POST", form={"csrf": csrf_of(text), "action": "publish"}, **as_(ADMIN_A))
    assert published.status_code == 303
    assert 'data-testid="status">Scheduled<' in html(dashboard(client, draft, ADMIN_A))
    assert page(client, path, method="POST", form={"csrf": csrf_of(text), "action": "cancel"},
                **as_(ADMIN_A)).status_code == 303
    again = page(client, path, method="POST", form={"csrf": csrf_of(text), "action": "cancel"}, **as_(ADMIN_A))
    assert again.status_code == 409 and "cannot be cancelled" in html(again)
    assert api(client, "GET", f"/v1/campaigns/{draft['id']}").json_body["status"] == "cancelled"


def test_admin_pages_are_small_labelled_and_never_a_5xx_on_garbage(world):
    client, campaign = world
    for path in ("/admin", "/admin/campaigns/new", f"/admin/campaigns/{campaign['id']}"):
        response = page(client, path, **as_(ADMIN_D))
        assert response.status_code == 200 and len(response.body) < MAX_PAGE_BYTES, path
        text = html(response)
        assert not re.search(r'(src|href|action)="(https?:)?//', text), path
        ids = set(re.findall(r'<(?:select|input)[^>]* id="([^"]+)"', text))
        assert ids <= set(re.findall(r'<label for="([^"]+)"', text)), (path, ids)
        assert text.count("<h1>") == 1
    for value in ("", "x" * 2000, "../", "\u0000", "%", "<b>"):
        query = f"?org_id={value}&cursor={value}&sort={value}"
        assert page(client, f"/admin/campaigns/{campaign['id']}{query}", **as_(NATIONAL)).status_code < 500
        assert page(client, f"/admin/campaigns/{value or 'x'}", **as_(NATIONAL)).status_code < 500
        for path in ("/admin/campaigns/new", f"/admin/campaigns/{campaign['id']}/remind",
                     f"/admin/campaigns/{campaign['id']}/status"):
            form = {k: value for k in ("csrf", "name", "scope", "start", "end", "learner_ids", "action")}
            assert page(client, path, method="POST", form=form, **as_(NATIONAL)).status_code < 500


# --- the learner's side: the live campaign goal and the credential page ------------------------------------

def test_my_progress_shows_a_bar_for_each_live_campaign(world):
    client, campaign = world
    api(client, "POST", "/v1/campaigns", body={"name": "Ministry week", "scope": "ministry:min_m",
                                               "goal": {"kind": "courses", "target": 4},
                                               "start": local(NOW - timedelta(hours=1)),
                                               "end": local(NOW + timedelta(days=5)), "status": "scheduled"})
    api(client, "POST", "/v1/campaigns", body={"name": "State week", "scope": "state:state_s",
                                               "start": local(NOW - timedelta(hours=1)),
                                               "end": local(NOW + timedelta(days=5)), "status": "scheduled"})
    api(client, "POST", "/v1/campaigns", body={"name": "Next month", "scope": "national",
                                               "start": local(NOW + timedelta(days=20)),
                                               "end": local(NOW + timedelta(days=27)), "status": "scheduled"})
    minutes = api(client, "GET", f"/v1/campaigns/{campaign['id']}/progress?learner_id={LEARNER}").json_body["minutes"]
    text = html(page(client, "/me", **as_(AS_LEARNER)))
    goals = text.split('aria-labelledby="campaign-h"')[1].split("</section>")[0]
    assert goals.count('data-testid="campaign-goal"') == 2  # not the other state's, nor next month's
    assert f'<progress max="240" value="{min(minutes, 240)}">' in goals and f"{minutes} of 240 minutes" in goals
    assert "Saptah &lt;Dept D&gt;" in goals and '<progress max="4" value="0">' in goals  # created after the events
    assert "Ends " in goals and " IST" in goals


def test_a_badge_links_to_its_credential_page_with_a_download_and_a_share_link(world):
    client, _ = world
    me = html(page(client, "/me", **as_(AS_LEARNER)))
    assert 'href="/me/badges/first_course/credential"' in me
    response = page(client, "/me/badges/first_course/credential", **as_(AS_LEARNER))
    assert response.status_code == 200, html(response)
    text = html(response)
    credential_id = re.search(r'href="/credentials/([0-9a-f-]{36})"', text).group(1)
    assert 'data-testid="share-url"' in text and f"/credentials/{credential_id}" in text
    assert 'href="/me/badges/first_course/credential.json" download' in text
    download = page(client, "/me/badges/first_course/credential.json", **as_(AS_LEARNER))
    assert download.status_code == 200 and download.headers["Content-Type"] == "application/json; charset=utf-8"
    document = json.loads(download.body)
    assert document["credential_id"] == credential_id and document["jwt"].count(".") == 2
    assert document["credential"]["credentialSubject"]["achievement"]["name"] in text
    # the same credential as the API's, and the public page resolves
    assert client.http.get(f"/credentials/{credential_id}", authorization=None).status_code == 200
    assert page(client, "/me/badges/no_such_badge/credential", **as_(AS_LEARNER)).status_code == 404
    assert page(client, "/me/badges/first_course/credential", **as_(NATIONAL)).status_code == 404
