"""An admin in a real browser: creates a campaign through the form (a bad end date is shown next to the field
first), watches its dashboard update as a signed completion webhook arrives for a not-started employee, sees
that a reminder is queued, and downloads the report as CSV. Run with `make test-e2e`."""
from datetime import datetime, timedelta, timezone

from tests.e2e.conftest import screenshots, sign_in
from tests.e2e.test_learner_pages import post_completions

ADMIN = "admin-mines"  # mdo_admin of org_mines_hq (local/dev_routes.py DEMO_ADMINS)
IST = timezone(timedelta(hours=5, minutes=30))
UPDATE_SECONDS = 20  # the stack's pump scores within about a second; generous for a loaded 2-core CI runner


def ist(moment: datetime) -> str:
    return moment.astimezone(IST).strftime("%Y-%m-%dT%H:%M")


def figure(page, testid: str) -> int:
    return int(page.get_by_test_id(testid).inner_text().replace(",", ""))


def test_an_admin_creates_a_campaign_watches_its_dashboard_and_downloads_the_report(page, stack, tmp_path):
    sign_in(page, ADMIN, "/admin")
    page.get_by_test_id("new-campaign").click()
    now = datetime.now(timezone.utc)
    page.fill("#name", "E2E Karmayogi Saptah")
    page.select_option("#scope", "org:org_mines_hq")
    page.fill("#start", ist(now - timedelta(hours=1)))
    page.fill("#end", ist(now - timedelta(hours=2)))  # before the start
    page.check("#publish")
    page.get_by_test_id("create").click()

    # the API's error, next to the end field, and in the summary at the top; what was typed is kept
    error = page.locator("#end-error")
    assert error.inner_text() == "must be after start"
    assert page.locator("#end").get_attribute("aria-invalid") == "true"
    assert page.locator("#error-summary a[href='#end']").is_visible()
    assert page.locator("#name").input_value() == "E2E Karmayogi Saptah"
    size = len(page.content().encode())
    print(f"create form with an error: {size:,} bytes of HTML")
    assert size < 100 * 1024
    screenshots(page, "admin-campaign-form-error")

    page.fill("#end", ist(now + timedelta(days=1)))
    page.get_by_test_id("create").click()
    page.wait_for_url("**/admin/campaigns/cmp-*")
    assert page.get_by_test_id("campaign-name").inner_text() == "E2E Karmayogi Saptah"
    before = figure(page, "participants")
    completions = figure(page, "completions")
    employee = page.locator("[data-testid=not-started] button[name=learner_ids]").first.get_attribute("value")

    # a signed completion for a not-started employee of the org: the dashboard counts them
    post_completions(stack, employee, 1)
    deadline = datetime.now().timestamp() + UPDATE_SECONDS
    while figure(page, "participants") == before and datetime.now().timestamp() < deadline:
        page.wait_for_timeout(500)
        page.reload()
    assert figure(page, "participants") == before + 1
    assert figure(page, "completions") == completions + 1
    assert page.locator(f"[data-testid=not-started] button[value='{employee}']").count() == 0
    assert page.locator("svg.chart rect").count() >= 1  # today's bar
    size = len(page.content().encode())
    print(f"dashboard: {size:,} bytes of HTML")
    assert size < 100 * 1024
    screenshots(page, "admin-campaign-dashboard")

    # the report as CSV
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the report").click()
    saved = tmp_path / "report.csv"
    download.value.save_as(saved)
    lines = saved.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("org_id,name,headcount,participants,goal_met")
    assert any(line.startswith("org_mines_hq,") for line in lines[1:]), lines

    # a reminder to a not-started employee goes through the notification outbox (and its caps)
    page.locator("[data-testid=not-started] button[name=learner_ids]").first.click()
    page.wait_for_url("**reminded=*")
    assert page.get_by_role("heading", level=1).count() == 1
