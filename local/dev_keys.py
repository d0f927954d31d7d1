"""Development keys and tokens: `make run` and `make token` (local only; never deployed).

Keys are generated on first use into .local/ (git-ignored). The local OpenID provider (local/oidc/provider.mjs)
signs with its own key (.local/oidc-signing-key.pem) and gets the clients' secrets from .local/oidc.json; the
stack trusts it as iGOT's Keycloak is trusted. `make token` asks that provider for an API access token (its
dev-token grant, for the dev client only): the stack must be running. The older development key
(.local/dev-signing-key.pem) is still trusted by the stack for tools that mint tokens themselves.
"""
from __future__ import annotations

import argparse
import json
import secrets
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PROJECT = Path(__file__).resolve().parents[1]
KEY_FILE = PROJECT / ".local" / "dev-signing-key.pem"
ISSUER_KEY_FILE = PROJECT / ".local" / "dev-issuer-key.pem"  # signs Open Badges credentials (ES256)
# The local stack's webhook secret unless KARMAYOGI_WEBHOOK_SECRETS is set: `make post-events` signs with it.
WEBHOOK_SECRET_FILE = PROJECT / ".local" / "webhook-secret"
ISSUER = "karmayogi-engage-local"
AUDIENCE = "karmayogi-engage"


def new_private_key(algorithm: str = "RS256"):
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(private_key, kid: str) -> dict:
    algorithm = "ES256" if isinstance(private_key, ec.EllipticCurvePrivateKey) else "RS256"
    jwk = json.loads(jwt.algorithms.get_default_algorithms()[algorithm].to_jwk(private_key.public_key()))
    return {**jwk, "kid": kid, "alg": algorithm, "use": "sig"}


def private_jwk(private_key, kid: str) -> dict:
    """A private key as a JWK (with "d"): what the credential issuer's key set holds. Never published."""
    algorithm = "ES256" if isinstance(private_key, ec.EllipticCurvePrivateKey) else "RS256"
    jwk = json.loads(jwt.algorithms.get_default_algorithms()[algorithm].to_jwk(private_key))
    return {**jwk, "kid": kid, "alg": algorithm, "use": "sig"}


def mint(private_key, kid: str, sub: str, roles: list[str], org_id: str | None = None, ttl: int = 8 * 3600,
         issuer: str = ISSUER, audience: str = AUDIENCE, **claims) -> str:
    now = int(time.time())
    algorithm = "ES256" if isinstance(private_key, ec.EllipticCurvePrivateKey) else "RS256"
    body = {"iss": issuer, "aud": audience, "sub": sub, "roles": roles, "iat": now, "nbf": now, "exp": now + ttl,
            "jti": str(uuid.uuid4()), **({"org_id": org_id} if org_id else {}), **claims}
    return jwt.encode(body, private_key, algorithm=algorithm, headers={"kid": kid})


def dev_key():
    """The local stack's key (created once), with its kid."""
    if not KEY_FILE.exists():
        KEY_FILE.parent.mkdir(exist_ok=True)
        pem = new_private_key().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())
        KEY_FILE.write_bytes(pem)
        KEY_FILE.chmod(0o600)
    key = serialization.load_pem_private_key(KEY_FILE.read_bytes(), password=None)
    kid = "dev-" + jwt.utils.base64url_encode(
        key.public_key().public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)[-12:]).decode()
    return key, kid


def _load_or_create(path: Path, algorithm: str):
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        pem = new_private_key(algorithm).private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        path.write_bytes(pem)
        path.chmod(0o600)
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def dev_issuer_keys() -> str:
    """The local stack's credential signing key set (KARMAYOGI_ISSUER_KEYS): one ES256 key, made once."""
    key = _load_or_create(ISSUER_KEY_FILE, "ES256")
    kid = "dev-issuer-" + jwt.utils.base64url_encode(
        key.public_key().public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)[-12:]).decode()
    return json.dumps({"keys": [private_jwk(key, kid)]})


def dev_webhook_secret(create: bool = True) -> str | None:
    """The local stack's webhook secret, made once (None if there is none yet and create is False)."""
    if not WEBHOOK_SECRET_FILE.exists():
        if not create:
            return None
        WEBHOOK_SECRET_FILE.parent.mkdir(exist_ok=True)
        WEBHOOK_SECRET_FILE.write_text(secrets.token_hex(16) + "\n", encoding="utf-8")
        WEBHOOK_SECRET_FILE.chmod(0o600)
    return WEBHOOK_SECRET_FILE.read_text(encoding="utf-8").strip()


OIDC_KEY_FILE = PROJECT / ".local" / "oidc-signing-key.pem"
OIDC_SECRETS_FILE = PROJECT / ".local" / "oidc.json"
PAGES_CLIENT_ID = "karmayogi-engage"
DEV_CLIENT_ID = "karmayogi-dev-token"
DEV_GRANT = "urn:karmayogi:params:oauth:grant-type:dev-token"
OIDC_PORT = 8020


def oidc_signing_jwks() -> str:
    """The local provider's private signing key set (RS256), made once."""
    key = _load_or_create(OIDC_KEY_FILE, "RS256")
    kid = "local-oidc-" + jwt.utils.base64url_encode(
        key.public_key().public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)[-12:]).decode()
    jwk = {k: v for k, v in private_jwk(key, kid).items() if k != "key_ops"}  # published as is: no "sign"-only
    return json.dumps({"keys": [jwk]})


def oidc_secrets() -> dict:
    """Secrets of the local provider and the pages, made once: the pages' client secret, the dev client's, the
    provider's cookie key, the page session key."""
    if not OIDC_SECRETS_FILE.exists():
        OIDC_SECRETS_FILE.parent.mkdir(exist_ok=True)
        OIDC_SECRETS_FILE.write_text(json.dumps({name: secrets.token_urlsafe(32) for name in (
            "pages_client_secret", "dev_client_secret", "cookie_key", "session_secret")}), encoding="utf-8")
        OIDC_SECRETS_FILE.chmod(0o600)
    return json.loads(OIDC_SECRETS_FILE.read_text(encoding="utf-8"))


def oidc_issuer(port: int | None = None) -> str:
    import os
    return f"http://127.0.0.1:{port or int(os.environ.get('KARMAYOGI_OIDC_PORT') or OIDC_PORT)}"


def provider_token(sub: str, roles: list[str], org_id: str | None, issuer: str | None = None) -> str:
    """An API access token from the running local provider (the dev client's dev-token grant)."""
    import base64
    import urllib.error
    import urllib.parse
    import urllib.request
    issuer = issuer or oidc_issuer()
    client = oidc_secrets()
    with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=5) as response:
        endpoint = json.load(response)["token_endpoint"]
    body = urllib.parse.urlencode({"grant_type": DEV_GRANT, "sub": sub, "roles": ",".join(roles),
                                   **({"org_id": org_id} if org_id else {})}).encode()
    basic = base64.b64encode(f"{DEV_CLIENT_ID}:{client['dev_client_secret']}".encode()).decode()
    request = urllib.request.Request(endpoint, data=body, method="POST", headers={
        "Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)["access_token"]
    except urllib.error.HTTPError as error:
        raise SystemExit(f"the local OpenID provider refused: {error.read().decode(errors='replace')}") from None


def dev_jwks() -> str:
    key, kid = dev_key()
    return json.dumps({"keys": [public_jwk(key, kid)]})


def main() -> None:
    parser = argparse.ArgumentParser(description="Print a bearer token for the local stack.")
    parser.add_argument("--sub", required=True, help="learner id (the token's subject)")
    parser.add_argument("--role", default="learner", help="learner, mdo_admin or national_admin (comma-separated)")
    parser.add_argument("--org", default=None, help="the org the token's holder belongs to / administers")
    args = parser.parse_args()
    roles = [r.strip() for r in args.role.split(",") if r.strip()]
    issuer = oidc_issuer()
    try:
        token = provider_token(args.sub, roles, args.org, issuer)
    except OSError:
        raise SystemExit(f"the local OpenID provider is not answering on {issuer}: start the stack first "
                         "(`make run`)") from None
    print(f"# {args.role} token for {args.sub} from the local OpenID provider ({issuer}), valid 8 hours: "
          f"curl -H \"Authorization: Bearer $TOKEN\" ...")
    print(token)


if __name__ == "__main__":
    main()
