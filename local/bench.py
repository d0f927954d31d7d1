"""`make bench`: replay a realistic event stream through the real handlers against DynamoDB Local, and print
what it costs. `python -m local.bench --help` for the sizes; `--quick` for a smoke run.

What it does, in order:

1. Starts DynamoDB Local (AWS's own engine) and, for SQS, an in-process moto server, each on a free port on
   127.0.0.1, and points boto3 and PynamoDB at them (service-specific endpoint variables, fake credentials).
2. Generates a stream with local.seed.generate_events (an org tree, one learner.upserted per learner, then
   several weeks of activity across an IST month boundary), keeping whole learners' histories until the
   --events budget is met, and adds exact re-sends (--duplicates) and late, out-of-order deliveries (--late).
3. Replays it in process through the Chalice app (`chalice.test.Client`): signed POST /v1/events in batches of
   100, and after each batch (or every --drain-every batches) drains the scoring queue from moto into the SQS
   handler `score_streams`, as Lambda's event source would. Every DynamoDB call is metered (ReturnConsumedCapacity on every call, AWS's
   billing corrections: local/metering.py) and every item write is tallied by partition key.
4. Loads synthetic leaderboards of 10,000 and 1,00,000 learners straight into the board tables (sharded as
   DynamoBoardStore shards them) and measures a board page, an org board page, the around-me call and one
   learner's summary (ranks in 4 scopes x 3 periods) at each size.

Nothing from chalicelib (or app.py) is imported before the environment is set: table and queue names, and
PynamoDB's connections, are fixed at import time.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import random
import signal
import statistics
import sys
import textwrap
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional

from local import dynamodb_local

PROJECT = dynamodb_local.PROJECT
HOST = "127.0.0.1"
REGION = "ap-south-1"
STAGE = "bench"
SECRET = "bench-webhook-secret"
BATCH = 100  # the webhook's batch limit
IST = timezone(timedelta(hours=5, minutes=30))

# The dedicated boards of the read benchmark: a month no replayed event touches, and an org tree of its own.
BENCH_NOW = datetime(2030, 1, 15, 12, 0, tzinfo=IST)  # the clock GET /v1/learners/{id} sees in that phase
BENCH_MONTH, BENCH_PREV_MONTH = "month:2030-01", "month:2029-12"
BENCH_WEEK, BENCH_PREV_WEEK = "week:2030-W03", "week:2030-W02"
BENCH_ORGS = (("min_bench", "Ministry of Benchmarks", "ministry", None),
              ("dept_bench", "Department of Load Testing", "department", "min_bench"),
              ("org_bench", "Directorate of Large Boards", "mdo", "dept_bench"))
READ_REPEATS = 7  # each read is timed this many times (after one warm-up); the median is printed


# --- formatting ------------------------------------------------------------------------------------------

def inr(value: float, decimals: int = 0) -> str:
    """Indian digit grouping: 1,00,000 and 12,34,567.89."""
    text = f"{abs(value):.{decimals}f}"
    whole, _, fraction = text.partition(".")
    if len(whole) > 3:
        head, groups = whole[:-3], [whole[-3:]]
        while len(head) > 2:
            groups.insert(0, head[-2:])
            head = head[:-2]
        if head:
            groups.insert(0, head)
        whole = ",".join(groups)
    return ("-" if value < 0 and float(text) != 0 else "") + whole + ("." + fraction if fraction else "")


def table(headers: list[str], rows: list[list], align: Optional[str] = None) -> str:
    """Plain-text table; align is one letter per column (l/r), default: first left, the rest right."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    align = align or "l" + "r" * (len(headers) - 1)
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)).rstrip()
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


def heading(text: str) -> str:
    return f"\n== {text}\n"


def render(parts: list[str]) -> str:
    """Headings and tables as they are; paragraphs (one logical line each) wrapped for a terminal."""
    lines = []
    for part in parts:
        if "\n" in part.strip() or part.strip().startswith("=="):
            lines.append(part)
        else:
            lead = "\n" if part.startswith("\n") else ""
            lines.append(lead + textwrap.fill(part.strip(), width=116, break_on_hyphens=False,
                                              break_long_words=False))
    return "\n".join(lines)


def say(*parts) -> None:
    """Progress, on stderr: stdout carries the report only."""
    print(*parts, file=sys.stderr, flush=True)


# --- the local backends ----------------------------------------------------------------------------------

class Backends:
    """DynamoDB Local (a Java subprocess) and the moto server (a thread); stop() undoes whatever started."""

    def __init__(self):
        self.dynamodb_port = dynamodb_local.free_port()
        self.moto_port = dynamodb_local.free_port()
        self.dynamodb = None
        self.moto = None

    def environment(self) -> None:
        """Point boto3 and PynamoDB at the local servers, with fake credentials: nothing can reach AWS."""
        for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
            os.environ.pop(name)  # a global AWS_ENDPOINT_URL would catch DynamoDB or SQS unexpectedly
        for name in ("AWS_PROFILE", "KARMAYOGI_TABLE_PREFIX", "KARMAYOGI_SCORING_QUEUE", "KARMAYOGI_RULES_FILE",
                     "KARMAYOGI_LEADERBOARDS_FILE"):
            os.environ.pop(name, None)
        os.environ.update({
            "AWS_ENDPOINT_URL_DYNAMODB": f"http://{HOST}:{self.dynamodb_port}",
            "AWS_ENDPOINT_URL_SQS": f"http://{HOST}:{self.moto_port}",
            "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_SESSION_TOKEN": "bench",
            "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            "KARMAYOGI_STAGE": STAGE,
            "KARMAYOGI_WEBHOOK_SECRETS": SECRET,
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL") or "WARNING",
        })

    def start(self) -> None:
        from moto.server import ThreadedMotoServer
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto would log every request
        # C1 JIT only (as local/stack.py): with C2, DynamoDB Local spends much of its CPU compiling.
        previous = os.environ.get("JAVA_TOOL_OPTIONS")
        os.environ["JAVA_TOOL_OPTIONS"] = f"{previous or ''} -XX:TieredStopAtLevel=1".strip()
        try:
            self.dynamodb = dynamodb_local.start(self.dynamodb_port)
        finally:
            if previous is None:
                os.environ.pop("JAVA_TOOL_OPTIONS")
            else:
                os.environ["JAVA_TOOL_OPTIONS"] = previous
        self.moto = ThreadedMotoServer(ip_address=HOST, port=self.moto_port, verbose=False)
        self.moto.start()
        dynamodb_local.wait_for_port(self.moto_port)

    def stop(self) -> None:
        if self.dynamodb is not None:
            self.dynamodb.terminate()
            try:
                self.dynamodb.wait(timeout=10)
            except Exception:
                self.dynamodb.kill()
                self.dynamodb.wait()
            self.dynamodb = None
        if self.moto is not None:
            try:
                self.moto.stop()
            except Exception as exc:  # never hide the real error behind a clean-up one
                say(f"stopping moto failed: {type(exc).__name__}")
            self.moto = None


# --- the stream ------------------------------------------------------------------------------------------

@dataclass
class Delivery:
    event: dict
    kind: str  # first | duplicate | late


@dataclass
class Stream:
    batches: list[list[Delivery]]
    orgs: int
    profiles: int
    activity: int
    duplicates: int
    duplicates_same_batch: int
    late: int
    active_learners: int
    window: tuple[datetime, datetime]
    month_boundary: datetime
    types: Counter  # first deliveries by type

    @property
    def deliveries(self) -> int:
        return sum(len(b) for b in self.batches)


def _window(days: int) -> tuple[datetime, datetime]:
    """(now for the generator, the IST month boundary inside the window): a third of the window after the start
    of last month, so that both months have activity and every event is in the past."""
    today = datetime.now(timezone.utc).astimezone(IST)
    this_month = today.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    boundary = (this_month - timedelta(days=1)).replace(day=1)
    return boundary + timedelta(days=max(1, days // 3), hours=18), boundary


def build_stream(args) -> Stream:
    from local.seed import generate_events  # owned elsewhere: used as it is
    now, boundary = _window(args.days)
    seeded = generate_events(learners=args.learners, orgs=args.orgs, days=args.days, seed=args.seed, now=now)
    rng = random.Random(args.seed * 7919 + 1)
    duplicates = round(args.events * args.duplicates)
    unique = args.events - duplicates
    fixed = len(seeded.orgs) + len(seeded.profiles)
    budget = unique - fixed
    if budget < 0:
        raise SystemExit(f"--events {args.events} cannot hold {len(seeded.orgs)} org and {len(seeded.profiles)} "
                         f"profile events plus {duplicates} duplicates: raise --events or lower --learners")
    if budget > len(seeded.activity):
        raise SystemExit(f"{args.learners} learners generate only {len(seeded.activity)} activity events "
                         f"(+{fixed} org and profile events): raise --learners or lower --events")

    # Whole learners' months, picked at random until the budget is met: each history stays coherent (enrolled
    # before completed...) and the skew stays (a few very active learners, most with one or two sessions).
    histories: dict[str, list[dict]] = defaultdict(list)
    for event in seeded.activity:
        histories[event["learner"]["id"]].append(event)
    learners = sorted(histories)
    rng.shuffle(learners)
    chosen: list[dict] = []
    for learner in learners:
        if len(chosen) >= budget:
            break
        chosen.extend(histories[learner][:budget - len(chosen)])
    activity = sorted(chosen, key=lambda e: (e["occurred_at"], e["id"]))
    active = len({e["learner"]["id"] for e in activity})

    # The delivery order as sort keys: orgs, then profiles, then activity as it happened.
    base = seeded.orgs + seeded.profiles + activity
    keyed: list[tuple[float, int, Delivery]] = []
    position = {id(e): float(n) for n, e in enumerate(base)}

    # Late: an event that reaches us after later events of the same learner (a retry after a long outage, a
    # mobile client coming back online). At most one per learner, never its last, so a later one was delivered.
    by_learner: dict[str, list[dict]] = defaultdict(list)
    for event in activity:
        by_learner[event["learner"]["id"]].append(event)
    candidates = [events[rng.randrange(len(events) - 1)] for events in by_learner.values() if len(events) > 1]
    late = rng.sample(candidates, min(len(candidates), round(args.events * args.late)))
    late_ids = {id(e) for e in late}
    for event in late:
        last = max(position[id(e)] for e in by_learner[event["learner"]["id"]] if id(e) not in late_ids)
        # Half arrive at the very end of the stream (in random order), half somewhere after their learner's last.
        at = len(base) + rng.random() if rng.random() < 0.5 else rng.uniform(last + 1, len(base))
        position[id(event)] = at
    for event in base:
        keyed.append((position[id(event)], 0, Delivery(event, "late" if id(event) in late_ids else "first")))

    # Duplicates: exact re-sends of events delivered earlier; a fifth right behind the original (the same batch,
    # mostly), the rest any time later.
    originals = rng.choices(base, k=duplicates)
    for event in originals:
        origin = position[id(event)]
        if rng.random() < 0.2:
            at = origin + rng.uniform(0.1, 8)
        else:
            at = rng.uniform(origin + 8, len(base) + 1)
        keyed.append((at, 1, Delivery(copy.deepcopy(event), "duplicate")))
    keyed.sort(key=lambda k: (k[0], k[1]))
    deliveries = [d for _, _, d in keyed]
    # Count the re-sends that really share their original's batch.
    batch_of: dict[str, int] = {}
    same_batch = 0
    for n, delivery in enumerate(deliveries):
        if delivery.kind == "duplicate":
            same_batch += batch_of.get(delivery.event["id"]) == n // BATCH
        else:
            batch_of[delivery.event["id"]] = n // BATCH
    batches = [deliveries[i:i + BATCH] for i in range(0, len(deliveries), BATCH)]
    types = Counter(d.event["type"] for d in deliveries if d.kind != "duplicate")
    return Stream(batches, len(seeded.orgs), len(seeded.profiles), len(activity), duplicates, same_batch, len(late),
                  active, (now - timedelta(days=args.days), now), boundary, types)


# --- metering helpers ------------------------------------------------------------------------------------

@dataclass
class Cost:
    """Requests and capacity units, possibly fractional (a recompute split between the events it covered)."""
    requests: float = 0.0
    rcu: float = 0.0
    wcu: float = 0.0

    def add(self, usage_total, weight: float = 1.0) -> None:
        self.requests += usage_total.requests * weight
        self.rcu += usage_total.rcu * weight
        self.wcu += usage_total.wcu * weight

    def plus(self, other: "Cost") -> "Cost":
        return Cost(self.requests + other.requests, self.rcu + other.rcu, self.wcu + other.wcu)


def add_usage(into, usage) -> None:
    """Sum a metering.Usage into another (operations and tables)."""
    from local.metering import Counts
    for source, target in ((usage.operations, into.operations), (usage.tables, into.tables)):
        for name, counts in source.items():
            target.setdefault(name, Counts()).add(counts)
    for code, n in usage.error_codes.items():
        into.error_codes[code] = into.error_codes.get(code, 0) + n


class WaitTimer:
    """Seconds spent inside DynamoDB and SQS calls (request built -> response parsed), by service: where the
    replay's time goes."""

    def __init__(self):
        self._local = threading.local()
        self._lock = threading.Lock()
        self.seconds: Counter = Counter()

    def watch(self, client) -> None:
        service = client.meta.service_model.service_name
        events = client.meta.events
        events.register(f"before-call.{service}.*", self._start, unique_id="karmayogi-bench-timer-start")
        events.register(f"after-call.{service}.*", self._stop, unique_id="karmayogi-bench-timer-stop")

    def _start(self, model=None, **_):
        self._local.started = time.perf_counter()

    def _stop(self, model=None, **_):
        started = getattr(self._local, "started", None)
        if started is not None:
            elapsed = time.perf_counter() - started
            with self._lock:
                self.seconds[model.service_model.service_name if model else "?"] += elapsed
            self._local.started = None

    def total(self) -> Counter:
        with self._lock:
            return Counter(self.seconds)


# --- the replay ------------------------------------------------------------------------------------------

@dataclass
class Mark:
    key_writes: dict
    cost: Cost
    deliveries: int


NO_NEW_DUPLICATE = "(re-sent duplicates)"
NO_NEW_REPEAT = "(repeat messages)"


class Replay:
    """Drives the Chalice app: signed webhook batches, then the SQS handler on what they queued."""

    def __init__(self, app_module, client, sqs, queue_url: str, meter, adapters):
        from chalicelib import settings
        self.app_module, self.client, self.sqs, self.queue_url = app_module, client, sqs, queue_url
        self.queue_name = settings.SCORING_QUEUE
        self.meter, self.adapters = meter, adapters
        from local.metering import Usage
        self.ingest_usage, self.score_usage = Usage(), Usage()
        self.ingest_by_type: dict[str, Cost] = defaultdict(Cost)
        self.score_by_type: dict[str, Cost] = defaultdict(Cost)
        self.pending: dict[str, list[str]] = defaultdict(list)  # stream -> types accepted since its last recompute
        self.resent: set[str] = set()  # streams with a duplicate delivery since their last recompute
        self.outcomes = Counter()
        self.recomputes = Counter()
        self.sqs_calls = Counter()
        self.messages = Counter()
        self.ingest_seconds = self.score_seconds = 0.0
        self.timer = WaitTimer()
        self.ingest_wait, self.score_wait = Counter(), Counter()
        self.mark: Optional[Mark] = None  # where the activity phase starts
        self.stream: Optional[Stream] = None

    def _cost(self) -> Cost:
        cost = Cost()
        cost.add(self.ingest_usage.total)
        cost.add(self.score_usage.total)
        return cost

    # Observers around the real code: they only label what the meter sees; the handlers are unchanged.
    def install_observers(self) -> Callable[[], None]:
        from chalicelib.scoring import pipeline as service
        meter, events = self.meter, self.adapters.events
        original_add, original_recompute = events.add, service.recompute_stream

        def add(event, received_at):
            before = meter.snapshot()
            stored = original_add(event, received_at)
            self.ingest_by_type[event.type if stored else NO_NEW_DUPLICATE].add(meter.since(before).total)
            return stored

        def recompute(stream, adapters):
            types = self.pending.pop(stream, [])
            resent = stream in self.resent
            self.resent.discard(stream)
            label = "covering new events" if types else ("re-sent only" if resent else "nothing new")
            self.recomputes[label] += 1
            before = meter.snapshot()
            try:
                return original_recompute(stream, adapters)
            finally:
                used = meter.since(before).total
                if types:
                    for kind in types:  # a recompute covering several new events is split evenly between them
                        self.score_by_type[kind].add(used, 1 / len(types))
                else:
                    self.score_by_type[NO_NEW_DUPLICATE if resent else NO_NEW_REPEAT].add(used)

        events.add = add
        service.recompute_stream = recompute

        def count_sqs(model=None, **_):
            self.sqs_calls[getattr(model, "name", "?")] += 1
        from chalicelib import bootstrap
        from chalicelib.tables import ALL_MODELS
        app_sqs = bootstrap._aws_clients()["sqs"]
        app_sqs.meta.events.register("after-call.sqs.*", count_sqs, unique_id="karmayogi-bench-sqs")
        self.sqs.meta.events.register("after-call.sqs.*", count_sqs, unique_id="karmayogi-bench-sqs")
        clients = {id(c): c for c in [app_sqs, self.sqs] + [m._get_connection().connection.client for m in ALL_MODELS]
                   + [getattr(self.adapters, name)._connection.client for name in ("events", "learners", "orgs",
                                                                                   "boards")
                      if getattr(getattr(self.adapters, name), "_connection", None) is not None]}
        for client in clients.values():
            self.timer.watch(client)

        def restore():
            events.__dict__.pop("add", None)
            service.recompute_stream = original_recompute
        return restore

    def post(self, batch: list[Delivery]) -> None:
        from chalicelib.ingestion.signature import HEADER, sign
        body = json.dumps([d.event for d in batch]).encode()
        headers = {"Content-Type": "application/json", HEADER: sign(body, SECRET, int(time.time()))}
        before = self.meter.snapshot()
        waited = self.timer.total()
        started = time.perf_counter()
        response = self.client.http.post("/v1/events", body=body, headers=headers)
        self.ingest_seconds += time.perf_counter() - started
        self.ingest_wait.update(self.timer.total() - waited)
        add_usage(self.ingest_usage, self.meter.since(before))
        if response.status_code != 202:
            raise RuntimeError(f"POST /v1/events answered {response.status_code}: {response.body[:300]!r}")
        for delivery, result in zip(batch, json.loads(response.body)["results"]):
            self.outcomes[result["status"]] += 1
            event = delivery.event
            stream = f"org:{event['org']['id']}" if event["type"] == "org.upserted" else f"learner:{event['learner']['id']}"
            if result["status"] == "accepted":
                self.pending[stream].append(delivery.event["type"])
            elif result["status"] == "duplicate":
                self.resent.add(stream)

    def drain(self, wait_for_retries: bool = False) -> None:
        """Hand everything queued to score_streams, ten messages a batch, and delete what it did not fail."""
        started = time.perf_counter()
        before = self.meter.snapshot()
        waited = self.timer.total()
        deadline = time.monotonic() + 60
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                                WaitTimeSeconds=0).get("Messages", [])
            if not messages:
                if not wait_for_retries or time.monotonic() > deadline or not self._in_flight():
                    break
                time.sleep(0.5)  # failed messages come back after the queue's visibility timeout
                continue
            event = self.client.events.generate_sqs_event([m["Body"] for m in messages], queue_name=self.queue_name)
            for record, message in zip(event["Records"], messages):  # real ids: failures must map back
                record["messageId"], record["receiptHandle"] = message["MessageId"], message["ReceiptHandle"]
            result = self.client.lambda_.invoke("score_streams", event).payload or {}
            failed = {item["itemIdentifier"] for item in result.get("batchItemFailures") or []}
            self.messages.update(received=len(messages), failed=len(failed))
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)])
        add_usage(self.score_usage, self.meter.since(before))
        self.score_seconds += time.perf_counter() - started
        self.score_wait.update(self.timer.total() - waited)

    def _in_flight(self) -> bool:
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return any(int(v) for v in attributes.values())

    def run(self, stream: Stream, drain_every: int) -> None:
        self.stream = stream
        total, done, reported = stream.deliveries, 0, 0
        # The activity phase starts once the last profile is scored (one extra drain there): its writes are
        # tallied apart, as steady traffic is activity, not a backfill of profiles.
        last_profile = max((n for n, batch in enumerate(stream.batches, 1)
                            if any(d.kind == "first" and d.event["type"] == "learner.upserted" for d in batch)),
                           default=0)
        for number, batch in enumerate(stream.batches, 1):
            self.post(batch)
            done += len(batch)
            if number % drain_every == 0 or number in (len(stream.batches), last_profile):
                self.drain(wait_for_retries=number in (len(stream.batches), last_profile))
            if number == last_profile and number < len(stream.batches):
                self.mark = Mark(self.meter.key_writes(), self._cost(), done)
            if done - reported >= total / 10 or done == total:
                reported = done
                say(f"  {inr(done)}/{inr(total)} events replayed "
                    f"(ingest {self.ingest_seconds:.0f} s, scoring {self.score_seconds:.0f} s)")


# --- synthetic boards for the read benchmark -------------------------------------------------------------

def wire_time(moment: datetime) -> str:
    """A time as PynamoDB's UTCDateTimeAttribute stores it (for items written without the models)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


class BoardLoad:
    """Synthetic learners on dedicated boards, written straight into the board tables (not through scoring:
    a lakh learners would take far too long on DynamoDB Local). Entries go where DynamoBoardStore puts them
    ("<board>#<shard_of(learner, shards)>"), score counts likewise; names go in the learners table."""

    def __init__(self, config, rng: random.Random, distributions: dict[str, list[tuple[int, int]]]):
        from chalicelib.leaderboards.boards import NATIONAL, Scope
        self.config, self.rng, self.distributions = config, rng, distributions
        self.scopes = [Scope("org", "org_bench"), Scope("dept", "dept_bench"), Scope("ministry", "min_bench"),
                       NATIONAL]
        self.points: dict[str, list[int]] = {p: [] for p in (BENCH_MONTH, BENCH_PREV_MONTH, BENCH_WEEK,
                                                             BENCH_PREV_WEEK, "all")}
        self.reached: list[datetime] = []
        self.items_written = 0
        self.load_seconds = 0.0
        self.probe: Optional[int] = None

    @staticmethod
    def learner_id(n: int) -> str:
        return f"bench-{n:06d}"

    @property
    def size(self) -> int:
        return len(self.reached)

    def _draw(self, kind: str) -> int:
        values, weights = zip(*self.distributions[kind])
        return self.rng.choices(values, weights=weights)[0]

    def _write(self, model, items: list[dict]) -> None:
        client = model._get_connection().connection.client
        name = model.Meta.table_name
        chunks = [items[i:i + 25] for i in range(0, len(items), 25)]
        for chunk in chunks:
            request = {name: [{"PutRequest": {"Item": item}} for item in chunk]}
            for attempt in range(20):
                left = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
                if not left:
                    break
                request = left
                time.sleep(0.05 * (attempt + 1))
            else:
                raise RuntimeError("DynamoDB Local kept items unprocessed")
        self.items_written += len(items)

    def _entry(self, board: str, n: int, points: int, reached: datetime) -> dict:
        from chalicelib.leaderboards.boards import rank_key
        from chalicelib.sharding import shard_of
        learner = self.learner_id(n)
        shard = shard_of(learner, self.config.shards_for(board))
        when = wire_time(reached)
        return {"board_shard": {"S": f"{board}#{shard}"}, "learner_id": {"S": learner},
                "rank_key": {"S": rank_key(points, reached, learner)}, "org_id": {"S": "org_bench"},
                "points": {"N": str(points)}, "minutes": {"N": "0"}, "reached_at": {"S": when},
                "state": {"S": f"{points}|0|{reached.astimezone(timezone.utc).isoformat()}"}}

    def grow(self, size: int, base_counts: dict[str, Counter]) -> None:
        """Add learners up to `size`, with entries on the month boards and score counts on every board the
        learner summary reads."""
        from chalicelib.leaderboards.boards import board_key
        from chalicelib.leaderboards.models import BoardEntryRecord, BoardSummaryRecord
        started = time.perf_counter()
        first = self.size
        month_start = datetime(2030, 1, 1, tzinfo=IST)
        for _ in range(first, size):
            month = self._draw("month")
            week = min(self._draw("week"), month)
            prev_month = self._draw("month")
            self.points[BENCH_MONTH].append(month)
            self.points[BENCH_WEEK].append(week)
            self.points[BENCH_PREV_MONTH].append(prev_month)
            self.points[BENCH_PREV_WEEK].append(self._draw("week"))
            self.points["all"].append(max(self._draw("all"), month + prev_month))
            self.reached.append(month_start + timedelta(seconds=self.rng.randrange(14 * 86400)))
        if self.probe is None:  # a learner in the middle of the first board, kept for every size
            order = sorted(range(size), key=lambda n: self.points[BENCH_MONTH][n])
            self.probe = order[len(order) // 2]
        say(f"  loading {inr(size - first)} synthetic learners (boards of {inr(size)})")
        entries = [self._entry(board_key(scope, BENCH_MONTH), n, self.points[BENCH_MONTH][n], self.reached[n])
                   for scope in (self.scopes[0], self.scopes[3]) for n in range(first, size)]
        if first == 0:  # check the hand-built items against PynamoDB's own serialisation once
            expected = BoardEntryRecord.from_raw_data(entries[0]).serialize()
            assert expected == entries[0], (expected, entries[0])
        self._write(BoardEntryRecord, entries)

        # Board summaries: the histogram of every board the summary and the pages read, from scratch each time
        # (what the board stream's fold keeps; the national month board's top is read by the caller).
        counts: dict[str, Counter] = defaultdict(Counter)
        for period, values in self.points.items():
            for scope in self.scopes:
                board = board_key(scope, period)
                counts[board].update(values)
        for board, base in base_counts.items():  # the replay's own learners on national|all stay counted
            counts[board].update(base)
        rows = [{"summary": {"S": board}, **{f"s{p}": {"N": str(c)} for p, c in by_points.items()}}
                for board, by_points in counts.items()]
        self._write(BoardSummaryRecord, rows)
        self.load_seconds += time.perf_counter() - started

    def ranked(self) -> list[int]:
        """Learners in board order for the bench month (most points first, then who reached it first)."""
        return sorted(range(self.size), key=lambda n: (-self.points[BENCH_MONTH][n], self.reached[n],
                                                        self.learner_id(n)))

    def shown(self, limit: int) -> list[int]:
        """The learners the measured pages can show: the top of the board and the probe's neighbours."""
        order = self.ranked()
        at = order.index(self.probe)
        return sorted(set(order[:limit + 1]) | set(order[max(0, at - 2):at + 3]))

    def details_for(self, learners: list[int]) -> None:
        """Last month's entries and names for the learners a page shows: the page reads exactly those (one
        batch read by key each), so the rest of the population does not need them to cost the same."""
        from chalicelib.leaderboards.boards import board_key
        from chalicelib.storage.models import LearnerRecord
        from chalicelib.leaderboards.models import BoardEntryRecord
        started = time.perf_counter()
        entries = [self._entry(board_key(scope, BENCH_PREV_MONTH), n, self.points[BENCH_PREV_MONTH][n],
                               self.reached[n] - timedelta(days=31))
                   for scope in (self.scopes[0], self.scopes[3]) for n in learners]
        self._write(BoardEntryRecord, entries)
        for n in learners:
            if n == self.probe:
                continue
            LearnerRecord(self.learner_id(n), version=1, org_id="org_bench",
                          profile={"org_id": "org_bench", "name": f"Bench Learner {n}"},
                          points=self.points["all"][n], scopes=[s.key for s in self.scopes]).save()
        self.load_seconds += time.perf_counter() - started

    def save_probe(self) -> str:
        """The probe learner's stored standing, with the scopes and points its summary ranks."""
        from chalicelib.storage.models import LearnerRecord
        n = self.probe
        points = {period: self.points[period][n] for period in self.points}
        reached = {period: self.reached[n].isoformat() for period in points}
        LearnerRecord(self.learner_id(n), version=1, org_id="org_bench",
                      profile={"org_id": "org_bench", "name": "Bench Probe"},
                      points=points["all"], points_by_period=points, reached_at=reached,
                      scopes=[s.key for s in self.scopes], last_active_at=self.reached[n]).save()
        return self.learner_id(n)


def distributions_from(adapters) -> dict[str, list[tuple[int, int]]]:
    """Points per learner on the replay's national boards, by kind of period: the synthetic boards draw from
    these, so they hold as many distinct scores as a real board of that kind would."""
    from chalicelib.leaderboards.models import BoardSummaryRecord
    from chalicelib.leaderboards.store import histogram_of
    found: dict[str, Counter] = {"week": Counter(), "month": Counter(), "all": Counter()}
    client = BoardSummaryRecord._get_connection().connection.client
    for page in client.get_paginator("scan").paginate(TableName=BoardSummaryRecord.Meta.table_name):
        for item in page["Items"]:
            scope, _, period = item["summary"]["S"].partition("|")
            kind = period.split(":", 1)[0]
            if scope == "national" and kind in found and not period.endswith("#top"):
                found[kind].update(histogram_of(item))
    for counts in found.values():
        if not counts:
            counts[5] = 1  # a replay too small to have such a board
    return {kind: sorted(counts.items()) for kind, counts in found.items()}


# --- reading -----------------------------------------------------------------------------------------------

@dataclass
class ReadFigure:
    label: str
    size: str
    requests: int
    rcu: float
    ms: float
    ms_low: float
    ms_high: float
    note: str = ""


def timed_reads(meter, call: Callable[[], object], repeats: int) -> tuple[int, float, float, float, float]:
    """One warm-up call (connections, the org-tree cache, as in a warm function), then `repeats` metered calls:
    the median requests and RCU of one call, and its median, lowest and highest milliseconds."""
    call()
    usages, times = [], []
    for _ in range(repeats):
        before = meter.snapshot()
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
        usages.append(meter.since(before).total)
    return (int(statistics.median(u.requests for u in usages)), statistics.median(u.rcu for u in usages),
            statistics.median(times), min(times), max(times))


def measure_read(meter, call: Callable[[], object], label: str, size: str, note: str = "") -> ReadFigure:
    return ReadFigure(label, size, *timed_reads(meter, call, READ_REPEATS), note)


class Tokens:
    """Bearer tokens for the read routes, signed with a key made for this run (its public half is the JWKS the
    app trusts, set before the app is imported). Readers are learners (role learner, with their org): a learner
    reading their own summary and the boards, the commonest read. Without local/dev_keys.py (no token support
    in the app), no header is sent."""

    def __init__(self):
        self._mint = None
        self._cache: dict[str, str] = {}
        try:
            from local.dev_keys import mint, new_private_key, public_jwk
        except ImportError:
            return
        key, kid = new_private_key("ES256"), "bench-key-1"
        os.environ.pop("KARMAYOGI_JWKS_URL", None)
        os.environ["KARMAYOGI_JWKS"] = json.dumps({"keys": [public_jwk(key, kid)]})
        self._mint = lambda sub, org, issuer, audience: mint(key, kid, sub, ["learner"], org, issuer=issuer,
                                                             audience=audience)

    def headers(self, reader: tuple[str, Optional[str]]) -> dict:
        if self._mint is None:
            return {}
        if reader not in self._cache:
            from chalicelib import settings
            self._cache[reader] = self._mint(*reader, getattr(settings, "JWT_ISSUER", "karmayogi-engage-local"),
                                             getattr(settings, "JWT_AUDIENCE", "karmayogi-engage"))
        return {"Authorization": f"Bearer {self._cache[reader]}"}


TOKENS: Optional[Tokens] = None


def get_json(client, path: str, reader: tuple[str, Optional[str]]) -> dict:
    """GET as the learner `reader` (id, org)."""
    response = client.http.get(path, headers=TOKENS.headers(reader) if TOKENS else {})
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}: {response.body[:300]!r}")
    return json.loads(response.body)


# --- the report --------------------------------------------------------------------------------------------

ACTIVITY_TYPES = ("course.completed", "course.enrolled", "course.rated", "learning.time_spent", "event.attended",
                  "learner.first_login")


def report_stream(args, stream: Stream, replay: Replay) -> list[str]:
    out = []
    start, end = stream.window
    out.append(heading("Stream"))
    out.append(f"{inr(stream.deliveries)} events delivered in {inr(len(stream.batches))} signed batches of up to "
               f"{BATCH}: {inr(stream.orgs)} org.upserted (an org tree: ministries, departments, {args.orgs} mdo "
               f"orgs), {inr(stream.profiles)} learner.upserted (one per learner), {inr(stream.activity)} activity "
               f"events from {inr(stream.active_learners)} active learners (whole histories, skewed as "
               f"local.seed generates them), {inr(stream.late)} of them delivered late (after later events of "
               f"the same learner), and {inr(stream.duplicates)} exact re-sends of earlier events "
               f"({inr(stream.duplicates_same_batch)} in the same batch as the original).")
    out.append(f"Activity from {start.astimezone(IST):%d %b %Y} to {end.astimezone(IST):%d %b %Y} (IST), across "
               f"the month boundary of {stream.month_boundary:%d %b %Y}; seed {args.seed}.")
    out.append(f"Webhook answers: {inr(replay.outcomes['accepted'])} accepted, {inr(replay.outcomes['duplicate'])} "
               f"duplicate, {inr(replay.outcomes['rejected'])} rejected. Scoring: {inr(replay.messages['received'])} "
               f"SQS messages in batches of up to 10, {inr(replay.messages['failed'])} failed; "
               f"{inr(sum(replay.recomputes.values()))} stream recomputes "
               f"({inr(replay.recomputes['covering new events'])} covering new events, "
               f"{inr(replay.recomputes['re-sent only'])} for re-sent duplicates only, "
               f"{inr(replay.recomputes['nothing new'])} finding nothing new).")
    out.append(("The queue was drained into score_streams after every batch, as Lambda's poller would consume it "
                "while batches arrive" if args.drain_every == 1 else
                f"The queue was drained into score_streams after every {args.drain_every} batches "
                f"({inr(args.drain_every * BATCH)} events): scoring works through a backlog")
               + f" (--drain-every {args.drain_every}), ten messages per handler call.")
    return out


def report_speed(stream: Stream, replay: Replay, wall: float) -> list[str]:
    n = stream.deliveries
    rows = [["ingest (POST /v1/events)", f"{replay.ingest_seconds:.1f}", inr(n / replay.ingest_seconds, 0)],
            ["scoring (score_streams)", f"{replay.score_seconds:.1f}", inr(n / replay.score_seconds, 0)],
            ["both (ingest + scoring)", f"{replay.ingest_seconds + replay.score_seconds:.1f}",
             inr(n / (replay.ingest_seconds + replay.score_seconds), 0)],
            ["whole replay, wall clock", f"{wall:.1f}", inr(n / wall, 0)]]
    without = replay.ingest_seconds + replay.score_seconds - replay.ingest_wait["sqs"] - replay.score_wait["sqs"]
    if without > 0:
        rows.append(["both, less the time inside SQS calls", f"{without:.1f}", inr(n / without, 0)])
    def waits(seconds: float, waited: Counter) -> str:
        return (f"{waited['dynamodb']:.0f} s ({100 * waited['dynamodb'] / seconds:.0f}%) inside DynamoDB calls and "
                f"{waited['sqs']:.0f} s ({100 * waited['sqs'] / seconds:.0f}%) inside SQS calls")
    return [heading("Throughput"), table(["phase", "seconds", "events/s"], rows),
            f"\nrecomputes/s while scoring: {sum(replay.recomputes.values()) / replay.score_seconds:.0f}. Where the "
            f"time went: ingest {waits(replay.ingest_seconds, replay.ingest_wait)}; scoring "
            f"{waits(replay.score_seconds, replay.score_wait)} (a call's time runs from the built request to the "
            "parsed response, so it includes botocore's own work); the rest is the app's Python: validation, "
            "rules, PynamoDB. The SQS server is moto, in this process: each call costs it about 5 ms plus a "
            "little per queued message, far more than SQS's own latency would add to a Lambda. One Python process, one request at a time, on a 2-core machine that also runs "
            "DynamoDB Local (Java) and moto: a figure for comparing changes, not what AWS would do. On AWS, API "
            "Gateway and Lambda run many of these in parallel and DynamoDB answers in a few ms."]


def report_requests(stream: Stream, replay: Replay) -> list[str]:
    n = stream.deliveries
    names = sorted(set(replay.ingest_usage.operations) | set(replay.score_usage.operations))
    rows = []
    for name in names:
        ingest = replay.ingest_usage.operations.get(name)
        score = replay.score_usage.operations.get(name)
        i = ingest.requests if ingest else 0
        s = score.requests if score else 0
        rows.append([name, f"{i / n:.3f}", f"{s / n:.3f}", f"{(i + s) / n:.3f}"])
    ti, ts = replay.ingest_usage.requests, replay.score_usage.requests
    rows.append(["all DynamoDB requests", f"{ti / n:.3f}", f"{ts / n:.3f}", f"{(ti + ts) / n:.3f}"])
    errors = Counter(replay.ingest_usage.error_codes) + Counter(replay.score_usage.error_codes)
    sends = replay.sqs_calls["SendMessageBatch"]
    polls = replay.sqs_calls["ReceiveMessage"] + replay.sqs_calls["DeleteMessageBatch"]
    out = [heading("DynamoDB requests per event, by operation (per delivered event, duplicates included)"),
           table(["operation", "ingest", "scoring", "total"], rows)]
    out.append("\nErrors (already in the counts): " + (", ".join(f"{k} {inr(v)}" for k, v in sorted(errors.items()))
                                                        or "none")
               + ". A PutItem ConditionalCheckFailed is a duplicate delivery refused by the idempotency check.")
    out.append(f"SQS: {sends / n:.3f} SendMessageBatch per event from ingestion ({inr(replay.messages['received'])} "
               f"messages); the event source's ReceiveMessage + DeleteMessageBatch: {polls / n:.3f} per event here.")
    return out


def _per(cost: Cost, count: int) -> list[str]:
    return [f"{cost.wcu / count:.2f}", f"{cost.rcu / count:.2f}"] if count else ["-", "-"]


def report_capacity(args, stream: Stream, replay: Replay) -> tuple[list[str], float, float]:
    n = stream.deliveries
    out = [heading("Capacity units per event, by event type (as AWS bills them; see the method below)")]
    rows = []
    order = [t for t in ("org.upserted", "learner.upserted") + ACTIVITY_TYPES if stream.types.get(t)]
    activity_total, activity_count = Cost(), 0
    for kind in order:
        count = stream.types[kind]
        ingest, score = replay.ingest_by_type.get(kind, Cost()), replay.score_by_type.get(kind, Cost())
        both = ingest.plus(score)
        if kind in ACTIVITY_TYPES:
            activity_total, activity_count = activity_total.plus(both), activity_count + count
        rows.append([kind, inr(count)] + _per(ingest, count) + _per(score, count) + _per(both, count))
    dup_count = replay.outcomes["duplicate"]
    dup = replay.ingest_by_type.get(NO_NEW_DUPLICATE, Cost()).plus(replay.score_by_type.get(NO_NEW_DUPLICATE, Cost()))
    rows.append(["re-sent duplicate", inr(dup_count)] + _per(replay.ingest_by_type.get(NO_NEW_DUPLICATE, Cost()),
                                                             dup_count)
                + _per(replay.score_by_type.get(NO_NEW_DUPLICATE, Cost()), dup_count) + _per(dup, dup_count))
    repeat = replay.score_by_type.get(NO_NEW_REPEAT, Cost())
    rows.append(["repeat message, per event", inr(n), "-", "-"] + _per(repeat, n) + _per(repeat, n))
    total = Cost()
    total.add(replay.ingest_usage.total)
    total.add(replay.score_usage.total)
    ingest_all, score_all = Cost(), Cost()
    ingest_all.add(replay.ingest_usage.total)
    score_all.add(replay.score_usage.total)
    rows.append(["ALL, per delivered event", inr(n)] + _per(ingest_all, n) + _per(score_all, n) + _per(total, n))
    out.append(table(["event type", "events", "ingest WCU", "ingest RCU", "score WCU", "score RCU", "WCU",
                      "RCU"], rows))
    out.append(
        "\nMethod: ingestion cost is metered per event (its conditional PutItem). Scoring cost is metered per stream "
        "recompute and attributed to the events that recompute newly covered: the events accepted for that "
        "learner (or org) since its previous recompute, split evenly between them. A recompute that found no new "
        "event is counted apart: after a re-sent duplicate (the webhook queues duplicates again on purpose), or "
        "a repeat message (the learner was queued twice before the queue was drained; the first recompute "
        "covered both). A learner's cost grows with their history: each recompute reads all their events and "
        "ledger. WCU include the meter's corrections (transactions cost 2 WCU per KB per item, plus the LSI "
        "by_rank copy of each board entry Put; failed conditional writes are billed): local/metering.py.")

    wcu_ev, rcu_ev = total.wcu / n, total.rcu / n
    act_wcu, act_rcu = ((activity_total.wcu / activity_count, activity_total.rcu / activity_count)
                        if activity_count else (0.0, 0.0))
    million = 1_000_000
    rows = []
    for label, w, r in (("as replayed (every delivered event, all overheads)", wcu_ev, rcu_ev),
                        ("activity only (this replay's activity mix)", act_wcu, act_rcu)):
        write_usd, read_usd = w * million * args.wru_price / million, r * million * args.rru_price / million
        rows.append([label, inr(w * million), f"${write_usd:,.2f}", inr(r * million), f"${read_usd:,.2f}",
                     f"${write_usd + read_usd:,.2f}"])
    out.append(heading("What 10 lakh events would cost in DynamoDB requests (on-demand)"))
    out.append(table(["mix", "write units", "writes", "read units", "reads", "total"], rows))
    out.append(
        f"\nPrices: ${args.wru_price} per million write request units and ${args.rru_price} per million read "
        "request units: AWS's published on-demand prices for DynamoDB Standard tables in us-east-1 (N. Virginia). "
        "Asia Pacific (Mumbai), where this would run, costs somewhat more: pass --wru-price and --rru-price to use "
        "another price. Requests only: storage, backups, streams, SQS, Lambda and API Gateway are not included. "
        "The 'as replayed' mix has one learner.upserted per learner and 5% duplicates; steady traffic is mostly "
        "activity.")
    return out, wcu_ev, rcu_ev


def _short(table_name: str) -> str:
    return table_name.replace(f"karmayogi-{STAGE}-", "")


def _busiest(key_writes: dict, label: str, lead: str = "\n") -> tuple[list[str], tuple[str, float]]:
    items = sum(w.items for w in key_writes.values())
    est = sum(w.wcu for w in key_writes.values())
    top = sorted(key_writes.items(), key=lambda kv: (-kv[1].wcu, -kv[1].items))[:6]
    rows = [[_short(table_name), key[:60], inr(w.items), f"{100 * w.items / items:.2f}%", f"{100 * w.wcu / est:.2f}%"]
            for (table_name, key), w in top]
    out = [f"{lead}{label}: {inr(len(key_writes))} partition keys written, {inr(items)} item writes; the busiest keys, by "
           "estimated WCU:",
           table(["table", "partition key", "items", "of items", "of WCU"], rows, "llrrr")]
    (_, hot_key), hot = top[0]
    return out, (hot_key, hot.wcu / est)


def report_hot_keys(key_writes: dict, index_writes: dict, replay: Replay, wcu_per_event: float) -> list[str]:
    from local.metering import Writes
    out = [heading("Where the writes went: partition keys, tables, indexes")]
    items = sum(w.items for w in key_writes.values())
    if not items:
        return out + ["no writes seen"]
    lines, (hot_key, hot_share) = _busiest(key_writes, "Whole replay", lead="")
    out += lines
    phase = None
    if replay.mark:
        after = {k: Writes(w.items - replay.mark.key_writes.get(k, Writes()).items,
                           w.wcu - replay.mark.key_writes.get(k, Writes()).wcu)
                 for k, w in key_writes.items()}
        after = {k: w for k, w in after.items() if w.items}
        deliveries = replay.stream.deliveries - replay.mark.deliveries
        cost = replay._cost()
        phase_wcu = (cost.wcu - replay.mark.cost.wcu) / deliveries if deliveries else 0.0
        if after:
            lines, (phase_key, phase_share) = _busiest(after, f"Activity phase only (the {inr(deliveries)} deliveries "
                                                              "after the last profile was scored)")
            out += lines
            phase = (phase_key, phase_share, phase_wcu)
    usage = Cost()
    usage.add(replay.ingest_usage.total)
    usage.add(replay.score_usage.total)
    tables: dict[str, float] = defaultdict(float)
    for source in (replay.ingest_usage.tables, replay.score_usage.tables):
        for name, counts in source.items():
            tables[name] += counts.wcu
    rows = [[name.replace(f"karmayogi-{STAGE}-", ""), inr(wcu, 1), f"{100 * wcu / usage.wcu:.1f}%"]
            for name, wcu in sorted(tables.items(), key=lambda kv: -kv[1]) if wcu]
    out.append("\nTables, by billed WCU (whole replay):")
    out.append(table(["table", "WCU", "share"], rows))
    out.append("\nIndexes (whole replay). DynamoDB Local reports no index capacity: these are items put into the "
               "index, from the requests (Puts whose item carries the index's keys). An index entry that moves (a "
               "learner's points change, so their rank_key does) costs a delete as well, which the requests do not "
               "show; 'replacing' counts the Puts of an entry that already existed, the most such deletes can be.")
    rows = []
    missing_wcu = 0.0
    for (table_name, index), w in sorted(index_writes.items()):
        table_items = sum(v.items for (t, _), v in key_writes.items() if t == table_name)
        rows.append([f"{_short(table_name)}/{index}", inr(w.items), f"{100 * w.items / items:.1f}%",
                     f"{100 * w.items / table_items:.0f}%", inr(w.wcu, 1), inr(w.replacing)])
        missing_wcu += w.replacing * (w.wcu / w.items if w.items else 0)
    out.append(table(["index", "items", "of all item writes", "of its table's", "est. WCU", "replacing"], rows,
                     "lrrrrr") if rows else "(none)")
    if missing_wcu:
        total = replay._cost().wcu
        out.append(f"\nIf every replacing Put moved its index entry, the index deletes would add up to "
                   f"{inr(missing_wcu, 0)} WCU ({100 * missing_wcu / total:.1f}% on top of the replay's "
                   f"{inr(total, 0)}); the figures above leave them out, so they are a floor.")
    out.append(f"\nThe busiest key of the whole replay, {hot_key}, took {100 * hot_share:.2f}% of the estimated "
               f"write units: at the design's burst of 1,000 events/s with that mix ({wcu_per_event:.1f} WCU per "
               f"event) it would take about {inr(hot_share * wcu_per_event * 1000)} WCU/s.")
    if phase:
        phase_key, phase_share, phase_wcu = phase
        out.append(f"In the activity phase the busiest key, {phase_key}, took {100 * phase_share:.2f}%: at 1,000 "
                   f"activity events/s ({phase_wcu:.1f} WCU per event) about "
                   f"{inr(phase_share * phase_wcu * 1000)} WCU/s.")
    out.append("One DynamoDB partition takes at most 1,000 WCU/s. Scoring writes a learner's entry to every board "
               "of their scopes and period, with the board's score counts and the org's statistics, so board "
               "shards (national boards have 8), score counts and org statistics are where heat collects.")
    return out


def report_reads(figures: list[ReadFigure], load: Optional[BoardLoad], sizes: list[int]) -> list[str]:
    out = [heading("Leaderboard reads: requests, RCU and milliseconds per call")]
    rows = [[f.label, f.size, inr(f.requests), f"{f.rcu:.1f}", f"{f.ms:.1f}", f"{f.ms_low:.0f}-{f.ms_high:.0f}",
             f.note] for f in figures]
    out.append(table(["call", "learners", "requests", "RCU", "ms (median)", "ms range", "notes"], rows,
                     "lrrrrrl"))
    out.append(f"\nms: median of {READ_REPEATS} calls after a warm-up, through chalice.test.Client in this process "
               "against DynamoDB Local; shard queries go out in parallel (8 threads). Requests and RCU are one call's.")
    if load:
        out.append(
            f"The boards of {' and '.join(inr(s) for s in sizes)} learners ({BENCH_MONTH}, national and "
            f"org:org_bench) "
            f"were bulk-loaded straight into the board tables, sharded as DynamoBoardStore shards them "
            f"({inr(load.items_written)} items in {load.load_seconds:.0f} s), not scored from events. Points are "
            "drawn from the replay's own national boards (week, month, all time), so the boards have as many "
            "distinct scores as real ones; score counts were written for all 4 scopes x (this and last week, this "
            "and last month, all time), which is everything the learner summary reads. Last month's entries and "
            "names were written only for the learners the measured pages show (the page reads exactly those, by "
            "key). Reads merge 8 shards for a national board and use the score counts for ranks and totals, so "
            "their cost follows the number of distinct scores (rows in board-scores), not of learners.")
    return out


# --- main --------------------------------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m local.bench", description=(
        "Replay a realistic event stream through the real handlers against DynamoDB Local and print what it "
        "costs: events/s, DynamoDB requests and capacity units per event, the price of 10 lakh events, hot "
        "partition keys, and leaderboard reads at 10,000 and 1,00,000 learners."))
    parser.add_argument("--events", type=int, default=20_000, help="events delivered, duplicates included")
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--orgs", type=int, default=50, help="mdo organisations (plus their ancestors)")
    parser.add_argument("--days", type=int, default=35, help="days of activity (across an IST month boundary)")
    parser.add_argument("--duplicates", type=float, default=0.05, help="share of deliveries that are re-sends")
    parser.add_argument("--late", type=float, default=0.02, help="share of deliveries that arrive late")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--drain-every", type=int, default=1,
                        help="batches ingested between queue drains (1: the queue is consumed as fast as batches "
                             "arrive, as Lambda's poller would; more: scoring works through a backlog)")
    parser.add_argument("--board-sizes", default="10000,100000", help="learners on the read benchmark's boards")
    parser.add_argument("--wru-price", type=float, default=0.625,
                        help="USD per million write request units (default: us-east-1 on-demand, Standard)")
    parser.add_argument("--rru-price", type=float, default=0.125,
                        help="USD per million read request units (default: us-east-1 on-demand, Standard)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 2,000 events, 1,000 learners, 20 orgs, one 10,000-learner board")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.learners, args.orgs, args.board_sizes = 2_000, 1_000, 20, "10000"
    try:
        args.sizes = sorted({int(s.strip().replace("_", "")) for s in args.board_sizes.split(",") if s.strip()})
    except ValueError:
        parser.error("--board-sizes takes whole numbers separated by commas, e.g. 10000,100000")
    if not 0 <= args.duplicates < 1 or not 0 <= args.late < 1:
        parser.error("--duplicates and --late are shares between 0 and 1")
    if args.drain_every < 1:
        parser.error("--drain-every must be at least 1")
    return args


class _Terminated(BaseException):
    """SIGTERM, as KeyboardInterrupt is SIGINT: a BaseException, so no `except Exception` in the app (a stream
    that fails is logged and retried) can swallow it."""


def _raise_terminated(signum, _frame):
    raise _Terminated(signal.Signals(signum).name)


def main(argv=None) -> int:
    args = parse_args(argv)

    def trust_dev_tokens() -> None:
        global TOKENS
        TOKENS = Tokens()  # sets the JWKS the app trusts: before the app is imported

    return run_with_backends(run, args, prepare=trust_dev_tokens)


def run_with_backends(run: Callable, args, prepare: Callable[[], None] = lambda: None) -> int:
    """Start DynamoDB Local and moto, `run(args)`, and stop both whatever happens (Ctrl-C and SIGTERM too)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _raise_terminated)
    # Also when started with SIGINT ignored (a background job of a script): Ctrl-C must still clean up.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    backends = Backends()
    try:
        backends.environment()
        prepare()
        say(f"starting DynamoDB Local on {HOST}:{backends.dynamodb_port} and moto (SQS) on {HOST}:{backends.moto_port}")
        backends.start()
        return run(args)
    except (KeyboardInterrupt, _Terminated):
        say("interrupted")
        return 130
    finally:
        # A second Ctrl-C must not interrupt the clean-up and leave DynamoDB Local running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        backends.stop()
        say("stopped DynamoDB Local and moto")


def run(args) -> int:
    if str(PROJECT) not in sys.path:
        sys.path.insert(0, str(PROJECT))
    import boto3
    from chalice.test import Client

    import app as app_module
    from chalicelib import bootstrap, settings
    from chalicelib.storage.dynamodb import create_tables
    from local.metering import DynamoMeter

    started = time.perf_counter()
    create_tables()
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName=settings.SCORING_QUEUE, Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
    adapters = bootstrap.adapters()
    meter = DynamoMeter(track_keys=True).install_for(adapters)
    client = Client(app_module.app, stage_name="dev", project_dir=str(PROJECT))

    say("generating the stream")
    stream = build_stream(args)
    say(f"replaying {inr(stream.deliveries)} events")
    replay = Replay(app_module, client, sqs, queue_url, meter, adapters)
    restore = replay.install_observers()
    replay_started = time.perf_counter()
    try:
        replay.run(stream, args.drain_every)
    finally:
        restore()
    replay_wall = time.perf_counter() - replay_started
    key_writes, index_writes = meter.key_writes(), meter.index_writes()

    command = " ".join(["python -m local.bench"] + sys.argv[1:])
    out = [f"Karmayogi Engage benchmark: {command} (DynamoDB Local "
           f"{dynamodb_local.jar_dir().name.replace('dynamodb_local_', '')}, moto SQS, one process)"]
    out += report_stream(args, stream, replay)
    out += report_speed(stream, replay, replay_wall)
    out += report_requests(stream, replay)
    capacity, wcu_ev, _ = report_capacity(args, stream, replay)
    out += capacity
    out += report_hot_keys(key_writes, index_writes, replay, wcu_ev)
    print(render(out), flush=True)

    say("measuring leaderboard reads")
    figures, load = read_benchmark(args, client, app_module, adapters, meter, replay, stream.window[1])
    print(render(report_reads(figures, load, args.sizes)), flush=True)
    print(f"\nTotal run time {time.perf_counter() - started:.0f} s (replay {replay_wall:.0f} s).", flush=True)
    return 0


def read_benchmark(args, client, app_module, adapters, meter, replay: Replay, replay_end: datetime):
    from chalicelib.leaderboards.boards import NATIONAL
    from local.board_stream import BoardStreamPoller
    BoardStreamPoller(adapters).drain()  # the replay's entry changes, folded into the board summaries
    figures: list[ReadFigure] = []
    # As replayed: the all-time national board, read by its top learner, who also reads their own org's board
    # and their summary.
    top = next(iter(adapters.boards.page("national|all", None, 1)), None)
    reader = (top.learner_id, top.org_id) if top else ("bench-reader", None)
    national_all = "/v1/leaderboards/learners?scope=national&period=all&limit=20"
    replay_size = f"{inr(get_json(client, national_all, reader)['total'])} ranked"
    figures.append(measure_read(meter, lambda: get_json(client, national_all, reader),
                                "page: national|all, limit 20", replay_size, "the replayed board"))
    if top and top.org_id:
        org_all = f"/v1/leaderboards/learners?scope=org:{top.org_id}&period=all&limit=20"
        figures.append(measure_read(meter, lambda: get_json(client, org_all, reader), "page: org|all, limit 20",
                                    f"{inr(get_json(client, org_all, reader)['total'])} ranked",
                                    f"org:{top.org_id}, the reader's own"))
    if top:
        original_now = app_module._now
        app_module._now = lambda: replay_end  # "this week" and "this month" as the replay ended
        try:
            figures.append(measure_read(meter, lambda: get_json(client, f"/v1/learners/{top.learner_id}", reader),
                                        "GET /v1/learners/{id} (ranks)", replay_size,
                                        "the replay's top learner, clock at the replay's end"))
        finally:
            app_module._now = original_now
    orgs = "/v1/leaderboards/orgs?scope=national&period=all&limit=10"
    figures.append(measure_read(meter, lambda: get_json(client, orgs, reader), "org comparison: national|all",
                                f"{args.orgs} orgs", "participation"))

    # Synthetic boards of 10,000 and 1,00,000 learners.
    if not args.sizes:
        return figures, None
    for org_id, name, kind, parent in BENCH_ORGS:  # the bench org tree, through the real webhook and scoring
        replay.post([Delivery({"id": f"bench_org_{org_id}", "type": "org.upserted",
                               "occurred_at": "2020-06-01T10:00:00+05:30",
                               "org": {"id": org_id, "name": name, "type": kind,
                                       **({"parent_id": parent} if parent else {})}}, "first")])
    replay.drain(wait_for_retries=True)
    BoardStreamPoller(adapters).skip()  # the org events'; the synthetic boards' summaries are written whole
    base = {"national|all": adapters.boards.scores("national|all")}
    load = BoardLoad(adapters.boards.config, random.Random(args.seed * 104729 + 3), distributions_from(adapters))
    original_now = app_module._now
    app_module._now = lambda: BENCH_NOW  # the summary's "this week" and "this month" are the bench periods
    try:
        for size in args.sizes:
            load.grow(size, base)
            adapters.boards.refresh_top(f"{NATIONAL.key}|{BENCH_MONTH}")  # as the fold keeps it
            load.details_for(load.shown(20))
            probe = load.save_probe()
            me_reader = (probe, "org_bench")  # the probe reads the boards and their own summary
            label = inr(size)
            national = f"/v1/leaderboards/learners?scope={NATIONAL.key}&period={BENCH_MONTH}&limit=20"
            org = f"/v1/leaderboards/learners?scope=org:org_bench&period={BENCH_MONTH}&limit=20"
            around = f"/v1/leaderboards/learners?scope={NATIONAL.key}&period={BENCH_MONTH}&around={probe}"
            shown = get_json(client, national, me_reader)
            assert shown["total"] == size, (shown["total"], size)
            me = get_json(client, f"/v1/learners/{probe}", me_reader)
            rank = next(r["rank"] for r in me["ranks"] if r["scope"] == "national" and r["period"] == BENCH_MONTH)
            figures.append(measure_read(meter, lambda: get_json(client, national, me_reader), f"page: national|{BENCH_MONTH}",  # noqa: B023 (measure_read calls it at once)
                                        label, "8 shards"))
            figures.append(measure_read(meter, lambda: get_json(client, org, me_reader), f"page: org|{BENCH_MONTH}", label,  # noqa: B023 (measure_read calls it at once)
                                        "1 shard, org:org_bench"))
            figures.append(measure_read(meter, lambda: get_json(client, around, me_reader), "around me (national, month)",  # noqa: B023 (measure_read calls it at once)
                                        label, f"probe: dense rank {inr(rank)}"))
            figures.append(measure_read(meter, lambda: get_json(client, f"/v1/learners/{probe}", me_reader),  # noqa: B023 (measure_read calls it at once)
                                        "GET /v1/learners/{id} (ranks)", label,
                                        "4 scopes x 3 periods"))
            scores = len(adapters.boards.scores(f"national|{BENCH_MONTH}"))
            figures[-1].note += f"; {scores} distinct scores on the national board"
    finally:
        app_module._now = original_now
    return figures, load


if __name__ == "__main__":
    sys.exit(main())
