"""Open Badges 3.0 credentials through the routes, on moto: issue, verify, tamper, expire, revoke, rotate keys,
the schema check of what we issue, access, and the privacy of the learner's identity."""
import base64
import dataclasses
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import jwt
import pytest
from jsonschema import Draft202012Validator

from chalicelib.credentials.models import CredentialRecord
from chalicelib.facts import DomainEvent
from local.dev_keys import new_private_key, private_jwk, public_jwk
from tests.conftest import TEST_ISSUER_KEY, TEST_ISSUER_KID, bearer, pump, signed_headers
from tests.openapi_check import assert_matches_spec

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "ob3_credential.schema.json").read_text())
LEARNER, OTHER, EMAIL = "lc-1", "lc-2", "lc.one@example.gov.in"
CREDENTIAL_ROUTE = "/v1/learners/{learner_id}/badges/{badge_id}/credential"
NOW = datetime.now(timezone.utc)


def assert_valid_ob3(credential: dict) -> dict:
    errors = sorted(Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
                    .iter_errors(credential), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    return credential


def _events(learner, org="org_c", email=None, courses=1):
    events = [{"id": f"p-{learner}", "type": "learner.upserted", "occurred_at": "2024-10-01T09:00:00+05:30",
               "learner": {"id": learner, "org_id": org, "name": "Test Learner",
                           **({"email": email} if email else {})}}]
    events += [{"id": f"c-{learner}-{n}", "type": "course.completed", "occurred_at": f"2024-10-{n + 1:02d}T10:00:00+05:30",
                "learner": {"id": learner, "org_id": org}, "course": {"id": f"do_{n}", "duration_minutes": 30},
                } for n in range(courses)]
    return events


@pytest.fixture
def world(client, aws):
    body = json.dumps(_events(LEARNER, email=EMAIL) + _events(OTHER)).encode()
    assert client.http.post("/v1/events", body=body, headers=signed_headers(body)).status_code == 202
    pump(client, aws)
    return client


def issue(client, learner=LEARNER, badge="first_course", as_=None):
    response = client.http.get(f"/v1/learners/{learner}/badges/{badge}/credential",
                               headers=as_ or bearer(learner, ["learner"], "org_c"))
    assert_matches_spec(CREDENTIAL_ROUTE, "get", response.status_code, response.json_body)
    return response


def verify(client, presented):
    body = json.dumps({"credential": presented}).encode()
    response = client.http.post("/v1/credentials/verify", body=body, headers={"Content-Type": "application/json"},
                                authorization=None)
    assert response.status_code == 200, response.json_body
    return assert_matches_spec("/v1/credentials/verify", "post", 200, response.json_body)


def check(result, name):
    return next(c for c in result["checks"] if c["check"] == name)


def revoke(client, credential_id, reason="rejected in the anti-abuse review", headers=None):
    body = json.dumps({"reason": reason}).encode()
    return client.http.post(f"/v1/credentials/{credential_id}/revoke", body=body,
                            headers={"Content-Type": "application/json", **(headers or bearer())})


def _segments(token):
    return [json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))) for s in token.split(".")[:2]]


# --- issue --------------------------------------------------------------------------------------------------

def test_a_learner_gets_a_signed_open_badges_credential_for_a_badge_they_hold(world):
    response = issue(world)
    assert response.status_code == 200, response.json_body
    doc = response.json_body
    credential = assert_valid_ob3(doc["credential"])
    assert credential["@context"] == ["https://www.w3.org/ns/credentials/v2",
                                      "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["id"] == doc["share_url"] == f"http://127.0.0.1:8000/credentials/{doc['credential_id']}"
    assert credential["issuer"] == {"id": "http://127.0.0.1:8000/issuer", "type": ["Profile"],
                                    "name": "Karmayogi Engage, iGOT Karmayogi (Mission Karmayogi)"}
    assert credential["validFrom"] == "2024-10-01T04:30:00Z"  # the award: the first completion, in UTC
    assert "validUntil" not in credential  # no expiry by default
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["name"] == credential["name"] == "First Step"
    assert achievement["criteria"]["narrative"] == "Complete 1 course on iGOT Karmayogi."
    assert achievement["image"] == {"id": "http://127.0.0.1:8000/badges/first_course/image.svg", "type": "Image",
                                    "caption": "First Step badge"}
    assert credential["credentialStatus"]["type"] == "1EdTechRevocationList"
    assert credential["credentialStatus"]["id"].startswith("http://127.0.0.1:8000/credentials/status/")
    assert doc["revoked"] is None

    header, claims = _segments(doc["jwt"])
    assert header == {"alg": "ES256", "kid": f"http://127.0.0.1:8000/issuer/jwks.json#{TEST_ISSUER_KID}",
                      "typ": "JWT"}
    assert claims["iss"] == credential["issuer"]["id"] and claims["jti"] == credential["id"]
    assert claims["sub"] == credential["credentialSubject"]["id"] and claims["sub"].startswith("urn:uuid:")
    assert claims["nbf"] == int(datetime(2024, 10, 1, 4, 30, tzinfo=timezone.utc).timestamp())
    assert "exp" not in claims
    assert {k: v for k, v in claims.items() if k not in ("iss", "jti", "sub", "nbf")} == credential
    # A standard JWT library checks it with the public key we publish.
    jwks = world.http.get("/issuer/jwks.json", authorization=None).json_body
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == TEST_ISSUER_KID))
    assert jwt.decode(doc["jwt"], key.key, algorithms=["ES256"])["jti"] == credential["id"]


def test_issuing_is_idempotent_same_credential_for_the_same_award(world):
    first, second = issue(world).json_body, issue(world).json_body
    assert first == second
    public = world.http.get(f"/credentials/{first['credential_id']}", authorization=None)
    assert public.status_code == 200
    assert assert_matches_spec("/credentials/{credential_id}", "get", 200, public.json_body) == first


def test_a_badge_the_learner_does_not_hold_is_404_and_nothing_is_issued(world, aws):
    assert issue(world, badge="courses_10").status_code == 404
    assert issue(world, badge="no_such_badge").status_code == 404
    assert issue(world, badge="campaign.nlw-2026.goal").status_code == 404
    assert aws.credentials.for_award(LEARNER, "courses_10") is None


def test_the_public_credential_as_a_vc_jwt(world):
    doc = issue(world).json_body
    for kwargs in ({"headers": {"Accept": "application/vc+jwt"}}, {}):
        path = f"/credentials/{doc['credential_id']}" + ("" if kwargs else "?format=jwt")
        response = world.http.get(path, authorization=None, **kwargs)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/vc+jwt"
        assert response.body.decode() == doc["jwt"]
    assert world.http.get("/credentials/not-a-credential-id", authorization=None).status_code == 404
    assert world.http.get("/credentials/0b6c4a0e-1f0c-4b7e-9a51-3c8d2f9e7a10", authorization=None).status_code == 404


# --- verify -------------------------------------------------------------------------------------------------

def test_verify_accepts_a_credential_we_issued_in_every_form(world):
    doc = issue(world).json_body
    envelope = {"@context": ["https://www.w3.org/ns/credentials/v2"], "type": "EnvelopedVerifiableCredential",
                "id": "data:application/vc+jwt," + doc["jwt"]}
    with_proof = {**doc["credential"], "proof": {"type": "JwtProof2020", "jwt": doc["jwt"]}}
    for presented in (doc["jwt"], envelope, doc, with_proof):
        result = verify(world, presented)
        assert result["valid"] is True, result["checks"]
        assert [c["check"] for c in result["checks"]] == ["format", "key", "signature", "issuer", "claims", "dates",
                                                          "revocation"]
        assert result["credential"] == doc["credential"]


def test_one_character_changed_fails_the_signature(world):
    token = issue(world).json_body["jwt"]
    header, payload, signature = token.split(".")
    # One character of the credential (still well-formed JSON, so only the signature can tell), and one of the
    # signature itself.
    claims = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    at = claims.index('"name"') + len('"name": "') + 1
    forged = claims[:at] + ("X" if claims[at] != "X" else "Y") + claims[at + 1:]
    for part in ("payload", "signature"):
        middle = len(signature) // 2
        changed = (base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=") if part == "payload" else
                   signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1:])
        tampered = ".".join([header, changed, signature] if part == "payload" else [header, payload, changed])
        result = verify(world, tampered)
        assert result["valid"] is False and "credential" not in result
        assert check(result, "signature")["ok"] is False, (part, result)
        assert "altered" in check(result, "signature")["reason"]


def test_a_json_credential_changed_beside_a_good_jwt_fails(world):
    doc = issue(world).json_body
    forged = {**doc, "credential": {**doc["credential"], "name": "Adarsh Karmayogi"}}
    result = verify(world, forged)
    assert result["valid"] is False and "presented JSON" in check(result, "claims")["reason"]


def test_malformed_unknown_key_and_wrong_issuer_say_why(world, aws):
    for presented in ("not a jwt", "a.b.c", {"no": "proof"}):
        result = verify(world, presented)
        assert result["valid"] is False and check(result, "format")["ok"] is False, presented
    credential = issue(world).json_body["credential"]
    stranger = new_private_key("ES256")
    claims = {**credential, "iss": credential["issuer"]["id"], "jti": credential["id"],
              "sub": credential["credentialSubject"]["id"], "nbf": 1727757000}
    forged = jwt.encode(claims, stranger, algorithm="ES256", headers={"kid": "someone-else"})
    result = verify(world, forged)
    assert result["valid"] is False and "does not publish" in check(result, "key")["reason"]
    # Our own key, but a credential naming another issuer (iss and issuer.id): the issuer check fails.
    other = {**claims, "iss": "https://elsewhere.example/issuer",
             "issuer": {**credential["issuer"], "id": "https://elsewhere.example/issuer"}}
    token = jwt.encode(other, TEST_ISSUER_KEY, algorithm="ES256", headers={"kid": TEST_ISSUER_KID})
    result = verify(world, token)
    assert result["valid"] is False and check(result, "signature")["ok"] is True
    assert check(result, "issuer")["ok"] is False and "elsewhere.example" in check(result, "issuer")["reason"]
    bad = world.http.post("/v1/credentials/verify", body=b'{"credential": 5}',
                          headers={"Content-Type": "application/json"}, authorization=None)
    assert bad.status_code == 400 and bad.json_body["error"]["field"] == "credential"


def test_an_expired_credential_fails_naming_the_date(world, aws):
    aws.credential_config = dataclasses.replace(aws.credential_config, valid_days=30)  # awarded in 2024
    doc = issue(world).json_body
    assert_valid_ob3(doc["credential"])
    assert doc["credential"]["validUntil"] == "2024-10-31T04:30:00Z"
    assert _segments(doc["jwt"])[1]["exp"] == int(datetime(2024, 10, 31, 4, 30, tzinfo=timezone.utc).timestamp())
    result = verify(world, doc["jwt"])
    assert result["valid"] is False and check(result, "signature")["ok"] is True
    assert check(result, "dates") == {"check": "dates", "ok": False, "reason": "expired on 2024-10-31T04:30:00Z"}


# --- revoke -------------------------------------------------------------------------------------------------

def test_a_revoked_credential_fails_verification_with_the_reason(world):
    doc = issue(world).json_body
    assert verify(world, doc["jwt"])["valid"] is True
    learner_try = revoke(world, doc["credential_id"], headers=bearer(LEARNER, ["learner"], "org_c"))
    assert learner_try.status_code == 403
    response = revoke(world, doc["credential_id"])
    assert response.status_code == 200, response.json_body
    revoked = assert_matches_spec("/v1/credentials/{credential_id}/revoke", "post", 200, response.json_body)
    assert revoked["reason"] == "rejected in the anti-abuse review" and revoked["revoked_by"] == "admin-1"

    result = verify(world, doc["jwt"])
    assert result["valid"] is False
    assert check(result, "signature")["ok"] is True and check(result, "dates")["ok"] is True
    assert check(result, "revocation")["ok"] is False
    assert check(result, "revocation")["reason"].endswith(": rejected in the anti-abuse review")
    # The first reason stands; the public list and the credential say so.
    again = revoke(world, doc["credential_id"], reason="another reason").json_body
    assert again == revoked
    status_url = doc["credential"]["credentialStatus"]["id"]
    path = status_url.removeprefix("http://127.0.0.1:8000")
    listing = world.http.get(path, authorization=None)
    assert listing.status_code == 200 and "max-age" in listing.headers["Cache-Control"]
    assert_matches_spec("/credentials/status/{list_id}", "get", 200, listing.json_body)
    assert listing.json_body["revokedCredentials"] == [{"id": doc["credential"]["id"], "revocationReason":
                                                         "rejected in the anti-abuse review",
                                                         "revokedAt": revoked["revoked_at"]}]
    public = world.http.get(f"/credentials/{doc['credential_id']}", authorization=None).json_body
    assert public["revoked"] == {"reason": revoked["reason"], "revoked_at": revoked["revoked_at"]}
    assert issue(world).json_body["revoked"] == public["revoked"]  # the learner sees it too


def test_revoking_needs_a_reason_and_a_real_credential(world):
    doc = issue(world).json_body
    for body in (b"{}", b'{"reason": ""}', json.dumps({"reason": "x" * 501}).encode(), b"[]", b"nope"):
        response = world.http.post(f"/v1/credentials/{doc['credential_id']}/revoke", body=body,
                                   headers={"Content-Type": "application/json"})
        assert response.status_code == 400, body
    assert revoke(world, "0b6c4a0e-1f0c-4b7e-9a51-3c8d2f9e7a10").status_code == 404
    assert world.http.get("/credentials/status/x", authorization=None).status_code == 404
    empty = world.http.get("/credentials/status/3", authorization=None).json_body
    assert empty["revokedCredentials"] == [] or all(r["id"] for r in empty["revokedCredentials"])


# --- key rotation -------------------------------------------------------------------------------------------

def test_after_a_rotation_the_new_key_signs_and_old_credentials_still_verify(world, monkeypatch):
    old = issue(world).json_body
    new_key = new_private_key("RS256")
    monkeypatch.setenv("KARMAYOGI_ISSUER_KEYS", json.dumps({"keys": [
        private_jwk(new_key, "issuer-2"), private_jwk(TEST_ISSUER_KEY, TEST_ISSUER_KID)]}))
    new = issue(world, learner=OTHER, as_=bearer(OTHER, ["learner"], "org_c")).json_body
    assert _segments(new["jwt"])[0]["kid"].endswith("#issuer-2") and _segments(new["jwt"])[0]["alg"] == "RS256"
    assert issue(world).json_body == old  # already issued: served as signed, with the old key
    jwks = world.http.get("/issuer/jwks.json", authorization=None).json_body
    assert [k["kid"] for k in jwks["keys"]] == ["issuer-2", TEST_ISSUER_KID]
    assert not any("d" in k for k in jwks["keys"])  # never a private part
    assert verify(world, old["jwt"])["valid"] is True and verify(world, new["jwt"])["valid"] is True
    # The old private key destroyed, its public half kept: old credentials still verify, and it signs nothing.
    monkeypatch.setenv("KARMAYOGI_ISSUER_KEYS", json.dumps({"keys": [
        private_jwk(new_key, "issuer-2"), public_jwk(TEST_ISSUER_KEY, TEST_ISSUER_KID)]}))
    assert verify(world, old["jwt"])["valid"] is True
    # Dropped altogether: the credentials it signed no longer verify, and the answer says why.
    monkeypatch.setenv("KARMAYOGI_ISSUER_KEYS", json.dumps({"keys": [private_jwk(new_key, "issuer-2")]}))
    assert check(verify(world, old["jwt"]), "key")["ok"] is False


# --- campaign awards ----------------------------------------------------------------------------------------

def test_a_campaign_award_is_issued_from_its_domain_event(world, aws):
    badge = "campaign.nlw-2026.goal"
    awarded = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
    assert aws.domain_events.add(DomainEvent(
        f"badge.awarded:{LEARNER}:{badge}", "badge.awarded", LEARNER, awarded,
        {"badge_id": badge, "campaign_id": "nlw-2026", "name": "National Learning Week 2026: goal met",
         "description": "Four hours of competency-linked learning in the National Learning Week 2026.",
         "criteria": "Learn at least 4 hours of competency-linked courses between 14 and 20 November 2026.",
         "event_id": None}), NOW)
    response = issue(world, badge=badge)
    assert response.status_code == 200, response.json_body
    credential = assert_valid_ob3(response.json_body["credential"])
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["name"] == "National Learning Week 2026: goal met"
    assert achievement["criteria"]["narrative"].startswith("Learn at least 4 hours")
    assert credential["validFrom"] == "2026-11-20T12:00:00Z"
    assert verify(world, response.json_body["jwt"])["valid"] is True
    # Another learner's award is not theirs to claim.
    assert issue(world, learner=OTHER, badge=badge, as_=bearer(OTHER, ["learner"], "org_c")).status_code == 404
    image = world.http.get(f"/badges/{badge}/image.svg", authorization=None)
    assert image.status_code == 200 and b"CAMPAIGN" in image.body


# --- access and privacy -------------------------------------------------------------------------------------

@pytest.mark.parametrize("caller,expected", [
    ((LEARNER, ["learner"], "org_c"), 200), ((OTHER, ["learner"], "org_c"), 403),
    (("adm", ["mdo_admin"], "org_c"), 403), (("nat", ["national_admin"], None), 200)])
def test_only_the_learner_and_national_admins_get_the_credential(world, caller, expected):
    assert issue(world, as_=bearer(*caller)).status_code == expected


def test_an_unknown_learner_cannot_be_probed(world):
    assert issue(world, learner="nobody", as_=bearer(OTHER, ["learner"], "org_c")).status_code == 403
    assert issue(world, learner="nobody", as_=bearer("nobody", ["learner"], "org_c")).status_code == 404
    no_token = world.http.get(f"/v1/learners/{LEARNER}/badges/first_course/credential", authorization=None)
    assert no_token.status_code == 401


def test_the_public_routes_need_no_token(world):
    doc = issue(world).json_body
    for path in ("/issuer", "/issuer/jwks.json", f"/credentials/{doc['credential_id']}", "/credentials/status/0",
                 "/badges/first_course/image.svg"):
        assert world.http.get(path, authorization=None).status_code == 200, path
    issuer = world.http.get("/issuer", authorization=None).json_body
    assert_matches_spec("/issuer", "get", 200, issuer)
    assert issuer["id"] == doc["credential"]["issuer"]["id"] and issuer["type"] == ["Profile"]
    assert issuer["jwks_uri"] == "http://127.0.0.1:8000/issuer/jwks.json"
    assert [k["kid"] for k in issuer["publicKey"]] == [TEST_ISSUER_KID]


def test_the_learner_is_named_only_by_a_salted_hash(world, aws):
    doc = issue(world).json_body
    [identity] = doc["credential"]["credentialSubject"]["identifier"]
    assert identity["identityType"] == "identifier" and identity["hashed"] is True
    assert identity["identityHash"] == "sha256$" + hashlib.sha256((LEARNER + identity["salt"]).encode()).hexdigest()
    decoded = json.dumps(_segments(doc["jwt"]))
    assert LEARNER not in decoded and LEARNER not in json.dumps(doc["credential"]) and EMAIL not in decoded
    # By email, when configured: hashed the same way, never in clear; a learner without one by their id.
    aws.credential_config = dataclasses.replace(aws.credential_config, identity="emailAddress")
    other = issue(world, learner=OTHER, as_=bearer(OTHER, ["learner"], "org_c")).json_body
    [fallback] = other["credential"]["credentialSubject"]["identifier"]
    assert fallback["identityType"] == "identifier"
    assert fallback["identityHash"] == "sha256$" + hashlib.sha256((OTHER + fallback["salt"]).encode()).hexdigest()
    CredentialRecord(LEARNER, "first_course").delete()  # so that LEARNER's is issued anew, by email
    emailed = issue(world).json_body
    [identity] = emailed["credential"]["credentialSubject"]["identifier"]
    assert identity["identityType"] == "emailAddress"
    assert identity["identityHash"] == "sha256$" + hashlib.sha256((EMAIL + identity["salt"]).encode()).hexdigest()
    assert EMAIL not in json.dumps(_segments(emailed["jwt"]))
    salts = {identity["salt"], fallback["salt"]}
    assert len(salts) == 2  # a salt per credential: hashes cannot be matched across credentials


# --- a badge taken back by scoring, its event rejected in the anti-abuse review ---------------------------------

def _completion(learner, n, at, area=None):
    course = {"id": f"do_{n}", "duration_minutes": 10,
              **({"competencies": [{"id": f"FRAC-{n}", "name": "Skill", "area": area}]} if area else {})}
    return {"id": f"{learner}-c{n:02d}", "type": "course.completed", "occurred_at": at.isoformat(),
            "learner": {"id": learner, "org_id": "org_c"}, "course": course}


def test_rejecting_the_event_that_earned_a_badge_revokes_its_credential(client, aws):
    from datetime import timedelta
    ist, learner = timezone(timedelta(hours=5, minutes=30)), "lc-burst"
    t0 = datetime(2024, 10, 21, 10, 0, tzinfo=ist)
    # 20 completions in 24 minutes (the rate allows 20 an hour): the last 5 build a domain competency.
    first = [_completion(learner, k, t0 + timedelta(seconds=72 * k), "domain" if k >= 15 else None)
             for k in range(20)]
    body = json.dumps(first).encode()
    assert client.http.post("/v1/events", body=body, headers=signed_headers(body)).status_code == 202
    pump(client, aws)
    holder = bearer(learner, ["learner"], "org_c")
    domain = issue(client, learner, "domain_5", as_=holder).json_body
    course = issue(client, learner, "first_course", as_=holder).json_body
    assert verify(client, domain["jwt"])["valid"] is True
    # 5 earlier completions arrive late: now the domain ones are over the rate, held, and domain_5 is taken back.
    late = [_completion(learner, 20 + k, t0 - timedelta(minutes=30) + timedelta(minutes=k)) for k in range(5)]
    body = json.dumps(late).encode()
    assert client.http.post("/v1/events", body=body, headers=signed_headers(body)).status_code == 202
    pump(client, aws)
    assert "domain_5" not in aws.learners.get(learner).standing.badges
    held = {h["event_id"] for h in client.http.get("/v1/review/held").json_body["held"]}
    assert f"{learner}-c19" in held

    body = json.dumps({"learner_id": learner}).encode()
    response = client.http.post(f"/v1/review/{learner}-c19/reject", body=body,
                                headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.json_body
    result = verify(client, domain["jwt"])
    assert result["valid"] is False
    assert check(result, "revocation")["reason"].endswith(
        f"award withdrawn: event {learner}-c19 was rejected in the anti-abuse review")
    assert verify(client, course["jwt"])["valid"] is True  # a badge still held keeps its credential
