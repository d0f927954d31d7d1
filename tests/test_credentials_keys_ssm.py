"""The credential signing keys from SSM Parameter Store (moto), as in AWS: a SecureString JWKS with private keys,
read at most once per TTL, rotated without a redeploy; credentials signed before a rotation still verify."""
import json

import jwt

from local.dev_keys import new_private_key, private_jwk
from tests.conftest import TEST_KEY, TEST_KID, bearer, pump, signed_headers
from tests.test_parameters import JWKS_PARAMETER, OLD, SECRETS_PARAMETER, jwks, put, reads, ssm, wired  # noqa: F401

ISSUER_KEYS_PARAMETER = "/karmayogi/test/issuer-keys"


def test_issuer_keys_come_from_ssm_and_a_rotation_needs_no_redeploy(ssm, reads, client, wired, monkeypatch):
    clock, wire = wired
    first, second = new_private_key("ES256"), new_private_key("RS256")
    put(ssm, SECRETS_PARAMETER, OLD)
    put(ssm, JWKS_PARAMETER, jwks((TEST_KEY, TEST_KID)), secure=False)
    put(ssm, ISSUER_KEYS_PARAMETER, json.dumps({"keys": [private_jwk(first, "ssm-1")]}))
    monkeypatch.setenv("KARMAYOGI_ISSUER_KEYS_PARAMETER", ISSUER_KEYS_PARAMETER)
    monkeypatch.delenv("KARMAYOGI_ISSUER_KEYS")  # in SSM mode the environment's keys must play no part
    adapters = wire()
    events = [{"id": f"c-ssm-{n}", "type": "course.completed", "occurred_at": "2024-10-21T10:00:00+05:30",
               "learner": {"id": learner, "org_id": "org_s"}, "course": {"id": "do_1", "duration_minutes": 30}}
              for n, learner in enumerate(("ls-1", "ls-2"))]
    body = json.dumps(events).encode()
    assert client.http.post("/v1/events", body=body, headers=signed_headers(body, OLD)).status_code == 202
    pump(client, adapters)

    def issue(learner):
        response = client.http.get(f"/v1/learners/{learner}/badges/first_course/credential",
                                   headers=bearer(learner, ["learner"], "org_s"))
        assert response.status_code == 200, response.json_body
        return response.json_body["jwt"]

    def verify(token):
        response = client.http.post("/v1/credentials/verify", body=json.dumps({"credential": token}).encode(),
                                    headers={"Content-Type": "application/json"}, authorization=None)
        return response.json_body["valid"]

    old = issue("ls-1")
    put(ssm, ISSUER_KEYS_PARAMETER, json.dumps({"keys": [private_jwk(second, "ssm-2"), private_jwk(first, "ssm-1")]}))
    assert client.http.get("/issuer/jwks.json", authorization=None).json_body["keys"][0]["kid"] == "ssm-1"
    assert reads[ISSUER_KEYS_PARAMETER] == 1  # within the TTL: the value we have
    clock.advance()
    new = issue("ls-2")
    assert jwt.get_unverified_header(new)["kid"].endswith("#ssm-2")
    assert verify(old) and verify(new)
    assert reads[ISSUER_KEYS_PARAMETER] == 2
