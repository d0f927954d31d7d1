"""Structured JSON logs. Personal data (emails, phone numbers, names) is never passed to the logger.

Two guards for what others log (tests/test_no_personal_data_in_logs.py):
* Chalice logs an unhandled exception of a route, message and all, through this same logger (it is named
  after the app): a filter masks email addresses and phone numbers in every message and exception.
* boto3, botocore, PynamoDB and urllib3 log whole requests and responses at DEBUG (items with profiles in
  them): they stay at INFO even when the service's log level is turned down to DEBUG.
"""
import logging
import re

from aws_lambda_powertools import Logger

logger = Logger(service="karmayogi-engage")

_EMAIL = re.compile(r"[^\s@'\"<>()\[\],;:]+@[^\s@'\"<>()\[\],;:]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![\w+])\+?\d(?:[ \-]?\d){9,14}(?!\w)")  # 10 to 15 digits, as in +91 98123 45678
PAYLOAD_LOGGERS = ("boto3", "botocore", "pynamodb", "urllib3")


def redact(text: str) -> str:
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


class RedactPersonalData(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), ()
        if record.exc_info and record.exc_info[1] is not None:
            kind, value, trace = record.exc_info
            # Same class name and traceback; the message masked; chained exceptions (which may quote input) left out.
            masked = type(kind.__name__, (Exception,), {"__module__": kind.__module__})
            record.exc_info = (masked, masked(redact(str(value))), trace)
        return True


logger.addFilter(RedactPersonalData())
for _name in PAYLOAD_LOGGERS:
    logging.getLogger(_name).setLevel(logging.INFO)
