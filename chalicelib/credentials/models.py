"""Open Badges credential tables (credentials/store.py): issued credentials and revocations.
PynamoDB models; infra/resources.yaml declares the same tables for AWS (tests/test_infra.py checks it)."""
from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.storage.models import table_meta


class ByCredentialIndex(GlobalSecondaryIndex):
    """A credential by its public id (GET /credentials/{id}, revocation): one Query."""
    class Meta:
        index_name = "by_credential"
        projection = AllProjection()
    credential_id = UnicodeAttribute(hash_key=True)


class CredentialRecord(Model):
    """An Open Badges credential issued for one award (chalicelib/credentials/). Keyed by (learner, badge), so
    issuing is idempotent: a conditional put, and the same credential ever after."""
    Meta = table_meta("credentials")
    learner_id = UnicodeAttribute(hash_key=True)
    badge_id = UnicodeAttribute(range_key=True)
    credential_id = UnicodeAttribute()
    by_credential = ByCredentialIndex()
    issued_at = UTCDateTimeAttribute()
    kid = UnicodeAttribute()  # the key that signed it: old keys stay published while their credentials live
    status_list = UnicodeAttribute()  # the revocation list it is on
    jwt = UnicodeAttribute()  # the signed credential (compact VC-JWT), served as issued
    revoked_at = UTCDateTimeAttribute(null=True)
    revocation_reason = UnicodeAttribute(null=True)
    revoked_by = UnicodeAttribute(null=True)


class RevocationRecord(Model):
    """One revoked credential on one public revocation list: a list is one Query of its partition, and a
    verification one GetItem. Revocations are rare, and spread over several lists."""
    Meta = table_meta("credential-revocations")
    status_list = UnicodeAttribute(hash_key=True)
    credential_id = UnicodeAttribute(range_key=True)
    reason = UnicodeAttribute()
    revoked_at = UTCDateTimeAttribute()
    revoked_by = UnicodeAttribute()


CREDENTIAL_MODELS = (CredentialRecord, RevocationRecord)
