"""Where statements are kept: the port, its in-memory twin and the DynamoDB adapter (table xapi-statements)."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional, Protocol


@dataclass(frozen=True)
class StoredStatement:
    statement_id: str
    client: str
    digest: str
    received_at: datetime
    body: dict


class StatementStore(Protocol):
    def digests(self, statement_ids: list[str]) -> dict[str, tuple[str, str]]:
        """(client, digest) of those already stored (one consistent batch read)."""

    def add(self, statement: StoredStatement) -> Optional[tuple[str, str]]:
        """Store it unless its id is taken: None when stored, else the (client, digest) stored under that id."""

    def get(self, statement_id: str) -> Optional[StoredStatement]: ...


@dataclass
class MemoryStatementStore:
    items: dict[str, StoredStatement] = field(default_factory=dict)

    def digests(self, statement_ids: list[str]) -> dict[str, tuple[str, str]]:
        return {i: (self.items[i].client, self.items[i].digest) for i in statement_ids if i in self.items}

    def add(self, statement: StoredStatement) -> Optional[tuple[str, str]]:
        if statement.statement_id in self.items:
            stored = self.items[statement.statement_id]
            return stored.client, stored.digest
        self.items[statement.statement_id] = copy.deepcopy(statement)
        return None

    def get(self, statement_id: str) -> Optional[StoredStatement]:
        return copy.deepcopy(self.items.get(statement_id))


class DynamoStatementStore:
    def digests(self, statement_ids: list[str]) -> dict[str, tuple[str, str]]:
        from chalicelib.xapi.models import StatementRecord
        if not statement_ids:
            return {}
        return {r.statement_id: (r.client, r.digest) for r in StatementRecord.batch_get(
            statement_ids, consistent_read=True, attributes_to_get=["statement_id", "client", "digest"])}

    def add(self, statement: StoredStatement) -> Optional[tuple[str, str]]:
        from chalicelib.storage.conditions import applied
        from chalicelib.xapi.models import StatementRecord
        record = StatementRecord(statement.statement_id, client=statement.client, digest=statement.digest,
                                 received_at=statement.received_at, body=statement.body)
        if applied(lambda: record.save(condition=StatementRecord.statement_id.does_not_exist())):
            return None
        stored = self.get(statement.statement_id)
        return (stored.client, stored.digest) if stored is not None else None

    def get(self, statement_id: str) -> Optional[StoredStatement]:
        from chalicelib.xapi.models import StatementRecord
        try:
            r = StatementRecord.get(statement_id, consistent_read=True)
        except StatementRecord.DoesNotExist:
            return None
        return StoredStatement(r.statement_id, r.client, r.digest, r.received_at, r.body)
