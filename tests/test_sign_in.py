"""Signing in through an OpenID provider (pages/login.py, identity/oidc.py), against an in-process provider made
here: its discovery document, JWKS and token endpoint answer through a requests transport adapter, with keys the
tests make. Every failure is a page with a clear message, never a 5xx (a provider that is down: a 503 page).
The real provider (oidc-provider, in Chromium) is tests/e2e/test_sign_in.py."""
from __future__ import annotations

import base64
import re
import hashlib
import json
import secrets
import time
from dataclasses import replace
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests

from chalicelib import settings
from chalicelib.errors import ApiError
from chalicelib.identity.oidc import ClaimMapping, OidcConfig, OidcProvider, bearer_verifier, claim_at
from chalicelib.identity.tokens import KeySet, TokenVerifier
from chalicelib.pages import session as sessions
from local.dev_keys import new_private_key, public_jwk
from tests.conftest import bearer

ISSUER = "https://id.example.gov.in/auth/realms/sunbird"
CLIENT = "karmayogi-engage"
SECRET = "pages-client-secret"
BASE = "https://engage.example.gov.in"
ME = "5f1c2a9e-8d44-4b7a-9a6e-1c2d3e4f5a6b"
ORG = "org_mines_hq"


class FakeProvider(requests.adapters.BaseAdapter):
    """Keycloak as far as a relying party can tell: discovery, JWKS, token endpoint (codes once only, PKCE S256
    checked, client_secret_basic), end_session_endpoint. `authorize` is what the browser's trip there does."""

    def __init__(self):
        super().__init__()
        self.key, self.kid = new_private_key(), "kc-1"
        self.published = [(self.key, self.kid)]
        self.codes: dict[str, dict] = {}
        self.down = False
        self.claims_override: dict = {}
        self.jwks_reads = 0

    def metadata(self):
        return {"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/protocol/openid-connect/auth",
                "token_endpoint": f"{ISSUER}/protocol/openid-connect/token",
                "jwks_uri": f"{ISSUER}/protocol/openid-connect/certs",
                "end_session_endpoint": f"{ISSUER}/protocol/openid-connect/logout",
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "code_challenge_methods_supported": ["S256"]}

    def authorize(self, location: str, claims: dict) -> dict:
        """The browser at the authorization endpoint, signed in as `claims`: the callback's query."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert location.startswith(self.metadata()["authorization_endpoint"] + "?")
        assert query["response_type"] == "code" and query["client_id"] == CLIENT
        assert query["code_challenge_method"] == "S256" and query["redirect_uri"] == f"{BASE}/auth/callback"
        assert "openid" in query["scope"].split()
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"challenge": query["code_challenge"], "nonce": query["nonce"], "claims": claims}
        return {"code": code, "state": query["state"]}

    def id_token(self, claims: dict, nonce: str, key=None, kid=None) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": CLIENT, "azp": CLIENT, "iat": now, "exp": now + 300, "nonce": nonce,
                "auth_time": now, **claims, **self.claims_override}
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    def send(self, request, **kwargs):
        if self.down:
            raise requests.ConnectionError("provider down")
        path = urlsplit(request.url).path
        meta = self.metadata()
        if request.url == f"{ISSUER}/.well-known/openid-configuration":
            return self._answer(request, 200, meta)
        if request.url == meta["jwks_uri"]:
            self.jwks_reads += 1
            return self._answer(request, 200, {"keys": [public_jwk(k, kid) for k, kid in self.published]})
        if request.url == meta["token_endpoint"]:
            form = {k: v[0] for k, v in parse_qs(request.body if isinstance(request.body, str)
                                                 else request.body.decode()).items()}
            basic = base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()
            if request.headers.get("Authorization") != f"Basic {basic}":
                return self._answer(request, 401, {"error": "invalid_client"})
            grant = self.codes.pop(form.get("code", ""), None)  # once only
            if grant is None:
                return self._answer(request, 400, {"error": "invalid_grant",
                                                   "error_description": "Code not valid"})
            challenge = base64.urlsafe_b64encode(hashlib.sha256(form["code_verifier"].encode()).digest()
                                                 ).rstrip(b"=").decode()
            if challenge != grant["challenge"]:
                return self._answer(request, 400, {"error": "invalid_grant", "error_description": "PKCE"})
            return self._answer(request, 200, {"access_token": "opaque-at", "token_type": "Bearer",
                                               "expires_in": 300,
                                               "id_token": self.id_token(grant["claims"], grant["nonce"])})
        return self._answer(request, 404, {"error": "not_found", "path": path})

    @staticmethod
    def _answer(request, status, body):
        response = requests.Response()
        response.status_code, response._content = status, json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        response.url, response.request = request.url, request
        return response

    def close(self):
        pass


def oidc_config(fake: FakeProvider, **changes) -> OidcConfig:
    def session():
        s = requests.Session()
        s.mount("https://id.example.gov.in", fake)
        return s
    config = OidcConfig(issuer=ISSUER, client_id=CLIENT, client_secret=lambda: SECRET,
                        redirect_uri=f"{BASE}/auth/callback", post_logout_redirect_uri=f"{BASE}/signed-out",
                        mapping=ClaimMapping(("realm_access.roles", "resource_access.{client_id}.roles"), "org_id",
                                             {"learner": "learner", "mdo_admin": "mdo_admin",
                                              "national_admin": "national_admin", "MDO_ADMIN": "mdo_admin"},
                                             CLIENT),
                        session_factory=session)
    return replace(config, **changes)


@pytest.fixture
def fake():
    return FakeProvider()


@pytest.fixture
def signed(client, aws, fake, monkeypatch):
    """The app with sign-in through the fake provider."""
    monkeypatch.setattr(aws, "oidc", OidcProvider(oidc_config(fake)))
    return client


def get(client, path, cookie=""):
    return client.http.get(path, headers={"Cookie": cookie}, authorization=None)


def cookies_of(response) -> dict[str, str]:
    raw = response.headers.get("Set-Cookie")
    values = raw if isinstance(raw, list) else [raw] if raw else []
    return {v.split("=", 1)[0]: v for v in values}


def start(client, next_path="/me"):
    response = get(client, f"/login?{urlencode({'next': next_path})}")
    assert response.status_code == 303, response.body
    pending = cookies_of(response)[sessions.SIGN_IN_COOKIE]
    assert "HttpOnly" in pending and "SameSite=Lax" in pending and "Max-Age=600" in pending
    return response.headers["Location"], pending.split(";")[0]


def sign_in(client, fake, claims, next_path="/me", tamper=None):
    location, pending = start(client, next_path)
    query = fake.authorize(location, claims)
    if tamper:
        query = tamper(query)
    return get(client, f"/auth/callback?{urlencode(query)}", cookie=pending)


def body(response) -> str:
    import html
    return html.unescape(response.body.decode())


LEARNER = {"sub": ME, "realm_access": {"roles": ["offline_access", "learner"]}, "org_id": ORG}


# --- the flow ------------------------------------------------------------------------------------------------

def test_a_learner_signs_in_with_pkce_state_and_nonce_and_gets_our_own_short_session(signed, fake):
    response = sign_in(signed, fake, LEARNER, "/leaderboard")
    assert response.status_code == 303 and response.headers["Location"] == "/leaderboard"
    set_cookies = cookies_of(response)
    session = set_cookies[sessions.SESSION_COOKIE]
    assert all(part in session for part in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/",
                                            f"Max-Age={sessions.SESSION_SECONDS}"))
    assert "Max-Age=0" in set_cookies[sessions.SIGN_IN_COOKIE]  # the sign-in state is spent
    value = session.split(";")[0].split("=", 1)[1]
    assert "opaque-at" not in value and len(value) < 400  # ours, not the provider's tokens
    claims = jwt.decode(value, options={"verify_signature": False})
    assert (claims["sub"], claims["org"], claims["roles"]) == (ME, ORG, ["learner"])
    assert claims["exp"] - claims["iat"] == sessions.SESSION_SECONDS
    admin = get(signed, "/admin", cookie=session.split(";")[0])
    assert admin.status_code == 403  # a learner


def test_admins_land_on_the_admin_page_with_roles_from_realm_or_client_roles(signed, fake):
    mdo = sign_in(signed, fake, {"sub": "admin-mines", "realm_access": {"roles": ["MDO_ADMIN"]}, "org_id": ORG})
    assert mdo.headers["Location"] == "/me"  # next given
    mdo = sign_in(signed, fake, {"sub": "admin-mines", "realm_access": {"roles": ["MDO_ADMIN"]}, "org_id": ORG},
                  next_path="")
    assert mdo.headers["Location"] == "/admin"
    national = sign_in(signed, fake, {"sub": "admin", "resource_access": {CLIENT: {"roles": ["national_admin"]}}},
                       next_path="")
    assert national.status_code == 303 and national.headers["Location"] == "/admin"
    cookie = cookies_of(national)[sessions.SESSION_COOKIE].split(";")[0]
    assert get(signed, "/admin", cookie=cookie).status_code == 200


def test_claims_map_to_roles_and_org_by_configuration():
    mapping = ClaimMapping(("realm_access.roles", "resource_access.{client_id}.roles", "groups"), "attributes.org",
                           {"learner": "learner", "igot-mdo-admin": "mdo_admin", "national_admin": "national_admin"},
                           "my.client")
    p = mapping.principal({"sub": "u1", "realm_access": {"roles": ["igot-mdo-admin"]}, "attributes": {"org": "o1"}})
    assert (p.sub, p.org_id, p.roles) == ("u1", "o1", frozenset({"mdo_admin"}))
    p = mapping.principal({"sub": "u2", "resource_access": {"my.client": {"roles": ["national_admin"]}}})
    assert p.roles == frozenset({"national_admin"}) and p.org_id is None  # a national admin needs no org
    p = mapping.principal({"sub": "u3", "groups": ["mdo_admin", 7], "attributes": {"org": "o3"}})
    assert p.roles == frozenset({"learner"})  # "mdo_admin" is not a configured name here: none of ours
    with pytest.raises(ApiError) as missing:
        mapping.principal({"sub": "u4", "realm_access": {"roles": ["igot-mdo-admin"]}})
    assert missing.value.status == 403 and "organisation" in missing.value.message
    assert claim_at({"https://igot/org": "x"}, "https://igot/org") == "x"
    assert settings.oidc_role_map()["national_admin"] == "national_admin"


def test_no_org_in_the_claims_is_a_clear_403_page(signed, fake):
    response = sign_in(signed, fake, {"sub": ME, "realm_access": {"roles": ["learner"]}})
    assert response.status_code == 403
    assert "does not say which organisation" in body(response) and 'href="/login"' in body(response)
    assert sessions.SESSION_COOKIE not in cookies_of(response)


# --- every failure is a page ----------------------------------------------------------------------------

def test_the_provider_being_down_is_a_503_page(signed, fake, aws):
    fake.down = True
    response = get(signed, "/login")
    assert response.status_code == 503 and "not answering" in body(response)
    fake.down = False
    location, pending = start(signed)
    query = fake.authorize(location, LEARNER)
    fake.down = True
    response = get(signed, f"/auth/callback?{urlencode(query)}", cookie=pending)
    assert response.status_code == 503 and "not answering" in body(response)


def test_a_wrong_or_missing_state_is_a_400_page(signed, fake):
    wrong = sign_in(signed, fake, LEARNER, tamper=lambda q: {**q, "state": q["state"] + "x"})
    assert wrong.status_code == 400 and "does not belong to this sign-in" in body(wrong)
    other_issuer = sign_in(signed, fake, LEARNER, tamper=lambda q: {**q, "iss": "https://evil.example"})
    assert other_issuer.status_code == 400 and "another sign-in service" in body(other_issuer)
    assert sign_in(signed, fake, LEARNER, tamper=lambda q: {**q, "iss": ISSUER}).status_code == 303
    location, _ = start(signed)
    no_cookie = get(signed, f"/auth/callback?{urlencode(fake.authorize(location, LEARNER))}")
    assert no_cookie.status_code == 400 and "expired or was started in another browser" in body(no_cookie)
    location, pending = start(signed)
    forged = pending[:-3] + "abc"
    assert get(signed, f"/auth/callback?{urlencode(fake.authorize(location, LEARNER))}",
               cookie=forged).status_code == 400


def test_an_expired_sign_in_state_is_a_400_page(signed, fake, monkeypatch):
    location, pending = start(signed)
    query = fake.authorize(location, LEARNER)
    import app as app_module
    from datetime import datetime, timedelta, timezone
    later = datetime.now(timezone.utc) + timedelta(seconds=sessions.SIGN_IN_SECONDS + 1)
    monkeypatch.setattr(app_module, "_now", lambda: later)
    response = get(signed, f"/auth/callback?{urlencode(query)}", cookie=pending)
    assert response.status_code == 400 and "has expired or was started in another browser" in body(response)


def test_a_replayed_code_is_a_400_page(signed, fake):
    location, pending = start(signed)
    query = fake.authorize(location, LEARNER)
    assert get(signed, f"/auth/callback?{urlencode(query)}", cookie=pending).status_code == 303
    again = get(signed, f"/auth/callback?{urlencode(query)}", cookie=pending)
    assert again.status_code == 400 and "already used or has expired" in body(again)


def test_the_providers_error_answer_is_a_page(signed, fake):
    _, pending = start(signed)
    denied = get(signed, "/auth/callback?error=access_denied&error_description=User+cancelled&state=x",
                 cookie=pending)
    assert denied.status_code == 403 and "User cancelled" in body(denied)
    assert get(signed, "/auth/callback?state=x", cookie=pending).status_code == 400


@pytest.mark.parametrize("override, says", [
    ({"aud": "another-client", "azp": "another-client"}, "for another application"),
    ({"azp": "another-client"}, "for another application"),
    ({"iss": "https://evil.example/realms/x"}, "from another issuer"),
    # Times as offsets from when the test runs, not from collection (a long suite outlived a +600 s "future")
    ({"exp": -120}, "has expired"),  # beyond the 60 s leeway
    ({"iat": 600, "exp": 900}, "in the future"),
    ({"nonce": "not-ours"}, "does not belong to this sign-in"),
    ({"nonce": None}, "no 'nonce' claim"),
    ({"sub": None}, "no 'sub' claim"),
    ({"exp": None}, "no 'exp' claim"),
])
def test_a_wrong_id_token_is_a_400_page(signed, fake, override, says):
    now = int(time.time())
    fake.claims_override = {k: now + v if k in ("iat", "exp") and v is not None else v for k, v in override.items()}
    response = sign_in(signed, fake, LEARNER)
    assert response.status_code == 400, body(response)
    assert says in body(response), re.search(r"data-testid=\"error\">(.*?)</p>", body(response)).group(1)
    assert sessions.SESSION_COOKIE not in cookies_of(response)


def test_clock_skew_within_the_leeway_is_accepted(signed, fake):
    fake.claims_override = {"iat": int(time.time()) + 30, "exp": int(time.time()) + 40}
    assert sign_in(signed, fake, LEARNER).status_code == 303
    fake.claims_override = {"exp": int(time.time()) - 30}
    assert sign_in(signed, fake, LEARNER).status_code == 303


def test_a_token_signed_by_another_key_is_refused_and_a_rotated_key_is_fetched(signed, fake, aws):
    assert sign_in(signed, fake, LEARNER).status_code == 303  # keys cached now
    stranger = new_private_key()
    original = fake.id_token
    fake.id_token = lambda claims, nonce: original(claims, nonce, key=stranger, kid=fake.kid)
    refused = sign_in(signed, fake, LEARNER)
    assert refused.status_code == 400 and "signature" in body(refused)
    # the provider rotates: a new key with a new kid; the cached set does not have it, so it is read again
    new_key, reads = new_private_key(), fake.jwks_reads
    fake.published.append((new_key, "kc-2"))
    fake.id_token = lambda claims, nonce: original(claims, nonce, key=new_key, kid="kc-2")
    aws.oidc._jwks_at -= 31  # past the 30 s floor between forced reloads
    assert sign_in(signed, fake, LEARNER).status_code == 303
    assert fake.jwks_reads == reads + 1


def test_garbage_at_the_sign_in_routes_never_makes_a_5xx(signed, fake):
    _, pending = start(signed)
    for value in ["", "x" * 2000, "\u0000", "%", "<b>", "//evil.example"]:
        query = urlencode({"code": value, "state": value, "next": value, "error": "", "iss": value})
        for cookie in ("", pending, f"{sessions.SIGN_IN_COOKIE}={value}"):
            assert get(signed, f"/auth/callback?{query}", cookie=cookie).status_code < 500
        login = get(signed, f"/login?{query}")
        assert login.status_code == 303 and login.headers["Location"].startswith(ISSUER)


def test_a_next_to_another_site_is_not_followed(signed, fake):
    response = sign_in(signed, fake, LEARNER, next_path="//evil.example/x")
    assert response.status_code == 303 and response.headers["Location"] == "/me"


# --- sign-out, session expiry ---------------------------------------------------------------------------

def test_sign_out_clears_our_session_and_ends_the_providers(signed, fake):
    cookie = cookies_of(sign_in(signed, fake, LEARNER))[sessions.SESSION_COOKIE].split(";")[0]
    csrf = sessions.csrf_token(cookie.split("=", 1)[1])
    response = signed.http.post("/logout", headers={"Cookie": cookie,
                                                    "Content-Type": "application/x-www-form-urlencoded"},
                                body=urlencode({"csrf": csrf}).encode(), authorization=None)
    assert response.status_code == 303 and "Max-Age=0" in response.headers["Set-Cookie"]
    location = response.headers["Location"]
    assert location.startswith(fake.metadata()["end_session_endpoint"] + "?")
    assert parse_qs(urlsplit(location).query) == {"client_id": [CLIENT],
                                                  "post_logout_redirect_uri": [f"{BASE}/signed-out"]}
    fake.down = True  # the provider unreachable: our session still ends
    response = signed.http.post("/logout", headers={"Cookie": cookie,
                                                    "Content-Type": "application/x-www-form-urlencoded"},
                                body=urlencode({"csrf": csrf}).encode(), authorization=None)
    assert response.status_code == 303


def test_an_expired_or_altered_session_sends_the_person_through_the_provider_again(signed, fake, monkeypatch):
    cookie = cookies_of(sign_in(signed, fake, LEARNER))[sessions.SESSION_COOKIE].split(";")[0]
    assert get(signed, "/admin", cookie=cookie).status_code == 403  # a session (a learner's)
    real, later = time.time, time.time() + sessions.SESSION_SECONDS + 1
    monkeypatch.setattr(sessions.time, "time", lambda: later)
    expired = get(signed, "/admin", cookie=cookie)
    assert expired.status_code == 303 and expired.headers["Location"] == "/login?next=%2Fadmin"
    monkeypatch.setattr(sessions.time, "time", real)
    altered = get(signed, "/admin", cookie=cookie[:-2] + "xx")
    assert altered.status_code == 303


def test_the_session_keys_rotate_the_first_signing(monkeypatch):
    from types import SimpleNamespace
    from chalicelib.identity.tokens import Principal
    person = Principal(ME, ORG, frozenset({"learner"}))
    old = sessions.issue_session(person, SimpleNamespace(session_secrets=lambda: ["old"]))
    rotated = SimpleNamespace(session_secrets=lambda: ["new", "old"])
    assert sessions.unsign(old, rotated, "session")["sub"] == ME
    assert sessions.unsign(old, SimpleNamespace(session_secrets=lambda: ["new"]), "session") is None
    assert sessions.unsign(old, rotated, "sign-in") is None  # a session is not a sign-in state


def test_the_sign_out_form_may_be_redirected_to_the_provider(monkeypatch):
    from chalicelib.pages import web
    monkeypatch.setattr(settings, "OIDC_ISSUER", ISSUER)
    web.assets.cache_clear()
    try:
        assert "form-action 'self' https://id.example.gov.in;" in web.assets()["policy"]
    finally:
        monkeypatch.undo()
        web.assets.cache_clear()


# --- bearer tokens from the same provider (the mobile app) ------------------------------------------------

def access_token(fake, **claims) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": ["karmayogi-engage", "account"], "azp": "igot-mobile", "sub": ME, "iat": now,
            "exp": now + 300, "realm_access": {"roles": ["learner"]}, "org_id": ORG, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, fake.key, algorithm="RS256",
                      headers={"kid": fake.kid})


def test_the_api_takes_the_providers_access_tokens_and_still_its_own(fake):
    from chalicelib.bootstrap import bearer_tokens
    provider = OidcProvider(oidc_config(fake))
    verifier = bearer_tokens(KeySet(settings.jwks), provider)
    p = verifier.principal(f"Bearer {access_token(fake)}")
    assert (p.sub, p.org_id, p.roles) == (ME, ORG, frozenset({"learner"}))
    admin = verifier.principal(f"Bearer {access_token(fake, realm_access={'roles': ['MDO_ADMIN']})}")
    assert admin.roles == frozenset({"mdo_admin"})
    assert verifier.principal(bearer(ME, ("learner",), ORG)["Authorization"]).sub == ME  # today's tokens
    for bad, says in ((access_token(fake, aud="account"), "another audience"),
                      (access_token(fake, exp=int(time.time()) - 120), "expired"),
                      (access_token(fake, org_id=None), "which org"),
                      (access_token(fake, iss="https://evil.example"), "a key we do not know")):
        with pytest.raises(ApiError) as refused:
            verifier.principal(f"Bearer {bad}")
        assert refused.value.status == 401 and says in refused.value.message, (says, refused.value.message)


def test_an_api_call_with_a_providers_access_token(client, aws, fake, monkeypatch):
    provider = OidcProvider(oidc_config(fake))
    monkeypatch.setattr(aws, "tokens", TokenVerifier(KeySet(settings.jwks), settings.JWT_ISSUER,
                                                     settings.JWT_AUDIENCE,
                                                     others=(bearer_verifier(provider, "karmayogi-engage"),)))
    response = client.http.get(f"/v1/learners/{ME}", headers={"Authorization": f"Bearer {access_token(fake)}"},
                               authorization=None)
    assert response.status_code == 404, response.body  # authenticated as the learner; there is no record for them yet
    other = client.http.get("/v1/learners/someone-else", headers={"Authorization": f"Bearer {access_token(fake)}"},
                            authorization=None)
    assert other.status_code == 403
