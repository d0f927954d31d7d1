"""`make run`: the whole service on one machine, on 127.0.0.1.

DynamoDB Local (AWS's own engine) for DynamoDB, the moto server for SQS, SES, SNS and S3, the pump for the
queue and scheduled handlers (in this process), and `chalice local` for the HTTP API (a subprocess). Demo data
is seeded through the real ingestion and scoring code. Ctrl-C or SIGTERM stops all of it.

Nothing from chalicelib (or app.py) is imported at module level: table and queue names are read from the
environment at import time, so the environment is set first (see wire()).
"""
from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from local import dev_keys, dynamodb_local

PROJECT = dynamodb_local.PROJECT
HOST = "127.0.0.1"
REGION = "ap-south-1"
DEMO_LEARNER = "5f1c2a9e-8d44-4b7a-9a6e-1c2d3e4f5a6b"  # Ananya Mehta, from shared/fixtures/roster.csv
DEFAULT_SENDER = "no-reply@karmayogi.example.gov.in"
DLQ_MAX_RECEIVES = 5
log = logging.getLogger("karmayogi.local")


class Shutdown(Exception):
    """Raised in the main thread by SIGINT or SIGTERM."""


@dataclass(frozen=True)
class Ports:
    api: int
    dynamodb: int
    moto: int

    ENV = {"api": "KARMAYOGI_API_PORT", "dynamodb": "KARMAYOGI_DYNAMODB_PORT", "moto": "KARMAYOGI_MOTO_PORT"}

    @classmethod
    def from_env(cls) -> "Ports":
        defaults = {"api": 8000, "dynamodb": 8010, "moto": 5010}
        values = {}
        for field, variable in cls.ENV.items():
            raw = os.environ.get(variable) or str(defaults[field])
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise SystemExit(f"{variable}={raw!r} is not a port number")
            values[field] = int(raw)
        return cls(**values)

    def url(self, field: str) -> str:
        return f"http://{HOST}:{getattr(self, field)}"


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        # SO_REUSEADDR as the servers set it: a port in TIME_WAIT is free, one being listened on is not.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


def require_free(ports: Ports) -> None:
    taken = [f"{HOST}:{getattr(ports, f)} ({f}; set {v} to use another)"
             for f, v in Ports.ENV.items() if port_in_use(getattr(ports, f))]
    if taken:
        raise SystemExit("port(s) already in use: " + "; ".join(taken)
                         + ". Is another `make run` still running?")


def require_listening(ports: Ports) -> None:
    """For tools that use a running stack (python -m local.seed)."""
    for field in ("dynamodb", "moto"):
        if not port_in_use(getattr(ports, field)):
            raise SystemExit(f"nothing on {ports.url(field)} ({field}): start the stack first with `make run`")


def set_environment(ports: Ports, webhook_secret: Optional[str] = None) -> None:
    """Point boto3 and PynamoDB at the local servers, with fake credentials so nothing can reach real AWS."""
    os.environ.update({
        "AWS_ENDPOINT_URL": ports.url("moto"),
        "AWS_ENDPOINT_URL_DYNAMODB": ports.url("dynamodb"),  # botocore's service-specific override; PynamoDB uses it
        "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local",
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
        "KARMAYOGI_STAGE": "local",
        "KARMAYOGI_SES_SENDER": os.environ.get("KARMAYOGI_SES_SENDER") or DEFAULT_SENDER,
        # Unsubscribe links in local mail point at the local API.
        "KARMAYOGI_PUBLIC_BASE_URL": os.environ.get("KARMAYOGI_PUBLIC_BASE_URL") or ports.url("api"),
    })
    os.environ.pop("AWS_PROFILE", None)  # a profile could carry a real role
    # Bearer tokens: the stack trusts the public half of a development key (made once, in .local/).
    os.environ.update({"KARMAYOGI_JWKS": dev_keys.dev_jwks(), "KARMAYOGI_JWT_ISSUER": dev_keys.ISSUER,
                       "KARMAYOGI_JWT_AUDIENCE": dev_keys.AUDIENCE})
    # Open Badges credentials: signed with a development issuer key (also in .local/), URLs on the local API.
    os.environ.update({"KARMAYOGI_ISSUER_KEYS": dev_keys.dev_issuer_keys(),
                       "KARMAYOGI_PUBLIC_BASE_URL": ports.url("api")})
    if webhook_secret:
        os.environ["KARMAYOGI_WEBHOOK_SECRETS"] = webhook_secret
    # Unsubscribe links: the code has no fallback secret on any stage; the local stack brings its own.
    os.environ.setdefault("KARMAYOGI_UNSUBSCRIBE_SECRET", "karmayogi-local-unsubscribe-secret")


def wire(ports: Ports, webhook_secret: Optional[str] = None):
    """Set the environment, then import the app. Returns (app module, adapters, sqs client)."""
    set_environment(ports, webhook_secret)
    if str(PROJECT) not in sys.path:
        sys.path.insert(0, str(PROJECT))
    import boto3
    import app
    from chalicelib import bootstrap
    return app, bootstrap.adapters(), boto3.client("sqs", region_name=REGION)


# --- provisioning ---------------------------------------------------------------------------------------

def create_queue_with_dlq(sqs, name: str, visibility_timeout: int = 30) -> str:
    """The queue and its dead-letter queue `<name>-dlq`; a message received DLQ_MAX_RECEIVES times moves there."""
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq", Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": "{DLQ_MAX_RECEIVES}"}}'
    return sqs.create_queue(QueueName=name, Attributes={
        "VisibilityTimeout": str(visibility_timeout), "RedrivePolicy": redrive})["QueueUrl"]


def provision(sqs) -> None:
    import boto3
    from chalicelib import settings
    from chalicelib.storage.dynamodb import create_tables
    create_tables()
    create_queue_with_dlq(sqs, settings.SCORING_QUEUE)
    create_queue_with_dlq(sqs, settings.NOTIFICATIONS_QUEUE)
    create_queue_with_dlq(sqs, settings.AUDIT_QUEUE)
    # Where SES would publish bounces and complaints (the pump does not deliver SNS: invoke ses_events to try it).
    boto3.client("sns", region_name=REGION).create_topic(Name=settings.SES_EVENTS_TOPIC)
    # moto's SES refuses mail from an unverified sender, as SES in sandbox mode does.
    boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress=os.environ["KARMAYOGI_SES_SENDER"])


# --- processes ------------------------------------------------------------------------------------------

class Stack:
    """Everything started, so that stop() can undo it in reverse order, whatever stage start-up reached."""

    def __init__(self, ports: Ports):
        self.ports = ports
        self.dynamodb: Optional[subprocess.Popen] = None
        self.moto: Optional[subprocess.Popen] = None
        self.pump = None
        self.api: Optional[subprocess.Popen] = None

    def start_backends(self) -> None:
        # C1 JIT only: in a seeding run DynamoDB Local spent about half its CPU compiling with C2.
        previous = os.environ.get("JAVA_TOOL_OPTIONS")
        os.environ["JAVA_TOOL_OPTIONS"] = f"{previous or ''} -XX:TieredStopAtLevel=1".strip()
        try:
            self.dynamodb = dynamodb_local.start(self.ports.dynamodb)
        finally:
            if previous is None:
                os.environ.pop("JAVA_TOOL_OPTIONS")
            else:
                os.environ["JAVA_TOOL_OPTIONS"] = previous
        # Its own process: under load it needs a core of its own (moto's SQS looks at every queued message on each
        # call, so a scoring backlog slows every send), which in this process it would take from the pump's
        # scoring, under one GIL. Its request log goes nowhere.
        self.moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.ports.moto)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        dynamodb_local.wait_for_port(self.ports.moto)

    def start_api(self) -> None:
        # Own session (process group): stop() signals the whole group, and a terminal Ctrl-C reaches us only.
        # No autoreload: the pump runs in this process and would keep the old code; its file watcher also
        # polls every file in the project (.venv and node_modules included) each second.
        self.api = subprocess.Popen(
            [str(Path(sys.executable).parent / "chalice"), "local", "--stage", "local", "--host", HOST,
             "--port", str(self.ports.api), "--no-autoreload"],
            cwd=PROJECT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        deadline = time.monotonic() + 30
        while not port_in_use(self.ports.api):
            if self.api.poll() is not None:
                raise RuntimeError(f"chalice local exited with code {self.api.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("chalice local did not start listening within 30 s")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.pump:
            self.pump.stop()
        if self.api:
            _stop_group(self.api, "chalice local")
        if self.dynamodb:
            _stop_process(self.dynamodb, "DynamoDB Local")
        if self.moto:
            _stop_group(self.moto, "moto server")


def _stop_group(process: subprocess.Popen, name: str) -> None:
    try:
        os.killpg(process.pid, signal.SIGINT)  # chalice local exits cleanly on Ctrl-C
        process.wait(timeout=5)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop in 5 s: killing it", name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _stop_process(process: subprocess.Popen, name: str) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop in 5 s: killing it", name)
        process.kill()
        process.wait()


# --- main -----------------------------------------------------------------------------------------------

def banner(ports: Ports, secret: str, generated: bool) -> str:
    api = ports.url("api")
    learner = f"{api}/v1/learners/{DEMO_LEARNER}"
    source = "generated for this run" if generated else "from KARMAYOGI_WEBHOOK_SECRETS"
    return "\n".join([
        "",
        "=" * 78,
        f"  Karmayogi Engage is running on {api}",
        "",
        f"    {api}/health",
        f"    {api}/v1/badges",
        f"    {learner}",
        f"    {learner}/ledger",
        "",
        f"  Pages: {api}/login (sign in as a demo learner or admin), then /me, /leaderboard, /orgs, /admin",
        "",
        f"  DynamoDB Local  {ports.url('dynamodb')}",
        f"  moto server     {ports.url('moto')}   (SQS, SES, SNS, S3; sent mail: /moto-api/data.json)",
        f"  sent messages   {api}/dev/outbox   (each email as its recipient sees it, each SMS with segments)",
        f"  webhook secret  {secret}   ({source})",
        "",
        "  Every route but /health and the webhook needs a bearer token (development key in .local/):",
        f"    TOKEN=$(make -s token SUB={DEMO_LEARNER} ROLE=learner ORG=org_mines_hq | tail -1)",
        f"    curl -H \"Authorization: Bearer $TOKEN\" {learner}",
        "    make -s token SUB=admin ROLE=national_admin | tail -1      # an admin who may see everything",
        "",
        "  Post fixture events (from this directory):",
        f"    KARMAYOGI_WEBHOOK_SECRETS={secret} ../shared/tools/post-events"
        + ("" if ports.api == 8000 else f" --url {api}") + " ../shared/fixtures/events/course.completed.json",
        "",
        "  Ctrl-C stops everything.",
        "=" * 78,
        "",
    ])


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m local.stack", description=__doc__.splitlines()[0])
    parser.add_argument("--no-seed", action="store_true", help="start with empty tables")
    parser.add_argument("--learners", type=int, default=3000)
    parser.add_argument("--orgs", type=int, default=20, help="mdo organisations learners belong to")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the demo data")
    parser.add_argument("--days", type=int, default=30, help="days of seeded activity, ending now")
    parser.add_argument("--tiny", action="store_true",
                        help="a tiny seed that starts in seconds (the end-to-end tests): 40 learners, 2 orgs, 7 days")
    for field, variable in Ports.ENV.items():
        parser.add_argument(f"--{field}-port", type=int, default=None, help=f"instead of ${variable}")
    args = parser.parse_args(argv)
    if args.tiny:
        args.learners, args.orgs, args.days = 40, 2, 7
    return args


def _raise_shutdown(signum, _frame):
    raise Shutdown(signal.Signals(signum).name)


def run(args) -> None:
    from local import seed
    from local.pump import Pump
    for field, variable in Ports.ENV.items():  # a port given on the command line wins over the environment
        if getattr(args, f"{field}_port", None):
            os.environ[variable] = str(getattr(args, f"{field}_port"))
    ports = Ports.from_env()
    require_free(ports)
    configured = os.environ.get("KARMAYOGI_WEBHOOK_SECRETS")
    secret = configured or secrets.token_hex(16)
    stack = Stack(ports)
    try:
        print(f"starting DynamoDB Local on {ports.url('dynamodb')} and moto on {ports.url('moto')}", flush=True)
        stack.start_backends()
        app, adapters, sqs = wire(ports, secret)
        provision(sqs)
        stack.pump = Pump(app.app, sqs, REGION)
        if args.no_seed:
            print("not seeding (--no-seed)")
        else:
            seed.seed_if_empty(adapters, stack.pump, learners=args.learners, orgs=args.orgs, seed=args.seed,
                               days=args.days)
        stack.pump.start()
        print(f"starting chalice local on {ports.url('api')}", flush=True)
        stack.start_api()
        print(banner(ports, secret, generated=not configured), flush=True)
        while stack.api.poll() is None:
            time.sleep(0.5)
        raise RuntimeError(f"chalice local exited with code {stack.api.returncode}")
    finally:
        # A second Ctrl-C must not interrupt the clean-up and leave processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("stopping...", flush=True)
        stack.stop()
        print("stopped", flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("karmayogi.local").setLevel(logging.INFO)
    signal.signal(signal.SIGINT, _raise_shutdown)
    signal.signal(signal.SIGTERM, _raise_shutdown)
    try:
        run(args)
    except Shutdown:
        return 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
