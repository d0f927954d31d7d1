"""Harden a packaged template: walk every table, queue and function it declares and add what each must have.

Run by infra/package.sh after `chalice package --merge-template` (python -m infra.harden out/<stage>/sam.json
<stage>); it rewrites the template in place. Nothing here names a table, queue or function: a resource another
change adds to infra/resources.yaml or app.py is covered the next time the package is built.

For the stage (infra/stages.yaml):
* every DynamoDB table: point-in-time recovery and encryption on (added if missing), deletion protection as the
  stage says, a TTL specification (when declared) checked; an alarm on throttled reads + writes;
* every SQS queue: a dead-letter queue (a queue without a redrive policy that is nobody's dead-letter queue
  fails the build); an alarm on every dead-letter queue holding a message;
* every function (AWS::Serverless::Function or AWS::Lambda::Function): an alarm on errors;
* an SES configuration set, if the template has one: reputation metrics on, and a bounce-rate alarm;
* SMS spend (AWS/SNS SMSMonthToDateSpentUSD, account-wide): an alarm;
* one SNS topic every alarm notifies (parameter AlarmEmail: an address subscribed to it, if given);
* one CloudWatch dashboard with a widget per function, queue and table, and SES and SMS when present.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

INFRA = Path(__file__).resolve().parent
APP = "karmayogi-engage"
TOPIC = "AlarmTopic"
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
PERIOD = 300


class HardenError(Exception):
    """The template lacks something no generated default can supply (e.g. a queue without a DLQ)."""


def stage_settings(stage: str, path: Path = INFRA / "stages.yaml") -> dict:
    declared = yaml.safe_load(path.read_text())
    if stage not in declared["stages"]:
        raise HardenError(f"stage {stage!r} is not in {path.name}")
    return {**declared["defaults"], **(declared["stages"][stage] or {})}


def _of_type(template: dict, *kinds: str) -> dict:
    return {name: r for name, r in template["Resources"].items() if r.get("Type") in kinds}


def _logical(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", "".join(p[:1].upper() + p[1:] for p in parts))


def dead_letter_queues(template: dict) -> dict[str, str]:
    """DLQ resource -> the queue that sends to it (through its RedrivePolicy)."""
    found = {}
    for name, queue in _of_type(template, "AWS::SQS::Queue").items():
        target = (queue.get("Properties", {}).get("RedrivePolicy") or {}).get("deadLetterTargetArn")
        if isinstance(target, dict) and "Fn::GetAtt" in target:
            found[target["Fn::GetAtt"][0]] = name
        elif target is not None:
            raise HardenError(f"{name}: deadLetterTargetArn must be Fn::GetAtt [<queue>, Arn]")
    return found


def _alarm(stage: str, what: str, description: str, threshold: float, comparison: str, **metric) -> dict:
    properties = {
        "AlarmName": f"{APP}-{stage}-{what}",
        "AlarmDescription": description,
        "ComparisonOperator": comparison,
        "EvaluationPeriods": 1,
        "Threshold": threshold,
        "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": TOPIC}],
        "OKActions": [{"Ref": TOPIC}],
        **metric,
    }
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}


def _single(namespace: str, name: str, dimensions: list, statistic: str, period: int = PERIOD) -> dict:
    return {"Namespace": namespace, "MetricName": name, "Dimensions": dimensions, "Statistic": statistic,
            "Period": period}


def harden(template: dict, stage: str, settings: dict | None = None) -> dict:
    """The template with everything above added (changed in place and returned)."""
    settings = settings or stage_settings(stage)
    resources = template["Resources"]
    alarms: dict[str, dict] = {}
    widgets: list[dict] = []

    # --- tables ---
    tables = _of_type(template, "AWS::DynamoDB::Table")
    for name, table in tables.items():
        props = table.setdefault("Properties", {})
        props["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
        props.setdefault("SSESpecification", {"SSEEnabled": True})
        props["DeletionProtectionEnabled"] = bool(settings["deletion_protection"])
        ttl = props.get("TimeToLiveSpecification")
        if ttl is not None and not (ttl.get("Enabled") is True and ttl.get("AttributeName")):
            raise HardenError(f"{name}: TimeToLiveSpecification needs Enabled: true and an AttributeName")
        dimensions = [{"Name": "TableName", "Value": {"Ref": name}}]
        alarms[_logical(name, "ThrottleAlarm")] = _alarm(
            stage, f"{name}-throttled", f"DynamoDB throttled requests on {name} (reads + writes, 5 minutes)",
            settings["throttle_alarm"], "GreaterThanThreshold",
            Metrics=[{"Id": kind.lower(), "ReturnData": False,
                      "MetricStat": {"Metric": {"Namespace": "AWS/DynamoDB", "MetricName": f"{kind}ThrottleEvents",
                                                "Dimensions": dimensions}, "Period": PERIOD, "Stat": "Sum"}}
                     for kind in ("Read", "Write")]
            + [{"Id": "throttled", "Expression": "FILL(read, 0) + FILL(write, 0)", "Label": "throttled requests",
                "ReturnData": True}])
        widgets.append(_widget(f"table {name}", [
            ["AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", f"${{{name}}}", {"stat": "Sum"}],
            [".", "ConsumedReadCapacityUnits", ".", ".", {"stat": "Sum"}],
            [".", "WriteThrottleEvents", ".", ".", {"stat": "Sum"}],
            [".", "ReadThrottleEvents", ".", ".", {"stat": "Sum"}]]))

    # --- queues ---
    queues = _of_type(template, "AWS::SQS::Queue")
    dlqs = dead_letter_queues(template)
    for name, queue in queues.items():
        if name in dlqs:
            continue
        if "RedrivePolicy" not in queue.get("Properties", {}):
            raise HardenError(f"queue {name} has no dead-letter queue (RedrivePolicy)")
        if dlqs.get(queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]) is None:
            raise HardenError(f"queue {name}: its dead-letter queue is not in the template")
        widgets.append(_widget(f"queue {name}", [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"${{{name}.QueueName}}"],
            [".", "ApproximateAgeOfOldestMessage", ".", ".", {"yAxis": "right"}]], stat="Maximum"))
    for dlq, source in sorted(dlqs.items()):
        if dlq not in queues:
            raise HardenError(f"{source} sends to {dlq}, which is not a queue in the template")
        alarms[_logical(dlq, "NotEmptyAlarm")] = _alarm(
            stage, f"{dlq}-not-empty", f"Messages in {dlq}: {source} could not process them "
            f"(see the failure reason on each; replay with `make replay-dlq`)",
            settings["dlq_visible_alarm"], "GreaterThanThreshold",
            **_single("AWS/SQS", "ApproximateNumberOfMessagesVisible",
                      [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}], "Maximum"))
        widgets.append(_widget(f"dead letters {dlq}", [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"${{{dlq}.QueueName}}"]],
            stat="Maximum"))

    # --- functions ---
    for name in sorted(_of_type(template, *FUNCTION_TYPES)):
        alarms[_logical(name, "ErrorsAlarm")] = _alarm(
            stage, f"{name}-errors", f"Errors in function {name} (5 minutes)",
            settings["function_error_alarm"], "GreaterThanOrEqualToThreshold",
            **_single("AWS/Lambda", "Errors", [{"Name": "FunctionName", "Value": {"Ref": name}}], "Sum"))
        widgets.append(_widget(f"function {name}", [
            ["AWS/Lambda", "Invocations", "FunctionName", f"${{{name}}}", {"stat": "Sum"}],
            [".", "Errors", ".", ".", {"stat": "Sum"}],
            [".", "Throttles", ".", ".", {"stat": "Sum"}],
            [".", "Duration", ".", ".", {"stat": "p99", "yAxis": "right"}]]))

    # --- email (only once a configuration set exists) ---
    for name, config_set in sorted(_of_type(template, "AWS::SES::ConfigurationSet").items()):
        props = config_set.setdefault("Properties", {})
        props.setdefault("ReputationOptions", {})["ReputationMetricsEnabled"] = True
        dimension = [{"Name": "ses:configuration-set", "Value": {"Ref": name}}]
        alarms[_logical(name, "BounceRateAlarm")] = _alarm(
            stage, f"{name}-bounce-rate", f"SES bounce rate of {name} over {settings['ses_bounce_rate_alarm']:.0%}",
            settings["ses_bounce_rate_alarm"], "GreaterThanThreshold",
            **_single("AWS/SES", "Reputation.BounceRate", dimension, "Maximum", period=3600))
        widgets.append(_widget(f"email {name}", [
            ["AWS/SES", "Reputation.BounceRate", "ses:configuration-set", f"${{{name}}}"],
            [".", "Reputation.ComplaintRate", ".", "."]], stat="Maximum"))

    # --- SMS spend (account-wide: SNS publishes it without dimensions) ---
    alarms["SmsSpendAlarm"] = _alarm(
        stage, "sms-spend", f"SMS spend this month reached ${settings['sms_monthly_spend_alarm_usd']}",
        settings["sms_monthly_spend_alarm_usd"], "GreaterThanOrEqualToThreshold",
        **_single("AWS/SNS", "SMSMonthToDateSpentUSD", [], "Maximum", period=3600))
    widgets.append(_widget("SMS spend this month (USD)", [["AWS/SNS", "SMSMonthToDateSpentUSD"]], stat="Maximum"))

    clash = set(alarms) & set(resources)
    if clash:
        raise HardenError(f"generated names already used in the template: {sorted(clash)}")
    resources.update(alarms)
    _alarm_topic(template, stage)
    resources["Dashboard"] = {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
        "DashboardName": f"{APP}-{stage}",
        "DashboardBody": {"Fn::Sub": json.dumps({"widgets": _laid_out(widgets)}, separators=(",", ":"))}}}
    return template


def _widget(title: str, metrics: list, stat: str = "Sum") -> dict:
    return {"type": "metric", "width": 12, "height": 6, "properties": {
        "title": title, "region": "${AWS::Region}", "stat": stat, "period": PERIOD, "view": "timeSeries",
        "metrics": metrics}}


def _laid_out(widgets: list[dict]) -> list[dict]:
    return [{**w, "x": (n % 2) * 12, "y": (n // 2) * 6} for n, w in enumerate(widgets)]


def _alarm_topic(template: dict, stage: str) -> None:
    template.setdefault("Parameters", {})["AlarmEmail"] = {
        "Type": "String", "Default": "",
        "Description": "An address subscribed to every alarm (confirm the email SNS sends); empty for none"}
    template.setdefault("Conditions", {})["HasAlarmEmail"] = {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    resources = template["Resources"]
    resources[TOPIC] = {"Type": "AWS::SNS::Topic", "Properties": {
        "TopicName": f"{APP}-{stage}-alarms", "KmsMasterKeyId": "alias/aws/sns"}}
    resources["AlarmEmailSubscription"] = {"Type": "AWS::SNS::Subscription", "Condition": "HasAlarmEmail",
                                           "Properties": {"TopicArn": {"Ref": TOPIC}, "Protocol": "email",
                                                          "Endpoint": {"Ref": "AlarmEmail"}}}
    template.setdefault("Outputs", {})["AlarmTopicArn"] = {"Value": {"Ref": TOPIC}}


def parameters(template: dict) -> list[dict]:
    """The SSM parameters the stage needs before its first deploy (resources.yaml Metadata)."""
    return list((template.get("Metadata") or {}).get("KarmayogiParameters") or [])


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m infra.harden <template.json> <stage>", file=sys.stderr)
        return 2
    path, stage = Path(argv[0]), argv[1]
    template = json.loads(path.read_text())
    try:
        harden(template, stage)
    except HardenError as exc:
        print(f"infra/harden.py: {exc}", file=sys.stderr)
        return 1
    path.write_text(json.dumps(template, indent=2))
    counted = {kind: sum(1 for r in template["Resources"].values() if r.get("Type") == kind)
               for kind in ("AWS::CloudWatch::Alarm", "AWS::DynamoDB::Table", "AWS::SQS::Queue")}
    print(f"harden: {counted['AWS::CloudWatch::Alarm']} alarms over {counted['AWS::DynamoDB::Table']} tables, "
          f"{counted['AWS::SQS::Queue']} queues and every function; dashboard {APP}-{stage}")
    for parameter in parameters(template):
        print(f"  needs SSM parameter {parameter['Name']} ({parameter['Type']}): "
              f"aws ssm put-parameter --name {parameter['Name']} --type {parameter['Type']} --value ...")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
