"""One-click unsubscribe tokens: signed, no login; anything changed is refused; secrets rotate."""
import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.notifications import unsubscribe
from chalicelib.notifications.unsubscribe import (CATEGORIES, InvalidToken, make_token, read_token,
                                                  read_token_claims, unsubscribe_url)


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("KARMAYOGI_UNSUBSCRIBE_SECRET", "unsub-secret-new")


def _token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(body: dict, secret: str = "unsub-secret-new") -> str:
    payload = _b64(json.dumps(body).encode())
    return payload + "." + _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


@pytest.mark.parametrize("category", CATEGORIES)
def test_a_link_round_trips_to_its_learner_and_category(category):
    url = unsubscribe_url("https://engage.igotkarmayogi.gov.in/", "learner-0042", category, issued_at=1795700000)
    assert url.startswith("https://engage.igotkarmayogi.gov.in/v1/unsubscribe?token=")
    assert read_token(_token_of(url)) == ("learner-0042", category)
    claims = read_token_claims(_token_of(url))
    assert claims == {"learner_id": "learner-0042", "category": category, "issued_at": 1795700000}


def test_ids_with_any_allowed_characters_survive_the_url():
    for learner in ("u:1234@org.gov.in", "a-b_c.d", "x" * 128):
        assert read_token(_token_of(unsubscribe_url("http://127.0.0.1:8123", learner, "nudges"))) == (learner, "nudges")


def test_every_change_to_a_token_is_refused():
    token = make_token("learner-0042", "nudges")
    payload, signature = token.split(".")
    other = make_token("learner-9999", "nudges")
    tampered = [
        payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + signature,  # one character of the payload
        payload + "." + signature[:-1] + ("A" if signature[-1] != "A" else "B"),  # one of the signature
        other.split(".")[0] + "." + signature,  # another learner's payload with this signature
        payload + ".",  # no signature
        payload,  # no separator
        token + ".x",
        "",
        "é" + token,
        token[: len(token) // 2],
        _signed({"l": "learner-0042", "c": "awards", "t": 1}, secret="a guessed secret"),
    ]
    for bad in tampered:
        with pytest.raises(InvalidToken):
            read_token(bad)
    with pytest.raises(InvalidToken):
        read_token(None)


def test_a_correctly_signed_token_must_still_name_a_known_category_and_a_learner():
    assert read_token(_signed({"l": "learner-0042", "c": "awards", "t": 1})) == ("learner-0042", "awards")
    for body in ({"l": "learner-0042", "c": "everything", "t": 1}, {"l": "", "c": "awards", "t": 1},
                 {"l": 42, "c": "awards", "t": 1}, {"c": "awards", "t": 1}, {"l": "x", "c": "awards"},
                 {"l": "x", "c": "awards", "t": "soon"}):
        with pytest.raises(InvalidToken):
            read_token(_signed(body))
    payload = _b64(b"not json")
    forged = payload + "." + _b64(hmac.new(b"unsub-secret-new", payload.encode(), hashlib.sha256).digest())
    with pytest.raises(InvalidToken):
        read_token(forged)


def test_making_a_token_refuses_unknown_categories_and_empty_learners():
    with pytest.raises(ValueError):
        make_token("learner-0042", "marketing")
    with pytest.raises(ValueError):
        make_token("", "nudges")


def test_a_rotated_secret_still_accepts_links_already_sent(monkeypatch):
    old_link_token = make_token("learner-0042", "awards")
    monkeypatch.setenv("KARMAYOGI_UNSUBSCRIBE_SECRET", "unsub-secret-newer,unsub-secret-new")
    assert read_token(old_link_token) == ("learner-0042", "awards")
    fresh = make_token("learner-0042", "awards")
    assert fresh != old_link_token and read_token(fresh) == ("learner-0042", "awards")
    monkeypatch.setenv("KARMAYOGI_UNSUBSCRIBE_SECRET", "unsub-secret-newer")  # the old one retired
    with pytest.raises(InvalidToken):
        read_token(old_link_token)


def test_signatures_are_compared_in_constant_time_against_every_secret(monkeypatch):
    monkeypatch.setenv("KARMAYOGI_UNSUBSCRIBE_SECRET", "s1,s2,s3")
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(unsubscribe.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    read_token(make_token("learner-0042", "nudges"))  # matches the first secret; the others are still compared
    assert len(calls) == 3


def test_secrets_can_be_passed_in_instead_of_read_from_the_environment(monkeypatch):
    monkeypatch.delenv("KARMAYOGI_UNSUBSCRIBE_SECRET")
    monkeypatch.setenv("KARMAYOGI_STAGE", "prod")  # no environment secret: only what is passed in works
    token = make_token("learner-0042", "awards", secrets=["from-ssm-new"])
    assert read_token(token, secrets=["from-ssm-newer", "from-ssm-new"]) == ("learner-0042", "awards")
    with pytest.raises(InvalidToken):
        read_token(token, secrets=["something-else"])
    from chalicelib.notifications.messages import render
    from tests.test_notification_messages import TYPICAL
    message = render("badge_awarded", "hi", TYPICAL["badge_awarded"], unsubscribe_secrets=["from-ssm-new"])
    link = message.headers["List-Unsubscribe"].strip("<>")
    assert read_token(_token_of(link), secrets=["from-ssm-new"]) == ("learner-0042", "awards")


def test_an_age_limit_can_be_applied():
    token = make_token("learner-0042", "nudges", issued_at=1_000_000)
    assert read_token_claims(token, max_age_seconds=100, now=1_000_050)["learner_id"] == "learner-0042"
    with pytest.raises(InvalidToken, match="expired"):
        read_token_claims(token, max_age_seconds=100, now=1_000_101)


def test_every_stage_needs_a_configured_secret(monkeypatch):
    """No stage falls back to a fixed secret (a literal in public code); the local stack and tests set one."""
    monkeypatch.delenv("KARMAYOGI_UNSUBSCRIBE_SECRET")
    for stage in ("local", "test", "dev", "prod"):
        monkeypatch.setenv("KARMAYOGI_STAGE", stage)
        with pytest.raises(RuntimeError, match="KARMAYOGI_UNSUBSCRIBE_SECRET"):
            make_token("learner-0042", "nudges")
        with pytest.raises(RuntimeError):
            read_token("a.b")


def test_the_rendered_email_carries_a_working_one_click_link():
    from chalicelib.notifications.messages import render
    from tests.test_notification_messages import TYPICAL
    message = render("nudge_never_started", "ta", TYPICAL["nudge_never_started"], base_url="https://engage.example.gov.in")
    link = message.headers["List-Unsubscribe"].strip("<>")
    assert read_token(_token_of(link)) == ("learner-0042", "nudges")
    assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
