"""Open Badges 3.0 OpenBadgeCredential: building one, signing it as a VC-JWT, and verifying one. No I/O.

Follows the 1EdTech Open Badges 3.0 specification (VC Data Model 2.0): `@context` starts with the VC 2.0 and
OB 3.0 contexts; `type` has VerifiableCredential and OpenBadgeCredential; the subject is an AchievementSubject
named by a salted SHA-256 IdentityObject (never the id or email in clear); the achievement has id, type,
name, description, criteria and image. VC-JWT (OB 3.0 "JSON Web Token Proof Format"): the JOSE header is
exactly {alg, kid, typ: "JWT"}, kid a URI of the public key in our JWKS; the JWT payload is the credential
itself plus iss = issuer.id, jti = id, sub = credentialSubject.id, nbf = validFrom and exp = validUntil.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional

import jwt

from chalicelib.credentials.config import CredentialConfig
from chalicelib.credentials.keys import ALGORITHMS, IssuerKey, IssuerKeys
from chalicelib.rules.periods import utc_iso

CONTEXT = ["https://www.w3.org/ns/credentials/v2",
           "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
CREDENTIAL_TYPE = ["VerifiableCredential", "OpenBadgeCredential"]
STATUS_TYPE = "1EdTechRevocationList"
ENVELOPE_PREFIX = "data:application/vc+jwt,"  # VC 2.0 EnvelopedVerifiableCredential id
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_JWT_CLAIMS = ("iss", "jti", "sub", "nbf", "exp")
MAX_JWT_LENGTH = 64 * 1024


@dataclass(frozen=True)
class Achievement:
    """What a badge stands for, as a credential tells it."""
    badge_id: str
    name: str
    description: str
    criteria: str  # in words
    level: str  # bronze, silver, gold, platinum; "campaign" for campaign awards
    area: str  # a key of design.toml [areas]
    kind: str = "catalogue"  # or "campaign"


@dataclass(frozen=True)
class Award:
    awarded_at: datetime
    event_id: Optional[str]


@dataclass(frozen=True)
class Subject:
    """Who the credential is about, as it appears in it: salted hash only."""
    identity: str  # the learner id or email, never written anywhere in clear
    identity_type: str  # "identifier" or "emailAddress"
    salt: str
    subject_id: str  # credentialSubject.id and the JWT's sub: a random URN, different in each credential


@dataclass(frozen=True)
class Revocation:
    credential_id: str
    status_list: str
    reason: str
    revoked_at: datetime
    revoked_by: str


def identity_hash(identity: str, salt: str) -> str:
    """OB 3.0 IdentityHash: "sha256$" + hex SHA-256 of the UTF-8 identity with the salt appended."""
    return "sha256$" + hashlib.sha256((identity + salt).encode("utf-8")).hexdigest()


def status_list_of(credential_id: str, lists: int) -> str:
    """Which revocation list a credential is on: stable for a credential id, spread evenly over the lists."""
    return str(int(hashlib.sha256(credential_id.encode()).hexdigest()[:8], 16) % lists)


def build_credential(config: CredentialConfig, credential_id: str, achievement: Achievement, award: Award,
                     subject: Subject, status_list: str) -> dict:
    valid_from = award.awarded_at.astimezone(timezone.utc).replace(microsecond=0)
    credential = {
        "@context": list(CONTEXT),
        "id": config.credential_url(credential_id),
        "type": list(CREDENTIAL_TYPE),
        "issuer": {"id": config.issuer_id, "type": ["Profile"], "name": config.issuer_name},
        "validFrom": utc_iso(valid_from),
        "name": achievement.name,
        "credentialSubject": {
            "id": subject.subject_id,
            "type": ["AchievementSubject"],
            "identifier": [{"type": "IdentityObject", "identityHash": identity_hash(subject.identity, subject.salt),
                            "identityType": subject.identity_type, "hashed": True, "salt": subject.salt}],
            "achievement": {
                "id": config.achievement_url(achievement.badge_id),
                "type": ["Achievement"],
                "name": achievement.name,
                "description": achievement.description,
                "criteria": {"narrative": achievement.criteria},
                "image": {"id": config.image_url(achievement.badge_id), "type": "Image",
                          "caption": f"{achievement.name} badge"},
            },
        },
        "credentialStatus": {"id": config.status_list_url(status_list), "type": STATUS_TYPE},
    }
    if config.valid_days:
        credential["validUntil"] = utc_iso(valid_from + timedelta(days=config.valid_days))
    return credential


def _numeric(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp).timestamp())


def jwt_claims(credential: dict) -> dict:
    """The JWT payload: the credential itself with the registered claims the OB 3.0 spec maps onto it."""
    claims = dict(credential)
    claims.update(iss=credential["issuer"]["id"], jti=credential["id"], sub=credential["credentialSubject"]["id"],
                  nbf=_numeric(credential["validFrom"]))
    if "validUntil" in credential:
        claims["exp"] = _numeric(credential["validUntil"])
    return claims


def sign(credential: dict, key: IssuerKey, config: CredentialConfig) -> str:
    return jwt.encode(jwt_claims(credential), key.private, algorithm=key.algorithm,
                      headers={"kid": config.key_uri(key.kid), "typ": "JWT"})


def credential_of(claims: dict) -> dict:
    """The credential a JWT payload carries (VC 1.1-style tokens wrap it in a `vc` claim)."""
    if isinstance(claims.get("vc"), dict):
        return claims["vc"]
    return {k: v for k, v in claims.items() if k not in _JWT_CLAIMS}


# --- verification -------------------------------------------------------------------------------------------

RevocationLookup = Callable[[str, str], Optional[Revocation]]  # (status list id, credential URL) -> revocation


class _Checks:
    def __init__(self):
        self.items: list[dict] = []

    def add(self, check: str, ok: bool, reason: str) -> bool:
        self.items.append({"check": check, "ok": ok, "reason": reason})
        return ok

    @property
    def valid(self) -> bool:
        return bool(self.items) and all(c["ok"] for c in self.items)


def compact_jwt_of(presented) -> tuple[Optional[str], Optional[dict], str]:
    """(compact JWT, JSON credential presented beside it or None, why not) from what a verifier was given:
    the compact JWT; a VC 2.0 EnvelopedVerifiableCredential; a credential whose proof carries a `jwt`; or the
    {credential, jwt} document our GET /credentials/{id} returns."""
    if isinstance(presented, str):
        return presented.strip(), None, ""
    if not isinstance(presented, dict):
        return None, None, "the credential must be a compact VC-JWT or a JSON credential carrying one"
    envelope = presented.get("id")
    if isinstance(envelope, str) and envelope.startswith(ENVELOPE_PREFIX):
        return envelope[len(ENVELOPE_PREFIX):], None, ""
    if isinstance(presented.get("jwt"), str):
        return presented["jwt"], presented.get("credential") if isinstance(presented.get("credential"), dict) \
            else None, ""
    proofs = presented.get("proof")
    for proof in proofs if isinstance(proofs, list) else [proofs]:
        if isinstance(proof, dict) and isinstance(proof.get("jwt"), str):
            return proof["jwt"], {k: v for k, v in presented.items() if k != "proof"}, ""
    return None, None, "the JSON credential carries no VC-JWT proof (proof.jwt) to check"


def _unverified_header(token: str) -> Optional[dict]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        return None
    return header if isinstance(header, dict) else None


def _kid_of(header: dict, config: CredentialConfig) -> Optional[str]:
    kid = header.get("kid")
    if not isinstance(kid, str):
        return None
    prefix = config.jwks_url + "#"
    return kid[len(prefix):] if kid.startswith(prefix) else kid


def _payload_json(token: str) -> Optional[dict]:
    try:
        segment = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _parse_time(value) -> Optional[datetime]:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def verify(presented, config: CredentialConfig, keys: IssuerKeys, revocation_of: RevocationLookup,
           now: datetime) -> dict:
    """{valid, checks: [{check, ok, reason}], credential?}: every check that could be made, each saying why it
    failed. The signature comes first: nothing in a token whose signature fails is believed or returned."""
    checks = _Checks()
    token, beside, why = compact_jwt_of(presented)
    if token is None:
        checks.add("format", False, why)
        return {"valid": False, "checks": checks.items}
    if len(token) > MAX_JWT_LENGTH or not _COMPACT_JWS.fullmatch(token):
        checks.add("format", False, "not a compact JWS (three base64url parts separated by dots)")
        return {"valid": False, "checks": checks.items}
    header, payload = _unverified_header(token), _payload_json(token)
    if header is None or payload is None:
        checks.add("format", False, "the JOSE header or the JWT payload is not base64url-encoded JSON")
        return {"valid": False, "checks": checks.items}
    if header.get("alg") not in ALGORITHMS:
        checks.add("format", False, f"the signing algorithm must be one of {', '.join(ALGORITHMS)}")
        return {"valid": False, "checks": checks.items}
    checks.add("format", True, "a compact VC-JWT")

    key = keys.verification_key(_kid_of(header, config))
    if key is None or key.algorithm != header.get("alg"):
        checks.add("key", False, "signed with a key (kid) this issuer does not publish in its JWKS")
        return {"valid": False, "checks": checks.items}
    checks.add("key", True, f"issuer key {key.kid}")

    try:
        claims = jwt.decode(token, key.public, algorithms=[key.algorithm],
                            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                                     "verify_aud": False, "verify_iss": False})
    except jwt.InvalidSignatureError:
        checks.add("signature", False, "the signature does not match: the credential was altered or not signed "
                                       "by this issuer")
        return {"valid": False, "checks": checks.items}
    except jwt.InvalidTokenError as exc:
        checks.add("signature", False, f"the token could not be checked ({type(exc).__name__})")
        return {"valid": False, "checks": checks.items}
    checks.add("signature", True, "signed by this issuer")

    credential = credential_of(claims)
    _check_content(checks, claims, credential, beside, config)
    _check_dates(checks, claims, credential, now)
    _check_revocation(checks, credential, config, revocation_of)
    return {"valid": checks.valid, "checks": checks.items, "credential": credential}


def _check_content(checks: _Checks, claims: dict, credential: dict, beside: Optional[dict],
                   config: CredentialConfig) -> None:
    issuer = credential.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if claims.get("iss") != config.issuer_id or issuer_id != config.issuer_id:
        checks.add("issuer", False, f"issued by {str(claims.get('iss'))[:200]!r}, not by {config.issuer_id}")
    else:
        checks.add("issuer", True, config.issuer_id)
    types = credential.get("type") if isinstance(credential.get("type"), list) else [credential.get("type")]
    subject = credential.get("credentialSubject") if isinstance(credential.get("credentialSubject"), dict) else {}
    mismatched = [name for name, ok in (
        ("type", all(t in types for t in CREDENTIAL_TYPE)),
        ("@context", credential.get("@context", [])[:2] == CONTEXT if isinstance(credential.get("@context"), list)
         else False),
        ("jti", claims.get("jti") == credential.get("id")),
        ("sub", claims.get("sub") == subject.get("id")),
        ("nbf", _parse_time(credential.get("validFrom")) is not None
         and claims.get("nbf") == int(_parse_time(credential["validFrom"]).timestamp())),
        ("exp", claims.get("exp") == (int(_parse_time(credential["validUntil"]).timestamp())
                                      if _parse_time(credential.get("validUntil")) else None)),
        ("presented JSON", beside is None or {k: v for k, v in beside.items() if k != "proof"} == credential),
    ) if not ok]
    if mismatched:
        checks.add("claims", False, "the JWT claims and the credential disagree on: " + ", ".join(mismatched))
    else:
        checks.add("claims", True, "an OpenBadgeCredential whose JWT claims match it")


def _check_dates(checks: _Checks, claims: dict, credential: dict, now: datetime) -> None:
    valid_from, valid_until = _parse_time(credential.get("validFrom")), _parse_time(credential.get("validUntil"))
    if valid_from is None:
        checks.add("dates", False, "validFrom is missing or not a date-time with a time zone")
    elif valid_from > now:
        checks.add("dates", False, f"not valid before {utc_iso(valid_from)}")
    elif valid_until is not None and valid_until <= now:
        checks.add("dates", False, f"expired on {utc_iso(valid_until)}")
    else:
        checks.add("dates", True, f"valid from {utc_iso(valid_from)}"
                   + (f" until {utc_iso(valid_until)}" if valid_until else ", no expiry"))


def _check_revocation(checks: _Checks, credential: dict, config: CredentialConfig,
                      revocation_of: RevocationLookup) -> None:
    status = credential.get("credentialStatus")
    prefix = config.status_list_url("")
    if not isinstance(status, dict) or status.get("type") != STATUS_TYPE or \
            not str(status.get("id", "")).startswith(prefix):
        checks.add("revocation", False, "no revocation list of this issuer to check (credentialStatus)")
        return
    revocation = revocation_of(status["id"][len(prefix):], str(credential.get("id")))
    if revocation is not None:
        checks.add("revocation", False, f"revoked on {utc_iso(revocation.revoked_at)}: {revocation.reason}")
    else:
        checks.add("revocation", True, "not on the issuer's revocation list")
