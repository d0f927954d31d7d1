"""The platform's own events through both doors: its Kafka topics (a self-managed Kafka event source mapping on
the consume_kafka Lambda, infra/resources.yaml) and POST /v1/platform/events?topic= (signed like the webhook).
Each record is read as it is (platform/sunbird.py), resolved and stored by the shared intake (platform/intake.py).
"""
from __future__ import annotations

import base64
import json
import logging
from datetime import datetime
from typing import Optional

from chalicelib.errors import ApiError, bad_request
from chalicelib.ingestion import signature
from chalicelib.platform import intake, sunbird

log = logging.getLogger(__name__)

# Per record, when its activities disagree (a certificate for several users): the most telling status.
_PRECEDENCE = ("accepted", "parked", "duplicate", "ignored", "rejected")


def accept_records(topic: str, values: list, adapters, now: datetime) -> list[dict]:
    """One result per record value, in order, shaped like the webhook's ({id, status, error}); a certificate for
    several users also lists each user's ("users"). One bad record never sinks the others."""
    kind = sunbird.kind_of_topic(topic)
    if kind is None:
        raise bad_request("topic", f"must be one of {', '.join(sunbird.config()['topics'])}")
    parsed: list[Optional[sunbird.Parsed]] = []
    results: list[Optional[dict]] = []
    for value in values:
        try:
            record = sunbird.parse(kind, value, now)
        except sunbird.InvalidRecord as exc:
            parsed.append(None)
            results.append(intake.result(_raw_id(value), "rejected", {"field": exc.field, "message": exc.problem}))
            continue
        except Exception as exc:  # noqa: BLE001 - whatever a record can provoke is that record's problem
            log.warning("platform record refused by an unexpected %s", type(exc).__name__)
            parsed.append(None)
            results.append(intake.result(_raw_id(value), "rejected", {"field": "record", "message": "could not be read"}))
            continue
        parsed.append(record)
        results.append(None if record.activities else intake.result(record.record_id, "ignored", None,
                                                                    reason=record.ignored))
    activities = [a for record in parsed if record is not None for a in record.activities]
    outcomes = iter(intake.accept(activities, adapters, now)) if activities else iter(())
    for position, record in enumerate(parsed):
        if record is None or not record.activities:
            continue
        each = [next(outcomes) for _ in record.activities]
        results[position] = _combined(record, each)
    return [r for r in results if r is not None]


def _combined(record: sunbird.Parsed, each: list[dict]) -> dict:
    if len(each) == 1:
        one = each[0]
        return {**one, "id": record.record_id}
    status = min((o["status"] for o in each), key=_PRECEDENCE.index)
    errors = [o["error"] for o in each if o["error"]]
    return intake.result(record.record_id, status, errors[0] if status == "rejected" and errors else None,
                         activities=[{"id": o["id"], "status": o["status"], "error": o["error"]} for o in each])


def _raw_id(value) -> Optional[str]:
    if isinstance(value, dict) and isinstance(value.get("mid"), str):
        return value["mid"][:128]
    return None


def handle_http(raw_body: bytes, signature_header: Optional[str], topic: Optional[str], adapters,
                now: datetime) -> tuple[int, dict]:
    """POST /v1/platform/events?topic=<topic without the env prefix>: a JSON array of record values, signed like
    /v1/events. 202 with one result per record."""
    limits = adapters.limits
    if len(raw_body) > limits.max_body_bytes:
        raise ApiError(413, "payload_too_large", f"body is over {limits.max_body_bytes} bytes", "body")
    signature.verify(signature_header, raw_body, adapters.webhook_secrets(), now.timestamp(),
                     limits.signature_tolerance_seconds)
    if not topic:
        raise bad_request("topic", "is required: the platform's topic without its environment prefix")
    try:
        payload = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad_request("body", "is not valid JSON", "invalid_json") from None
    if not isinstance(payload, list) or not payload:
        raise bad_request("body", "must be a non-empty JSON array of the topic's record values")
    most = sunbird.config()["limits"]["max_records"]
    if len(payload) > most:
        raise ApiError(413, "batch_too_large", f"a batch holds at most {most} records, got {len(payload)}", "body")
    return 202, {"results": accept_records(topic, payload, adapters, now)}


def consume_kafka(event: dict, adapters, now: datetime, logger=log) -> dict:
    """The AWS self-managed Kafka event: {"eventSource": "SelfManagedKafka", "records": {"<topic>-<partition>":
    [{"topic", "partition", "offset", "timestamp", "key", "value" (base64), "headers"}]}}. Records of one topic
    are accepted together. A record that cannot be read is logged (topic, partition, offset, never its content)
    and counted, not retried: retrying cannot change it. A storage failure raises, and the whole batch is
    delivered again (every record is idempotent)."""
    by_topic: dict[str, list[tuple[dict, object]]] = {}
    counts: dict[str, int] = {}
    for records in (event.get("records") or {}).values():
        for record in records:
            where = {"topic": record.get("topic"), "partition": record.get("partition"),
                     "offset": record.get("offset")}
            try:
                value = json.loads(base64.b64decode(record.get("value") or "", validate=True))
            except (ValueError, TypeError, RecursionError):
                logger.warning("platform record is not base64 JSON", extra=where)
                counts["unreadable"] = counts.get("unreadable", 0) + 1
                continue
            by_topic.setdefault(str(record.get("topic")), []).append((where, value))
    for topic, items in by_topic.items():
        if sunbird.kind_of_topic(topic) is None:
            logger.warning("records of a topic we do not read", extra={"topic": topic, "records": len(items)})
            counts["unknown_topic"] = counts.get("unknown_topic", 0) + len(items)
            continue
        for (where, _), outcome in zip(items, accept_records(topic, [v for _, v in items], adapters, now)):
            counts[outcome["status"]] = counts.get(outcome["status"], 0) + 1
            if outcome["status"] == "rejected":
                logger.warning("platform record rejected", extra={**where, "error": outcome["error"]})
    logger.info("platform records", extra={"outcomes": counts})
    return counts
