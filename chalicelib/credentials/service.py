"""Credential use cases: issue (idempotent), serve, verify, revoke; the issuer profile, keys and images."""
from __future__ import annotations

import re
import secrets
import uuid
from datetime import datetime
from typing import Optional

from chalicelib.credentials import ob3
from chalicelib.credentials.achievements import DomainEventCampaignAwards, achievement_for, public_achievement
from chalicelib.credentials.images import badge_svg
from chalicelib.errors import bad_request, not_found, json_object, storable_text
from chalicelib.events import is_id
from chalicelib.facts import consume
from chalicelib.identity.access import forbidden, require_national_admin
from chalicelib.rules.periods import utc_iso
from chalicelib.credentials.store import IssuedCredential

CREDENTIAL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
STATUS_LIST_ID = re.compile(r"[0-9]{1,4}")


def _campaign_awards(adapters):
    return adapters.campaign_awards or DomainEventCampaignAwards(adapters.domain_events)


def _holder(learner_id: str, principal, adapters):
    """The learner themself (and a national admin, for support); anyone else 403, ids never probed."""
    stored = adapters.learners.get(learner_id) if is_id(learner_id) else None
    if principal.sub != learner_id and not principal.has("national_admin"):
        raise forbidden("only the learner may get their badge credentials")
    if stored is None:
        raise not_found(f"learner {learner_id[:128]}")
    return stored


def _subject(stored, config) -> ob3.Subject:
    email = (stored.standing.profile.email or "").strip().lower()
    identity, identity_type = ((email, "emailAddress") if config.identity == "emailAddress" and email
                               else (stored.standing.learner_id, "identifier"))
    return ob3.Subject(identity, identity_type, secrets.token_hex(16), f"urn:uuid:{uuid.uuid4()}")


def credential_for_award(learner_id: str, badge_id: str, principal, adapters, now: datetime) -> dict:
    """The learner's credential for one badge they hold: issued and signed on first request, the same one
    (same id, same signature) ever after."""
    stored = _holder(learner_id, principal, adapters)
    existing = adapters.credentials.for_award(learner_id, badge_id) if is_id(badge_id) else None
    if existing is None:
        found = achievement_for(badge_id, learner_id, stored.standing, adapters.catalogue,
                                _campaign_awards(adapters)) if is_id(badge_id) else None
        if found is None:
            raise not_found(f"badge {badge_id[:128]} of learner {learner_id[:128]}")
        achievement, award = found
        config, key = adapters.credential_config, adapters.issuer_keys.signing_key()
        credential_id = str(uuid.uuid4())
        status_list = ob3.status_list_of(credential_id, config.status_lists)
        credential = ob3.build_credential(config, credential_id, achievement, award, _subject(stored, config),
                                          status_list)
        existing = adapters.credentials.add(IssuedCredential(
            credential_id, learner_id, badge_id, now, key.kid, status_list, ob3.sign(credential, key, config)))
    return credential_document(existing, adapters)


def credential_document(issued: IssuedCredential, adapters) -> dict:
    config = adapters.credential_config
    revocation = issued.revocation
    return {"credential_id": issued.credential_id, "credential": issued.credential, "jwt": issued.jwt,
            "share_url": config.credential_url(issued.credential_id),
            "revoked": {"reason": revocation.reason, "revoked_at": utc_iso(revocation.revoked_at)}
            if revocation else None}


def public_credential(credential_id: str, adapters) -> IssuedCredential:
    issued = adapters.credentials.get(credential_id) if CREDENTIAL_ID.fullmatch(credential_id) else None
    if issued is None:
        raise not_found(f"credential {credential_id[:128]}")
    return issued


# --- verification and revocation ---------------------------------------------------------------------------

def _revocation_lookup(adapters):
    prefix = adapters.credential_config.credential_url("")

    def lookup(status_list: str, credential_url: str) -> Optional[ob3.Revocation]:
        credential_id = credential_url[len(prefix):] if credential_url.startswith(prefix) else ""
        if not (STATUS_LIST_ID.fullmatch(status_list) and CREDENTIAL_ID.fullmatch(credential_id)):
            return None
        return adapters.credentials.revocation(status_list, credential_id)
    return lookup


def verify_credential(raw_body: Optional[bytes], adapters, now: datetime) -> dict:
    presented = json_object(raw_body).get("credential")
    if not isinstance(presented, (str, dict)) or not presented:
        raise bad_request("credential", "is required: a compact VC-JWT, or a JSON credential carrying one")
    return ob3.verify(presented, adapters.credential_config, adapters.issuer_keys, _revocation_lookup(adapters),
                      now)


def revoke_credential(credential_id: str, raw_body: Optional[bytes], principal, adapters, now: datetime) -> dict:
    """National admins only (for example after the anti-abuse review). Idempotent: the first reason stands."""
    require_national_admin(principal)
    reason = json_object(raw_body).get("reason")
    limit = adapters.credential_config.max_reason_length
    if not isinstance(reason, str) or not reason.strip() or len(reason) > limit or not storable_text(reason):
        raise bad_request("reason", f"is required: why the credential is revoked, 1 to {limit} characters "
                                    "(verifiers are shown it)")
    issued = public_credential(credential_id, adapters)
    revocation = adapters.credentials.revoke(issued, reason.strip(), principal.sub, now)
    return {"credential_id": issued.credential_id, "reason": revocation.reason,
            "revoked_at": utc_iso(revocation.revoked_at), "revoked_by": revocation.revoked_by}


def revoke_withdrawn(learner_id: str, reason: str, by: str, adapters, now: datetime) -> list[ob3.Revocation]:
    """Revoke the learner's credentials for catalogue badges they no longer hold (scoring took the award back,
    for example when the event that earned it was held and then rejected in the anti-abuse review)."""
    stored = adapters.learners.get(learner_id)
    if stored is None:
        return []
    catalogue = {b.id for b in adapters.catalogue}
    return [adapters.credentials.revoke(issued, reason, by, now)
            for issued in adapters.credentials.for_learner(learner_id)
            if issued.revocation is None and issued.badge_id in catalogue
            and issued.badge_id not in stored.standing.badges]


def revoke_on_rejection(facts, adapters, now: datetime, log=None) -> int:
    """The review.rejected handler (bootstrap.FACT_HANDLERS): a rejected event's award is not the learner's."""
    revoked = 0
    for fact in facts:
        revoked += len(revoke_withdrawn(fact.learner_id, fact.payload["reason"], fact.payload["by"], adapters, now))
        consume(adapters, [fact])
    return revoked


def revocation_list(list_id: str, adapters) -> dict:
    config = adapters.credential_config
    if not STATUS_LIST_ID.fullmatch(list_id):  # any list a credential may name; one with no revocations is empty
        raise not_found(f"revocation list {list_id[:16]}")
    return {"id": config.status_list_url(list_id), "type": ob3.STATUS_TYPE, "issuer": config.issuer_id,
            "revokedCredentials": [{"id": config.credential_url(r.credential_id), "revocationReason": r.reason,
                                    "revokedAt": utc_iso(r.revoked_at)}
                                   for r in adapters.credentials.revocations(list_id)]}


# --- the issuer, its keys, the badge images ----------------------------------------------------------------

def issuer_profile(adapters) -> dict:
    config = adapters.credential_config
    return {"@context": list(ob3.CONTEXT), "id": config.issuer_id, "type": ["Profile"], "name": config.issuer_name,
            "description": config.issuer_description, "url": config.base_url,
            "jwks_uri": config.jwks_url, "publicKey": adapters.issuer_keys.public_jwks()["keys"]}


def issuer_jwks(adapters) -> dict:
    return adapters.issuer_keys.public_jwks()


def badge_image(badge_id: str, adapters) -> str:
    achievement = public_achievement(badge_id, adapters.catalogue) if is_id(badge_id) else None
    if achievement is None:
        raise not_found(f"badge {badge_id[:128]}")
    return badge_svg(achievement)


def cache_headers(adapters) -> dict:
    return {"Cache-Control": f"public, max-age={adapters.credential_config.cache_seconds}"}
