"""The server-rendered pages through chalice.test.Client on moto: content, escaping, access by role, CSRF,
language, sizes; and the shared components (chalicelib/pages/components.py + components.html)."""
import json
import re
import tomllib
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest

from chalicelib import settings
from chalicelib.errors import ApiError, bad_request
from chalicelib.pages import components, session as sessions
from chalicelib.pages.i18n import LOCALES_DIR, Translator, catalogue
from chalicelib.pages.web import TEMPLATES, _environment
from tests.conftest import fixture_event, pump, signed_headers, token

ME = "5f1c2a9e-8d44-4b7a-9a6e-1c2d3e4f5a6b"
ORG = "org_mines_hq"
NOW = datetime.now(timezone.utc)
MAX_PAGE_BYTES = 100 * 1024


# --- helpers ------------------------------------------------------------------------------------------------

def profile(learner_id, name, org=ORG, language="en"):
    event = fixture_event("learner.upserted")
    event.update(id=f"evt_profile_{learner_id}", occurred_at=(NOW - timedelta(days=40)).isoformat())
    event["learner"] = {"id": learner_id, "org_id": org, "name": name, "language": language}
    return event


def completion(learner_id, n, org=ORG, at=None):
    event = fixture_event("course.completed")
    event.update(id=f"evt_done_{learner_id}_{n}", occurred_at=(at or NOW - timedelta(minutes=5)).isoformat())
    event["learner"] = {"id": learner_id, "org_id": org}
    event["course"] = {**event["course"], "id": f"do_{n:020d}", "name": f"Course number {n}"}
    event.pop("acbp")
    event.pop("assessment")
    return event


def org_event(org_id, name, parent=None):
    event = fixture_event("org.upserted")
    event.update(id=f"evt_org_{org_id}", occurred_at=(NOW - timedelta(days=400)).isoformat())
    event["org"] = {**event["org"], "id": org_id, "name": name, "type": "mdo", "parent_id": parent}
    return event


def send(client, aws, events):
    body = json.dumps(events).encode()
    response = client.http.post("/v1/events", body=body, headers=signed_headers(body))
    assert response.status_code == 202 and all(r["error"] is None for r in response.json_body["results"]), \
        response.json_body
    pump(client, aws)


@lru_cache(maxsize=None)  # one session per person, as a browser keeps its cookie (the CSRF token derives from it)
def session_cookie(sub=ME, roles=("learner",), org=ORG):
    return f"{sessions.SESSION_COOKIE}={session_value(sub, roles, org)}"


def session_value(sub=ME, roles=("learner",), org=ORG, now=None):
    """Our own signed page session (what /auth/callback sets after the provider signed the person in)."""
    from types import SimpleNamespace
    from chalicelib.identity.tokens import Principal
    return sessions.issue_session(Principal(sub, org, frozenset(roles)),
                                  SimpleNamespace(session_secrets=settings.session_secrets), now)


def page(client, path, sub=ME, roles=("learner",), org=ORG, method="GET", form=None, headers=None, cookie=None):
    sent = {"Cookie": cookie if cookie is not None else session_cookie(sub, roles, org), **(headers or {})}
    body = b""
    if form is not None:
        sent["Content-Type"] = "application/x-www-form-urlencoded"
        body = urlencode(form).encode()
    return client.http.request(method, path, headers=sent, body=body, authorization=None)


def html(response) -> str:
    return response.body.decode("utf-8")


def csrf_of(text: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', text).group(1)


@pytest.fixture
def world(client, aws):
    """This week, in one org: peers 0-2 have 20 points (peer 2 hidden), peer 3 15, peer 4 10, Ananya and peer 5
    5 each (Ananya first: same time, lower id). At most 4 completions earn in a month."""
    events = [profile(ME, "Ananya Mehta"), completion(ME, 0)]
    for k, done in enumerate((4, 4, 4, 3, 2, 1)):
        learner = f"u-peer-{k}"
        events.append(profile(learner, f"Peer {k}"))
        events += [completion(learner, 100 + k * 10 + n) for n in range(done)]
    send(client, aws, events)
    response = client.http.put("/v1/learners/u-peer-2/preferences",
                               body=json.dumps({"language": "en", "leaderboard_visibility": "hidden"}).encode(),
                               headers={"Authorization": f"Bearer {token('u-peer-2', ('learner',), ORG)}"})
    assert response.status_code == 200
    return client


# --- my progress --------------------------------------------------------------------------------------------

def test_my_progress_shows_points_gains_ranks_badges_and_the_ledger_in_words(world):
    response = page(world, "/me")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    text = html(response)
    assert '<h1>My progress</h1>' in text and "Ananya Mehta" in text
    assert 'data-testid="points">5<' in text and "+5 this week, +5 this month" in text
    # 20, 15, 10, 5 (Ananya and peer 5): dense rank 4 in her org and nationally
    assert re.search(r'data-testid="rank-org-week">#4 ', text)
    assert re.search(r'data-testid="rank-national-all">#4', text)
    assert "new this week" in text  # no rank last week: a star, and words for screen readers
    assert "First Step" in text and 'href="/me/badges/first_course/credential"' in text
    assert "Committed Learner" in text and '<progress max="10" value="1">' in text  # next badge, 1 of 10
    assert "Course completed" in text and "Completed course &#39;Course number 0&#39;" in text and "+5 points" in text
    assert "rules of 2024-01" in text  # which rule version applied to each line (docs/rule-versions.md)
    assert " IST<" in text


def test_ranks_move_with_arrows_and_words_when_last_week_is_known(client, aws):
    last_week = NOW - timedelta(days=7)
    send(client, aws, [profile(ME, "Ananya Mehta"), profile("u-other", "Other"), completion(ME, 1, at=last_week),
                       completion("u-other", 2, at=last_week), completion("u-other", 3, at=last_week),
                       completion(ME, 4), completion(ME, 5), completion(ME, 6), completion("u-other", 7)])
    text = html(page(client, "/me"))
    # last week: other 10, Ananya 5 -> rank 2; this week Ananya 15, other 5 -> rank 1: up one place
    assert re.search(r'data-testid="rank-org-week">#1 <span class="up" aria-hidden="true">▲ 1</span>'
                     r'<span class="sr">up 1 since last week</span>', text)


def test_an_admin_without_a_learner_record_gets_a_page_not_an_error(world):
    response = page(world, "/me", sub="admin-1", roles=("national_admin",), org=None)
    assert response.status_code == 200 and "no learning record" in html(response)


def test_the_campaign_slot_renders_only_with_a_campaign():
    template = _environment().get_template("me.html")
    base = {"t": Translator("en"), "lang": "en", "title": "x", "path": "/me", "nav": [], "session": None,
            "csrf": "", "languages": {}, "here": "/me", "css": "", "js": "", "rank_rows": [], "periods": (),
            "next_badges": [], "credential_url": lambda *a: "", "ledger": [],
            "summary": {"name": "A", "learner_id": "a", "points": 0, "points_this_week": 0, "points_this_month": 0,
                        "courses_completed": 0, "learning_minutes": 0, "held_events": 0, "badges": [],
                        "claps": {"current": 0, "best": 0, "weekly_minutes_needed": 60}}}
    assert "<progress" not in template.render(**base, campaigns=[])
    shown = template.render(**base, campaigns=[
        {"name": "Mission Karmayogi Week", "minutes_done": 90, "minutes_goal": 240, "done": 90,
         "ends_at": "2026-12-01T18:30:00Z", "kind": "minutes"},
        {"name": "Mines <Week>", "minutes_done": 4, "minutes_goal": 4, "done": 5, "ends_at": None, "kind": "courses"}])
    assert '<progress max="240" value="90">' in shown and "90 of 240 minutes" in shown
    assert "Ends 2 Dec 2026, 12:00 am IST" in shown
    assert '<progress max="4" value="4">' in shown and "5 of 4 courses" in shown and "Mines &lt;Week&gt;" in shown


# --- leaderboard --------------------------------------------------------------------------------------------

def test_the_leaderboard_shows_the_top_and_my_neighbourhood_with_hidden_learners_anonymous(world):
    text = html(page(world, "/leaderboard?scope=org&period=week"))
    around = text.split('data-testid="around"')[1].split("</table>")[0]
    names = re.findall(r"<td>([^<]+?)(?: \(you\))?</td>", around)
    # the top three (peer 2 hidden), a gap, then the one above me, me and the one below
    assert names == ["Peer 0", "Peer 1", "A Karmayogi", "Peer 4", "Ananya Mehta", "Peer 5"]
    assert around.count('<tr class="gap"><td colspan="4">…</td></tr>') == 1
    assert '<tr class="me" aria-current="true">' in around and "(you)" in around
    assert "Peer 2" not in text
    top = text.split('data-testid="top"')[1].split("</table>")[0]
    assert top.count("<tr") == 1 + 7  # header and every ranked learner


def test_the_leaderboard_selectors_are_a_labelled_get_form_and_bad_values_are_a_400_page(world):
    text = html(page(world, "/leaderboard?scope=national&period=all"))
    assert '<form class="filters" method="get" action="/leaderboard">' in text
    assert '<label for="scope">' in text and '<option value="national" selected>' in text
    assert '<option value="all" selected>' in text
    bad = page(world, "/leaderboard?scope=org:someone-else")
    assert bad.status_code == 400 and "scope: must be one of org, national" in html(bad)


def test_names_are_escaped(client, aws):
    send(client, aws, [profile("u-evil", '<script>alert("x")</script>'), completion("u-evil", 1)])
    response = client.http.put("/v1/learners/u-evil/preferences",
                               body=json.dumps({"leaderboard_visibility": "public"}).encode(),
                               headers={"Authorization": f"Bearer {token('u-evil', ('learner',), ORG)}"})
    assert response.status_code == 200
    for path in ("/leaderboard?period=week", "/me"):
        text = html(page(client, path, sub="u-evil"))
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text and '<script>alert' not in text


# --- org boards ---------------------------------------------------------------------------------------------

@pytest.fixture
def org_world(client, aws):
    events = [org_event("org_big", "=Big Office"), org_event("org_small", "Small Office")]
    for n in range(12):
        events += [profile(f"u-big-{n}", f"Big {n}", org="org_big")]
        if n < 6:
            events.append(completion(f"u-big-{n}", n, org="org_big"))
    events += [profile("u-small-1", "Small 1", org="org_small"), completion("u-small-1", 99, org="org_small")]
    send(client, aws, events)
    return client


def test_org_boards_compare_by_size_with_a_chart_its_table_a_sortable_table_and_a_csv(org_world):
    text = html(page(org_world, "/orgs?period=week", sub="u-big-0", org="org_big"))
    assert "Size XS: 11 to 50 learners" in text and "1 small organisations are not shown." in text
    assert '<svg class="chart"' in text and "<title id=\"c0-chart-title\">Participation by organisation</title>" in text
    assert "<td>=Big Office</td><td class=\"num\">50%</td>" in text  # the chart's text alternative
    assert '<table data-sortable>' in text and 'aria-sort="ascending"' in text
    assert 'href="?period=week&amp;c0sort=name&amp;c0order=asc"' in text
    assert 'href="/orgs.csv?scope=national&amp;period=week&amp;metric=participation" download' in text
    csv = page(org_world, "/orgs.csv?scope=national&period=week&metric=participation", sub="u-big-0", org="org_big")
    assert csv.status_code == 200 and csv.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert csv.headers["Content-Disposition"].startswith('attachment; filename="org-board-national-week-')
    lines = csv.body.decode("utf-8").lstrip("\ufeff").splitlines()
    assert lines[0] == "size,rank,org_id,name,headcount,participants,points,hours,participation"
    assert lines[1].startswith("XS,1,org_big,'=Big Office,12,6,")  # a formula-looking name is neutralised


def test_the_sortable_table_sorts_on_the_server_without_javascript(org_world):
    text = html(page(org_world, "/orgs?period=week&c0sort=headcount&c0order=desc", sub="u-big-0", org="org_big"))
    assert re.search(r'<th scope="col" aria-sort="descending" class="num" data-numeric><a href="[^"]*c0order=asc"',
                     text)


# --- access -------------------------------------------------------------------------------------------------

def test_without_a_session_a_page_is_a_401_page_or_with_sign_in_configured_the_sign_in(client, aws, monkeypatch):
    response = page(client, "/me", cookie="")
    assert response.status_code == 401 and "Please sign in" in html(response)
    for bad in ("not-a-token", token(ME, ("learner",), ORG)):  # a bearer token is not a page session
        assert page(client, "/me", cookie=f"{sessions.SESSION_COOKIE}={bad}").status_code == 401
    expired = session_value(now=NOW.timestamp() - sessions.SESSION_SECONDS - 1)
    assert page(client, "/me", cookie=f"{sessions.SESSION_COOKIE}={expired}").status_code == 401
    monkeypatch.setattr(aws, "oidc", object())  # sign-in configured: through the provider again
    redirected = page(client, "/me", cookie="")
    assert redirected.status_code == 303 and redirected.headers["Location"] == "/login?next=%2Fme"


def test_a_learner_gets_a_403_page_for_admin_pages_and_sees_no_admin_link(world):
    response = page(world, "/admin")
    assert response.status_code == 403 and "You may not open this page" in html(response)
    assert "This page is for administrators of an organisation." in html(response)
    assert 'href="/admin"' not in html(page(world, "/me"))


def test_error_pages_speak_the_learners_language(client, aws):
    send(client, aws, [profile("u-hindi", "Rakesh Kumar", language="hi")])  # the platform's language for him
    response = page(client, "/admin", sub="u-hindi")
    assert response.status_code == 403 and "<h1>आप यह पेज नहीं खोल सकते</h1>" in html(response)
    assert "यह पेज संगठन के प्रशासकों के लिए है।" in html(response)


def test_admins_see_the_admin_page_and_the_admin_link(world):
    for roles, org, scope in ((("mdo_admin",), ORG, ORG), (("national_admin",), None, "every organisation")):
        response = page(world, "/admin", sub="admin-x", roles=roles, org=org)
        assert response.status_code == 200, html(response)
        assert f"You administer: {scope}" in html(response) and 'href="/admin" aria-current="page"' in html(response)


def test_every_page_is_small_self_contained_and_labelled(world):
    for path in ("/me", "/leaderboard", "/leaderboard?scope=national&period=all", "/orgs", "/admin"):
        roles = ("national_admin",) if path == "/admin" else ("learner",)
        response = page(world, path, roles=roles)
        assert response.status_code == 200, path
        text = html(response)
        assert len(response.body) < MAX_PAGE_BYTES, path
        assert not re.search(r'(src|href|action)="(https?:)?//', text), path  # nothing from elsewhere
        assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"
        ids = set(re.findall(r'<(?:select|input)[^>]* id="([^"]+)"', text))
        labelled = set(re.findall(r'<label for="([^"]+)"', text))
        assert ids <= labelled, (path, ids - labelled)
        assert text.count("<h1>") == 1


def test_garbage_in_queries_and_forms_never_makes_a_5xx(dev_routes, world):
    values = ["", "x" * 2000, "org:../../", "\u0000", "%", "week:2024-W99", "<b>"]
    for path in ("/me", "/leaderboard", "/orgs", "/orgs.csv", "/admin", "/signed-out"):  # sign-in: test_sign_in.py
        for value in values:
            query = urlencode({"scope": value, "period": value, "metric": value, "c0sort": value, "next": value})
            assert page(world, f"{path}?{query}").status_code < 500, (path, value)
    for path in ("/language", "/logout"):
        for value in values:
            assert page(world, path, method="POST", form={"csrf": value, "language": value, "sub": value}
                        ).status_code < 500


# --- language -----------------------------------------------------------------------------------------------

def test_switching_to_hindi_is_remembered_in_preferences_and_shows_hindi(world):
    text = html(page(world, "/me"))
    assert 'lang="en"' in text and "मेरी प्रगति" not in text
    response = page(world, "/language", method="POST",
                    form={"language": "hi", "csrf": csrf_of(text), "next": "/leaderboard?period=all"})
    assert response.status_code == 303 and response.headers["Location"] == "/leaderboard?period=all"
    assert "ke_lang=hi" in response.headers["Set-Cookie"]
    hindi = html(page(world, "/me"))  # no language cookie sent: the preference decides
    assert '<html lang="hi">' in hindi and "<h1>मेरी प्रगति</h1>" in hindi and "कर्म अंक" in hindi
    prefs = world.http.get(f"/v1/learners/{ME}/preferences",
                           headers={"Authorization": f"Bearer {token(ME, ('learner',), ORG)}"})
    assert {k: prefs.json_body[k] for k in ("language", "leaderboard_visibility")} == \
        {"language": "hi", "leaderboard_visibility": "org"}  # visibility kept


def test_the_language_form_needs_the_sessions_csrf_token_and_this_sites_origin(world):
    good = csrf_of(html(page(world, "/me")))
    assert page(world, "/language", method="POST", form={"language": "hi"}).status_code == 403
    assert page(world, "/language", method="POST", form={"language": "hi", "csrf": "0" * 40}).status_code == 403
    other = page(world, "/language", method="POST", form={"language": "hi", "csrf": good},
                 headers={"Origin": "https://evil.example", "Host": "engage.example"})
    assert other.status_code == 403
    # another learner's token cannot be used with this learner's session
    theirs = csrf_of(html(page(world, "/me", sub="u-peer-1")))
    assert page(world, "/language", method="POST", form={"language": "hi", "csrf": theirs}).status_code == 403
    assert page(world, "/language", method="POST", form={"language": "xx", "csrf": good}).status_code == 400
    ok = page(world, "/language", method="POST", form={"language": "hi", "csrf": good, "next": "//evil.example/"},
              headers={"Origin": "https://engage.example", "Host": "engage.example"})
    assert ok.status_code == 303 and ok.headers["Location"] == "/me"  # never a redirect to another site


def test_an_admin_without_a_record_keeps_the_language_in_a_cookie(world):
    response = page(world, "/admin", sub="admin-1", roles=("national_admin",), org=None,
                    cookie=session_cookie("admin-1", ("national_admin",), None) + "; ke_lang=hi")
    assert "<h1>प्रशासन</h1>" in html(response)


def test_hindi_has_every_english_string_with_the_same_placeholders():
    english, hindi = catalogue("en"), catalogue("hi")
    assert set(english) == set(hindi)
    for key, text in english.items():
        assert set(re.findall(r"{(\w+)}", text)) == set(re.findall(r"{(\w+)}", hindi[key])), key
    for code in ("ta", "bn"):  # partial catalogues: only keys English has, with the same placeholders
        strings = catalogue(code)
        assert set(strings) <= set(english), code
        assert all(set(re.findall(r"{(\w+)}", v)) == set(re.findall(r"{(\w+)}", english[k]))
                   for k, v in strings.items())
    assert {p.stem for p in LOCALES_DIR.glob("*.toml")} == {"en", "hi", "ta", "bn"}
    tomllib.loads((LOCALES_DIR / "hi.toml").read_text(encoding="utf-8"))


def test_numbers_use_indian_grouping_and_times_are_ist():
    t = Translator("hi")
    assert t.number(100000) == "1,00,000" and t.number(12345678) == "1,23,45,678"
    assert t.when("2026-11-26T20:00:00Z") == "27 नव॰ 2026, 1:30 am IST"
    assert Translator("en").percent(0.425) == "42.5%"
    assert Translator("mr").code == "en"  # no Marathi catalogue yet: English


# --- sign-in (the flow itself: tests/test_sign_in.py) ----------------------------------------------------

def test_sign_out_needs_the_csrf_token_and_clears_the_session(world):
    assert page(world, "/logout", method="POST", form={"csrf": "wrong"}).status_code == 403
    signed_out = page(world, "/logout", method="POST", form={"csrf": csrf_of(html(page(world, "/me")))})
    assert signed_out.status_code == 303 and signed_out.headers["Location"] == "/signed-out"  # no provider here
    assert "Max-Age=0" in signed_out.headers["Set-Cookie"]
    assert "Sign in again" in html(page(world, "/signed-out", cookie=""))


def test_the_session_cookie_is_secure_outside_the_local_stage():
    cookie = sessions.session_cookie("abc")
    assert cookie.startswith("ke_session=abc;") and "HttpOnly" in cookie and "Secure" in cookie
    assert "SameSite=Lax" in cookie


# --- the shared components -------------------------------------------------------------------------------

def test_form_errors_put_the_apis_message_under_the_field():
    error = bad_request("end_date", "must be after start_date")
    assert components.form_errors(error, ["name", "end_date"]) == {"end_date": "must be after start_date"}
    assert components.form_errors({"error": {"code": "invalid_request", "message": "is required",
                                             "field": "goal.minutes"}}, {"goal.minutes": "goal_minutes"}) \
        == {"goal_minutes": "is required"}
    assert components.form_errors(ApiError(409, "conflict", "already exists"), ["name"]) == {"_form": "already exists"}
    assert components.form_errors(bad_request("body", "is not valid JSON"), ["name"]) == {"_form": "is not valid JSON"}


def _render(source: str, **context) -> str:
    return _environment().from_string('{% import "components.html" as c %}' + source).render(**context)


def test_the_field_macro_shows_the_error_next_to_the_field_and_ties_them_together():
    errors = components.form_errors(bad_request("end_date", 'must be after <start_date>'), ["end_date"])
    text = _render('{{ c.error_summary(t, errors, {"end_date": "End date"}) }}'
                   '{{ c.field("end_date", "End date", errors, value="2024-01-01", type="date") }}'
                   '{{ c.field("name", "Name", errors, value="<x>") }}', t=Translator("en"), errors=errors)
    assert '<p class="error" id="end_date-error">must be after &lt;start_date&gt;</p>' in text
    assert 'aria-invalid="true" aria-describedby="end_date-error"' in text
    assert '<a href="#end_date">End date: must be after &lt;start_date&gt;</a>' in text
    assert 'id="name" name="name" type="text" value="&lt;x&gt;">' in text  # no error, value escaped


def test_the_bar_chart_scales_to_the_largest_value_and_carries_a_table():
    chart = components.bar_chart("Hours by day", [("Mon", 10), ("Tue", 5), ("Wed", 0)], lambda v: f"{v} h")
    assert [b.width for b in chart.bars] == [510, 255, 0] and [b.text for b in chart.bars] == ["10 h", "5 h", "0 h"]
    assert components.bar_chart("empty", []).bars == ()
    text = _render('{{ c.bar_chart(t, chart, "hours") }}', t=Translator("en"), chart=chart)
    assert 'role="img" aria-labelledby="hours-title"' in text and '<title id="hours-title">Hours by day</title>' in text
    assert '<rect x="0" y="26" width="510.0" height="18"></rect>' in text
    assert "<tr><td>Tue</td><td class=\"num\">5 h</td></tr>" in text


def test_sortable_orders_rows_and_links_each_header():
    columns = [components.Column("name", "orgs.org"), components.Column("value", "orgs.value", True)]
    rows = [{"name": "b", "value": 2}, {"name": "A", "value": None}, {"name": "c", "value": 3}]
    ordered, headers = components.sortable(rows, columns, {"sort": "value", "order": "desc", "x": "1"}, "name")
    assert [r["name"] for r in ordered] == ["c", "b", "A"]  # missing values last
    assert [h.aria_sort for h in headers] == ["none", "descending"]
    assert headers[1].href == "?x=1&sort=value&order=asc" and headers[0].href == "?x=1&sort=name&order=asc"
    ordered, _ = components.sortable(rows, columns, {"sort": "nonsense"}, "name")
    assert [r["name"] for r in ordered] == ["A", "b", "c"]


def test_csv_download_neutralises_formulas_and_names_the_file_safely():
    download = components.csv_download('report "x"/../.csv', ["name", "n"], [["=SUM(A1)", 1], ["राम", 2]])
    assert download.filename == "report-x-..-.csv"
    assert download.body == "\ufeffname,n\r\n'=SUM(A1),1\r\nराम,2\r\n"


def test_movement():
    assert components.movement(3, 5) == ("up", 2) and components.movement(5, 3) == ("down", 2)
    assert components.movement(2, 2) == ("same", 0) and components.movement(2, None) == ("new", 0)
    assert components.movement(None, 2) == ("", 0)


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_stylesheets_colours_pass_wcag_aa():
    text = (TEMPLATES / "pages.css").read_text(encoding="utf-8")
    rule = lambda selector: re.search(r"(?:^|\})\s*" + re.escape(selector) + r"\{([^}]*)\}", text).group(1)  # noqa: E731
    colour = lambda selector, prop="color": re.search(rf"(?:^|;){prop}:(#[0-9a-f]{{6}})", rule(selector)).group(1)  # noqa: E731
    white = "#ffffff"
    text_pairs = {  # (foreground, background): text needs 4.5:1
        "body text": (colour("html"), white),
        "links": (colour("a"), white),
        "header": (white, colour("header.top", "background")),
        "buttons": (white, colour("button", "background")),
        "muted": (colour(".muted"), white),
        "rank up": (colour(".up"), white),
        "rank down": (colour(".down"), white),
        "errors": (colour(".error"), white),
        "my row": (colour("html"), colour("tr.me", "background")),
        "chart labels": (colour("svg.chart text", "fill"), white),
    }
    for name, (fg, bg) in text_pairs.items():
        assert _contrast(fg, bg) >= 4.5, (name, fg, bg, _contrast(fg, bg))
    # controls and the chart's bars need 3:1 against the page
    for name, fg in {"input borders": re.search(r"border:2px solid (#[0-9a-f]{6})", rule("select,input,button")).group(1),
                     "bars": colour("svg.chart rect", "fill")}.items():
        assert _contrast(fg, white) >= 3, name
