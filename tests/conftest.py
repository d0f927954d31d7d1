"""Test set-up shared by every tier.

The environment is fixed before anything imports boto3 or the models: fake credentials, one region, and no
endpoint variables, so that in-process moto sees every call and nothing reaches a running local server.
"""
import os

for _name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")] + ["DYNAMODB_HOST"]:
    os.environ.pop(_name, None)
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "ap-south-1", "AWS_REGION": "ap-south-1",
    "KARMAYOGI_STAGE": "test", "KARMAYOGI_WEBHOOK_SECRETS": "test-secret-new,test-secret-old",
    # chalice.test.Client runs the app as the "dev" stage, where unsubscribe links need a configured secret
    "KARMAYOGI_UNSUBSCRIBE_SECRET": "test-unsubscribe-secret",
    "KARMAYOGI_PUBLIC_BASE_URL": "http://127.0.0.1:8000",  # as the local stack sets it
    # the page session cookie's keys (pages/session.py); no OpenID provider unless a test wires one
    "KARMAYOGI_SESSION_SECRETS": "test-session-secret-new,test-session-secret-old",
})

import json  # noqa: E402
import time  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402  (imported before any client is created)
from local.board_stream import settled  # noqa: E402


def _serialise_moto_stream_appends() -> None:
    """moto numbers a stream record len(records) + start, read and appended without a lock: two board entries
    written at once by the store's pool can get the same sequence number, and a shard iterator after it then reads
    the same record forever (the board stream's drain never ends). DynamoDB numbers records atomically; so
    does moto here."""
    import threading
    from moto.dynamodb.models.table import StreamShard
    lock, add = threading.Lock(), StreamShard.add

    def locked_add(self, old, new):
        with lock:
            add(self, old, new)
    StreamShard.add = locked_add


_serialise_moto_stream_appends()

from local.dev_keys import mint, new_private_key, private_jwk, public_jwk  # noqa: E402

# The tests' own signing key: its public half is the JWKS the app trusts; nothing is committed.
TEST_KEY, TEST_KID = new_private_key("RS256"), "test-key-1"
os.environ["KARMAYOGI_JWKS"] = json.dumps({"keys": [public_jwk(TEST_KEY, TEST_KID)]})
# And its own credential signing key (Open Badges credentials): the issuer key set, private part included.
TEST_ISSUER_KEY, TEST_ISSUER_KID = new_private_key("ES256"), "test-issuer-1"
os.environ["KARMAYOGI_ISSUER_KEYS"] = json.dumps({"keys": [private_jwk(TEST_ISSUER_KEY, TEST_ISSUER_KID)]})
# Roster imports write with one thread here: moto's in-process backend is not thread-safe (a deepcopy of its
# state can meet a concurrent write). Concurrent writers are tested on DynamoDB Local (tests/integration).
_ROSTERS = Path(__file__).resolve().parents[1] / "chalicelib" / "rosters" / "config.toml"
_ONE_WRITER = Path(os.environ.get("TMPDIR", "/tmp")) / "karmayogi-test-rosters-one-writer.toml"
_ONE_WRITER.write_text(_ROSTERS.read_text(encoding="utf-8").replace("\nwriters = 4\n", "\nwriters = 1\n"),
                       encoding="utf-8")
os.environ["KARMAYOGI_ROSTERS_FILE"] = str(_ONE_WRITER)

from chalicelib import bootstrap, settings  # noqa: E402
from chalicelib.ingestion.signature import HEADER, sign  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
FIXTURES = PROJECT / "local" / "fixtures"
SECRET = "test-secret-new"


def fixture_event(name: str):
    return json.loads((FIXTURES / "events" / f"{name}.json").read_text())


def token(sub: str = "admin-1", roles=("national_admin",), org_id=None, **claims) -> str:
    return mint(TEST_KEY, TEST_KID, sub, list(roles), org_id, issuer=settings.JWT_ISSUER,
                audience=settings.JWT_AUDIENCE, **claims)


def bearer(sub: str = "admin-1", roles=("national_admin",), org_id=None) -> dict:
    return {"Authorization": f"Bearer {token(sub, roles, org_id)}"}


class _AuthenticatedHttp:
    """chalice.test.Client's http, sending a national admin's token unless the test sets Authorization itself
    (or passes authorization=None to send none)."""
    _DEFAULT = object()

    def __init__(self, http):
        self._http, self._default = http, bearer()

    def request(self, method, path, headers=None, body=b"", authorization=_DEFAULT):
        headers = dict(headers or {})
        if authorization is self._DEFAULT:
            headers = {**self._default, **headers}
        elif authorization is not None:
            headers["Authorization"] = authorization
        return self._http.request(method, path, headers=headers, body=body)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def signed_headers(body: bytes, secret: str = SECRET, timestamp=None) -> dict:
    return {"Content-Type": "application/json",
            HEADER: sign(body, secret, int(time.time() if timestamp is None else timestamp))}


def pytest_ignore_collect(collection_path, config):
    """tests/e2e (a real browser against a local stack it starts) runs only when named: `make test-e2e`."""
    if collection_path.name == "e2e" and collection_path.parent == PROJECT / "tests":
        return not any("e2e" in str(arg) for arg in config.args)
    return None


@pytest.fixture
def memory():
    """Use cases wired to in-memory fakes."""
    adapters = bootstrap.memory_adapters()
    bootstrap.use(adapters)
    yield adapters
    bootstrap.use(None)


@contextmanager
def aws_world():
    """Moto in-process with every table and queue created; the app wired to the real (DynamoDB/SQS) adapters."""
    from chalicelib.tables import ALL_MODELS
    with mock_aws():
        for model in ALL_MODELS:  # moto creates tables already active: no need to wait
            model.create_table(wait=False, billing_mode="PAY_PER_REQUEST")
        bootstrap._aws_clients()["sqs"].create_queue(QueueName=settings.SCORING_QUEUE)
        bootstrap._aws_clients()["sqs"].create_queue(QueueName=settings.NOTIFICATIONS_QUEUE)
        bootstrap._aws_clients()["sqs"].create_queue(QueueName=settings.AUDIT_QUEUE)
        adapters = bootstrap.aws_adapters()
        settled(adapters)  # board aggregates are folded from the entries' stream: reads drain it first
        bootstrap.use(adapters)
        try:
            yield adapters
        finally:
            bootstrap.use(None)


@contextmanager
def app_client():
    """chalice.test.Client on the app, sending a national admin's token by default (see _AuthenticatedHttp)."""
    from chalice.test import Client
    import app as application
    with Client(application.app, project_dir=str(PROJECT)) as c:
        c._http_client = _AuthenticatedHttp(c.http)
        yield c


@pytest.fixture
def aws():
    with aws_world() as adapters:
        yield adapters


@pytest.fixture
def dev_routes():
    """The local stack's own routes (local/dev_routes.py: /dev/outbox) on the app for one test, taken
    off again afterwards. Ask for it before `client` (or a fixture using it): the test client reads the routes
    when it is made."""
    import app as application
    from local import dev_routes as routes
    routes.register(application.app)
    try:
        yield routes
    finally:
        for path, method in routes.ROUTES:
            application.app.routes[path].pop(method, None)
            if not application.app.routes[path]:
                del application.app.routes[path]


@pytest.fixture
def client(aws):
    with app_client() as c:
        yield c


def pump(client, adapters) -> int:
    """Deliver every queued scoring message to the SQS handler, as Lambda would. Returns messages handled."""
    sqs, url, handled = bootstrap._aws_clients()["sqs"], adapters.queue.url, 0
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return handled
        event = client.events.generate_sqs_event([m["Body"] for m in messages], queue_name=settings.SCORING_QUEUE)
        client.lambda_.invoke("score_streams", event)
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for n, m in enumerate(messages)])
        handled += len(messages)
