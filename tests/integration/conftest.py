"""The integration tier: the real DynamoDB adapters against DynamoDB Local (AWS's own engine). No moto here.

tests/conftest.py runs first and removes every AWS_ENDPOINT_URL*; this file points DynamoDB at a local port
chosen now, at import time, before any model creates its (cached) botocore client. PynamoDB passes
`Meta.host` (None here) as endpoint_url, so botocore falls back to AWS_ENDPOINT_URL_DYNAMODB. The server is
started on that port by the session fixture. Run this tier in its own pytest process (`make test-integration`):
the endpoint variable would otherwise leak into the moto tests.
"""
import os

from local.dynamodb_local import free_port, start

PORT = free_port()
ENDPOINT = f"http://127.0.0.1:{PORT}"
os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = ENDPOINT
os.environ.pop("KARMAYOGI_ROSTERS_FILE", None)  # DynamoDB is thread-safe: roster imports use all their writers

import uuid  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import botocore.session  # noqa: E402
import pytest  # noqa: E402

from chalicelib import bootstrap, settings  # noqa: E402
from chalicelib.leaderboards.settings import board_settings  # noqa: E402
from chalicelib.tables import ALL_MODELS  # noqa: E402
from chalicelib.leaderboards.store import DynamoBoardStore  # noqa: E402
from chalicelib.storage.dynamodb import (DynamoEventStore, DynamoLearnerRepository,  # noqa: E402
                                         DynamoOrgRepository, create_tables)
from chalicelib.storage.memory import MemoryStreamQueue  # noqa: E402
from chalicelib.review.store import DynamoReviewStore  # noqa: E402
from local.board_stream import settled  # noqa: E402
from chalicelib.rosters.store import DynamoRosterStore  # noqa: E402

MODELS = ALL_MODELS

SECRET = "integration-secret"


def pytest_collection_modifyitems(config, items):
    """This file points DynamoDB at a local port for the whole process: moto tests in the same run would send
    their calls there instead of to the mock. Refuse the mix."""
    here = Path(__file__).parent
    strangers = [item.nodeid for item in items if here not in item.path.parents]
    if strangers:
        raise pytest.UsageError(f"tests/integration runs in its own pytest process (make test-integration); "
                                f"this run also collected {strangers[0]} and {len(strangers) - 1} more")


def _client():
    return botocore.session.get_session().create_client("dynamodb", region_name=settings.REGION,
                                                        endpoint_url=ENDPOINT)


@pytest.fixture(scope="session")
def dynamodb_local():
    """DynamoDB Local on ENDPOINT with every table created once; yields a plain botocore client on it."""
    process = start(PORT)
    try:
        for model in MODELS:
            model._connection = None  # whatever was cached, the next call builds a client on ENDPOINT
        create_tables()
        client = _client()
        listed = set(client.list_tables()["TableNames"])
        missing = {m.Meta.table_name for m in MODELS} - listed
        assert not missing, f"tables not created in DynamoDB Local: {missing}"
        for model in MODELS:  # every model really talks to the local server, not to AWS or a mock
            assert model._get_connection().connection.client.meta.endpoint_url == ENDPOINT
        yield client
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except Exception:
            process.kill()
        os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
        for model in MODELS:
            model._connection = None


def _empty_tables(client) -> None:
    for model in MODELS:
        name = model.Meta.table_name
        keys = [k["AttributeName"] for k in model._get_schema()["key_schema"]]
        pages = client.get_paginator("scan").paginate(
            TableName=name, ProjectionExpression=", ".join(f"#k{i}" for i in range(len(keys))),
            ExpressionAttributeNames={f"#k{i}": k for i, k in enumerate(keys)}, ConsistentRead=True)
        items = [item for page in pages for item in page["Items"]]
        for start_at in range(0, len(items), 25):
            requests = [{"DeleteRequest": {"Key": item}} for item in items[start_at:start_at + 25]]
            while requests:
                left = client.batch_write_item(RequestItems={name: requests}).get("UnprocessedItems", {})
                requests = left.get(name, [])


@pytest.fixture(scope="session")
def stores(dynamodb_local) -> dict:
    """The DynamoDB adapters, made once: each holds a connection whose client costs 100-200 ms to create."""
    return dict(events=DynamoEventStore(), learners=DynamoLearnerRepository(), orgs=DynamoOrgRepository(),
                boards=DynamoBoardStore(board_settings()), reviews=DynamoReviewStore(), rosters=DynamoRosterStore())


@pytest.fixture
def adapters(dynamodb_local, stores):
    """The real DynamoDB adapters on empty tables; the scoring queue is an in-memory list."""
    _empty_tables(dynamodb_local)
    wired = bootstrap.Adapters(**stores, queue=MemoryStreamQueue(), webhook_secrets=lambda: [SECRET])
    settled(wired).skip()  # aggregate reads drain the entries' stream first; the emptying above is not folded
    bootstrap.use(wired)
    yield wired
    bootstrap.use(None)


@pytest.fixture
def learner_id() -> str:
    return f"it-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def now() -> datetime:
    return datetime.now(timezone.utc)
