"""Bearer token verification: every way a token can be wrong gets a 401 with its reason."""
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from chalicelib.errors import ApiError
from chalicelib.identity.tokens import KeySet, TokenVerifier
from local.dev_keys import mint, new_private_key, public_jwk

ISS, AUD = "https://issuer.example", "karmayogi-engage"


class Keys:
    """A JWKS we can rotate, and count how often the verifier loads it."""

    def __init__(self, *pairs):
        self.pairs, self.loads = list(pairs), 0

    def load(self):
        self.loads += 1
        return {"keys": [public_jwk(key, kid) for key, kid in self.pairs]}


@pytest.fixture(scope="module")
def rsa_key():
    return new_private_key("RS256")


@pytest.fixture(scope="module")
def ec_key():
    return new_private_key("ES256")


def verifier(keys, **kw):
    return TokenVerifier(KeySet(keys.load, min_reload_seconds=0), ISS, AUD, **kw)


def token(key, kid="k1", **kw):
    kw.setdefault("issuer", ISS)
    kw.setdefault("audience", AUD)
    return mint(key, kid, kw.pop("sub", "u-1"), kw.pop("roles", ["learner"]), kw.pop("org_id", "org_a"), **kw)


def reason(verify, header):
    with pytest.raises(ApiError) as caught:
        verify.principal(header)
    assert caught.value.status == 401 and caught.value.field == "Authorization"
    return caught.value.message


def test_rs256_and_es256_tokens_give_the_caller(rsa_key, ec_key):
    v = verifier(Keys((rsa_key, "k1"), (ec_key, "k2")))
    p = v.principal("Bearer " + token(rsa_key, roles=["mdo_admin", "learner", "astronaut"]))
    assert (p.sub, p.org_id, p.roles) == ("u-1", "org_a", frozenset({"mdo_admin", "learner"}))
    assert v.principal("bearer " + token(ec_key, kid="k2", sub="u-2")).sub == "u-2"


def test_every_bad_token_is_refused_with_its_reason(rsa_key):
    keys = Keys((rsa_key, "k1"))
    v = verifier(keys)
    other = new_private_key("RS256")
    now = int(time.time())
    assert reason(v, None) == "missing bearer token"
    assert reason(v, "Basic dXNlcjpwYXNz") == "Authorization must be 'Bearer <token>'"
    assert reason(v, "Bearer not.a.jwt") == "token is not a valid signed token"
    assert reason(v, "Bearer " + token(rsa_key, ttl=-120)) == "token has expired"
    assert reason(v, "Bearer " + token(rsa_key, nbf=now + 600)) == "token is not valid yet"
    assert reason(v, "Bearer " + token(rsa_key, audience="someone-else")) == "token is for another audience"
    assert reason(v, "Bearer " + token(rsa_key, issuer="https://evil.example")) == "token is from another issuer"
    assert reason(v, "Bearer " + token(other)) == "token is not a valid signed token"  # right kid, wrong key
    assert reason(v, "Bearer " + token(other, kid="k9")) == "token is signed with a key we do not know"
    tampered = token(rsa_key)
    head, body, sig = tampered.split(".")
    claims = json.loads(jwt.utils.base64url_decode(body))
    claims["roles"] = ["national_admin"]
    forged = ".".join([head, jwt.utils.base64url_encode(json.dumps(claims).encode()).decode(), sig])
    assert reason(v, "Bearer " + forged) == "token is not a valid signed token"


def test_a_symmetric_token_signed_with_the_public_key_is_refused(rsa_key):
    """The classic algorithm confusion: an HS256 token keyed with our public key must not verify."""
    public_pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"}).encode())
    body = jwt.utils.base64url_encode(json.dumps({"sub": "x", "iss": ISS, "aud": AUD,
                                                  "exp": int(time.time()) + 60}).encode())
    signature = jwt.utils.base64url_encode(hmac.new(public_pem, header + b"." + body, hashlib.sha256).digest())
    forged = (header + b"." + body + b"." + signature).decode()
    assert reason(verifier(Keys((rsa_key, "k1"))), "Bearer " + forged) == "token is not a valid signed token"


def test_missing_claims_are_named(rsa_key):
    v = verifier(Keys((rsa_key, "k1")))
    no_sub = jwt.encode({"iss": ISS, "aud": AUD, "exp": int(time.time()) + 60}, rsa_key, algorithm="RS256",
                        headers={"kid": "k1"})
    assert reason(v, "Bearer " + no_sub) == "token has no 'sub' claim"


def test_a_small_clock_skew_is_allowed(rsa_key):
    v = verifier(Keys((rsa_key, "k1")), leeway_seconds=60)
    assert v.principal("Bearer " + token(rsa_key, ttl=-30)).sub == "u-1"  # expired 30 s ago: within the leeway
    assert reason(v, "Bearer " + token(rsa_key, ttl=-90)) == "token has expired"


def test_a_new_key_is_picked_up_without_a_restart(rsa_key):
    keys = Keys((rsa_key, "k1"))
    v = verifier(keys)
    assert v.principal("Bearer " + token(rsa_key)).sub == "u-1"
    new = new_private_key("ES256")
    keys.pairs.append((new, "k2"))  # rotation: the new key is published alongside the old
    assert v.principal("Bearer " + token(new, kid="k2")).sub == "u-1"
    assert keys.loads == 2  # reloaded once, for the unknown kid
    keys.pairs.pop(0)  # the old key is retired
    loads = keys.loads
    v.keys._loaded_at = float("-inf")  # its cache runs out
    assert reason(v, "Bearer " + token(rsa_key)) == "token is signed with a key we do not know"
    assert keys.loads == loads + 1
