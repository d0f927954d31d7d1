"""The parked count as a CloudWatch metric (embedded metric format on stdout: no API call), published whenever an
activity is parked or released; infra/resources.yaml PlatformParkedAlarm watches it."""
from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from chalicelib import settings

NAMESPACE = "KarmayogiEngage"
METRIC = "ParkedActivities"


def report_parked(parked_store) -> int:
    count = parked_store.count()
    with single_metric(name=METRIC, unit=MetricUnit.Count, value=count, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="stage", value=settings.STAGE)
    return count
