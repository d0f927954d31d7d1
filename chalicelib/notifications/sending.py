"""The providers: email through SES (raw MIME, so the List-Unsubscribe headers go out), SMS through SNS Publish
with the DLT attributes, and the notifications queue. Errors are sorted into transient (retry) and permanent.
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from email import policy as email_policy
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import make_msgid
from typing import Callable, Optional, Protocol

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError as BotoConnectionError

from chalicelib.queues import SqsQueue

# Provider error codes worth another try: throttling and the provider's own trouble.
TRANSIENT_CODES = {"Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
                   "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure", "InternalError",
                   "InternalErrorException", "RequestTimeout", "RequestTimeoutException", "LimitExceededException",
                   "KMSThrottlingException"}


class SendError(Exception):
    def __init__(self, reason: str, transient: bool):
        super().__init__(reason)
        self.reason, self.transient = reason, transient


def classify(exc: Exception) -> SendError:
    """A provider exception as a SendError whose reason names no address or number (it is stored and logged)."""
    if isinstance(exc, SendError):
        return exc
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        return SendError(code, code in TRANSIENT_CODES)
    if isinstance(exc, (BotoConnectionError, BotoCoreError)):
        return SendError(type(exc).__name__, True)
    return SendError(type(exc).__name__, False)


def with_retries(call: Callable[[], str], attempts: int, base_seconds: float,
                 sleep: Callable[[float], None] = time.sleep, jitter: Callable[[], float] = random.random) -> str:
    """call() up to `attempts` times while it fails transiently, sleeping base * 2^n * U(0,1) between tries
    (exponential backoff, full jitter). Raises the last SendError."""
    for attempt in range(attempts):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 (sorted just below)
            error = classify(exc)
            if not error.transient or attempt == attempts - 1:
                raise error from None
            sleep(base_seconds * (2 ** attempt) * jitter())
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    html: str
    text: str
    headers: dict


@dataclass(frozen=True)
class Sms:
    to: str  # E.164
    text: str
    entity_id: str
    template_id: str
    sender_id: Optional[str]
    transactional: bool = True


class EmailSender(Protocol):
    def send(self, email: Email) -> str:
        """Send; returns the provider's message id. Raises on failure."""


class SmsSender(Protocol):
    def send(self, sms: Sms) -> str: ...

    def opted_out(self, number: str) -> bool:
        """Whether the number has opted out of SMS from us (STOP)."""


def mime(email: Email, sender: str) -> bytes:
    """multipart/alternative (text, then HTML), UTF-8. The subject is RFC 2047-encoded by email.header.Header
    (the newer EmailMessage folder dropped a space between two encoded words of a long Hindi subject); every
    other header is ASCII and written as is: List-Unsubscribe must stay a plain <URL>, never an encoded word."""
    message = MIMEMultipart("alternative")
    message["From"], message["To"] = sender, email.to
    message["Subject"] = email.subject if email.subject.isascii() else Header(email.subject, "utf-8")  # type: ignore[assignment]  # a Header is allowed
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].rstrip(">"))
    for name, value in email.headers.items():
        message[name] = value
    message.attach(MIMEText(email.text, "plain", "utf-8"))
    message.attach(MIMEText(email.html, "html", "utf-8"))
    return message.as_bytes(policy=email_policy.compat32.clone(linesep="\r\n", max_line_length=998))


class SesEmailSender:
    def __init__(self, client, sender: str, configuration_set: Optional[str] = None):
        self._client, self._sender, self._configuration_set = client, sender, configuration_set

    def send(self, email: Email) -> str:
        extra = {"ConfigurationSetName": self._configuration_set} if self._configuration_set else {}
        response = self._client.send_raw_email(Source=self._sender, Destinations=[email.to],
                                               RawMessage={"Data": mime(email, self._sender)}, **extra)
        return response["MessageId"]


class SnsSmsSender:
    def __init__(self, client):
        self._client = client

    def send(self, sms: Sms) -> str:
        attributes = {
            "AWS.SNS.SMS.SMSType": {"DataType": "String",
                                    "StringValue": "Transactional" if sms.transactional else "Promotional"},
            "AWS.MM.SMS.EntityId": {"DataType": "String", "StringValue": sms.entity_id},
            "AWS.MM.SMS.TemplateId": {"DataType": "String", "StringValue": sms.template_id},
        }
        if sms.sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": sms.sender_id}
        return self._client.publish(PhoneNumber=sms.to, Message=sms.text, MessageAttributes=attributes)["MessageId"]

    def opted_out(self, number: str) -> bool:
        return bool(self._client.check_if_phone_number_is_opted_out(phoneNumber=number)["isOptedOut"])


class NotificationQueue(Protocol):
    def send(self, items: list[tuple[str, str]], delay_seconds: int = 0) -> None:
        """Ask for these (learner id, dedupe key) records to be delivered; at-least-once."""


class SqsNotificationQueue(SqsQueue):
    def send(self, items, delay_seconds=0):
        self.send_json([{"learner_id": lid, "key": key} for lid, key in dict.fromkeys(items)], delay_seconds)


def messages_in(sqs_records) -> list[tuple[str, str, str, int]]:
    """(message id, learner id, dedupe key, receive count) for each record of an SQS batch."""
    found = []
    for record in sqs_records:
        raw = record.to_dict()
        body = json.loads(record.body)
        receives = int((raw.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
        found.append((raw["messageId"], body["learner_id"], body["key"], receives))
    return found


# --- in-memory fakes (unit tests of the use cases) ------------------------------------------------------------

class MemoryEmailSender:
    def __init__(self):
        self.sent: list[Email] = []
        self.failures: list[SendError] = []  # raised, first first, before anything is sent

    def send(self, email):
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(email)
        return f"email-{len(self.sent)}"


class MemorySmsSender:
    def __init__(self, opted_out: tuple[str, ...] = ()):
        self.sent: list[Sms] = []
        self.opted: set[str] = set(opted_out)
        self.failures: list[SendError] = []

    def send(self, sms):
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(sms)
        return f"sms-{len(self.sent)}"

    def opted_out(self, number):
        return number in self.opted


class MemoryNotificationQueue:
    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    def send(self, items, delay_seconds=0):
        self.sent.extend(items)

    def drain(self) -> list[tuple[str, str]]:
        sent, self.sent = self.sent, []
        return sent
