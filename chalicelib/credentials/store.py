"""Issued credentials, their revocations, and the domain events campaign awards are read from: the small
interfaces the credential use cases need, their DynamoDB adapters and in-memory twins."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Optional, Protocol

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.credentials.ob3 import Revocation, credential_of
from chalicelib.storage.models import DomainEventRecord
from chalicelib.credentials.models import CredentialRecord, RevocationRecord
from chalicelib.facts import DomainEvent
from chalicelib.storage.conditions import applied, conditional_failed


@dataclass(frozen=True)
class IssuedCredential:
    credential_id: str
    learner_id: str
    badge_id: str
    issued_at: datetime
    kid: str
    status_list: str
    jwt: str
    revocation: Optional[Revocation] = None

    @property
    def credential(self) -> dict:
        """The credential as signed (the JWT payload; it was checked when we signed it)."""
        segment = self.jwt.split(".")[1]
        return credential_of(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


class CredentialStore(Protocol):
    def for_award(self, learner_id: str, badge_id: str) -> Optional[IssuedCredential]: ...

    def for_learner(self, learner_id: str) -> list[IssuedCredential]:
        """Every credential issued to one learner (one Query)."""

    def get(self, credential_id: str) -> Optional[IssuedCredential]: ...

    def add(self, issued: IssuedCredential) -> IssuedCredential:
        """Store unless one was issued for this award already; returns the one stored (first write wins)."""

    def revoke(self, issued: IssuedCredential, reason: str, by: str, at: datetime) -> Revocation:
        """Put it on its revocation list. Revoking again returns the first revocation unchanged."""

    def revocation(self, status_list: str, credential_id: str) -> Optional[Revocation]: ...

    def revocations(self, status_list: str) -> list[Revocation]: ...


class DomainEvents(Protocol):
    def get(self, event_id: str) -> Optional[DomainEvent]: ...

    def add(self, event: DomainEvent, created_at: datetime) -> bool:
        """Store once by id; False if it was there already."""


# --- in memory --------------------------------------------------------------------------------------------

class MemoryCredentialStore:
    def __init__(self):
        self.issued: dict[tuple[str, str], IssuedCredential] = {}
        self.revoked: dict[str, dict[str, Revocation]] = {}

    def for_award(self, learner_id, badge_id):
        return self.issued.get((learner_id, badge_id))

    def for_learner(self, learner_id):
        return [c for (learner, _), c in sorted(self.issued.items()) if learner == learner_id]

    def get(self, credential_id):
        return next((c for c in self.issued.values() if c.credential_id == credential_id), None)

    def add(self, issued):
        return self.issued.setdefault((issued.learner_id, issued.badge_id), issued)

    def revoke(self, issued, reason, by, at):
        current = self.issued[(issued.learner_id, issued.badge_id)]
        if current.revocation is None:
            revocation = Revocation(current.credential_id, current.status_list, reason, at, by)
            self.issued[(issued.learner_id, issued.badge_id)] = replace(current, revocation=revocation)
            self.revoked.setdefault(current.status_list, {})[current.credential_id] = revocation
        return self.issued[(issued.learner_id, issued.badge_id)].revocation

    def revocation(self, status_list, credential_id):
        return self.revoked.get(status_list, {}).get(credential_id)

    def revocations(self, status_list):
        return sorted(self.revoked.get(status_list, {}).values(), key=lambda r: r.credential_id)


class MemoryDomainEvents:
    """Shares its dict with MemoryLearnerRepository.facts when wired by bootstrap.memory_adapters()."""

    def __init__(self, facts: Optional[dict] = None):
        self.facts: dict[str, DomainEvent] = facts if facts is not None else {}

    def get(self, event_id):
        return self.facts.get(event_id)

    def add(self, event, created_at):
        if event.id in self.facts:
            return False
        self.facts[event.id] = event
        return True


# --- DynamoDB ---------------------------------------------------------------------------------------------

def _issued_from(r: CredentialRecord) -> IssuedCredential:
    revocation = (Revocation(r.credential_id, r.status_list, r.revocation_reason or "", r.revoked_at,
                             r.revoked_by or "") if r.revoked_at else None)
    return IssuedCredential(r.credential_id, r.learner_id, r.badge_id, r.issued_at, r.kid, r.status_list, r.jwt,
                            revocation)


class DynamoCredentialStore:
    def __init__(self, connection: Optional[Connection] = None):
        from chalicelib import settings
        self._connection = connection or Connection(region=settings.REGION)  # for revocations' transactions

    def for_award(self, learner_id, badge_id):
        try:
            return _issued_from(CredentialRecord.get(learner_id, badge_id, consistent_read=True))
        except DoesNotExist:
            return None

    def for_learner(self, learner_id):
        return [_issued_from(r) for r in CredentialRecord.query(learner_id, consistent_read=True)]

    def get(self, credential_id):
        for record in CredentialRecord.by_credential.query(credential_id, limit=1):
            return _issued_from(record)
        return None

    def add(self, issued):
        record = CredentialRecord(issued.learner_id, issued.badge_id, credential_id=issued.credential_id,
                                  issued_at=issued.issued_at, kid=issued.kid, status_list=issued.status_list,
                                  jwt=issued.jwt)
        try:
            record.save(condition=CredentialRecord.badge_id.does_not_exist())
        except PutError as exc:
            if not conditional_failed(exc):
                raise
            return self.for_award(issued.learner_id, issued.badge_id)  # someone issued it first: theirs stands
        return issued

    def revoke(self, issued, reason, by, at):
        if issued.revocation is not None:
            return issued.revocation
        entry = RevocationRecord(issued.status_list, issued.credential_id, reason=reason, revoked_at=at,
                                 revoked_by=by)
        C = CredentialRecord
        try:
            with TransactWrite(connection=self._connection) as tx:  # the list and the credential's own record agree, always
                tx.save(entry, condition=RevocationRecord.credential_id.does_not_exist())
                tx.update(C(issued.learner_id, issued.badge_id),
                          actions=[C.revoked_at.set(at), C.revocation_reason.set(reason), C.revoked_by.set(by)],
                          condition=C.badge_id.exists() & C.revoked_at.does_not_exist())
        except TransactWriteError as exc:
            reasons = [r.code for r in (exc.cancellation_reasons or []) if r]
            if "ConditionalCheckFailed" not in reasons:
                raise
            current = self.for_award(issued.learner_id, issued.badge_id)  # revoked meanwhile: the first stands
            if current is None or current.revocation is None:
                raise
            return current.revocation
        return Revocation(issued.credential_id, issued.status_list, reason, at, by)

    def revocation(self, status_list, credential_id):
        try:
            r = RevocationRecord.get(status_list, credential_id)
        except DoesNotExist:
            return None
        return Revocation(r.credential_id, r.status_list, r.reason, r.revoked_at, r.revoked_by)

    def revocations(self, status_list):
        return [Revocation(r.credential_id, r.status_list, r.reason, r.revoked_at, r.revoked_by)
                for r in RevocationRecord.query(status_list)]


class DynamoDomainEvents:
    def get(self, event_id):
        try:
            r = DomainEventRecord.get(event_id)
        except DoesNotExist:
            return None
        return DomainEvent(r.id, r.kind, r.learner_id, r.occurred_at, r.payload or {})

    def add(self, event, created_at):
        record = DomainEventRecord(event.id, kind=event.kind, learner_id=event.learner_id,
                                   occurred_at=event.occurred_at, payload=event.payload, created_at=created_at)
        return applied(lambda: record.save(condition=DomainEventRecord.id.does_not_exist()))
