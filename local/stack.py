"""`make run`: the whole service on one machine, on 127.0.0.1.

DynamoDB Local (AWS's own engine) for DynamoDB, the moto server for SQS, SES, SNS and S3, the pump for the
queue and scheduled handlers (in this process), `chalice local` with the local-only routes for the HTTP API
(local/serve.py, a subprocess), and a real OpenID provider (oidc-provider on Node, local/oidc/provider.mjs) that
the pages sign in through and `make token` gets tokens from (docs/sign-in.md). Ctrl-C or SIGTERM stops all of it.

The HTTP server starts first, beside the backends, so it answers within seconds. Demo data is seeded through
the real ingestion and scoring code, in the background behind one progress line, into DynamoDB Local keeping
its data in .local/dynamodb: the next run restores it at once (seeded.json there says the seed finished and
with which options). --reseed (`make run SEED=fresh`) seeds again from scratch; --in-memory keeps nothing;
--seed-first seeds before serving (the end-to-end tests, which need the data before the first request).

Nothing from chalicelib (or app.py) is imported at module level: table and queue names are read from the
environment at import time, so the environment is set first (see wire()).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Optional

from local import dev_keys, dynamodb_local

PROJECT = dynamodb_local.PROJECT
HOST = "127.0.0.1"
REGION = "ap-south-1"
DEMO_LEARNER = "5f1c2a9e-8d44-4b7a-9a6e-1c2d3e4f5a6b"  # Ananya Mehta, from local/fixtures/roster.csv
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
    oidc: int = dev_keys.OIDC_PORT

    ENV = {"api": "KARMAYOGI_API_PORT", "dynamodb": "KARMAYOGI_DYNAMODB_PORT", "moto": "KARMAYOGI_MOTO_PORT",
           "oidc": "KARMAYOGI_OIDC_PORT"}

    @classmethod
    def from_env(cls) -> "Ports":
        defaults = {"api": 8000, "dynamodb": 8010, "moto": 5010, "oidc": dev_keys.OIDC_PORT}
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
    # Signing in on the pages: the local OpenID provider (local/oidc/provider.mjs), as iGOT's Keycloak in AWS.
    oidc = dev_keys.oidc_secrets()
    os.environ.update({"KARMAYOGI_OIDC_ISSUER": ports.url("oidc"), "KARMAYOGI_OIDC_CLIENT_ID": dev_keys.PAGES_CLIENT_ID,
                       "KARMAYOGI_OIDC_CLIENT_SECRET": oidc["pages_client_secret"],
                       "KARMAYOGI_OIDC_PORT": str(ports.oidc),
                       "KARMAYOGI_SESSION_SECRETS": os.environ.get("KARMAYOGI_SESSION_SECRETS") or oidc["session_secret"]})
    if webhook_secret:
        os.environ["KARMAYOGI_WEBHOOK_SECRETS"] = webhook_secret
    # Unsubscribe links: the code has no fallback secret on any stage; the local stack brings its own.
    os.environ.setdefault("KARMAYOGI_UNSUBSCRIBE_SECRET", "karmayogi-local-unsubscribe-secret")
    # xAPI: the demo LMS client's Basic credentials (local/xapi_demo.py; docs/xapi.md)
    from local import xapi_demo
    os.environ.setdefault("KARMAYOGI_XAPI_CLIENTS", f"{xapi_demo.CLIENT}:{xapi_demo.SECRET}")


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
        self.oidc: Optional[subprocess.Popen] = None
        self.stopping = False

    def start_oidc(self) -> None:
        """The local OpenID provider (node, local/oidc/provider.mjs), listening on return."""
        from local.dev_routes import demo_accounts
        oidc, api = dev_keys.oidc_secrets(), self.ports.url("api")
        env = {**os.environ,
               "OIDC_ISSUER": self.ports.url("oidc"), "OIDC_JWKS": dev_keys.oidc_signing_jwks(),
               "OIDC_CLIENTS": json.dumps([{"client_id": dev_keys.PAGES_CLIENT_ID,
                                            "client_secret": oidc["pages_client_secret"],
                                            "redirect_uris": [f"{api}/auth/callback"],
                                            "post_logout_redirect_uris": [f"{api}/signed-out"]}]),
               "OIDC_DEV_CLIENT": json.dumps({"client_id": dev_keys.DEV_CLIENT_ID,
                                              "client_secret": oidc["dev_client_secret"]}),
               "OIDC_ACCOUNTS": json.dumps(demo_accounts()),
               "OIDC_API_AUDIENCE": os.environ.get("KARMAYOGI_OIDC_API_AUDIENCE") or "karmayogi-engage",
               "OIDC_COOKIE_KEY": oidc["cookie_key"]}
        self.oidc = subprocess.Popen(["node", str(PROJECT / "local" / "oidc" / "provider.mjs")], cwd=PROJECT, env=env,
                                     start_new_session=True)
        deadline = time.monotonic() + 20
        while not port_in_use(self.ports.oidc):
            if self.oidc.poll() is not None:
                raise RuntimeError(f"the local OpenID provider exited with code {self.oidc.returncode} "
                                   "(is `npm ci` done? `make run` does it)")
            if time.monotonic() > deadline:
                raise RuntimeError("the local OpenID provider did not start listening within 20 s")
            time.sleep(0.1)

    def start_backends(self, db_path: Optional[Path] = None) -> None:
        """moto, then DynamoDB Local (in memory, or keeping its data in db_path), both listening on return."""
        # Its own process: under load it needs a core of its own (moto's SQS looks at every queued message on each
        # call, so a scoring backlog slows every send), which in this process it would take from the pump's
        # scoring, under one GIL. Its request log goes nowhere. Started first: it loads while Java starts.
        self.moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.ports.moto)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        # C1 JIT only: in a seeding run DynamoDB Local spent about half its CPU compiling with C2.
        previous = os.environ.get("JAVA_TOOL_OPTIONS")
        os.environ["JAVA_TOOL_OPTIONS"] = f"{previous or ''} -XX:TieredStopAtLevel=1".strip()
        try:
            self.dynamodb = dynamodb_local.start(self.ports.dynamodb, db_path)
        finally:
            if previous is None:
                os.environ.pop("JAVA_TOOL_OPTIONS")
            else:
                os.environ["JAVA_TOOL_OPTIONS"] = previous
        dynamodb_local.wait_for_port(self.ports.moto)

    def launch_api(self) -> None:
        """Start the HTTP server (it needs only the environment: it may start before the backends)."""
        # Own session (process group): stop() signals the whole group, and a terminal Ctrl-C reaches us only.
        # No autoreload: the pump runs in this process and would keep the old code; its file watcher also
        # polls every file in the project (.venv and node_modules included) each second.
        # local.serve is `chalice local` with the local-only routes (local/dev_routes.py: /login, /dev/outbox).
        self.api = subprocess.Popen(
            [sys.executable, "-m", "local.serve", "--stage", "local", "--host", HOST, "--port", str(self.ports.api)],
            cwd=PROJECT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)

    def wait_for_api(self) -> None:
        deadline = time.monotonic() + 30
        while not port_in_use(self.ports.api):
            if self.api.poll() is not None:
                raise RuntimeError(f"chalice local exited with code {self.api.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("chalice local did not start listening within 30 s")
            time.sleep(0.1)

    def stop(self) -> None:
        self.stopping = True
        if self.pump:
            self.pump.stop()
        if self.api:
            _stop_group(self.api, "chalice local")
        if self.oidc:
            _stop_process(self.oidc, "the local OpenID provider")
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

def banner(ports: Ports, secret: str, generated: bool, seeding: bool = False) -> str:
    api = ports.url("api")
    learner = f"{api}/v1/learners/{DEMO_LEARNER}"
    source = "made once, in .local/webhook-secret" if generated else "from KARMAYOGI_WEBHOOK_SECRETS"
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
        f"  Pages: {api}/me (sign in at the local OpenID provider as a demo learner or admin), /leaderboard,"
        " /orgs, /admin",
        f"  OpenID provider {ports.url('oidc')}   (oidc-provider; accounts: the demo learners and admins)",
        *(["", "  Demo data is being seeded through the real scoring in the background (progress below); it is",
            "  kept in .local/dynamodb, so the next `make run` starts with it at once."] if seeding else []),
        "",
        f"  DynamoDB Local  {ports.url('dynamodb')}",
        f"  moto server     {ports.url('moto')}   (SQS, SES, SNS, S3; sent mail: /moto-api/data.json)",
        f"  sent messages   {api}/dev/outbox   (each email as its recipient sees it, each SMS with segments)",
        f"  webhook secret  {secret}   ({source})",
        f"  xAPI client     {os.environ.get('KARMAYOGI_XAPI_CLIENTS', '')}   (client:secret, HTTP Basic on /xapi/*;"
        " docs/xapi.md)",
        "",
        "  Every route but /health and the webhook needs a bearer token (from the local OpenID provider):",
        f"    TOKEN=$(make -s token SUB={DEMO_LEARNER} ROLE=learner ORG=org_mines_hq | tail -1)",
        f"    curl -H \"Authorization: Bearer $TOKEN\" {learner}",
        "    make -s token SUB=admin ROLE=national_admin | tail -1      # an admin who may see everything",
        "",
        "  Post fixture events, signed with the webhook secret (one line per event: id, result, error):",
        "    make post-events FILE=local/fixtures/events/course.completed.json"
        + ("" if ports.api == 8000 else f" URL={api}") + ("" if generated else f" SECRET={secret}"),
        "",
        "  Ctrl-C stops everything.",
        "=" * 78,
        "",
    ])


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m local.stack", description=__doc__.splitlines()[0])
    parser.add_argument("--no-seed", action="store_true", help="start with empty tables (in memory)")
    parser.add_argument("--reseed", action="store_true",
                        help="throw the kept demo data away and seed it again through the real scoring")
    parser.add_argument("--in-memory", action="store_true",
                        help="keep no data in .local/dynamodb: seed into memory, lose it on exit (the e2e tests)")
    parser.add_argument("--seed-first", action="store_true",
                        help="seed before serving, so that /health answers only once the data is there")
    parser.add_argument("--learners", type=int, default=3000)
    parser.add_argument("--orgs", type=int, default=20, help="mdo organisations learners belong to")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the demo data")
    parser.add_argument("--days", type=int, default=30, help="days of seeded activity, ending now")
    parser.add_argument("--tiny", action="store_true",
                        help="a tiny seed that starts in seconds (the end-to-end tests): 40 learners, 2 orgs, 7 days,"
                             " in memory")
    for field, variable in Ports.ENV.items():
        parser.add_argument(f"--{field}-port", type=int, default=None, help=f"instead of ${variable}")
    args = parser.parse_args(argv)
    if args.tiny:
        args.learners, args.orgs, args.days, args.in_memory = 40, 2, 7, True
    return args


# --- demo data: seeded once through the real scoring, kept in .local/dynamodb for the next run ---------------

DATA_DIR = PROJECT / ".local" / "dynamodb"
SEEDED_FILE = DATA_DIR / "seeded.json"  # written when a seeding run finished: what was seeded, and when


def kept_plan() -> Optional[dict]:
    try:
        return json.loads(SEEDED_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def kept_data_fits(plan: dict, reseed: bool) -> bool:
    """Whether the data kept in DATA_DIR is a finished seed of this plan; if not, it is removed."""
    kept = kept_plan()
    if kept is not None and not reseed and {k: kept.get(k) for k in plan} == plan:
        return True
    if DATA_DIR.exists():
        reason = ("--reseed" if reseed else "a seeding run was stopped before it finished" if kept is None
                  else "it was seeded with other options")
        print(f"removing the kept demo data in {DATA_DIR.relative_to(PROJECT)} ({reason})", flush=True)
        shutil.rmtree(DATA_DIR)
    return False


class ProgressLine:
    """One line that counts up on a terminal (a line per tenth elsewhere, e.g. in a log file)."""

    def __init__(self, out=None):
        self.out = out or sys.stdout
        self.tty = self.out.isatty()
        self.shown = 0

    def __call__(self, done: int, total: int) -> None:
        text = f"seeding demo data: {done:,} / {total:,} events"
        if self.tty:
            self.out.write(f"\r{text}" + ("\n" if done == total else ""))
        elif done == total or done - self.shown >= total / 10:
            self.out.write(text + "\n")
            self.shown = done
        self.out.flush()


def seed_demo(stack: "Stack", adapters, plan: dict, db_path: Optional[Path], started: float,
              background: bool = False) -> None:
    """Seed through the real ingestion and scoring (the pump drains the queues), then start the pump; with
    db_path, note in SEEDED_FILE that the kept data is complete."""
    from local import seed
    try:
        report = seed.seed_population(adapters, stack.pump.drain, quiet=background, progress=ProgressLine(),
                                      **plan)
    except Exception as exc:  # noqa: BLE001 (on shutdown the servers go away under it: nothing to say then)
        if not background:
            raise
        if not stack.stopping:
            log.error("seeding failed: %s: %s (`make run SEED=fresh` tries again)", type(exc).__name__, exc)
        return
    if db_path is not None:
        SEEDED_FILE.write_text(json.dumps({**plan, "seeded_at": datetime.now().isoformat(timespec="seconds")}),
                               encoding="utf-8")
    stack.pump.start()
    outcomes = report.outcomes
    print(f"demo data ready {time.monotonic() - started:.1f} s after start-up began: {outcomes['accepted']:,} "
          f"events accepted, {outcomes['rejected']:,} rejected"
          + (f"; kept in {db_path.relative_to(PROJECT)} for the next `make run`" if db_path else ""), flush=True)


def _raise_shutdown(signum, _frame):
    raise Shutdown(signal.Signals(signum).name)


def run(args) -> None:
    from local.pump import Pump
    for field, variable in Ports.ENV.items():  # a port given on the command line wins over the environment
        if getattr(args, f"{field}_port", None):
            os.environ[variable] = str(getattr(args, f"{field}_port"))
    ports = Ports.from_env()
    require_free(ports)
    configured = os.environ.get("KARMAYOGI_WEBHOOK_SECRETS")
    secret = configured or dev_keys.dev_webhook_secret()  # `make post-events` finds it in .local/ too
    plan = {"learners": args.learners, "orgs": args.orgs, "seed": args.seed, "days": args.days}
    db_path = None if args.in_memory or args.no_seed else DATA_DIR
    to_seed = not args.no_seed and (db_path is None or not kept_data_fits(plan, args.reseed))
    stack = Stack(ports)
    started = time.monotonic()
    try:
        set_environment(ports, secret)
        if not args.seed_first:  # /health answers as soon as it can; the data follows
            print(f"starting chalice local on {ports.url('api')}", flush=True)
            stack.launch_api()
        print(f"starting DynamoDB Local on {ports.url('dynamodb')} ("
              + ("in memory" if db_path is None else f"data kept in {db_path.relative_to(PROJECT)}")
              + f") and moto on {ports.url('moto')}", flush=True)
        print(f"starting the local OpenID provider on {ports.url('oidc')}", flush=True)
        stack.start_oidc()
        stack.start_backends(db_path)
        app, adapters, sqs = wire(ports, secret)
        provision(sqs)
        stack.pump = Pump(app.app, sqs, REGION, board_stream=True)  # the board stream's fold too
        seeding = None
        if args.no_seed:
            print("not seeding (--no-seed)", flush=True)
        elif not to_seed:
            print(f"demo data kept from {kept_plan()['seeded_at']} restored "
                  "(`make run SEED=fresh` seeds it again through the real scoring)", flush=True)
        elif args.seed_first:
            seed_demo(stack, adapters, plan, db_path, started)
        else:
            seeding = threading.Thread(target=seed_demo, args=(stack, adapters, plan, db_path, started, True),
                                       daemon=True, name="seeding")
        if seeding is None:
            stack.pump.start()
        if args.seed_first:
            print(f"starting chalice local on {ports.url('api')}", flush=True)
            stack.launch_api()
        stack.wait_for_api()
        print(banner(ports, secret, generated=not configured, seeding=seeding is not None), flush=True)
        print(f"serving {time.monotonic() - started:.1f} s after start-up began", flush=True)
        if seeding is not None:
            seeding.start()
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
