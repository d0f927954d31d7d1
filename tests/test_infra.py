"""The deployment files agree with the code: tables match the PynamoDB models, queues match the handlers, and
each stage's hand-written IAM policy grants what the code calls, on that stage's names only.

Fast and offline: reads infra/resources.yaml (plain YAML: long-form intrinsics), .chalice/config.json and
.chalice/policy-<stage>.json. `make package` checks the merged template itself (cfn-lint and infra/package.sh).
conftest.py imports the code as stage "test"; names are compared through the stage-independent pattern
karmayogi-<stage>-<short>, with @@STAGE@@ as the stage placeholder in resources.yaml.
"""
import json
import os
import re
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path

import pytest
import yaml
from chalice.config import Config
from chalice.utils import to_cfn_resource_name

import app as application
from chalicelib import settings
from chalicelib.storage.models import ALL_MODELS

PROJECT = Path(__file__).resolve().parents[1]
PLACEHOLDER = "@@STAGE@@"
STAGES = ("local", "test", "dev", "prod")
# PynamoDB method -> the IAM action it needs. TransactWrite's save/update/delete/condition_check are
# authorized item by item as these single-item actions (there is no dynamodb:TransactWriteItems
# permission), TransactGet's get as GetItem. Table management (exists, create_table) is left out: only
# create_tables() calls it, for the local stack and tests; in AWS the tables come from resources.yaml.
PYNAMODB_CALLS = {"get": "GetItem", "refresh": "GetItem", "batch_get": "BatchGetItem", "query": "Query",
                  "count": "Query", "scan": "Scan", "save": "PutItem", "update": "UpdateItem",
                  "delete": "DeleteItem", "batch_write": "BatchWriteItem", "condition_check": "ConditionCheckItem"}
SQS_PRODUCER_ACTIONS = {"sqs:GetQueueUrl", "sqs:SendMessage"}  # SendMessageBatch is authorized as SendMessage
SQS_CONSUMER_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}  # Lambda's poller
LOG_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents"}
S3_ACTIONS = {"s3:GetObject", "s3:PutObject"}  # roster uploads read, import reports written
SECRET_ACTIONS = {"ssm:GetParameter"}  # SecureStrings under the default key aws/ssm need no kms:Decrypt grant
# Sending (chalicelib/notifications/sending.py). SES authorizes SendRawEmail on the sender identity (shared by
# the stages, verified once per account) and on the stage's configuration set; SNS authorizes SMS to a phone
# number (and the opt-out check) on no resource at all, hence "*" for exactly these two actions.
EMAIL_ACTIONS = {"ses:SendRawEmail"}
SMS_ACTIONS = {"sns:Publish", "sns:CheckIfPhoneNumberIsOptedOut"}
DEPLOYED_STAGES = ("dev", "prod")  # what `make package` builds: secrets from SSM, never from the environment
REGION, ACCOUNT = "ap-south-1", "123456789012"  # a concrete ARN each policy pattern must match


@lru_cache(maxsize=1)
def template() -> dict:
    return yaml.safe_load((PROJECT / "infra" / "resources.yaml").read_text())


def resources(kind: str) -> dict:
    return {name: r for name, r in template()["Resources"].items() if r.get("Type") == kind}


@lru_cache(maxsize=1)
def chalice_config() -> dict:
    return json.loads((PROJECT / ".chalice" / "config.json").read_text())


def stage_config(stage: str, function: str = "api_handler") -> Config:
    return Config(chalice_stage=stage, function_name=function, config_from_disk=chalice_config())


def policy(stage: str) -> dict:
    return json.loads((PROJECT / ".chalice" / stage_config(stage).iam_policy_file).read_text())


def granted(stage: str, action: str, arn: str) -> bool:
    return any(s["Effect"] == "Allow"
               and any(fnmatchcase(action.lower(), a.lower()) for a in _list(s["Action"]))
               and any(fnmatchcase(arn, r) for r in _list(s["Resource"]))
               for s in policy(stage)["Statement"])


def _list(value):
    return value if isinstance(value, list) else [value]


@lru_cache(maxsize=1)
def dynamodb_actions() -> frozenset:
    """The DynamoDB actions chalicelib calls: PynamoDB method calls in every module that imports PynamoDB
    or the models. A tripwire, not a proof: a new kind of call (a scan, a batch write) fails the policy
    tests until the policy grants it. Over-matching (dict.get, dict.update) only adds actions already used."""
    calls = re.compile(r"\.(%s)\(" % "|".join(PYNAMODB_CALLS))
    uses_dynamodb = re.compile(r"^\s*(from|import) (pynamodb|chalicelib\.storage\.models)\b", re.M)
    found = set()
    for path in (PROJECT / "chalicelib").rglob("*.py"):
        text = path.read_text()
        if uses_dynamodb.search(text):
            found |= {f"dynamodb:{PYNAMODB_CALLS[m]}" for m in calls.findall(text)}
    return frozenset(found)


def short_name(table_name: str, prefix: str) -> str:
    assert table_name.startswith(prefix), f"{table_name} does not start with {prefix}"
    return table_name[len(prefix):]


def model_short_names() -> dict:
    return {short_name(m.Meta.table_name, settings.TABLE_PREFIX): m for m in ALL_MODELS}


def table_arn(stage: str, short: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/karmayogi-{stage}-{short}"


def lambda_functions() -> dict:
    """Chalice handler name -> CloudFormation resource name, for every function Chalice generates."""
    app = application.app
    names = (["api_handler"] if app.routes else []) + [e.name for e in app.event_sources] \
        + [f.name for f in app.pure_lambda_functions]
    return {n: "APIHandler" if n == "api_handler" else to_cfn_resource_name(n) for n in names}


def function_name(stage: str, handler: str) -> str:
    return f"karmayogi-engage-{stage}" + ("" if handler == "api_handler" else f"-{handler}")


# --- tables ---------------------------------------------------------------------------------------------

def test_the_models_use_the_stage_naming_pattern():
    assert settings.TABLE_PREFIX == f"karmayogi-{settings.STAGE}-"
    assert len(model_short_names()) == len(ALL_MODELS)


def test_every_table_in_the_template_is_a_model_and_every_model_has_a_table():
    in_template = {short_name(t["Properties"]["TableName"], f"karmayogi-{PLACEHOLDER}-")
                   for t in resources("AWS::DynamoDB::Table").values()}
    assert in_template == set(model_short_names())


@pytest.mark.parametrize("short", sorted(model_short_names()))
def test_each_table_has_the_model_keys_and_settings(short):
    model = model_short_names()[short]
    [table] = [t["Properties"] for t in resources("AWS::DynamoDB::Table").values()
               if t["Properties"]["TableName"] == f"karmayogi-{PLACEHOLDER}-{short}"]
    schema = model._get_schema()

    def pairs(items, *keys):
        return {tuple(item[k] for k in keys) for item in items}

    assert pairs(table["KeySchema"], "AttributeName", "KeyType") == \
        pairs(schema["key_schema"], "AttributeName", "KeyType")
    # DynamoDB rejects attribute definitions that no key uses, so these must match exactly too.
    assert pairs(table["AttributeDefinitions"], "AttributeName", "AttributeType") == \
        pairs(schema["attribute_definitions"], "AttributeName", "AttributeType")
    for kind, cfn_key in (("global_secondary_indexes", "GlobalSecondaryIndexes"),
                          ("local_secondary_indexes", "LocalSecondaryIndexes")):
        assert {i["IndexName"]: (pairs(i["KeySchema"], "AttributeName", "KeyType"), i["Projection"])
                for i in table.get(cfn_key, [])} == \
            {i["index_name"]: (pairs(i["key_schema"], "AttributeName", "KeyType"), i["projection"])
             for i in schema[kind]}
    assert table["BillingMode"] == "PAY_PER_REQUEST" == model.Meta.billing_mode
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True


def test_tables_survive_stack_deletion():
    for name, table in resources("AWS::DynamoDB::Table").items():
        assert table.get("DeletionPolicy") == table.get("UpdateReplacePolicy") == "Retain", name


# --- queues ---------------------------------------------------------------------------------------------

def sqs_handlers():
    return [e for e in application.app.event_sources if hasattr(e, "queue") and hasattr(e, "batch_size")]


def test_the_queues_are_the_ones_the_app_reads():
    assert settings.SCORING_QUEUE == f"karmayogi-{settings.STAGE}-scoring"
    assert settings.NOTIFICATIONS_QUEUE == f"karmayogi-{settings.STAGE}-notifications"
    assert sorted(e.queue for e in sqs_handlers()) == sorted([settings.SCORING_QUEUE, settings.NOTIFICATIONS_QUEUE])


def test_the_ses_events_topic_is_in_the_template_and_receives_bounces_and_complaints():
    topics = {t["Properties"]["TopicName"] for t in resources("AWS::SNS::Topic").values()}
    assert settings.SES_EVENTS_TOPIC.replace(f"-{settings.STAGE}-", f"-{PLACEHOLDER}-", 1) in topics
    [handler] = [e for e in application.app.event_sources if hasattr(e, "topic")]
    assert handler.topic == settings.SES_EVENTS_TOPIC
    [destination] = resources("AWS::SES::ConfigurationSetEventDestination").values()
    assert set(destination["Properties"]["EventDestination"]["MatchingEventTypes"]) == {"bounce", "complaint"}
    for stage in DEPLOYED_STAGES:
        variables = stage_config(stage).environment_variables
        assert variables["KARMAYOGI_SES_CONFIGURATION_SET"] == f"karmayogi-{stage}"
        assert granted(stage, "ses:SendRawEmail", f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/karmayogi-{stage}")


@pytest.mark.parametrize("handler", sqs_handlers(), ids=lambda e: e.name)
def test_each_sqs_handler_has_its_queue_a_dead_letter_queue_and_partial_batch_failures(handler):
    queues = {q["Properties"]["QueueName"]: (name, q) for name, q in resources("AWS::SQS::Queue").items()}
    queue_name = handler.queue.replace(f"-{settings.STAGE}-", f"-{PLACEHOLDER}-", 1)
    assert queue_name in queues, f"no queue {queue_name} in infra/resources.yaml"
    queue = queues[queue_name][1]["Properties"]

    redrive = queue["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == 5
    dlq_resource, attribute = redrive["deadLetterTargetArn"]["Fn::GetAtt"]
    assert attribute == "Arn"
    dlq = template()["Resources"][dlq_resource]["Properties"]
    assert dlq["QueueName"] == f"{queue_name}-dlq"
    assert dlq["MessageRetentionPeriod"] > queue.get("MessageRetentionPeriod", 345600)

    # AWS: a Lambda consumer's queue needs a visibility timeout of at least 6 x the function timeout.
    for stage in STAGES:
        timeout = stage_config(stage, handler.name).lambda_timeout
        assert queue["VisibilityTimeout"] >= 6 * timeout, (stage, timeout)

    function = template()["Resources"][to_cfn_resource_name(handler.name)]
    event = function["Properties"]["Events"][to_cfn_resource_name(f"{handler.name}-sqs-event-source")]
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queues[queue_name][0] in function["DependsOn"], "the event source must wait for its queue"


# --- functions, stages and the IAM policy ----------------------------------------------------------------

def test_nothing_in_the_template_is_fixed_to_one_stage():
    text = (PROJECT / "infra" / "resources.yaml").read_text()
    for stage in STAGES:
        assert f"karmayogi-{stage}-" not in text and f"karmayogi-engage-{stage}" not in text


@pytest.mark.parametrize("handler,cfn_name", sorted(lambda_functions().items()))
def test_each_function_has_a_fixed_name_and_a_log_group(handler, cfn_name):
    function = template()["Resources"].get(cfn_name, {})
    expected = function_name(PLACEHOLDER, handler)
    assert function.get("Properties", {}).get("FunctionName") == expected
    log_group = to_cfn_resource_name(f"{handler}-log-group")  # the resource Chalice generates
    assert template()["Resources"][log_group]["Properties"]["LogGroupName"] == f"/aws/lambda/{expected}"


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_has_its_own_names_and_no_reserved_variables(stage):
    config = chalice_config()
    assert "TZ" not in config.get("environment_variables", {})
    variables = stage_config(stage).environment_variables
    assert variables["KARMAYOGI_STAGE"] == stage
    assert variables["KARMAYOGI_TABLE_PREFIX"] == f"karmayogi-{stage}-"
    assert variables["KARMAYOGI_SCORING_QUEUE"] == f"karmayogi-{stage}-scoring"
    assert variables["KARMAYOGI_NOTIFICATIONS_QUEUE"] == f"karmayogi-{stage}-notifications"
    assert variables["KARMAYOGI_SES_EVENTS_TOPIC"] == f"karmayogi-{stage}-ses-events"
    assert "TZ" not in variables
    for handler in lambda_functions():
        c = stage_config(stage, handler)
        assert c.autogen_policy is False and c.iam_policy_file == f"policy-{stage}.json"
        assert c.log_retention_in_days


@pytest.mark.parametrize("stage", STAGES)
def test_the_policy_grants_what_the_code_uses_on_every_table_and_queue(stage):
    for short, model in model_short_names().items():
        for action in dynamodb_actions():
            assert granted(stage, action, table_arn(stage, short)), (action, short)
        for index in model._get_schema()["global_secondary_indexes"] + \
                model._get_schema()["local_secondary_indexes"]:
            assert granted(stage, "dynamodb:Query", f"{table_arn(stage, short)}/index/{index['index_name']}")
    for queue in ("scoring", "notifications"):
        queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:karmayogi-{stage}-{queue}"
        for action in SQS_PRODUCER_ACTIONS | SQS_CONSUMER_ACTIONS:
            assert granted(stage, action, queue_arn), action
    assert granted(stage, "ses:SendRawEmail", f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/igotkarmayogi.gov.in")
    for action in SMS_ACTIONS:
        assert granted(stage, action, "*"), action
    for handler in lambda_functions():
        stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{function_name(stage, handler)}" \
                 ":log-stream:2026/11/23/[$LATEST]abc"
        for action in LOG_ACTIONS:
            assert granted(stage, action, stream), (action, handler)


@pytest.mark.parametrize("stage", STAGES)
def test_the_policy_grants_nothing_else(stage):
    other = "dev" if stage != "dev" else "prod"
    for statement in policy(stage)["Statement"]:
        actions, arns = _list(statement["Action"]), _list(statement["Resource"])
        assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
        assert all("*" not in a for a in actions), actions
        assert set(actions) <= dynamodb_actions() | SQS_PRODUCER_ACTIONS | SQS_CONSUMER_ACTIONS | LOG_ACTIONS \
            | SECRET_ACTIONS | S3_ACTIONS | EMAIL_ACTIONS | SMS_ACTIONS
        if set(actions) <= SMS_ACTIONS:
            assert arns == ["*"]
            continue
        if set(actions) <= EMAIL_ACTIONS:
            assert set(arns) == {"arn:aws:ses:*:*:identity/*", f"arn:aws:ses:*:*:configuration-set/karmayogi-{stage}"}
            continue
        for arn in arns:
            assert arn.startswith("arn:aws:"), arn
            assert (f"-{stage}" in arn or f":parameter/karmayogi/{stage}/" in arn), arn
            assert f"-{other}" not in arn and f"/karmayogi/{other}/" not in arn, arn
    for short in model_short_names():
        assert not any(granted(stage, action, table_arn(other, short)) for action in dynamodb_actions())
    assert not granted(stage, "sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:karmayogi-{stage}-scoring-dlq")
    assert not granted(stage, "sqs:SendMessage",
                       f"arn:aws:sqs:{REGION}:{ACCOUNT}:karmayogi-{stage}-notifications-dlq")


def test_every_policy_action_is_a_real_iam_action():
    """cfn-lint skips IAM action checks in SAM templates, so check them here against its action list."""
    import cfnlint.data.AdditionalSpecs as specs
    known = json.loads((Path(specs.__file__).parent / "Policies.json").read_text())
    for stage in STAGES:
        for statement in policy(stage)["Statement"]:
            for action in _list(statement["Action"]):
                service, name = action.split(":")
                assert name.lower() in known[service]["Actions"], f"{action} is not an IAM action"


# --- roster uploads: an S3 bucket whose ObjectCreated under rosters/ invokes import_roster_upload -----------

def test_the_roster_bucket_is_the_one_the_app_reads_encrypted_private_and_notifies_the_import_function():
    assert settings.ROSTER_BUCKET == f"karmayogi-{settings.STAGE}-rosters"
    for stage in STAGES:
        assert stage_config(stage).environment_variables["KARMAYOGI_ROSTER_BUCKET"] == f"karmayogi-{stage}-rosters"
    bucket = template()["Resources"]["RosterBucket"]
    props = bucket["Properties"]
    assert props["BucketName"] == f"karmayogi-{PLACEHOLDER}-rosters"
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert all(props["PublicAccessBlockConfiguration"][k] is True for k in
               ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
    [notification] = props["NotificationConfiguration"]["LambdaConfigurations"]
    assert notification["Event"] == "s3:ObjectCreated:*"
    assert notification["Function"] == {"Fn::GetAtt": [lambda_functions()["import_roster_upload"], "Arn"]}
    rules = {r["Name"]: r["Value"] for r in notification["Filter"]["S3Key"]["Rules"]}
    assert rules == {"prefix": settings.ROSTER_PREFIX, "suffix": ".csv"}
    permission = template()["Resources"]["ImportRosterUploadS3Permission"]["Properties"]
    assert permission["Principal"] == "s3.amazonaws.com" and permission["Action"] == "lambda:InvokeFunction"
    assert permission["SourceArn"]["Fn::Sub"].endswith(f":s3:::karmayogi-{PLACEHOLDER}-rosters")
    assert "ImportRosterUploadS3Permission" in bucket["DependsOn"]  # S3 checks it may invoke when it is set


@pytest.mark.parametrize("stage", STAGES)
def test_the_policy_lets_the_import_read_uploads_and_write_reports_only(stage):
    bucket = f"arn:aws:s3:::karmayogi-{stage}-rosters"
    assert granted(stage, "s3:GetObject", f"{bucket}/rosters/org_x/2026-11.csv")
    assert granted(stage, "s3:PutObject", f"{bucket}/reports/org_x/2026-11.json")
    assert not granted(stage, "s3:PutObject", f"{bucket}/rosters/org_x/2026-11.csv")
    assert not granted(stage, "s3:GetObject", f"{bucket}/reports/org_x/2026-11.json")
    assert not granted(stage, "s3:GetObject", f"arn:aws:s3:::karmayogi-{'dev' if stage != 'dev' else 'prod'}"
                                              "-rosters/rosters/org_x/a.csv")


# --- secrets: SSM Parameter Store in AWS, never a Lambda environment variable ----------------------------

def secrets_config(stage: str, monkeypatch) -> settings.SecretsConfig:
    """What chalicelib/settings.py makes of this stage's environment (as Lambda would set it)."""
    for name in [n for n in os.environ if n.startswith("KARMAYOGI_")]:
        monkeypatch.delenv(name)
    for name, value in stage_config(stage).environment_variables.items():
        monkeypatch.setenv(name, value)
    return settings.secrets_config()


def parameter_arn(name: str) -> str:
    return f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{name}"


@pytest.mark.parametrize("stage", STAGES)
def test_the_policy_grants_reading_exactly_the_stages_secret_parameters(stage, monkeypatch):
    config = secrets_config(stage, monkeypatch)
    names = (config.webhook_secrets_parameter, config.jwks_parameter, config.issuer_keys_parameter,
             config.unsubscribe_secrets_parameter, config.admin_summary_recipients_parameter)
    if stage in DEPLOYED_STAGES:
        assert config.source == "ssm" and config.ttl_seconds <= 60  # a rotation takes effect within a minute
        assert names == (f"/karmayogi/{stage}/webhook-secrets", f"/karmayogi/{stage}/jwks",
                         f"/karmayogi/{stage}/issuer-keys", f"/karmayogi/{stage}/unsubscribe-secrets",
                         f"/karmayogi/{stage}/admin-summary-recipients")
    other = "dev" if stage != "dev" else "prod"
    for name in names:
        assert granted(stage, "ssm:GetParameter", parameter_arn(name)) == (config.source == "ssm"), name
        assert not granted(stage, "ssm:GetParameter", parameter_arn(name.replace(f"/{stage}/", f"/{other}/")))
    for action in ("ssm:GetParameters", "ssm:GetParametersByPath", "ssm:PutParameter"):
        assert not granted(stage, action, parameter_arn(names[0])), action
    assert not granted(stage, "ssm:GetParameter", parameter_arn(f"/karmayogi/{stage}/other"))
    # The default key aws/ssm lets any principal of the account decrypt through SSM: no KMS grant, no wildcard key.
    assert not any(a.lower().startswith("kms:") for s in policy(stage)["Statement"] for a in _list(s["Action"]))


@pytest.mark.parametrize("stage", DEPLOYED_STAGES)
def test_no_secret_is_in_the_template_or_a_functions_environment(stage):
    # A secret passed in as a template parameter would end up in the Lambda configuration.
    assert not [name for name, parameter in (template().get("Parameters") or {}).items()
                if parameter.get("NoEcho") or re.search("secret|password|token|key", name, re.I)]
    for handler, cfn_name in lambda_functions().items():
        variables = template()["Resources"].get(cfn_name, {}).get("Properties", {}).get("Environment", {}) \
            .get("Variables", {})
        assert not {"KARMAYOGI_WEBHOOK_SECRETS", "KARMAYOGI_JWKS", "KARMAYOGI_ISSUER_KEYS",
                    "KARMAYOGI_UNSUBSCRIBE_SECRET"} & set(variables), handler
        assert not {"KARMAYOGI_WEBHOOK_SECRETS", "KARMAYOGI_JWKS", "KARMAYOGI_ISSUER_KEYS", "KARMAYOGI_UNSUBSCRIBE_SECRET"} & \
            set(stage_config(stage, handler).environment_variables), handler


def test_the_code_scan_finds_the_calls_it_should():
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"} <= dynamodb_actions()
