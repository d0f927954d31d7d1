"""The xAPI statements store against DynamoDB Local: the conditional put that refuses a reused id, the consistent
batch read of a request's ids (over 100 ids: BatchGetItem's own page size), and two requests racing for one id."""
import threading
import uuid
from datetime import datetime, timezone

from chalicelib.xapi.store import DynamoStatementStore, StoredStatement

AT = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


def stored(sid: str, digest: str = "a" * 64, client: str = "lms-1") -> StoredStatement:
    return StoredStatement(sid, client, digest, AT,
                           {"id": sid, "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"}})


def test_an_id_is_stored_once_and_a_second_put_answers_what_is_there(dynamodb_local):
    store, sid = DynamoStatementStore(), str(uuid.uuid4())
    assert store.add(stored(sid)) is None
    assert store.add(stored(sid, "b" * 64, "lms-2")) == ("lms-1", "a" * 64)
    kept = store.get(sid)
    assert (kept.client, kept.digest, kept.received_at, kept.body["id"]) == ("lms-1", "a" * 64, AT, sid)
    assert store.get(str(uuid.uuid4())) is None


def test_the_ids_of_a_request_are_read_in_one_consistent_batch_beyond_a_page(dynamodb_local):
    store = DynamoStatementStore()
    ids = [str(uuid.uuid4()) for _ in range(130)]
    for sid in ids[:120]:
        store.add(stored(sid, sid.replace("-", "")[:32] * 2))
    found = store.digests(ids)
    assert set(found) == set(ids[:120])
    assert all(found[sid] == ("lms-1", sid.replace("-", "")[:32] * 2) for sid in ids[:120])
    assert store.digests([]) == {}


def test_two_requests_racing_for_one_id_store_one_statement(dynamodb_local):
    store, sid, answers = DynamoStatementStore(), str(uuid.uuid4()), []
    start = threading.Barrier(8)

    def put(n: int):
        start.wait()
        answers.append(store.add(stored(sid, f"{n:064d}")))
    threads = [threading.Thread(target=put, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [a for a in answers if a is None]
    assert len(winners) == 1 and len({a for a in answers if a is not None}) == 1
    assert store.get(sid).digest == next(a for a in answers if a is not None)[1]
