"""Each function's IAM policy, per stage, from one declaration of what its code path uses.

    python -m infra.policies          # writes .chalice/policy-<stage>.json (the API) and
                                      # .chalice/policy-<stage>-<function>.json (every other function)
    python -m infra.policies --check  # exit 1 if a file on disk differs from what this declares

Least privilege (issue 9): a function is granted the tables (and indexes) it reads or writes, the queues it
sends to or consumes, its own dead-letter queue if it settles failures there (chalicelib/deadletters.py),
SES/SNS sending only where messages are sent, the roster bucket only for the import, the SSM parameters it
reads, and its own log group; nothing else. tests/test_infra.py checks the files against this declaration,
every name against infra/resources.yaml, and, by running each function's handler under moto, that every
call it makes is granted (and that what is granted is used, the few generous grants named below aside).
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
STAGES = ("local", "test", "dev", "prod")

READ = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query")
WRITE = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
SCAN = ("dynamodb:Scan",)
BATCH_WRITE = ("dynamodb:BatchWriteItem",)
DESCRIBE = ("dynamodb:DescribeTable",)  # the table's approximate item count
RW = READ + WRITE
QUEUE_SEND = ("sqs:GetQueueUrl", "sqs:SendMessage")  # SendMessageBatch is authorized as SendMessage
QUEUE_CONSUME = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")  # Lambda's poller
STREAM_READ = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
               "dynamodb:ListStreams")
LOGS = ("logs:CreateLogStream", "logs:PutLogEvents")
# Sending (chalicelib/notifications/sending.py). SES authorizes SendRawEmail on the sender identity (shared by
# the stages, verified once per account) and on the stage's configuration set; SNS authorizes SMS to a phone
# number (and the opt-out check) on no resource at all, hence "*" for exactly these two actions.
EMAIL = ("ses:SendRawEmail",)
SMS = ("sns:Publish", "sns:CheckIfPhoneNumberIsOptedOut")

# Indexes per table (the models declare them; tests/test_infra.py checks this list against them).
INDEXES = {
    "events": ("by_arrival",), "orgs": ("by_parent",), "domain-events": ("pending",), "board-entries": ("by_rank",), "reviews": ("held",),
    "credentials": ("by_credential",), "roster": ("by_org",),
    "notifications": ("by_created", "by_day", "pending"), "nudge-schedule": ("due",),
    "campaigns": ("by_scope_status", "by_status"),
    "platform-courses": ("by_activity",), "platform-parked": ("by_wait",),
}


@dataclass(frozen=True)
class Needs:
    """What one function's code path calls. tables: short table name -> actions; indexes: "table/index"
    names it queries; the rest by short name (queues: scoring, notifications, audit)."""
    tables: dict = field(default_factory=dict)
    indexes: tuple = ()
    sends_to: tuple = ()
    consumes: tuple = ()  # its SQS event source; it also dead-letters to <queue>-dlq (deadletters.settle)
    secrets: tuple = ()  # SSM parameter short names under /karmayogi/<stage>/
    email: bool = False
    sms: bool = False  # send SMS (sns:Publish) and check opt-outs
    sms_opt_out: bool = False  # only check opt-outs (deciding a channel)
    roster_files: bool = False  # s3:GetObject rosters/*, s3:PutObject reports/*
    streams: tuple = ()  # tables whose DynamoDB stream it reads (as its event source: Lambda's poller, with its role)


def _all(actions, *shorts):
    return {s: actions for s in shorts}


# Scoring one learner (chalicelib/learners/service.py score_learner): the learner's events (read), ledger,
# reviews (held events), the learner's board entries (summaries and org statistics are the stream's fold:
# fold_board_changes), the org tree (org upserts write it), the campaign
# definitions (a small table read whole: Scan) with the learner's campaign progress and statistics
# (campaigns.sync_progress), the nudge schedule (nudge_schedule.on_scored) and the badge facts saved with the
# learner (domain-events), the learner's checkpoint of the fold and the events received since it (the events
# table's by_arrival index, chalicelib/rules/checkpoint.py). An org move starts the re-score job of the learners
# below the org (chalicelib/rescore.py): the learners table's item count sizes it, its segments go on the audit queue.
SCORING = Needs(
    tables={**_all(READ, "events"),
            **_all(RW, "ledger", "checkpoints", "orgs", "domain-events", "board-entries",
                   "reviews", "campaign-progress", "campaign-stats", "nudge-schedule"),
            "learners": RW + DESCRIBE, "campaigns": READ + SCAN},
    indexes=("orgs/by_parent", "events/by_arrival"), sends_to=("audit",), consumes=("scoring",))

ALL_TABLES = ("events", "learners", "ledger", "checkpoints", "orgs", "domain-events", "board-entries", "board-summaries",
              "org-stats", "reviews", "credentials", "credential-revocations", "roster", "roster-headcounts",
              "campaigns", "campaign-progress", "campaign-stats", "campaign-awards", "notifications",
              "suppressions", "notification-counters", "nudge-schedule",
              "platform-courses", "platform-completions", "platform-users", "platform-user-keys", "platform-parked",
              "xapi-statements")

# Deciding to send (notifications/outbox.py decide): the learner or roster entry for contact and preferences,
# the learner's recent records (by_created), the suppression list, the SNS opt-out check (no Publish: deciding
# sends nothing), SMS budgets, the outbox record itself, then the queue message.
DECIDE_TABLES = {**_all(READ, "learners", "roster", "suppressions"),
                 **_all(RW, "notifications", "notification-counters")}
DECIDE_INDEXES = ("notifications/by_created",)

FUNCTIONS: dict[str, Needs] = {
    # The API runs every use case a route reaches: every table (Scan for campaign definitions and the audit-like
    # exports, BatchWriteItem for roster imports, erasure and campaign results), every index, the scoring queue
    # (webhook acceptance) and the notifications queue (decisions made by a route), the secrets it verifies
    # tokens and webhooks with and signs credentials and unsubscribe links with, roster uploads and reports.
    "api_handler": Needs(
        # learners: DescribeTable too, to size a re-score job (rules/apply, a campaign published after its start).
        tables={**_all(RW + SCAN + BATCH_WRITE, *ALL_TABLES), "learners": RW + SCAN + BATCH_WRITE + DESCRIBE},
        indexes=tuple(f"{t}/{i}" for t, names in INDEXES.items() for i in names),
        sends_to=("scoring", "notifications", "audit"),  # audit: a rule version's or a campaign's re-score job
        secrets=("webhook-secrets", "jwks", "issuer-keys", "unsubscribe-secrets", "oidc-client-secret",
                 "session-secrets", "xapi-clients"),
        roster_files=True),
    "score_streams": SCORING,
    # The weekly audit's start: the learners table's item count sizes the run, one message per auditor and segment.
    "audit_weekly": Needs(tables={"learners": DESCRIBE}, sends_to=("audit",)),
    # One segment of one auditor, report only (chalicelib/audit/): it reads what the auditors recompute from
    # (events, reviews, the org tree, campaign definitions) and walks (Scan, in segments) the tables they check;
    # repairs are an operator's `make audit ARGS=--repair`, with the operator's credentials. The same queue
    # carries the re-score job's segments (chalicelib/rescore.py: a rule version applied, a campaign published
    # after its start): they re-score learners through the scoring pipeline (SCORING's tables), keep their
    # position in notification-counters and queue themselves again when out of time. And the board stream's
    # on-failure record: the skipped batch read again from the stream to name its boards in the dead letter.
    "audit_segments": Needs(
        tables={**SCORING.tables, **_all(RW, "notification-counters"),
                **_all(READ + SCAN, "board-entries", "board-summaries", "org-stats", "campaign-stats"),
                "learners": RW + SCAN, "campaigns": READ + SCAN},
        indexes=("board-entries/by_rank", "orgs/by_parent"), sends_to=("audit", "scoring"), consumes=("audit",),
        streams=("board-entries",)),
    # The lifecycle (campaigns: Scan, conditional updates) and closing: results from org statistics, score counts,
    # the "own" campaign statistics and roster headcounts, frozen as report rows (BatchWriteItem), then awards
    # and their facts page by page from the progress records (BatchWriteItem).
    "advance_campaigns": Needs(
        tables={"campaigns": RW + SCAN, "campaign-progress": READ, "campaign-stats": READ + BATCH_WRITE,
                "campaign-awards": READ + BATCH_WRITE, "domain-events": READ + BATCH_WRITE,
                **_all(READ, "orgs", "org-stats", "board-summaries", "roster-headcounts")},
        indexes=("orgs/by_parent",)),
    # S3 ObjectCreated under rosters/: the roster and its headcounts, the upload read, the report written.
    # Employees new to any roster who never learned get the nudge ladder's first rung (nudge-schedule). The org
    # tree (orgs, read): an upload takes employees only from rosters inside its org's subtree.
    "import_roster_upload": Needs(tables={**_all(RW, "roster", "roster-headcounts"), **_all(READ, "learners", "orgs"),
                                          "nudge-schedule": ("dynamodb:PutItem",)},
                                  indexes=("roster/by_org",), roster_files=True),
    # The outbox consumer: claim and settle the record, the contact (learner or roster), the nudge ladder's
    # current spell, the suppression list; SES and SNS; unsubscribe links signed; failures to its DLQ.
    "deliver_notifications": Needs(
        tables={"notifications": RW, **_all(READ, "learners", "roster", "nudge-schedule", "suppressions")},
        consumes=("notifications",), secrets=("unsubscribe-secrets",), email=True, sms=True),
    # SES bounces and complaints (SNS) onto the suppression list.
    "ses_events": Needs(tables={"suppressions": ("dynamodb:PutItem",)}),
    # Badge digests from the pending badge facts (domain-events' sparse index, marked consumed), then the sweep
    # of the outbox's pending index. The other facts due for their handlers too: an org move whose re-score job
    # did not start at once starts here (the learners table's item count, the audit queue).
    "notifications_every_minute": Needs(
        tables={**DECIDE_TABLES, "learners": READ + DESCRIBE, "domain-events": READ + ("dynamodb:UpdateItem",)},
        indexes=DECIDE_INDEXES + ("domain-events/pending", "notifications/pending"),
        sends_to=("notifications", "audit"), sms_opt_out=True),
    # The nudge ladder: due entries (the schedule's sparse index), the org's name, a decision per learner.
    "nightly_nudges": Needs(
        tables={**DECIDE_TABLES, "nudge-schedule": RW, "orgs": READ},
        indexes=DECIDE_INDEXES + ("nudge-schedule/due",), sends_to=("notifications",), sms_opt_out=True),
    # Campaign reminders (notifications/campaigns.py run_campaign_reminders): campaign definitions, the orgs of
    # the scope (the tree, member statistics), their rosters page by page, the progress of each page, the stored
    # position per campaign and kind (notification-counters), a decision per employee.
    "campaign_reminders": Needs(
        tables={**DECIDE_TABLES, "campaigns": READ + SCAN, **_all(READ, "orgs", "org-stats", "campaign-progress")},
        indexes=DECIDE_INDEXES + ("orgs/by_parent", "roster/by_org"), sends_to=("notifications",),
        sms_opt_out=True),
    # The Monday admin summary: who receives it (SSM), the week's org statistics, the org tree, roster headcounts,
    # live campaigns and their goal-met statistics, a decision per admin.
    # (Email only: the summary has no DLT template, so no SMS budget is ever counted.)
    "admin_weekly_summaries": Needs(
        tables={**{t: a for t, a in DECIDE_TABLES.items() if t != "notification-counters"},
                "campaigns": READ + SCAN,
                **_all(READ, "orgs", "org-stats", "roster-headcounts", "campaign-stats")},
        indexes=DECIDE_INDEXES + ("orgs/by_parent",), sends_to=("notifications",),
        secrets=("admin-summary-recipients",), sms_opt_out=True),
    # The platform's Kafka topics (chalicelib/platform/service.py consume_kafka): the batch's users and courses
    # (BatchGetItem), the events stored (conditional put; an ACBP claim reads the learner's stream and updates
    # the completion), completions noted by course, activities parked (a transaction with the count, which is
    # read for the alarm's metric), the scoring queue. (The event source mapping's own rights, to reach the
    # brokers in their VPC and read the SASL secret, are a separate policy in infra/resources.yaml.)
    # The board entries' stream folded into board summaries and org statistics (leaderboards/store.py fold):
    # single-item conditional updates and reads of what failed its guard (summaries, org-stats), the by_rank
    # index for a board's materialised top, and the stream itself (the event source mapping polls it).
    "fold_board_changes": Needs(
        tables={"board-summaries": ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
                "org-stats": ("dynamodb:GetItem", "dynamodb:UpdateItem"), "board-entries": ("dynamodb:Query",)},
        indexes=("board-entries/by_rank",), streams=("board-entries",),
        sends_to=("audit",)),  # Lambda names a batch it skipped there (the mapping's on-failure destination)
    "consume_platform_topics": Needs(
        tables={"events": READ + ("dynamodb:PutItem", "dynamodb:UpdateItem"),
                **_all(READ, "platform-courses", "platform-users"),
                "platform-completions": ("dynamodb:PutItem",), "platform-parked": READ + WRITE},
        sends_to=("scoring",)),
}

# Grants a function holds although its usual run may not make the call (tests/test_infra.py's dynamic check
# accepts these unused): why, per (function, resource).
GENEROUS: dict[tuple[str, str], str] = {}


def policy_file(stage: str, function: str) -> str:
    return f"policy-{stage}.json" if function == "api_handler" else f"policy-{stage}-{function}.json"


def function_name(stage: str, function: str) -> str:
    return f"karmayogi-engage-{stage}" + ("" if function == "api_handler" else f"-{function}")


def _sid(text: str) -> str:
    return "".join(part.capitalize() for part in text.replace("/", "-").replace("_", "-").split("-"))


def render(stage: str, function: str) -> dict:
    needs = FUNCTIONS[function]
    table = lambda short: f"arn:aws:dynamodb:*:*:table/karmayogi-{stage}-{short}"  # noqa: E731
    queue = lambda short: f"arn:aws:sqs:*:*:karmayogi-{stage}-{short}"  # noqa: E731
    statements = []
    by_actions: dict[tuple, list[str]] = {}
    for short, actions in needs.tables.items():
        by_actions.setdefault(tuple(sorted(actions, key=_action_order)), []).append(short)
    for n, (actions, shorts) in enumerate(sorted(by_actions.items(), key=lambda kv: -len(kv[0]))):
        statements.append({"Sid": "Tables" + ("" if n == 0 else str(n + 1)), "Effect": "Allow",
                           "Action": list(actions), "Resource": [table(s) for s in _in_table_order(shorts)]})
    if needs.indexes:
        statements.append({"Sid": "Indexes", "Effect": "Allow", "Action": ["dynamodb:Query"],
                           "Resource": [f"{table(i.split('/')[0])}/index/{i.split('/')[1]}" for i in needs.indexes]})
    for short in needs.sends_to:
        statements.append({"Sid": f"{_sid(short)}QueueSend", "Effect": "Allow", "Action": list(QUEUE_SEND),
                           "Resource": queue(short)})
    for short in needs.consumes:
        statements.append({"Sid": f"{_sid(short)}QueueConsume", "Effect": "Allow", "Action": list(QUEUE_CONSUME),
                           "Resource": queue(short)})
        statements.append({"Sid": f"{_sid(short)}DeadLetters", "Effect": "Allow", "Action": list(QUEUE_SEND),
                           "Resource": queue(f"{short}-dlq")})
    for short in needs.streams:
        statements.append({"Sid": f"{_sid(short)}StreamRead", "Effect": "Allow", "Action": list(STREAM_READ),
                           "Resource": f"{table(short)}/stream/*"})
    if needs.secrets:
        statements.append({"Sid": "SecretsRead", "Effect": "Allow", "Action": ["ssm:GetParameter"],
                           "Resource": [f"arn:aws:ssm:*:*:parameter/karmayogi/{stage}/{s}" for s in needs.secrets]})
    if needs.roster_files:
        bucket = f"arn:aws:s3:::karmayogi-{stage}-rosters"
        statements.append({"Sid": "RosterUploadsRead", "Effect": "Allow", "Action": ["s3:GetObject"],
                           "Resource": f"{bucket}/rosters/*"})
        statements.append({"Sid": "RosterReportsWrite", "Effect": "Allow", "Action": ["s3:PutObject"],
                           "Resource": f"{bucket}/reports/*"})
    if needs.email:
        statements.append({"Sid": "EmailSend", "Effect": "Allow", "Action": list(EMAIL),
                           "Resource": ["arn:aws:ses:*:*:identity/*",
                                        f"arn:aws:ses:*:*:configuration-set/karmayogi-{stage}"]})
    if needs.sms:
        statements.append({"Sid": "SmsSend", "Effect": "Allow", "Action": list(SMS), "Resource": "*"})
    elif needs.sms_opt_out:
        statements.append({"Sid": "SmsOptOutCheck", "Effect": "Allow", "Action": [SMS[1]], "Resource": "*"})
    statements.append({"Sid": "Logs", "Effect": "Allow", "Action": list(LOGS),
                       "Resource": [f"arn:aws:logs:*:*:log-group:/aws/lambda/{function_name(stage, function)}:*"]})
    return {"Version": "2012-10-17", "Statement": statements}


_ORDER = READ + WRITE + SCAN + BATCH_WRITE + DESCRIBE


def _action_order(action: str) -> int:
    return _ORDER.index(action)


def _in_table_order(shorts):
    return sorted(shorts, key=ALL_TABLES.index)


def rendered_files() -> dict[str, str]:
    return {policy_file(stage, function): json.dumps(render(stage, function), indent=2) + "\n"
            for stage in STAGES for function in FUNCTIONS}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = PROJECT / ".chalice"
    stale = [name for name, text in rendered_files().items()
             if not (folder / name).exists() or (folder / name).read_text() != text]
    if "--check" in argv:
        for name in stale:
            print(f"{name} differs from infra/policies.py (run python -m infra.policies)")
        return 1 if stale else 0
    for name, text in rendered_files().items():
        (folder / name).write_text(text)
    print(f"wrote {len(rendered_files())} policy files ({len(stale)} changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
