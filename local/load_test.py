"""A bounded load test of the local HTTP stack: concurrent clients posting signed event batches and reading
boards and learners, for a fixed time; prints throughput, p50/p99 latency and errors, then stops by itself.

    make run                                    # the stack (or one on other ports: KARMAYOGI_API_PORT=...)
    python -m local.load_test --secret <the secret make run printed> [--clients 50 --duration 120]

Loopback only: --base-url must be on 127.0.0.0/8 or localhost. Each client is a thread with its own
connection; it loops until the duration is over (or --max-requests in all), choosing a write (a signed batch
of --batch-size new events for a pool of --learners learners) with probability --write-share, else a read (a
national weekly board page, an org board page, or one learner's summary) with a national admin's token from
the development key (local/dev_keys.py, the key `make run` trusts). Every request has a timeout; an error is
any non-2xx answer or a failed connection.
"""
from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import random
import socket
import statistics
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from urllib.parse import urlparse

SIGNATURE_HEADER = "X-Karmayogi-Signature"


def _loopback(host: str) -> bool:
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback
                   for info in socket.getaddrinfo(host, None))
    except (socket.gaierror, ValueError):
        return False


def sign(body: bytes, secret: str) -> str:
    from chalicelib.ingestion.signature import sign as signed
    return signed(body, secret, int(time.time()))


def events(learners: list[str], orgs: list[str], size: int, rng: random.Random) -> list[dict]:
    now = datetime.now(timezone.utc)
    out = []
    for _ in range(size):
        n = rng.randrange(len(learners))
        learner = {"id": learners[n], "org_id": orgs[n % len(orgs)]}
        when = (now - timedelta(minutes=rng.randrange(0, 60 * 24 * 6))).isoformat()
        if rng.random() < 0.5:
            course = f"do_load_{rng.randrange(200)}"
            out.append({"id": f"evt_load_{uuid.uuid4().hex}", "type": "course.completed", "occurred_at": when,
                        "learner": learner, "course": {"id": course, "name": "Load test course",
                                                       "primary_category": "Course", "duration_minutes": 30}})
        else:
            out.append({"id": f"evt_load_{uuid.uuid4().hex}", "type": "learning.time_spent", "occurred_at": when,
                        "learner": learner, "content_id": f"do_load_{rng.randrange(200)}",
                        "minutes": rng.randrange(5, 60)})
    return out


class Results:
    def __init__(self):
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter = Counter()
        self.lock = threading.Lock()

    def record(self, kind: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if error:
                self.errors[f"{kind} {error}"] += 1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def client_loop(args, token: str, learners, orgs, results: Results, stop_at: float, budget: list, seed: int):
    rng = random.Random(seed)
    url = urlparse(args.base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=args.timeout)
    while time.monotonic() < stop_at:
        with results.lock:
            if budget[0] <= 0:
                return
            budget[0] -= 1
        if rng.random() < args.write_share:
            body = json.dumps(events(learners, orgs, args.batch_size, rng)).encode()
            kind, method, path = "post_events", "POST", "/v1/events"
            headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, args.secret)}
        else:
            body, method, headers = None, "GET", {"Authorization": f"Bearer {token}"}
            pick = rng.random()
            if pick < 0.4:
                kind, path = "board_national", "/v1/leaderboards/learners?scope=national&period=week&limit=20"
            elif pick < 0.7:
                kind, path = "board_org", f"/v1/leaderboards/learners?scope=org:{rng.choice(orgs)}&period=all&limit=20"
            else:
                kind, path = "learner", f"/v1/learners/{rng.choice(learners)}"
        started = time.perf_counter()
        error = None
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if not 200 <= response.status < 300 and not (kind == "learner" and response.status == 404):
                error = str(response.status)  # a learner not scored yet is a 404, not an error
        except (OSError, http.client.HTTPException) as exc:
            error = type(exc).__name__
            conn.close()
            conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=args.timeout)
        results.record(kind, time.perf_counter() - started, error)
    conn.close()


def report(results: Results, elapsed: float, args) -> str:
    lines = [f"{args.clients} clients for {elapsed:.1f} s against {args.base_url} "
             f"(write share {args.write_share}, {args.batch_size} events per batch)",
             f"{'request':16s} {'count':>7s} {'per s':>7s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>7s}"]
    total = errors = 0
    for kind, values in sorted(results.latencies.items()):
        failed = sum(n for key, n in results.errors.items() if key.startswith(kind + " "))
        lines.append(f"{kind:16s} {len(values):7d} {len(values) / elapsed:7.1f} {statistics.median(values) * 1000:8.1f} "
                     f"{percentile(values, 0.99) * 1000:8.1f} {failed:7d}")
        total, errors = total + len(values), errors + failed
    every = [v for values in results.latencies.values() for v in values]
    if every:
        lines.append(f"{'all':16s} {total:7d} {total / elapsed:7.1f} {statistics.median(every) * 1000:8.1f} "
                     f"{percentile(every, 0.99) * 1000:8.1f} {errors:7d}")
    posted = (len(results.latencies.get("post_events", [])) - sum(
        n for key, n in results.errors.items() if key.startswith("post_events "))) * args.batch_size
    lines.append(f"events accepted (2xx batches x size): {posted} ({posted / elapsed:.1f}/s); "
                 f"errors: {dict(results.errors) or 'none'}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.load_test", description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=f"http://127.0.0.1:{os.environ.get('KARMAYOGI_API_PORT', '8000')}")
    parser.add_argument("--secret", default=(os.environ.get("KARMAYOGI_WEBHOOK_SECRETS") or "").split(",")[0],
                        help="the webhook secret the stack prints (default: KARMAYOGI_WEBHOOK_SECRETS)")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds (the issue's run: 120)")
    parser.add_argument("--max-requests", type=int, default=100_000, help="a bound whatever the duration")
    parser.add_argument("--write-share", type=float, default=0.3)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--learners", type=int, default=500, help="learner ids the events are spread over")
    parser.add_argument("--orgs", default="org_mines_hq", help="comma-separated org ids of those learners")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    host = urlparse(args.base_url).hostname or ""
    if not _loopback(host):
        parser.error("--base-url must be a loopback address (127.0.0.0/8, localhost)")
    if not args.secret:
        parser.error("--secret (or KARMAYOGI_WEBHOOK_SECRETS) is required: `make run` prints it")
    from local.dev_keys import AUDIENCE, ISSUER, dev_key, mint
    key, kid = dev_key()
    token = mint(key, kid, "load-admin", ["national_admin"], issuer=ISSUER, audience=AUDIENCE)
    rng = random.Random(args.seed)
    learners = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(args.learners)]
    orgs = [o for o in args.orgs.split(",") if o]
    results, budget = Results(), [args.max_requests]
    started = time.monotonic()
    stop_at = started + args.duration
    threads = [threading.Thread(target=client_loop, daemon=True, name=f"client-{n}",
                                args=(args, token, learners, orgs, results, stop_at, budget, args.seed + n))
               for n in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(args.duration + args.timeout + 5)
    print(report(results, time.monotonic() - started, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
