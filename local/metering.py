"""Count DynamoDB requests and capacity units, per operation and per table, through botocore client events.

    meter = DynamoMeter().install_for(adapters)   # every model's connection + the adapters' own connections
    before = meter.snapshot()
    ...                                           # do the work
    used = meter.since(before)
    print(used.table())                           # used.operations["GetItem"].rcu, used.tables[...], ...

Every call that accepts it is sent with ReturnConsumedCapacity=TOTAL (PynamoDB already does this for its own
calls) and the server's ConsumedCapacity is recorded. Two corrections bring the figures to what AWS bills,
following the rules in the DynamoDB developer guide ("Capacity unit consumption for write operations"):

* TransactWriteItems costs 2 WCU per item per started KB, and as much again for each secondary index the
  item is written to. DynamoDB Local 3.x reports about one item's worth per table for a multi-item
  transaction (measured: 10 small puts reported as 2 WCU), so for each table the meter keeps the larger of
  what the server reports and an estimate from the request: 2 WCU x KB of each Put's item plus, for each
  index of the table (known from the installed models) whose keys the item carries, 2 WCU x KB of what it
  projects. An Update, Delete or ConditionCheck counts as one 1 KB item with no index write, as the stored
  item is not in the request; a Put that moves an item within an index (one more index write) is not seen
  either. So transactional figures are a floor, exact for Puts of new items.
* A write whose condition fails returns an error without ConsumedCapacity, yet AWS charges for it (the
  larger of the existing and the new item). The meter charges the request's item size, at least 1 WCU.

`Counts.reported_wcu` keeps the server's own figure, so the corrections stay visible.

With `DynamoMeter(track_keys=True)` the meter also tallies, from the requests, every item written per
(table, partition key) and per (table, index): `key_writes()`, `index_writes()`. That shows hot partitions
(DynamoDB Local reports no per-partition or per-index figures). Items are counted for writes that succeeded or
failed their condition (both are billed), with an estimated WCU each (table part only: KB of a Put's item, 1
for an Update or Delete; twice that in a transaction); index writes are known for Puts only (an item carrying
the index's keys), so they are a floor: a Put that moves an item within an index also deletes its old index
entry (one more index write), and a Delete of an indexed item removes one; neither is seen. `Writes.replacing`
counts the index Puts conditioned on the item already existing (a condition other than attribute_not_exists):
at most that many index deletes are missing. BatchWriteItem items left unprocessed are counted as written.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

_READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "ExecuteStatement",
          "BatchExecuteStatement"}
_CONDITIONAL_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
_CONTEXT_KEY = "karmayogi_meter_estimate"
_WRITES_KEY = "karmayogi_meter_writes"


@dataclass
class Counts:
    requests: int = 0
    errors: int = 0
    rcu: float = 0.0
    wcu: float = 0.0  # as AWS would bill it (see the module doc)
    reported_wcu: float = 0.0  # as the server reported it

    def add(self, other: "Counts") -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def minus(self, other: "Counts") -> "Counts":
        return Counts(**{name: getattr(self, name) - getattr(other, name) for name in vars(self)})

    def is_zero(self) -> bool:
        return not any(vars(self).values())


@dataclass
class Writes:
    """Items written to one partition key (or index) and their estimated WCU (see the module doc)."""
    items: int = 0
    wcu: float = 0.0
    replacing: int = 0  # index writes only: Puts conditioned on the item existing (see the module doc)


@dataclass
class Usage:
    """What was consumed: by operation, and by table (`requests` there counts the calls that used the table,
    so a transaction over three tables counts once in each). Totals come from the operations."""
    operations: dict[str, Counts] = field(default_factory=dict)
    tables: dict[str, Counts] = field(default_factory=dict)
    error_codes: dict[str, int] = field(default_factory=dict)  # "PutItem:ConditionalCheckFailedException" -> n

    @property
    def total(self) -> Counts:
        total = Counts()
        for counts in self.operations.values():
            total.add(counts)
        return total

    @property
    def requests(self) -> int:
        return self.total.requests

    @property
    def errors(self) -> int:
        return self.total.errors

    @property
    def rcu(self) -> float:
        return self.total.rcu

    @property
    def wcu(self) -> float:
        return self.total.wcu

    def copy(self) -> "Usage":
        return Usage({k: Counts(**vars(v)) for k, v in self.operations.items()},
                     {k: Counts(**vars(v)) for k, v in self.tables.items()}, dict(self.error_codes))

    def minus(self, earlier: "Usage") -> "Usage":
        def diff(now: dict, before: dict) -> dict:
            out = {}
            for key, counts in now.items():
                delta = counts.minus(before.get(key, Counts()))
                if not delta.is_zero():
                    out[key] = delta
            return out
        codes = {k: v - earlier.error_codes.get(k, 0) for k, v in self.error_codes.items()
                 if v - earlier.error_codes.get(k, 0)}
        return Usage(diff(self.operations, earlier.operations), diff(self.tables, earlier.tables), codes)

    def table(self, by: str = "operation") -> str:
        """Plain text, one row per operation (or per table with by="table") and a total."""
        source = self.operations if by == "operation" else self.tables
        rows = sorted(source.items()) + ([("total", self.total)] if by == "operation" else [])
        width = max([len(by)] + [len(name) for name, _ in rows])
        lines = [f"{by:<{width}} {'requests':>8} {'errors':>6} {'RCU':>7} {'WCU':>7}"]
        lines += [f"{name:<{width}} {c.requests:>8} {c.errors:>6} {c.rcu:>7.1f} {c.wcu:>7.1f}" for name, c in rows]
        return "\n".join(lines)


# --- item sizes, as DynamoDB counts them ---------------------------------------------------------------------

def _number_size(text: str) -> int:
    digits = text.lstrip("+-").replace(".", "").lstrip("0").rstrip("0") or "0"
    return 1 + math.ceil(len(digits) / 2)


def _value_size(value: dict) -> int:
    (kind, data), = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        return _number_size(str(data))
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in data)
    if kind == "NS":
        return sum(_number_size(str(n)) for n in data)
    if kind == "BS":
        return sum(len(b) for b in data)
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in data.items())
    return 0


def item_size(item: dict) -> int:
    """Bytes of an item in DynamoDB's wire format ({"name": {"S": "..."}}), by the developer guide's rules."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _kb(size: int) -> int:
    return max(1, math.ceil(size / 1024))


@dataclass(frozen=True)
class _Index:
    keys: frozenset  # the index's key attributes: an item without all of them is not in the index
    projected: Optional[frozenset]  # attributes copied into the index; None for all of them
    name: str = ""


def _indexes_of(model) -> list[_Index]:
    schema = model._get_schema()
    table_keys = {k["AttributeName"] for k in schema["key_schema"]}
    found = []
    for index in schema.get("global_secondary_indexes", []) + schema.get("local_secondary_indexes", []):
        keys = frozenset(k["AttributeName"] for k in index["key_schema"])
        projection = index.get("projection", {})
        projected = (None if projection.get("ProjectionType") == "ALL"
                     else frozenset(table_keys | keys | set(projection.get("NonKeyAttributes", []))))
        found.append(_Index(keys, projected, index.get("index_name", "")))
    return found


def _hash_key_of(model) -> Optional[str]:
    for key in model._get_schema()["key_schema"]:
        if key["KeyType"] == "HASH":
            return key["AttributeName"]
    return None


def _key_value(value: Optional[dict]) -> str:
    if not value:
        return "?"
    (_, data), = value.items()
    return str(data)


def _item_writes(operation: str, params: dict, hash_keys: dict[str, str],
                 indexes: dict[str, list[_Index]]) -> list[tuple[str, str, float, list[tuple[str, float, bool]]]]:
    """(table, partition key, WCU estimate, [(index, WCU estimate, replacing)]) for each item a request writes."""
    def one(table: str, kind: str, body: dict, factor: int):
        item = body.get("Item") if kind == "Put" else body.get("Key")
        item = item or {}
        key = _key_value(item.get(hash_keys.get(table, ""))) if table in hash_keys else "?"
        if kind != "Put":
            return table, key, float(factor), []
        condition = body.get("ConditionExpression") or ""
        replacing = bool(condition) and "attribute_not_exists" not in condition
        landed = []
        for index in indexes.get(table, []):
            if index.keys <= item.keys():
                shown = item if index.projected is None else {k: v for k, v in item.items() if k in index.projected}
                landed.append((index.name, float(factor * _kb(item_size(shown))), replacing))
        return table, key, float(factor * _kb(item_size(item))), landed

    if operation == "PutItem":
        return [one(params.get("TableName", "?"), "Put", params, 1)]
    if operation in ("UpdateItem", "DeleteItem"):
        return [one(params.get("TableName", "?"), "Key", params, 1)]
    if operation == "BatchWriteItem":
        return [one(table, "Put" if "PutRequest" in request else "Key",
                    request.get("PutRequest") or request.get("DeleteRequest") or {}, 1)
                for table, requests in params.get("RequestItems", {}).items() for request in requests]
    if operation == "TransactWriteItems":
        found = []
        for action in params.get("TransactItems", []):
            (kind, body), = action.items()
            if kind != "ConditionCheck":  # billed, but writes nothing
                found.append(one(body.get("TableName", "?"), kind, body, 2))
        return found
    return []


def _put_cost(item: dict, indexes: list[_Index]) -> float:
    """Transactional WCU of putting this item: the table, then every index it lands in."""
    cost = 2 * _kb(item_size(item))
    for index in indexes:
        if index.keys <= item.keys():
            shown = item if index.projected is None else {k: v for k, v in item.items() if k in index.projected}
            cost += 2 * _kb(item_size(shown))
    return cost


def _estimate(operation: str, params: dict, indexes: dict[str, list[_Index]]) -> Optional[dict]:
    """What AWS would charge at least, from the request alone: {table: WCU}."""
    if operation == "TransactWriteItems":
        per_table: dict[str, float] = {}
        for action in params.get("TransactItems", []):
            (kind, body), = action.items()
            table = body["TableName"]
            cost = _put_cost(body.get("Item", {}), indexes.get(table, [])) if kind == "Put" else 2
            per_table[table] = per_table.get(table, 0) + cost
        return per_table
    if operation in _CONDITIONAL_WRITES and params.get("ConditionExpression"):
        size = item_size(params.get("Item", {})) if operation == "PutItem" else 0
        return {params.get("TableName", "?"): float(_kb(size))}
    return None


def _capacities(parsed: dict) -> list[dict]:
    consumed = parsed.get("ConsumedCapacity")
    if consumed is None:
        return []
    return consumed if isinstance(consumed, list) else [consumed]


def _split(operation: str, item: dict) -> tuple[float, float]:
    """(RCU, WCU) of one ConsumedCapacity entry."""
    read, write = item.get("ReadCapacityUnits"), item.get("WriteCapacityUnits")
    if read is not None or write is not None:
        return float(read or 0), float(write or 0)
    units = float(item.get("CapacityUnits") or 0)
    return (units, 0.0) if operation in _READS else (0.0, units)


class DynamoMeter:
    """Thread-safe counters fed by botocore events on every watched DynamoDB client."""

    def __init__(self, track_keys: bool = False) -> None:
        self._lock = threading.Lock()
        self._usage = Usage()
        self._watched: dict[int, Any] = {}  # id -> client, kept alive so that an id is never reused
        self._indexes: dict[str, list[_Index]] = {}  # table name -> its secondary indexes
        self._hash_keys: dict[str, str] = {}  # table name -> its partition key attribute
        self._track_keys = track_keys
        self._key_writes: dict[tuple[str, str], Writes] = {}
        self._index_writes: dict[tuple[str, str], Writes] = {}
        self._id = f"karmayogi-meter-{id(self)}"

    # --- wiring ----------------------------------------------------------------------------------------
    def install(self, models: Optional[Iterable[Any]] = None, connections: Iterable[Any] = ()) -> "DynamoMeter":
        """Watch the connection of each model (default: every model in chalicelib/tables.py) and the given
        connections (pynamodb Connections, such as the one DynamoLearnerRepository uses for transactions)."""
        if models is None:
            from chalicelib.tables import ALL_MODELS
            models = ALL_MODELS
        for model in models:
            self._indexes[model.Meta.table_name] = _indexes_of(model)
            hash_key = _hash_key_of(model)
            if hash_key:
                self._hash_keys[model.Meta.table_name] = hash_key
            self.watch(model._get_connection().connection)
        for connection in connections:
            self.watch(connection)
        return self

    def install_for(self, adapters: Any) -> "DynamoMeter":
        """Every model, plus the connection each DynamoDB adapter keeps for its transactions (`_connection`)."""
        parts = [getattr(adapters, name, None) for name in ("events", "learners", "orgs", "boards")]
        return self.install(connections=[p._connection for p in parts if getattr(p, "_connection", None)])

    def watch(self, target: Any) -> None:
        """Watch a pynamodb Connection or TableConnection, or a botocore/boto3 DynamoDB client. Idempotent.
        A pynamodb Connection creates its client here if it has none yet."""
        client = target
        if hasattr(client, "connection") and not hasattr(client, "meta"):  # TableConnection
            client = client.connection
        if not hasattr(client, "meta"):  # pynamodb Connection
            client = client.client
        if id(client) in self._watched:
            return
        events = client.meta.events
        events.register("provide-client-params.dynamodb.*", self._before, unique_id=self._id + "-params")
        events.register("after-call.dynamodb.*", self._record, unique_id=self._id + "-after")
        events.register("after-call-error.dynamodb.*", self._record_failure, unique_id=self._id + "-failure")
        self._watched[id(client)] = client

    # --- reading -------------------------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self._usage = Usage()
            self._key_writes = {}
            self._index_writes = {}

    def key_writes(self) -> dict[tuple[str, str], Writes]:
        """(table, partition key) -> items written there (only with track_keys=True; see the module doc)."""
        with self._lock:
            return {k: Writes(v.items, v.wcu, v.replacing) for k, v in self._key_writes.items()}

    def index_writes(self) -> dict[tuple[str, str], Writes]:
        """(table, index name) -> items written into that index, from Puts (a floor; see the module doc)."""
        with self._lock:
            return {k: Writes(v.items, v.wcu, v.replacing) for k, v in self._index_writes.items()}

    def snapshot(self) -> Usage:
        with self._lock:
            return self._usage.copy()

    def since(self, earlier: Usage) -> Usage:
        """What was consumed after `earlier` (a snapshot) was taken."""
        return self.snapshot().minus(earlier)

    # --- botocore hooks ------------------------------------------------------------------------------
    def _before(self, params: dict, model=None, context=None, **_) -> None:
        shape = getattr(model, "input_shape", None)
        if shape is not None and "ReturnConsumedCapacity" in shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        if context is not None and model is not None:
            context["karmayogi_operation"] = model.name
            estimate = _estimate(model.name, params, self._indexes)
            if estimate is not None:
                context[_CONTEXT_KEY] = estimate
            if self._track_keys:
                writes = _item_writes(model.name, params, self._hash_keys, self._indexes)
                if writes:
                    context[_WRITES_KEY] = writes

    def _record(self, parsed: dict, model=None, http_response=None, context=None, **_) -> None:
        operation = getattr(model, "name", "unknown")
        parsed = parsed or {}
        failed = http_response is not None and http_response.status_code >= 300
        code = parsed.get("Error", {}).get("Code") if failed else None
        corrected = (operation == "TransactWriteItems" and not failed) or code == "ConditionalCheckFailedException"
        estimate = ((context or {}).get(_CONTEXT_KEY) or {}) if corrected else {}
        per_table: dict[str, list[float]] = {table: [0.0, 0.0] for table in estimate}  # -> [rcu, reported wcu]
        for item in _capacities(parsed):
            rcu, wcu = _split(operation, item)
            totals = per_table.setdefault(item.get("TableName", "?"), [0.0, 0.0])
            totals[0] += rcu
            totals[1] += wcu
        with self._lock:
            ops = self._usage.operations.setdefault(operation, Counts())
            ops.requests += 1
            if failed:
                ops.errors += 1
                key = f"{operation}:{code or 'unknown'}"
                self._usage.error_codes[key] = self._usage.error_codes.get(key, 0) + 1
            for name, (rcu, reported) in per_table.items():
                billed = max(reported, estimate.get(name, 0.0))
                table = self._usage.tables.setdefault(name, Counts())
                table.requests += 1
                for counts in (ops, table):
                    counts.rcu += rcu
                    counts.wcu += billed
                    counts.reported_wcu += reported
            if self._track_keys and (not failed or code == "ConditionalCheckFailedException"):
                for table_name, key, wcu, landed in (context or {}).get(_WRITES_KEY, ()):
                    tally = self._key_writes.setdefault((table_name, key), Writes())
                    tally.items += 1
                    tally.wcu += wcu
                    for index_name, index_wcu, replacing in landed:
                        tally = self._index_writes.setdefault((table_name, index_name), Writes())
                        tally.items += 1
                        tally.wcu += index_wcu
                        tally.replacing += replacing

    def _record_failure(self, exception=None, context=None, **kwargs) -> None:
        """A call that got no response at all (connection error...): a request and an error, no capacity."""
        operation = (context or {}).get("karmayogi_operation", "unknown")
        with self._lock:
            ops = self._usage.operations.setdefault(operation, Counts())
            ops.requests += 1
            ops.errors += 1
            key = f"{operation}:{type(exception).__name__}"
            self._usage.error_codes[key] = self._usage.error_codes.get(key, 0) + 1
