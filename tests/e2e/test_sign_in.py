"""Signing in through the local OpenID provider (oidc-provider) in Chromium: a learner, an MDO admin and a national
admin each see what they may; signing out ends both sessions; a tampered state and an expired session."""
import json
import os
import subprocess
import sys
import urllib.request

from tests.e2e.conftest import PROJECT, sign_in

ANANYA = "5f1c2a9e-8d44-4b7a-9a6e-1c2d3e4f5a6b"  # learner, org_mines_hq


def session_cookie(context):
    return next(c for c in context.cookies() if c["name"] == "ke_session")


def test_a_learner_signs_in_through_the_provider_and_sees_only_learner_pages(page, context, stack):
    page.goto("/leaderboard")
    assert page.url.startswith(stack.oidc + "/interaction/")  # sent to the provider's sign-in page
    sign_in(page, ANANYA, "/leaderboard")
    cookie = session_cookie(context)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert len(cookie["value"]) < 600  # our own short session, not the provider's tokens
    assert page.locator("nav a[href='/admin']").count() == 0
    assert page.goto("/admin").status == 403
    assert page.goto("/me").status == 200


def test_an_mdo_admin_sees_their_org_and_a_national_admin_everything(browser, stack):
    for sub, org_text in (("admin-mines", "org_mines_hq"), ("admin", None)):
        ctx = browser.new_context(base_url=stack.url)
        try:
            page = ctx.new_page()
            sign_in(page, sub, "/admin")
            assert page.locator("h1").inner_text() == "Administration"
            assert page.locator("nav a[href='/admin']").count() == 1
            text = page.locator("main").inner_text()
            assert ("You administer: every organisation" in text) == (org_text is None), text
            if org_text:
                assert "Ministry of Mines" in text
        finally:
            ctx.close()


def test_signing_out_ends_our_session_and_the_providers(page, context, stack):
    sign_in(page, ANANYA)
    page.locator("form[action='/logout'] button").click()
    # the provider asks to confirm (no id_token_hint is kept: only client_id + post_logout_redirect_uri)
    page.locator("button[name='logout']").click()
    page.wait_for_url("**/signed-out")
    assert page.get_by_test_id("signed-out").is_visible()
    assert not [c for c in context.cookies() if c["name"] == "ke_session" and c["value"]]
    page.goto("/me")  # the provider's session ended too: its sign-in page again, not a silent sign-in
    assert page.url.startswith(stack.oidc + "/interaction/")


def test_a_tampered_state_is_a_clear_page_not_a_sign_in(page, stack):
    page.goto("/me")
    page.wait_for_url(stack.oidc + "/interaction/**")
    # the provider sends the browser back with code and state (a redirect chain the browser would follow): follow
    # it here up to the callback's address, then go there with the state changed
    held = []

    def hold(route):
        step = route.fetch(max_redirects=0)  # the sign-in form -> the provider's resume address
        back = page.context.request.get(step.headers["location"], max_redirects=0)  # resume -> our callback
        held.append(back.headers["location"])
        route.fulfill(status=200, body="held")

    page.route("**/interaction/*/login", hold)
    page.get_by_test_id(f"login-{ANANYA}").click()
    page.wait_for_load_state()
    assert "/auth/callback?" in held[0] and "state=" in held[0]
    response = page.goto(held[0].replace("state=", "state=x"))
    assert response.status == 400
    assert "does not belong to this sign-in" in page.get_by_test_id("error").inner_text()
    assert page.get_by_test_id("sign-in-again").is_visible()


def test_an_expired_session_goes_through_the_provider_again(page, context, stack):
    sign_in(page, ANANYA)
    cookie = session_cookie(context)
    # the same session, with its payload changed to have expired: the signature no longer matches either way
    head, payload, signature = cookie["value"].split(".")
    context.add_cookies([{**cookie, "value": f"{head}.{payload[:-4]}AAAA.{signature}"}])
    page.goto("/me")
    # the provider's session still holds: back signed in without picking anyone again
    page.wait_for_url("**/me")
    assert session_cookie(context)["value"] != cookie["value"]


def test_make_token_prints_an_access_token_from_the_provider_that_the_api_takes(stack):
    """What `make token` runs (local/dev_keys.py), against this stack's provider."""
    env = {**os.environ, "KARMAYOGI_OIDC_PORT": stack.oidc.rsplit(":", 1)[1]}
    out = subprocess.run([sys.executable, "-m", "local.dev_keys", "--sub", ANANYA, "--role", "learner", "--org",
                          "org_mines_hq"], cwd=PROJECT, env=env, capture_output=True, text=True, check=True)
    token = out.stdout.strip().splitlines()[-1]
    header = json.loads(__import__("base64").urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "RS256" and header["typ"] == "at+jwt"
    request = urllib.request.Request(f"{stack.url}/v1/learners/{ANANYA}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200 and json.load(response)["learner_id"] == ANANYA
