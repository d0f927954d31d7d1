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
SECRET_ACTIONS = {"ssm:GetParameter"}  # SecureStrings under the default key aws/ssm need no kms:Decrypt grant
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


def policy(stage: str, function: str = "api_handler") -> dict:
    return json.loads((PROJECT / ".chalice" / stage_config(stage, function).iam_policy_file).read_text())


def granted(stage: str, action: str, arn: str, function: str = "api_handler") -> bool:
    return any(s["Effect"] == "Allow"
               and any(fnmatchcase(action.lower(), a.lower()) for a in _list(s["Action"]))
               and any(fnmatchcase(arn, r) for r in _list(s["Resource"]))
               for s in policy(stage, function)["Statement"])


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


def test_the_scoring_queue_is_the_one_the_app_reads():
    assert settings.SCORING_QUEUE == f"karmayogi-{settings.STAGE}-scoring"
    assert [e.queue for e in sqs_handlers()] == [settings.SCORING_QUEUE]


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
    assert "TZ" not in variables
    for handler in lambda_functions():
        c = stage_config(stage, handler)
        # Each function its own role (Chalice makes one per function when autogen_policy is off): the API's
        # policy is policy-<stage>.json, another function's policy-<stage>-<function>.json if it has one.
        assert c.autogen_policy is False
        assert c.iam_policy_file in (f"policy-{stage}.json", f"policy-{stage}-{handler}.json")
        assert c.log_retention_in_days and c.lambda_timeout and c.lambda_memory_size


# What each function does, as far as IAM is concerned. Least privilege: a function is granted only these.
# Every function writes its own log group. Beyond that, by default a function runs the use cases (the DynamoDB
# calls the code makes, on every table, and sends to the queues the code sends to); READ_ONLY ones only read
# (and may Scan: the audit). Only the API verifies signatures and tokens (SSM). A function with an SQS event
# source receives from its queue (Lambda's poller uses the function's role) and dead-letters to <queue>-dlq
# (chalicelib/deadletters.py).
READ_ONLY_FUNCTIONS = {"audit_weekly": "chalicelib/audit: reports; repairs run by an operator"}
SECRET_READERS = {"api_handler"}
READ_ACTIONS = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan"}


def consumed_queues(handler: str) -> set[str]:
    return {e.queue for e in sqs_handlers() if e.name == handler}


def produced_queues() -> set[str]:
    return {settings.SCORING_QUEUE}


def staged(name: str, stage: str) -> str:
    return name.replace(f"-{settings.STAGE}-", f"-{stage}-", 1)


def data_actions(handler: str) -> set[str]:
    if handler in READ_ONLY_FUNCTIONS:
        return READ_ACTIONS
    return set(dynamodb_actions()) - {"dynamodb:Scan"}


def queue_arn(stage: str, name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{staged(name, stage)}"


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("handler", sorted(lambda_functions()))
def test_each_function_is_granted_what_it_uses(stage, handler):
    for short, model in model_short_names().items():
        for action in data_actions(handler):
            assert granted(stage, action, table_arn(stage, short), handler), (action, short)
        for index in model._get_schema()["global_secondary_indexes"] + \
                model._get_schema()["local_secondary_indexes"]:
            assert granted(stage, "dynamodb:Query", f"{table_arn(stage, short)}/index/{index['index_name']}", handler)
    if handler not in READ_ONLY_FUNCTIONS:
        for queue in produced_queues():
            for action in SQS_PRODUCER_ACTIONS:
                assert granted(stage, action, queue_arn(stage, queue), handler), (action, queue)
    for queue in consumed_queues(handler):
        for action in SQS_CONSUMER_ACTIONS:
            assert granted(stage, action, queue_arn(stage, queue), handler), action
        assert granted(stage, "sqs:SendMessage", queue_arn(stage, f"{queue}-dlq"), handler)
    stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{function_name(stage, handler)}" \
             ":log-stream:2026/11/23/[$LATEST]abc"
    for action in LOG_ACTIONS:
        assert granted(stage, action, stream, handler), (action, handler)


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("handler", sorted(lambda_functions()))
def test_each_function_is_granted_nothing_else(stage, handler):
    other = "dev" if stage != "dev" else "prod"
    for statement in policy(stage, handler)["Statement"]:
        actions, arns = _list(statement["Action"]), _list(statement["Resource"])
        assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
        assert all("*" not in a for a in actions), actions
        allowed = data_actions(handler) | LOG_ACTIONS
        if handler not in READ_ONLY_FUNCTIONS:
            allowed |= SQS_PRODUCER_ACTIONS
        if consumed_queues(handler):
            allowed |= SQS_CONSUMER_ACTIONS | SQS_PRODUCER_ACTIONS
        if handler in SECRET_READERS:
            allowed |= SECRET_ACTIONS
        assert set(actions) <= allowed, (handler, set(actions) - allowed)
        for arn in arns:
            assert arn.startswith("arn:aws:"), arn
            assert (f"-{stage}" in arn or f":parameter/karmayogi/{stage}/" in arn), arn
            assert f"-{other}" not in arn and f"/karmayogi/{other}/" not in arn, arn
    for short in model_short_names():
        assert not any(granted(stage, action, table_arn(other, short), handler) for action in dynamodb_actions())
    # Only a queue's consumer may send to its dead-letter queue; nobody else may write there.
    for queue in {e.queue for e in sqs_handlers()}:
        assert granted(stage, "sqs:SendMessage", queue_arn(stage, f"{queue}-dlq"), handler) == \
            (queue in consumed_queues(handler))
        if queue not in consumed_queues(handler):
            assert not granted(stage, "sqs:ReceiveMessage", queue_arn(stage, queue), handler)
    # Logs: its own group only.
    for other_handler in set(lambda_functions()) - {handler}:
        stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{function_name(stage, other_handler)}" \
                 ":log-stream:x"
        assert not granted(stage, "logs:PutLogEvents", stream, handler), other_handler


def test_every_policy_file_is_used_by_some_function():
    used = {stage_config(stage, handler).iam_policy_file for stage in STAGES for handler in lambda_functions()}
    on_disk = {p.name for p in (PROJECT / ".chalice").glob("policy-*.json")}
    assert on_disk == used, f"unused policy files: {sorted(on_disk - used)}; missing: {sorted(used - on_disk)}"


@pytest.mark.parametrize("stage", STAGES)
def test_every_resource_a_policy_names_exists_in_the_template(stage):
    """Nothing granted is left over: each table, index, queue, parameter and log group a policy names is one
    the template declares (or, for the functions' log groups, Chalice generates and resources.yaml names)."""
    text = json.dumps(template()).replace(PLACEHOLDER, stage)
    declared = json.loads(text)
    tables = {t["Properties"]["TableName"] for t in declared["Resources"].values()
              if t.get("Type") == "AWS::DynamoDB::Table"}
    queues = {q["Properties"]["QueueName"] for q in declared["Resources"].values() if q.get("Type") == "AWS::SQS::Queue"}
    parameters = {p["Name"] for p in declared["Metadata"]["KarmayogiParameters"]}
    log_groups = {r["Properties"]["LogGroupName"] for r in declared["Resources"].values()
                  if "LogGroupName" in r.get("Properties", {})}
    for handler in lambda_functions():
        for statement in policy(stage, handler)["Statement"]:
            for arn in _list(statement["Resource"]):
                kind, _, rest = arn.split(":", 5)[2], None, arn.split(":", 5)[5]
                if kind == "dynamodb":
                    assert rest.split("/")[1] in tables, arn
                elif kind == "sqs":
                    assert rest in queues, arn
                elif kind == "ssm":
                    assert rest.removeprefix("parameter") in parameters, arn
                elif kind == "logs":
                    assert rest.removeprefix("log-group:").removesuffix(":*") in log_groups, arn
                else:
                    raise AssertionError(f"unexpected resource {arn}")


def test_every_queue_in_the_template_is_read_by_a_handler_or_is_a_dead_letter_queue():
    names = {q["Properties"]["QueueName"] for q in resources("AWS::SQS::Queue").values()}
    read = {e.queue.replace(f"-{settings.STAGE}-", f"-{PLACEHOLDER}-", 1) for e in sqs_handlers()}
    assert names == read | {f"{q}-dlq" for q in read}


def test_every_policy_action_is_a_real_iam_action():
    """cfn-lint skips IAM action checks in SAM templates, so check them here against its action list."""
    import cfnlint.data.AdditionalSpecs as specs
    known = json.loads((Path(specs.__file__).parent / "Policies.json").read_text())
    for stage in STAGES:
        for statement in [s for h in lambda_functions() for s in policy(stage, h)["Statement"]]:
            for action in _list(statement["Action"]):
                service, name = action.split(":")
                assert name.lower() in known[service]["Actions"], f"{action} is not an IAM action"


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
    names = (config.webhook_secrets_parameter, config.jwks_parameter)
    if stage in DEPLOYED_STAGES:
        assert config.source == "ssm" and config.ttl_seconds <= 60  # a rotation takes effect within a minute
        assert names == (f"/karmayogi/{stage}/webhook-secrets", f"/karmayogi/{stage}/jwks")
    other = "dev" if stage != "dev" else "prod"
    for name in names:
        assert granted(stage, "ssm:GetParameter", parameter_arn(name)) == (config.source == "ssm"), name
        assert not granted(stage, "ssm:GetParameter", parameter_arn(name.replace(f"/{stage}/", f"/{other}/")))
    for action in ("ssm:GetParameters", "ssm:GetParametersByPath", "ssm:PutParameter"):
        assert not granted(stage, action, parameter_arn(names[0])), action
    assert not granted(stage, "ssm:GetParameter", parameter_arn(f"/karmayogi/{stage}/other"))
    # The default key aws/ssm lets any principal of the account decrypt through SSM: no KMS grant, no wildcard key.
    assert not any(a.lower().startswith("kms:") for h in lambda_functions() for s in policy(stage, h)["Statement"]
                   for a in _list(s["Action"]))
    # Only the API reads secrets.
    for handler in set(lambda_functions()) - SECRET_READERS:
        assert not any(granted(stage, "ssm:GetParameter", parameter_arn(name), handler) for name in names), handler
    # Every parameter the stage is configured to read is declared (resources.yaml Metadata), with its variable.
    declared = {p["Variable"]: p["Name"].replace(PLACEHOLDER, stage) for p in template()["Metadata"]["KarmayogiParameters"]}
    if config.source == "ssm":
        assert declared == {"KARMAYOGI_WEBHOOK_SECRETS_PARAMETER": config.webhook_secrets_parameter,
                            "KARMAYOGI_JWKS_PARAMETER": config.jwks_parameter}


@pytest.mark.parametrize("stage", DEPLOYED_STAGES)
def test_no_secret_is_in_the_template_or_a_functions_environment(stage):
    # A secret passed in as a template parameter would end up in the Lambda configuration.
    assert not [name for name, parameter in (template().get("Parameters") or {}).items()
                if parameter.get("NoEcho") or re.search("secret|password|token|key", name, re.I)]
    for handler, cfn_name in lambda_functions().items():
        variables = template()["Resources"].get(cfn_name, {}).get("Properties", {}).get("Environment", {}) \
            .get("Variables", {})
        assert not {"KARMAYOGI_WEBHOOK_SECRETS", "KARMAYOGI_JWKS"} & set(variables), handler
        assert not {"KARMAYOGI_WEBHOOK_SECRETS", "KARMAYOGI_JWKS"} & \
            set(stage_config(stage, handler).environment_variables), handler


def test_the_code_scan_finds_the_calls_it_should():
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"} <= dynamodb_actions()


# --- infra/harden.py: what every table, queue and function gets, whatever its name -----------------------

def test_the_consumers_dead_letter_at_the_queues_max_receive_count():
    from chalicelib import deadletters
    for queue in resources("AWS::SQS::Queue").values():
        if "RedrivePolicy" in queue["Properties"]:
            assert queue["Properties"]["RedrivePolicy"]["maxReceiveCount"] == deadletters.MAX_RECEIVES


def test_a_model_with_a_ttl_attribute_has_the_table_ttl_and_the_other_way_round():
    from pynamodb.attributes import TTLAttribute
    for short, model in model_short_names().items():
        ttl = [name for name, a in model.get_attributes().items() if isinstance(a, TTLAttribute)]
        [table] = [t["Properties"] for t in resources("AWS::DynamoDB::Table").values()
                   if t["Properties"]["TableName"] == f"karmayogi-{PLACEHOLDER}-{short}"]
        spec = table.get("TimeToLiveSpecification")
        assert ([spec["AttributeName"]] if spec and spec.get("Enabled") else []) == ttl, short


def packaged_like(stage: str, extra: dict | None = None) -> dict:
    """resources.yaml rendered for a stage, with a stub per function Chalice generates: the shape infra/harden.py
    walks after `chalice package` (make package runs it on the real merged template, and cfn-lint checks it)."""
    import copy
    rendered = json.loads(json.dumps(template()).replace(PLACEHOLDER, stage))
    for handler, cfn_name in lambda_functions().items():
        rendered["Resources"].setdefault(cfn_name, {}).update(Type="AWS::Serverless::Function")
    rendered["Resources"].update(copy.deepcopy(extra or {}))
    return rendered


def alarms_on(hardened: dict, namespace: str, dimension_value) -> list[str]:
    found = []
    for name, r in hardened["Resources"].items():
        if r.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        p = r["Properties"]
        metrics = [p] if "Namespace" in p else [m["MetricStat"]["Metric"] for m in p.get("Metrics", []) if "MetricStat" in m]
        if any(m["Namespace"] == namespace and any(d["Value"] == dimension_value for d in m["Dimensions"])
               for m in metrics):
            found.append(name)
    return found


@pytest.mark.parametrize("stage", DEPLOYED_STAGES)
def test_harden_covers_every_table_queue_and_function(stage):
    from infra.harden import harden
    hardened = harden(packaged_like(stage), stage)
    resources_ = hardened["Resources"]
    body = json.dumps(resources_["Dashboard"]["Properties"]["DashboardBody"])
    for name, table in resources_.items():
        if table.get("Type") == "AWS::DynamoDB::Table":
            props = table["Properties"]
            assert props["DeletionProtectionEnabled"] is (stage == "prod"), name
            assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
            assert alarms_on(hardened, "AWS/DynamoDB", {"Ref": name}), name
            assert f"${{{name}}}" in body
    for name, queue in resources_.items():
        if queue.get("Type") == "AWS::SQS::Queue":
            is_dlq = "RedrivePolicy" not in queue["Properties"]
            assert bool(alarms_on(hardened, "AWS/SQS", {"Fn::GetAtt": [name, "QueueName"]})) is is_dlq, name
            assert f"${{{name}.QueueName}}" in body
    for cfn_name in lambda_functions().values():
        assert alarms_on(hardened, "AWS/Lambda", {"Ref": cfn_name}), cfn_name
        assert f"${{{cfn_name}}}" in body
    alarms = [r["Properties"] for r in resources_.values() if r.get("Type") == "AWS::CloudWatch::Alarm"]
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms)
    assert any(a.get("MetricName") == "SMSMonthToDateSpentUSD" for a in alarms)
    assert not any(a.get("Namespace") == "AWS/SES" for a in alarms)  # no configuration set yet: no SES alarm
    assert resources_["AlarmEmailSubscription"]["Condition"] == "HasAlarmEmail"


def test_harden_covers_what_other_changes_add():
    """A new table, queue + DLQ, function and SES configuration set get their alarms with no edit here."""
    from infra.harden import harden
    extra = {
        "NewTable": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": "karmayogi-prod-new"}},
        "NewDeadLetterQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "karmayogi-prod-new-dlq"}},
        "NewQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "karmayogi-prod-new", "RedrivePolicy": {
            "deadLetterTargetArn": {"Fn::GetAtt": ["NewDeadLetterQueue", "Arn"]}, "maxReceiveCount": 5}}},
        "NewFunction": {"Type": "AWS::Serverless::Function", "Properties": {}},
        "Email": {"Type": "AWS::SES::ConfigurationSet", "Properties": {"Name": "karmayogi-prod"}},
    }
    hardened = harden(packaged_like("prod", extra), "prod")
    assert alarms_on(hardened, "AWS/DynamoDB", {"Ref": "NewTable"})
    assert alarms_on(hardened, "AWS/SQS", {"Fn::GetAtt": ["NewDeadLetterQueue", "QueueName"]})
    assert alarms_on(hardened, "AWS/Lambda", {"Ref": "NewFunction"})
    [bounce] = alarms_on(hardened, "AWS/SES", {"Ref": "Email"})
    assert hardened["Resources"][bounce]["Properties"]["Threshold"] == 0.05
    assert hardened["Resources"]["Email"]["Properties"]["ReputationOptions"]["ReputationMetricsEnabled"] is True


def test_harden_refuses_a_queue_without_a_dead_letter_queue():
    from infra.harden import HardenError, harden
    lonely = {"Lonely": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "karmayogi-dev-lonely"}}}
    with pytest.raises(HardenError, match="Lonely has no dead-letter queue"):
        harden(packaged_like("dev", lonely), "dev")
