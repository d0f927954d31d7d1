"""`make bench-peak`: a learning-week evening surge on DynamoDB Local, scored by 1, 8 and 32 parallel scorers, with
a model of DynamoDB's transaction conflicts (issue 18, the measuring half). `--quick` for a smoke run.

What it does, in order:

1. Starts DynamoDB Local and moto (local/bench.py's run_with_backends), and for each scorer count starts from empty
   tables: the org tree of --orgs mdos (local.seed.org_tree, the seed's tree) is posted through the signed webhook
   and scored.
2. The surge: --learners learners, placed in orgs with the seed's org sizes (local.seed.generate_events), each
   completing their first and then their second course on the same evening (--events in all, two a learner by
   default), posted in signed batches of 100 through the real webhook handler (chalicelib.ingestion.webhook.handle)
   by one producer thread while the scorers run. Every accepted event queues its learner's stream, as in AWS.
3. N scorer threads (1, 8, 32: --scorers) each take up to 10 queued stream messages at a time and hand them to
   the real scoring consumer, chalicelib.scoring.pipeline.recompute_streams, as the SQS handler does; a failed
   message goes back on the queue (SQS would redeliver it after its visibility timeout).
4. The conflict model (ConflictModel below): DynamoDB Local serialises transactions, so it never reports
   TransactionConflict. Every TransactWriteItems of every DynamoDB client goes through a registry of the items
   (table + key) held by transactions in flight: one that touches an item another in-flight transaction holds is
   cancelled with the TransactionCanceledException that botocore raises for DynamoDB (CancellationReasons with
   `TransactionConflict` on the contended item, `None` on the others), so the code's own handling runs (pynamodb's
   TransactWriteError, the stores' ConcurrentUpdate, the pipeline's retries). A transaction that gets through holds
   its items for the real call plus --txn-ms (AWS's transaction latency is some milliseconds; DynamoDB Local's on
   this machine is its own). A failed condition stays what DynamoDB Local reports (ConditionalCheckFailed).
5. Per run it prints events/s, cancelled transactions and recompute retries per 1,000 events, the time from an
   event's 202 to the end of the recompute that put it on the national board (p50, p99), and requests, RCU and
   WCU per event (local/metering.py).
6. The history table: one new completion scored for a learner with 20, 200 and 2,000 prior events (stored through
   the webhook, scored once beforehand, not measured): requests, RCU, WCU of the store and of the recompute.
7. A chart, out/bench-peak.png (--chart for another path).

Nothing from chalicelib is imported before the environment is set (see local/bench.py).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import random
import sys
import threading
import time
from collections import Counter, deque
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

from local import bench
from local.bench import inr, render, say, table
from local.board_stream import LAMBDA_POLL_SECONDS, BoardStreamPoller

IST = bench.IST
EVENING = datetime(2025, 11, 19, 18, 0, tzinfo=IST)  # a learning-week Wednesday evening (in the past: no future events)
HISTORY_START = datetime(2022, 1, 1, 10, 0, tzinfo=IST)  # 2,000 events every 12 h end in 2024
MESSAGES_PER_CALL = 10  # the SQS consumer's batch size
TITLE = "Karmayogi Engage: an evening surge scored by parallel scorers (DynamoDB Local, conflict model)"


# --- the conflict model ----------------------------------------------------------------------------------

class ConflictModel:
    """Items held by TransactWriteItems calls in flight, across every DynamoDB client of the process (installed on
    botocore's BaseClient._make_api_call). A transaction touching an item another one holds is cancelled with
    TransactionConflict before it is sent; one that gets through holds its items for the real call and `hold_ms`
    more. Thread-safe; `install()` returns the function that removes it."""

    def __init__(self, hold_ms: float = 0.0):
        self.hold_ms = hold_ms
        self._lock = threading.Lock()
        self._held: dict[tuple, int] = {}  # (table, key) -> the transaction holding it
        self._next = 0
        self._keys: dict[str, tuple[str, ...]] = {}  # table -> key attribute names
        self.transactions = 0
        self.conflicts = 0  # cancelled here, TransactionConflict
        self.cancelled_by_dynamodb: Counter = Counter()  # cancelled by DynamoDB Local itself, by reason
        self.contended: Counter = Counter()  # table -> items found held, over all cancelled transactions

    def key_attributes(self, table_name: str) -> tuple[str, ...]:
        if not self._keys:
            from chalicelib.tables import ALL_MODELS
            for model in ALL_MODELS:
                self._keys[model.Meta.table_name] = tuple(k["AttributeName"]
                                                          for k in model._get_schema()["key_schema"])
        return self._keys.get(table_name, ())

    def items_of(self, params: dict) -> list[tuple]:
        """(table, key) of each item of a TransactWriteItems request, in request order."""
        found = []
        for entry in params.get("TransactItems", []):
            (kind, body), = entry.items()
            table_name = body["TableName"]
            key = body["Item"] if kind == "Put" else body["Key"]
            names = self.key_attributes(table_name) or tuple(sorted(key)) if kind == "Put" else tuple(sorted(key))
            found.append((table_name, tuple((n, json.dumps(key.get(n), sort_keys=True)) for n in names)))
        return found

    def acquire(self, items: list[tuple]) -> tuple[Optional[int], list[int]]:
        """(transaction id, []) with the items held, or (None, positions held by others)."""
        with self._lock:
            self.transactions += 1
            taken = [n for n, item in enumerate(items) if item in self._held]
            if taken:
                self.conflicts += 1
                self.contended.update(items[n][0] for n in taken)
                return None, taken
            self._next += 1
            for item in items:
                self._held[item] = self._next
            return self._next, []

    def release(self, owner: int, items: list[tuple]) -> None:
        with self._lock:
            for item in items:
                if self._held.get(item) == owner:
                    del self._held[item]

    @staticmethod
    def cancellation(client, count: int, taken: list[int]) -> Exception:
        """What botocore raises for DynamoDB's cancelled transaction (pynamodb wraps it in TransactWriteError)."""
        codes = ["TransactionConflict" if n in taken else "None" for n in range(count)]
        response = {
            "Error": {"Code": "TransactionCanceledException",
                      "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons "
                                 f"[{', '.join(codes)}]"},
            "CancellationReasons": [{"Code": c, "Message": "Transaction is ongoing for the item"}
                                    if c != "None" else {"Code": "None"} for c in codes],
            "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {}},
        }
        return client.exceptions.TransactionCanceledException(response, "TransactWriteItems")

    def install(self):
        import botocore.client
        original = botocore.client.BaseClient._make_api_call
        model = self

        def _make_api_call(client, operation, kwargs):
            if operation != "TransactWriteItems" or client.meta.service_model.service_name != "dynamodb":
                return original(client, operation, kwargs)
            items = model.items_of(kwargs)
            owner, taken = model.acquire(items)
            if owner is None:
                raise model.cancellation(client, len(items), taken)
            try:
                try:
                    return original(client, operation, kwargs)
                except client.exceptions.TransactionCanceledException as exc:
                    reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                    with model._lock:
                        model.cancelled_by_dynamodb.update(r for r in reasons if r and r != "None")
                    raise
                finally:
                    if model.hold_ms:
                        time.sleep(model.hold_ms / 1000)
            finally:
                model.release(owner, items)

        botocore.client.BaseClient._make_api_call = _make_api_call

        def remove():
            botocore.client.BaseClient._make_api_call = original
        return remove


# --- the surge ---------------------------------------------------------------------------------------------

class StreamQueue:
    """The scoring queue, in memory: the webhook's `send`, and batches of up to 10 messages for the scorers."""

    def __init__(self):
        self._items: deque = deque()
        self._cond = threading.Condition()
        self._ids = 0
        self.in_flight = 0
        self.closed = False  # the producer is done

    def send(self, streams: list[str], delay_seconds: int = 0) -> None:
        with self._cond:
            for stream in streams:
                self._ids += 1
                self._items.append((f"m{self._ids}", stream))
            self._cond.notify_all()

    def put_back(self, messages: list[tuple[str, str]]) -> None:
        with self._cond:
            self._items.extend(messages)
            self._cond.notify_all()

    def take(self) -> Optional[list[tuple[str, str]]]:
        """Up to 10 messages; None once the producer is done and nothing is queued or being scored."""
        with self._cond:
            while not self._items:
                if self.closed and not self.in_flight:
                    return None
                self._cond.wait(0.05)
            batch = [self._items.popleft() for _ in range(min(MESSAGES_PER_CALL, len(self._items)))]
            self.in_flight += 1
            return batch

    def done(self) -> None:
        with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


def completion(learner: str, org_id: str, course, n: int, at: datetime, rng: random.Random) -> dict:
    from local.seed import _course_block
    event = {"id": f"peak_{learner}_{n}", "type": "course.completed", "occurred_at": at.isoformat(timespec="seconds"),
             "learner": {"id": learner, "org_id": org_id}, "course": _course_block(course)}
    if course[3] == "Course":
        event["assessment"] = {"passed": True, "score_percent": rng.randint(60, 100)}
    return event


def surge_events(args, tag: str) -> tuple[list[dict], list[dict]]:
    """(org events, the evening's completions in occurred_at order): learners in the seed's orgs with the seed's
    sizes, each completing a first course between 18:00 and 20:00 IST and a second between 20:00 and 22:00."""
    from local.seed import COURSES, generate_events
    seeded = generate_events(learners=args.learners, orgs=args.orgs, days=1, seed=args.seed, now=EVENING)
    rng = random.Random(args.seed)
    courses = [c for c in COURSES if c[3] == "Course"] or list(COURSES)
    events = []
    per_learner = max(1, round(args.events / max(1, len(seeded.profiles))))
    for profile in seeded.profiles:
        learner = f"{tag}-{profile['learner']['id']}"
        org_id = profile["learner"]["org_id"]
        picked = rng.sample(courses, min(per_learner, len(courses)))
        for n, course in enumerate(picked):
            span = timedelta(hours=4) / per_learner
            at = EVENING + span * n + timedelta(seconds=rng.randint(0, int(span.total_seconds()) - 1))
            events.append(completion(learner, org_id, course, n, at, rng))
    events.sort(key=lambda e: (e["occurred_at"], e["id"]))
    return seeded.orgs, events[:args.events]


class Surge:
    """One run: the producer posting batches through the webhook, N scorers, the timings around the real code."""

    def __init__(self, adapters, meter, model: ConflictModel, scorers: int, rate: float = 0.0,
                 batch: int = bench.BATCH, fold_window: float = LAMBDA_POLL_SECONDS):
        from chalicelib.scoring import pipeline
        self.pipeline, self.meter, self.model, self.scorers = pipeline, meter, model, scorers
        self.rate = rate  # events per second the producer posts at (0: as fast as the webhook takes them)
        self.batch = batch  # events per POST
        self.fold_window = fold_window  # seconds between polls of the board stream (Lambda's poll of a shard)
        self.fold_seconds: list[float] = []  # how long each fold that had records took
        self.queue = StreamQueue()
        self.adapters = dataclasses.replace(adapters, queue=self.queue)
        self._lock = threading.Lock()
        self.stored: dict[str, list[tuple[float, str]]] = {}  # stream -> (stored at, event id) not yet scored
        self.accepted_at: dict[str, float] = {}  # event id -> its 202
        self.scored_at: dict[str, float] = {}  # event id -> end of the recompute that covered it
        self.picked_at: dict[str, float] = {}  # event id -> start of that recompute (a scorer took its message)
        self.on_board_at: dict[str, float] = {}  # event id -> end of the first fold that began after that
        self._waiting: deque = deque()  # (scored at, event id) not folded yet, in order of scoring
        self.outcomes: Counter = Counter()
        self.counts: Counter = Counter()

    # observers around the real code: they time and count; the code is unchanged
    def _install(self):
        pipeline, events, boards = self.pipeline, self.adapters.events, self.adapters.boards
        original_add, original_recompute = events.add, pipeline.recompute_stream
        original_score, original_apply = pipeline.score_learner, boards.apply
        from chalicelib.storage.ports import ConcurrentUpdate

        def add(event, received_at, *rest, **kwargs):
            stored = original_add(event, received_at, *rest, **kwargs)
            if stored and event.type != "org.upserted":
                with self._lock:
                    self.stored.setdefault(f"learner:{event.learner.id}", []).append((time.perf_counter(), event.id))
            return stored

        def recompute(stream, adapters):
            started = time.perf_counter()
            with self._lock:
                covered = [i for at, i in self.stored.get(stream, []) if at < started]
                self.counts["recomputes"] += 1
            result = original_recompute(stream, adapters)
            finished = time.perf_counter()
            with self._lock:
                done = set(covered)
                self.stored[stream] = [(at, i) for at, i in self.stored.get(stream, []) if i not in done]
                for event_id in covered:
                    if event_id not in self.scored_at:
                        self.scored_at[event_id] = finished
                        self.picked_at[event_id] = started
                        self._waiting.append((finished, event_id))
            return result

        def score_learner(*a, **k):
            try:
                return original_score(*a, **k)
            except ConcurrentUpdate:
                with self._lock:
                    self.counts["recompute retries"] += 1
                raise

        def apply(*a, **k):
            try:
                return original_apply(*a, **k)
            except ConcurrentUpdate:
                with self._lock:
                    self.counts["board retries"] += 1
                raise

        events.add, pipeline.recompute_stream, pipeline.score_learner, boards.apply = add, recompute, score_learner, apply

        def restore():
            events.__dict__.pop("add", None)
            boards.__dict__.pop("apply", None)
            pipeline.recompute_stream, pipeline.score_learner = original_recompute, original_score
        return restore

    def post(self, events: list[dict]) -> None:
        from chalicelib.ingestion.signature import sign
        from chalicelib.ingestion.webhook import handle
        began = time.perf_counter()
        for start in range(0, len(events), self.batch):
            if self.rate:  # an open-loop arrival: batch k leaves at k * batch / rate, whatever the scorers do
                time.sleep(max(0.0, began + start / self.rate - time.perf_counter()))
            batch = events[start:start + self.batch]
            raw = json.dumps(batch).encode()
            now = datetime.now(timezone.utc)
            status, body = handle(raw, sign(raw, bench.SECRET, int(now.timestamp())), self.adapters, now)
            accepted = time.perf_counter()
            if status != 202:
                raise RuntimeError(f"the webhook answered {status}: {str(body)[:300]}")
            with self._lock:
                for event, result in zip(batch, body["results"]):
                    self.outcomes[result["status"]] += 1
                    if result["status"] == "accepted":
                        self.accepted_at[event["id"]] = accepted

    def score(self) -> None:
        log = logging.getLogger("bench_peak.scorer")
        while True:
            messages = self.queue.take()
            if messages is None:
                return
            try:
                failed = set(self.pipeline.recompute_streams(messages, self.adapters, log))
            except Exception:  # never lose messages: the handler itself failing leaves them all on the queue
                failed = {m for m, _ in messages}
            with self._lock:
                self.counts["messages"] += len(messages)
                self.counts["calls"] += 1
                self.counts["failed messages"] += len(failed)
            if failed:
                self.queue.put_back([m for m in messages if m[0] in failed])
            self.queue.done()

    def _poller(self):
        """The board stream's consumer (local/board_stream.py: the fold Lambda runs in AWS), timed: an event is on
        the national board when a fold that began after its recompute ended has finished (that fold read every
        record its recompute wrote)."""
        poller = BoardStreamPoller(self.adapters)
        original = poller.poll

        def poll(*a, **k):
            began = time.perf_counter()
            folded = original(*a, **k)
            ended = time.perf_counter()
            with self._lock:
                if folded:
                    self.fold_seconds.append(ended - began)
                while self._waiting and self._waiting[0][0] < began:
                    self.on_board_at[self._waiting.popleft()[1]] = ended
            return folded
        poller.poll = poll  # type: ignore[method-assign]
        return poller

    def run(self, events: list[dict]) -> dict:
        restore = self._install()
        poller = self._poller().start(interval=self.fold_window)  # as Lambda polls the stream's shard
        conflicts, transactions = self.model.conflicts, self.model.transactions
        by_dynamodb = Counter(self.model.cancelled_by_dynamodb)
        contended = Counter(self.model.contended)
        before = self.meter.snapshot()
        started = time.perf_counter()
        threads = [threading.Thread(target=self.score, name=f"scorer-{n}", daemon=True) for n in range(self.scorers)]
        try:
            for thread in threads:
                thread.start()
            try:
                self.post(events)
            finally:
                self.queue.close()
            for thread in threads:
                thread.join()
            scored = time.perf_counter()
            poller.stop()
            poller.drain()  # what the last batches wrote
            folded = time.perf_counter()
        finally:
            poller.stop()
            restore()
        wall = scored - started
        used = self.meter.since(before)
        accepted = len(self.accepted_at)
        latencies = sorted(max(0.0, self.on_board_at[i] - t) for i, t in self.accepted_at.items()
                           if i in self.on_board_at)
        scoring = sorted(max(0.0, self.scored_at[i] - t) for i, t in self.accepted_at.items() if i in self.scored_at)
        # Around the queue emulation: the wait for a free scorer (2 cores shared by every thread here; in AWS, SQS
        # scales the consumer out) apart from the time from a scorer taking the message to the national board.
        waited = sorted(max(0.0, self.picked_at[i] - t) for i, t in self.accepted_at.items() if i in self.picked_at)
        served = sorted(max(0.0, self.on_board_at[i] - self.picked_at[i]) for i in self.accepted_at
                        if i in self.on_board_at and i in self.picked_at)
        # The served time in its two parts: the recompute (the scorer's own requests) and the wait for the board
        # stream's fold (the polling interval, as Lambda's poll of the shard, plus the fold).
        recomputed = sorted(self.scored_at[i] - self.picked_at[i] for i in self.accepted_at if i in self.picked_at)
        folded_in = sorted(max(0.0, self.on_board_at[i] - self.scored_at[i]) for i in self.accepted_at
                           if i in self.on_board_at and i in self.scored_at)
        folds = sorted(self.fold_seconds)
        cancelled_here = self.model.conflicts - conflicts
        cancelled_local = sum((self.model.cancelled_by_dynamodb - by_dynamodb).values())
        per_k = 1000 / max(accepted, 1)
        return {
            "scorers": self.scorers, "events": len(events), "accepted": accepted, "seconds": wall,
            "events_per_s": accepted / wall if wall else 0.0,
            "transactions": self.model.transactions - transactions,
            "conflicts": cancelled_here, "condition_failed": cancelled_local,
            "conflicts_per_1000": cancelled_here * per_k, "condition_failed_per_1000": cancelled_local * per_k,
            "recompute_retries": self.counts["recompute retries"],
            "recompute_retries_per_1000": self.counts["recompute retries"] * per_k,
            "board_retries_per_1000": self.counts["board retries"] * per_k,
            "recomputes": self.counts["recomputes"], "messages": self.counts["messages"],
            "failed_messages": self.counts["failed messages"],
            "contended_items_by_table": dict((self.model.contended - contended).most_common()),
            "on_board": len(latencies), "not_on_board": accepted - len(latencies),
            "p50_ms": _percentile(latencies, 50) * 1000, "p99_ms": _percentile(latencies, 99) * 1000,
            "max_ms": (latencies[-1] if latencies else 0.0) * 1000,
            "scored_p50_ms": _percentile(scoring, 50) * 1000, "scored_p99_ms": _percentile(scoring, 99) * 1000,
            "queue_p99_ms": _percentile(waited, 99) * 1000,
            "served_p50_ms": _percentile(served, 50) * 1000, "served_p99_ms": _percentile(served, 99) * 1000,
            "recompute_p50_ms": _percentile(recomputed, 50) * 1000,
            "recompute_p99_ms": _percentile(recomputed, 99) * 1000,
            "fold_wait_p50_ms": _percentile(folded_in, 50) * 1000, "fold_wait_p99_ms": _percentile(folded_in, 99) * 1000,
            "rate": self.rate, "batch": self.batch, "fold_window_s": self.fold_window,
            "fold_p50_ms": _percentile(folds, 50) * 1000, "fold_p99_ms": _percentile(folds, 99) * 1000,
            "fold_tail_s": folded - scored, "fold_batches": poller.batches, "folded_records": poller.folded,
            # cancelled attempts are requests too (AWS answers them); the meter never sees them (no response)
            "requests_per_event": (used.requests + cancelled_here) / max(accepted, 1),
            "rcu_per_event": used.rcu / max(accepted, 1), "wcu_per_event": used.wcu / max(accepted, 1),
            "per_event_by_table": {bench._short(t): [c.requests / max(accepted, 1), c.rcu / max(accepted, 1),
                                                     c.wcu / max(accepted, 1)]
                                   for t, c in sorted(used.tables.items(), key=lambda kv: -kv[1].wcu)},
        }


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    rank = max(0, min(len(values) - 1, round(pct / 100 * len(values) + 0.5) - 1))  # nearest rank
    return values[rank]


def reset_tables() -> None:
    """Empty tables for each run: every run starts from the same state."""
    from chalicelib.storage.dynamodb import create_tables
    from chalicelib.tables import ALL_MODELS
    for model in ALL_MODELS:
        if model.exists():
            model.delete_table()
    create_tables()


def post_and_score(adapters, events: list[dict]) -> None:
    """Store events through the webhook and score every stream they queued, one at a time (set-up, not measured)."""
    from chalicelib.ingestion.signature import sign
    from chalicelib.ingestion.webhook import handle
    from chalicelib.scoring.pipeline import recompute_stream
    from chalicelib.storage.memory import MemoryStreamQueue
    queue = MemoryStreamQueue()
    wired = dataclasses.replace(adapters, queue=queue)
    for start in range(0, len(events), bench.BATCH):
        raw = json.dumps(events[start:start + bench.BATCH]).encode()
        now = datetime.now(timezone.utc)
        status, body = handle(raw, sign(raw, bench.SECRET, int(now.timestamp())), wired, now)
        if status != 202:
            raise RuntimeError(f"the webhook answered {status}: {str(body)[:300]}")
        refused = [r for r in body["results"] if r["status"] == "rejected"]
        if refused:
            raise RuntimeError(f"the webhook refused {len(refused)} set-up event(s): {refused[0]}")
    for stream in dict.fromkeys(queue.drain()):
        recompute_stream(stream, wired)


# --- the history table ---------------------------------------------------------------------------------------

def history(learner: str, count: int) -> list[dict]:
    """`count` earlier events, one every 12 hours from 2022: completions, ratings and learning time in turn."""
    from local.seed import COURSES
    rng = random.Random(count)
    ref = {"id": learner, "org_id": "org_mines_hq"}
    events = []
    for n in range(count):
        at = (HISTORY_START + timedelta(hours=12 * n)).isoformat(timespec="seconds")
        course = COURSES[n % len(COURSES)]
        if n % 3 == 0:
            event = completion(learner, "org_mines_hq", course, n, HISTORY_START + timedelta(hours=12 * n), rng)
            event["id"] = f"hist_{learner}_{n}"
            event["course"]["id"] = f"do_{n:020d}"  # a different course every time
        elif n % 3 == 1:
            event = {"id": f"hist_{learner}_{n}", "type": "course.rated", "occurred_at": at, "learner": ref,
                     "course": {"id": f"do_{n - 1:020d}"}, "rating": 4.5}
        else:
            event = {"id": f"hist_{learner}_{n}", "type": "learning.time_spent", "occurred_at": at, "learner": ref,
                     "content_id": f"do_{n - 2:020d}", "minutes": 35, "competency_linked": True}
        events.append(event)
    return events


def store_history(adapters, events: list[dict]) -> None:
    """Store the prior events as received a minute after they occurred, as a real history arrives over the years
    (the checkpoint's late-arrival check, chalicelib/rules/checkpoint.py, goes by when events were received),
    then score the learner once (set-up, not measured)."""
    from chalicelib.events import parse_event
    from chalicelib.scoring.pipeline import recompute_stream
    for event in events:
        parsed = parse_event(event)
        adapters.events.add(parsed, parsed.occurred_at + timedelta(minutes=1))
    recompute_stream(f"learner:{events[0]['learner']['id']}", adapters)


def _item_kb(model, key: str) -> float:
    """An item's size as DynamoDB counts it (local/metering.py item_size), in KB; 0 if there is none."""
    from pynamodb.exceptions import DoesNotExist
    from local.metering import item_size
    try:
        return item_size(model.get(key).serialize()) / 1024
    except DoesNotExist:
        return 0.0


def history_costs(adapters, meter, sizes: list[int]) -> list[dict]:
    from chalicelib.storage.models import CheckpointRecord, LearnerRecord
    from chalicelib.ingestion.signature import sign
    from chalicelib.ingestion.webhook import handle
    from chalicelib.scoring.pipeline import recompute_stream
    from chalicelib.storage.memory import MemoryStreamQueue
    from local.seed import COURSES
    rows = []
    for size in sizes:
        learner = f"hist-{size}"
        say(f"history: storing and scoring {inr(size)} prior events")
        store_history(adapters, history(learner, size))
        queue = MemoryStreamQueue()
        wired = dataclasses.replace(adapters, queue=queue)
        event = completion(learner, "org_mines_hq", COURSES[0], size, EVENING, random.Random(0))
        event["course"]["id"] = "do_99999999999999999999"
        raw = json.dumps(event).encode()
        now = datetime.now(timezone.utc)
        before = meter.snapshot()
        status, _ = handle(raw, sign(raw, bench.SECRET, int(now.timestamp())), wired, now)
        stored = meter.since(before)
        assert status == 202
        before = meter.snapshot()
        started = time.perf_counter()
        for stream in dict.fromkeys(queue.drain()):
            recompute_stream(stream, wired)
        seconds = time.perf_counter() - started
        scored = meter.since(before)
        rows.append({"prior": size, "store_requests": stored.requests, "store_wcu": stored.wcu,
                     "learner_kb": _item_kb(LearnerRecord, learner), "checkpoint_kb": _item_kb(CheckpointRecord, learner),
                     "requests": scored.requests, "rcu": scored.rcu, "wcu": scored.wcu, "ms": seconds * 1000,
                     "by_operation": {name: c.requests for name, c in scored.operations.items()},
                     "by_table": {bench._short(name): {"requests": c.requests, "rcu": c.rcu, "wcu": c.wcu}
                                  for name, c in scored.tables.items()}})
    return rows


# --- report ----------------------------------------------------------------------------------------------------

def runs_table(runs: list[dict]) -> str:
    rows = [[inr(r["scorers"]), inr(r["accepted"]), f"{r['seconds']:.1f}", inr(r["events_per_s"], 1),
             inr(r["conflicts_per_1000"], 1), inr(r["condition_failed_per_1000"], 1),
             inr(r["recompute_retries_per_1000"], 1), inr(r["board_retries_per_1000"], 1),
             inr(r["scored_p99_ms"]), inr(r["p50_ms"]), inr(r["p99_ms"]), inr(r["queue_p99_ms"]),
             inr(r["served_p50_ms"]), inr(r["served_p99_ms"]),
             f"{r['requests_per_event']:.2f}", f"{r['rcu_per_event']:.2f}", f"{r['wcu_per_event']:.2f}"]
            for r in runs]
    return table(["scorers", "events", "seconds", "events/s", "conflicts/1k", "cond.failed/1k", "retries/1k",
                  "board retries/1k", "scored p99 ms", "p50 ms", "p99 ms", "queue p99 ms", "served p50 ms",
                  "served p99 ms", "req/event", "RCU/event", "WCU/event"], rows)


def history_table(rows: list[dict]) -> str:
    return table(["prior events", "store requests", "store WCU", "score requests", "score RCU", "score WCU",
                  "score ms", "learner KB", "checkpoint KB"],
                 [[inr(r["prior"]), inr(r["store_requests"]), f"{r['store_wcu']:.1f}", inr(r["requests"]),
                   inr(r["rcu"], 1), inr(r["wcu"], 1), inr(r["ms"]), f"{r['learner_kb']:.1f}",
                   f"{r['checkpoint_kb']:.1f}"] for r in rows])


def chart(runs: list[dict], rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter
    scorers = [r["scorers"] for r in runs]
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.6))
    axes[0].plot(scorers, [r["events_per_s"] for r in runs], marker="o", linewidth=2)
    axes[0].set_title("events scored per second")
    axes[1].plot(scorers, [r["conflicts_per_1000"] for r in runs], marker="o", label="transactions cancelled (conflict)")
    axes[1].plot(scorers, [r["recompute_retries_per_1000"] for r in runs], marker="s", label="recompute retries")
    axes[1].plot(scorers, [r["board_retries_per_1000"] for r in runs], marker="^", label="board retries")
    axes[1].set_title("per 1,000 events")
    axes[1].legend(fontsize=8)
    axes[2].plot(scorers, [r["p50_ms"] / 1000 for r in runs], marker="o", label="p50")
    axes[2].plot(scorers, [r["p99_ms"] / 1000 for r in runs], marker="s", label="p99")
    axes[2].plot(scorers, [r["served_p99_ms"] / 1000 for r in runs], marker="^", label="p99 from a scorer taking it")
    axes[2].set_title("seconds from 202 to the national board")
    axes[2].legend(fontsize=8)
    for ax in axes[:3]:
        ax.set_xscale("log", base=2)
        ax.set_xticks(scorers)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: inr(x)))
        ax.minorticks_off()
        ax.set_xlabel("parallel scorers")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    if rows:
        priors = [r["prior"] for r in rows]
        axes[3].plot(priors, [r["rcu"] for r in rows], marker="o", label="RCU")
        axes[3].plot(priors, [r["wcu"] for r in rows], marker="s", label="WCU")
        axes[3].plot(priors, [r["requests"] for r in rows], marker="^", label="requests")
        axes[3].set_xscale("log")
        axes[3].set_yscale("log")
        axes[3].set_xticks(priors)
        axes[3].xaxis.set_major_formatter(FuncFormatter(lambda x, _: inr(x)))
        axes[3].minorticks_off()
        axes[3].set_xlabel("prior events of the learner")
        axes[3].set_title("one completion scored")
        axes[3].legend(fontsize=8)
        axes[3].grid(True, alpha=0.3)
    fig.suptitle(TITLE)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


# --- main -------------------------------------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m local.bench_peak", description=(
        "An evening surge of course completions posted through the signed webhook and scored by 1, 8 and 32 "
        "parallel scorers on DynamoDB Local, with DynamoDB's transaction conflicts modelled; then the cost of one "
        "completion for a learner with 20, 200 and 2,000 prior events."))
    parser.add_argument("--learners", type=int, default=2_000)
    parser.add_argument("--events", type=int, default=4_000, help="completions in the surge (per scorer count)")
    parser.add_argument("--orgs", type=int, default=50, help="mdo organisations (plus their ancestors)")
    parser.add_argument("--scorers", default="1,8,32", help="parallel scorer counts, one run each")
    parser.add_argument("--txn-ms", type=float, default=10.0,
                        help="extra milliseconds a transaction holds its items after DynamoDB Local answered "
                             "(AWS's transaction latency); 0 for the real call only")
    parser.add_argument("--history", default="20,200,2000", help="prior events of the history table's learners")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="post the surge at this many events per second (0: all at once, a backlog)")
    parser.add_argument("--batch", type=int, default=bench.BATCH, help="events per POST of the surge")
    parser.add_argument("--fold-window", type=float, default=LAMBDA_POLL_SECONDS,
                        help="seconds between polls of the board stream (Lambda polls a shard 4 times a second "
                             "with infra/resources.yaml's MaximumBatchingWindowInSeconds: 0; 1 for a 1 s window)")
    parser.add_argument("--chart", type=Path, default=bench.PROJECT / "out" / "bench-peak.png")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--history-only", action="store_true",
                        help="skip the surge: only the history table (issue 18's figures)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 40 learners, 80 events, 8 orgs, history 20 and 100")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in (("learners", 40), ("events", 80), ("orgs", 8), ("history", "20,100")):
            if getattr(args, name) == parser.get_default(name):  # sizes given with --quick win
                setattr(args, name, value)
    try:
        args.scorer_counts = [int(s) for s in args.scorers.split(",") if s.strip()]
        args.history_sizes = [int(s) for s in args.history.split(",") if s.strip()]
    except ValueError:
        parser.error("--scorers and --history take whole numbers separated by commas")
    if args.history_only:
        args.scorer_counts = []
    elif not args.scorer_counts or min(args.scorer_counts) < 1 or args.learners < 1 or args.events < 1:
        parser.error("scorers, learners and events must be at least 1")
    return args


def main(argv=None) -> int:
    return bench.run_with_backends(run, parse_args(argv))


def run(args) -> int:
    if str(bench.PROJECT) not in sys.path:
        sys.path.insert(0, str(bench.PROJECT))
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # 32 threads > botocore's pool of 10
    from chalicelib import bootstrap
    from local.metering import DynamoMeter
    started = time.perf_counter()
    reset_tables()
    adapters = bootstrap.adapters()
    meter = DynamoMeter().install_for(adapters)
    model = ConflictModel(args.txn_ms)
    remove = model.install()
    runs = []
    try:
        for scorers in args.scorer_counts:
            reset_tables()
            orgs, events = surge_events(args, f"s{scorers}")
            post_and_score(adapters, orgs)
            say(f"surge: {inr(len(events))} completions of {inr(args.learners)} learners, {scorers} scorer(s)")
            figures = Surge(adapters, meter, model, scorers, args.rate, args.batch, args.fold_window).run(events)
            say(f"  {figures['events_per_s']:.1f} events/s, {figures['conflicts']} transactions cancelled")
            runs.append(figures)
        reset_tables()
        post_and_score(adapters, surge_events(args, "h")[0])
        rows = history_costs(adapters, meter, args.history_sizes)
    finally:
        remove()

    command = " ".join(["python -m local.bench_peak"] + sys.argv[1:])
    out = [f"Karmayogi Engage peak benchmark: {command} (DynamoDB Local "
           f"{bench.dynamodb_local.jar_dir().name.replace('dynamodb_local_', '')}, conflict model: transactions "
           f"hold their items for the call + {args.txn_ms:g} ms)"]
    if runs:
        out += [bench.heading(f"Evening surge: {inr(args.learners)} learners in {inr(args.orgs)} mdos, "
                         f"{inr(runs[0]['events'])} course completions per run, fresh tables each run, posted "
                         + (f"at {args.rate:g} events/s" if args.rate else "all at once")
                         + f" in batches of {inr(args.batch)}"),
           runs_table(runs),
           "\nconflicts/1k: transactions cancelled by the conflict model (TransactionConflict) per 1,000 events; "
           "cond.failed/1k: cancelled by DynamoDB Local (ConditionalCheckFailed); retries/1k: recomputes that "
           "lost (ConcurrentUpdate) and started again; board retries/1k: board transactions retried inside a "
           "recompute. scored p99: from the webhook's 202 to the end of the event's recompute (its entries written); "
           "p50/p99: from the 202 to the end of the first fold of the board stream that began after that "
           "recompute (the event on the national board's summary). queue p99: from the 202 to a scorer taking "
           "the event's message (the local queue emulation: every scorer shares this machine's cores); served "
           "p50/p99: from a scorer taking it to the national board, the part that does not depend on how many "
           "consumers run. req/event counts cancelled attempts too; RCU and WCU are what DynamoDB bills "
           "(local/metering.py).",
           "\n" + "; ".join(f"{inr(r['scorers'])} scorer(s): {inr(r['transactions'])} transactions, "
                            f"{inr(r['recomputes'])} recomputes for {inr(r['messages'])} messages, "
                            f"{inr(r['failed_messages'])} failed and re-queued, {inr(r['not_on_board'])} events "
                            f"not on the board at the end, slowest {inr(r['max_ms'])} ms, "
                            f"{inr(r['folded_records'])} entry changes folded in {inr(r['fold_batches'])} batches, "
                            f"the fold done {r['fold_tail_s']:.1f} s after the last recompute"
                            for r in runs) + ".",
           "\nServed time in its parts, p50 / p99 ms: " + "; ".join(
               f"{inr(r['scorers'])} scorer(s): recompute {inr(r['recompute_p50_ms'])} / {inr(r['recompute_p99_ms'])}"
               f", then the board stream's fold {inr(r['fold_wait_p50_ms'])} / {inr(r['fold_wait_p99_ms'])} (polled "
               f"every {r['fold_window_s']:g} s; one fold {inr(r['fold_p50_ms'])} / {inr(r['fold_p99_ms'])})"
               for r in runs) + ".",
           "\nItems found held by another transaction, by table: " + "; ".join(
               f"{inr(r['scorers'])} scorer(s): " + (", ".join(
                   f"{bench._short(t)} {inr(n)}"
                   for t, n in r["contended_items_by_table"].items()) or "none") for r in runs) + ".",
           "\nPer event by table (requests / RCU / WCU): " + "; ".join(
               f"{inr(r['scorers'])} scorer(s): " + ", ".join(
                   f"{t} {q:.2f}/{rc:.2f}/{w:.2f}" for t, (q, rc, w) in r["per_event_by_table"].items())
               for r in runs) + ".",
           bench.heading("One new course.completed scored, by the learner's history"),
           history_table(rows)]
    print(render(out), flush=True)
    if runs:
        chart(runs, rows, args.chart)
        print(f"\nChart: {args.chart}")
    print(f"Total run time {time.perf_counter() - started:.0f} s.", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": runs, "history": rows, "txn_ms": args.txn_ms}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
