"""A learner in a real browser: points and rank change after a signed webhook, the language switch, no admin
pages; and the pages fit a 360 px phone. Run with `make test-e2e` (starts its own local stack)."""
import json
import urllib.request
import uuid
from datetime import datetime, timezone

from chalicelib.ingestion.signature import HEADER, sign
from tests.conftest import fixture_event
from tests.e2e.conftest import screenshots, sign_in

IDLE_LEARNER = "u-0005"  # Sourav Das: seeded with no activity (local/seed.py ROSTER)
ANANYA = "5f1c2a9e-8d44-4b7a-9a6e-1c2d3e4f5a6b"
RAKESH = "u-0001"


def post_completions(stack, learner_id: str, count: int) -> None:
    """Signed course.completed events, as the platform sends them (the stack's own webhook secret)."""
    events = []
    for n in range(count):
        event = fixture_event("course.completed")
        event.update(id=f"evt_e2e_{uuid.uuid4().hex}", occurred_at=datetime.now(timezone.utc).isoformat())
        event["learner"] = {"id": learner_id, "org_id": "org_mines_hq"}
        event["course"] = {**event["course"], "id": f"do_{uuid.uuid4().int % 10**20:020d}", "name": f"E2E course {n}"}
        event.pop("acbp")
        events.append(event)
    body = json.dumps(events).encode()
    request = urllib.request.Request(f"{stack.url}/v1/events", data=body, method="POST", headers={
        "Content-Type": "application/json", HEADER: sign(body, stack.webhook_secret, int(datetime.now().timestamp()))})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
        assert all(r["status"] == "accepted" for r in json.load(response)["results"])


def points(page) -> int:
    return int(page.get_by_test_id("points").inner_text().replace(",", ""))


def test_a_learner_sees_points_and_rank_change_after_a_signed_completion(page, stack):
    sign_in(page, IDLE_LEARNER)
    before_points = points(page)
    before_rank = page.get_by_test_id("rank-org-week").inner_text()
    screenshots(page, "me-before-webhook")
    post_completions(stack, IDLE_LEARNER, 2)  # completion + passed assessment, twice: +20
    deadline = datetime.now().timestamp() + 20
    while points(page) == before_points and datetime.now().timestamp() < deadline:
        page.wait_for_timeout(300)  # the stack's pump scores within about a second
        page.reload()
    assert points(page) == before_points + 20
    after_rank = page.get_by_test_id("rank-org-week").inner_text()
    assert after_rank != before_rank and after_rank.startswith("#"), (before_rank, after_rank)
    screenshots(page, "me-after-webhook")


def test_the_language_switch_shows_hindi_and_is_remembered(page, context):
    sign_in(page, ANANYA)
    page.locator("#language").select_option("en")  # her platform language is Hindi: start from English
    page.locator("form[action='/language'] button").click()
    assert page.locator("h1").inner_text() == "My progress"
    page.locator("#language").select_option("hi")
    page.locator("form[action='/language'] button").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "hi"
    assert page.locator("h1").inner_text() == "मेरी प्रगति"
    screenshots(page, "me-hindi")
    # remembered in the learner's preferences: a fresh browser (no language cookie) shows Hindi too
    fresh = context.browser.new_context(base_url=page.url.split("/me")[0], viewport={"width": 360, "height": 800})
    other = fresh.new_page()
    sign_in(other, ANANYA)
    assert other.locator("h1").inner_text() == "मेरी प्रगति"
    page.locator("#language").select_option("en")  # leave Ananya as the other tests expect her
    page.locator("form[action='/language'] button").click()
    fresh.close()


def test_a_learner_cannot_open_an_admin_page(page):
    sign_in(page, RAKESH)
    assert page.locator("nav a[href='/admin']").count() == 0
    response = page.goto("/admin")
    assert response.status == 403
    assert page.get_by_test_id("error").is_visible()
    screenshots(page, "admin-403-for-a-learner")


def test_the_pages_fit_a_phone_and_a_desktop(page):
    sign_in(page, ANANYA)
    for path, name in (("/me", "me"), ("/leaderboard?scope=org&period=month", "leaderboard"),
                       ("/orgs?period=all", "orgs")):
        page.goto(path)
        assert page.locator("h1").count() == 1
        size = len(page.content().encode())
        print(f"{path}: {size:,} bytes of HTML")
        assert size < 100 * 1024, path
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, (path, overflow)
        screenshots(page, name)
    page.keyboard.press("Tab")  # the skip link comes first and is visible when focused
    assert page.evaluate("document.activeElement.className") == "skip"


def test_the_org_table_sorts_in_place_with_javascript(page):
    sign_in(page, ANANYA, "/orgs")
    page.goto("/orgs?period=all")
    table = page.locator("table[data-sortable]").first
    header = table.locator("th").nth(2)  # learners (headcount)
    header.locator("a").click()
    assert page.url.endswith("/orgs?period=all")  # no reload: sorted by the script
    assert header.get_attribute("aria-sort") == "descending"
    counts = [int(c.replace(",", "")) for c in table.locator("tbody tr td:nth-child(3)").all_inner_texts()]
    assert counts == sorted(counts, reverse=True) and len(counts) >= 2
    header.locator("a").click()
    assert header.get_attribute("aria-sort") == "ascending"
    counts = [int(c.replace(",", "")) for c in table.locator("tbody tr td:nth-child(3)").all_inner_texts()]
    assert counts == sorted(counts)
