"""Webhook secrets and token signing keys from SSM Parameter Store (moto), as in AWS: read at most once per TTL,
rotated without rebuilding the adapters (no redeploy), and a failed read never takes the service down when it
has a value to go on with. The clock is the adapters' own, so the tests move it instead of sleeping."""
import json

import pytest

from chalicelib import bootstrap, settings
from chalicelib.parameters import Cached, SecretUnavailable, split_secrets
from local.dev_keys import mint, new_private_key, public_jwk
from tests.conftest import TEST_KEY, TEST_KID, bearer, signed_headers
from tests.openapi_check import assert_matches_spec

TTL = 60
SECRETS_PARAMETER, JWKS_PARAMETER = "/karmayogi/test/webhook-secrets", "/karmayogi/test/jwks"
OLD, NEW = "ssm-secret-old", "ssm-secret-new"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float = TTL + 1) -> None:
        self.now += seconds


class Counter:
    def __init__(self):
        self.by_name: dict[str, int] = {}

    def __call__(self, params, **_):
        self.by_name[params["Name"]] = self.by_name.get(params["Name"], 0) + 1


@pytest.fixture
def ssm(aws):
    return bootstrap._ssm_client()


@pytest.fixture
def reads(ssm):
    """How often each parameter was read (GetParameter calls, counted by botocore before they are sent)."""
    counter = Counter()
    ssm.meta.events.register("provide-client-params.ssm.GetParameter", counter, unique_id="count-reads")
    yield counter.by_name
    ssm.meta.events.unregister("provide-client-params.ssm.GetParameter", unique_id="count-reads")


def put(ssm, name, value, secure=True):
    ssm.put_parameter(Name=name, Value=value, Type="SecureString" if secure else "String", Overwrite=True)


def jwks(*pairs) -> str:
    return json.dumps({"keys": [public_jwk(key, kid) for key, kid in pairs]})


@pytest.fixture
def wired(aws, client, monkeypatch):
    """Rewire the running app as a deployed stage is: secrets from SSM (the setting picks the adapter)."""
    clock = Clock()

    def wire():
        monkeypatch.setenv("KARMAYOGI_SECRETS_SOURCE", "ssm")
        monkeypatch.setenv("KARMAYOGI_WEBHOOK_SECRETS_PARAMETER", SECRETS_PARAMETER)
        monkeypatch.setenv("KARMAYOGI_JWKS_PARAMETER", JWKS_PARAMETER)
        monkeypatch.setenv("KARMAYOGI_SECRETS_TTL_SECONDS", str(TTL))
        # Not in SSM mode: the environment's values must not be what makes the tests pass.
        monkeypatch.delenv("KARMAYOGI_WEBHOOK_SECRETS")
        monkeypatch.delenv("KARMAYOGI_JWKS")
        adapters = bootstrap.aws_adapters(clock=clock)
        bootstrap.use(adapters)
        return adapters
    return clock, wire


def post_event(client, n: int, secret: str):
    event = {"id": f"evt_ssm_{n}", "type": "learner.first_login", "occurred_at": "2024-10-21T10:15:00+05:30",
             "learner": {"id": "u-ssm", "org_id": "org_a"}}
    body = json.dumps(event).encode()
    response = client.http.post("/v1/events", body=body, headers=signed_headers(body, secret))
    assert_matches_spec("/v1/events", "post", response.status_code, response.json_body)
    return response.status_code


def badges(client, authorization):
    response = client.http.get("/v1/badges", headers={"Authorization": authorization})
    assert_matches_spec("/v1/badges", "get", response.status_code, response.json_body)
    return response.status_code


# --- the webhook secrets ---------------------------------------------------------------------------------

def test_webhook_secrets_come_from_ssm_and_rotate_without_a_redeploy(ssm, reads, client, wired):
    clock, wire = wired
    put(ssm, SECRETS_PARAMETER, OLD)
    put(ssm, JWKS_PARAMETER, jwks((TEST_KEY, TEST_KID)), secure=False)
    wire()
    assert post_event(client, 1, OLD) == 202
    assert post_event(client, 2, NEW) == 401
    assert post_event(client, 3, "test-secret-new") == 401  # the environment's secret means nothing here

    # rotation, step 1: the new secret is added; within the TTL the cached value still holds
    put(ssm, SECRETS_PARAMETER, f"{NEW}, {OLD}")
    assert post_event(client, 4, NEW) == 401
    clock.advance()
    assert post_event(client, 5, NEW) == 202 and post_event(client, 6, OLD) == 202

    # step 2: the old one is removed; it works until the cache runs out, then never again
    put(ssm, SECRETS_PARAMETER, NEW)
    assert post_event(client, 7, OLD) == 202
    clock.advance()
    assert post_event(client, 8, OLD) == 401 and post_event(client, 9, NEW) == 202
    assert reads[SECRETS_PARAMETER] == 3  # one read per TTL, for nine requests


def test_a_flood_of_bad_signatures_reads_ssm_once_per_ttl(ssm, reads, client, wired):
    clock, wire = wired
    put(ssm, SECRETS_PARAMETER, OLD)
    wire()
    for n in range(30):
        assert post_event(client, n, f"forged-{n}") == 401
    assert reads[SECRETS_PARAMETER] == 1
    clock.advance()
    for n in range(30, 40):
        assert post_event(client, n, f"forged-{n}") == 401
    assert reads[SECRETS_PARAMETER] == 2


def test_a_failed_read_keeps_the_last_secrets_and_without_any_the_webhook_answers_5xx(ssm, reads, client, wired):
    clock, wire = wired
    wire()  # no parameter yet: nothing to check signatures against
    assert post_event(client, 1, OLD) == 500
    assert post_event(client, 2, OLD) == 500
    assert reads[SECRETS_PARAMETER] == 1  # a failed read is not retried on every request...
    put(ssm, SECRETS_PARAMETER, OLD)
    clock.advance(6)  # ...but soon (5 s), not only after the TTL
    assert post_event(client, 3, OLD) == 202
    ssm.delete_parameter(Name=SECRETS_PARAMETER)  # e.g. throttled, denied or deleted by mistake
    clock.advance()
    assert post_event(client, 4, OLD) == 202  # the last good value stays in use
    assert reads[SECRETS_PARAMETER] == 3


# --- the bearer-token signing keys ----------------------------------------------------------------------

def test_the_jwks_comes_from_ssm_and_a_new_key_is_accepted_once_published(ssm, reads, client, wired):
    clock, wire = wired
    put(ssm, SECRETS_PARAMETER, OLD)
    put(ssm, JWKS_PARAMETER, jwks((TEST_KEY, TEST_KID)), secure=False)
    wire()
    old_token = bearer()["Authorization"]
    new_key, new_kid = new_private_key("ES256"), "test-key-2"
    new_token = "Bearer " + mint(new_key, new_kid, "admin-2", ["national_admin"],
                                 issuer=settings.JWT_ISSUER, audience=settings.JWT_AUDIENCE)
    assert badges(client, old_token) == 200
    assert badges(client, new_token) == 401  # not published yet

    put(ssm, JWKS_PARAMETER, jwks((TEST_KEY, TEST_KID), (new_key, new_kid)), secure=False)
    for _ in range(5):  # unknown kids do not make us read SSM again within the TTL
        assert badges(client, new_token) == 401
    assert reads[JWKS_PARAMETER] == 1
    clock.advance()
    assert badges(client, new_token) == 200 and badges(client, old_token) == 200

    put(ssm, JWKS_PARAMETER, jwks((new_key, new_kid)), secure=False)  # the old key is retired
    clock.advance()
    assert badges(client, old_token) == 401 and badges(client, new_token) == 200
    assert reads[JWKS_PARAMETER] == 3


def test_a_bad_jwks_in_ssm_keeps_the_keys_we_have(ssm, client, wired):
    clock, wire = wired
    put(ssm, JWKS_PARAMETER, jwks((TEST_KEY, TEST_KID)), secure=False)
    wire()
    token = bearer()["Authorization"]
    assert badges(client, token) == 200
    put(ssm, JWKS_PARAMETER, '{"keys": [{"kty": "RSA"', secure=False)  # a botched edit
    clock.advance()
    assert badges(client, token) == 200


# --- the cache on its own ---------------------------------------------------------------------------------

def test_cached_reads_once_per_ttl_and_backs_off_after_a_failure():
    clock, values = Clock(), iter(["a", "b", RuntimeError("throttled"), "c"])

    def load():
        value = next(values)
        if isinstance(value, Exception):
            raise value
        return value

    cached = Cached(load, ttl_seconds=60, clock=clock, retry_seconds=5)
    assert [cached() for _ in range(3)] == ["a"] * 3
    clock.advance(59)
    assert cached() == "a"
    clock.advance(1)
    assert cached() == "b"
    clock.advance(60)
    assert cached() == "b"  # the read failed: the last value stays
    clock.advance(4)
    assert cached() == "b"  # not retried before 5 s
    clock.advance(1)
    assert cached() == "c"


def test_cached_without_any_value_raises_until_a_read_succeeds():
    clock, attempts = Clock(), []

    def load():
        attempts.append(clock.now)
        if len(attempts) < 3:
            raise RuntimeError("not found")
        return "ok"

    cached = Cached(load, ttl_seconds=60, clock=clock, retry_seconds=5)
    for _ in range(3):
        with pytest.raises(SecretUnavailable):
            cached()
    assert len(attempts) == 1
    clock.advance(5)
    with pytest.raises(SecretUnavailable):
        cached()
    clock.advance(5)
    assert cached() == "ok" and len(attempts) == 3


def test_secrets_are_split_on_commas_and_trimmed():
    assert split_secrets(" new , old,,") == ["new", "old"]
    assert split_secrets("") == split_secrets(None) == []


def test_the_setting_picks_the_source(monkeypatch):
    monkeypatch.setenv("KARMAYOGI_SECRETS_SOURCE", "vault")
    with pytest.raises(ValueError, match="KARMAYOGI_SECRETS_SOURCE"):
        settings.secrets_config()
    monkeypatch.delenv("KARMAYOGI_SECRETS_SOURCE")
    assert settings.secrets_config().source == "env"
    assert bootstrap.secret_adapters()["webhook_secrets"] is settings.webhook_secrets


# --- the unsubscribe links' secrets ------------------------------------------------------------------------

def test_unsubscribe_links_are_signed_and_checked_with_the_secrets_in_ssm(ssm, reads, client, wired, monkeypatch):
    """Deployed stages have no KARMAYOGI_UNSUBSCRIBE_SECRET: the consumer signs and the API verifies with the
    SSM parameter, read once per TTL, and a rotation keeps old links working."""
    from chalicelib.notifications import unsubscribe
    from tests.notify_helpers import add_learner
    name = "/karmayogi/test/unsubscribe-secrets"
    put(ssm, name, "unsub-old")
    clock, wire = wired
    monkeypatch.setenv("KARMAYOGI_UNSUBSCRIBE_SECRETS_PARAMETER", name)
    monkeypatch.delenv("KARMAYOGI_UNSUBSCRIBE_SECRET", raising=False)
    adapters = wire()
    add_learner(adapters, "l-unsub")
    old_link = unsubscribe.make_token("l-unsub", "nudges", secrets=adapters.unsubscribe_secrets())
    assert unsubscribe.read_token(old_link, secrets=["unsub-old"]) == ("l-unsub", "nudges")
    put(ssm, name, "unsub-new,unsub-old")  # a rotation: the new secret signs, the old still verifies
    clock.advance()
    new_link = unsubscribe.make_token("l-unsub", "awards", secrets=adapters.unsubscribe_secrets())
    assert unsubscribe.read_token(new_link, secrets=["unsub-new"]) == ("l-unsub", "awards")
    for link in (old_link, new_link):
        response = client.http.post(f"/v1/unsubscribe?token={link}", authorization=None)
        assert response.status_code == 200, response.body
    forged = unsubscribe.make_token("l-unsub", "nudges", secrets=["not-ours"])
    assert client.http.post(f"/v1/unsubscribe?token={forged}", authorization=None).status_code == 400
    assert reads[name] == 2  # once per TTL, whatever was signed or checked meanwhile
