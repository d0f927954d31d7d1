"""The xAPI statements table (xapi/store.py). PynamoDB model; infra/resources.yaml declares the same table for AWS
(tests/test_infra.py checks it)."""
from __future__ import annotations

from pynamodb.attributes import JSONAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from chalicelib.storage.models import table_meta


class StatementRecord(Model):
    """Every statement accepted, as validated (its id included), whatever it means for scoring: the xAPI record
    of what the client said. Keyed by statement id, as ids are the LRS's: the conditional put is the check that
    an id is not reused with other content (409)."""
    Meta = table_meta("xapi-statements")
    statement_id = UnicodeAttribute(hash_key=True)
    client = UnicodeAttribute()
    digest = UnicodeAttribute()  # xapi/statements.py digest: what a re-post of this id must repeat
    received_at = UTCDateTimeAttribute()
    body = JSONAttribute()


XAPI_MODELS = (StatementRecord,)
