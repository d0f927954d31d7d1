"""`make post-events` (local/post_events.py): the platform's side of the webhook, signed the way the webhook
accepts, one printed line per event. Through the Chalice test client, with moto."""
import io
import json

from chalicelib.ingestion.signature import sign
from local import dev_keys, post_events
from tests.conftest import FIXTURES, SECRET


def sender(client):
    def send(body, headers):
        response = client.http.post("/v1/events", body=body, headers=headers)
        return response.status_code, response.json_body
    return send


def lines(client, paths, secret=SECRET):
    out = io.StringIO()
    counts = post_events.post_files(paths, sender(client), secret, out=out)
    return counts, [line.split("  ") for line in out.getvalue().splitlines()]


def test_its_signature_is_the_webhooks_own_scheme():
    body = b'{"id": "e-1"}'
    assert post_events.signature(body, "s3cret", 1_700_000_000) == sign(body, "s3cret", 1_700_000_000)


def test_every_fixture_file_is_accepted_once_then_a_duplicate(client):
    files = sorted((FIXTURES / "events").glob("*.json"))
    payloads = [json.loads(f.read_text()) for f in files]
    expected = [e["id"] for p in payloads for e in (p if isinstance(p, list) else [p])]
    counts, printed = lines(client, files)
    assert [p[0] for p in printed] == expected  # one line per event, in file order, a batch's events too
    # the fixture batch's third event is rejected on purpose (tests/test_webhook.py test_the_fixture_batch)
    assert counts == {"accepted": len(expected) - 1, "rejected": 1}
    [(event_id, result, error)] = [p for p in printed if p[1] != "accepted"]
    assert (event_id, result) == ("evt_b_0003", "rejected") and error.startswith("occurred_at: ")
    assert all(len(p) == 2 for p in printed if p[1] == "accepted")
    counts, printed = lines(client, [FIXTURES / "events" / "course.completed.json"])
    assert counts == {"duplicate": 1} and {p[1] for p in printed} == {"duplicate"}


def test_a_rejected_event_prints_its_error_and_a_wrong_secret_is_refused(client, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"id": "e-bad", "type": "course.completed"}))
    _, [[event_id, result, error]] = lines(client, [bad])
    assert (event_id, result) == ("e-bad", "rejected") and error
    both = tmp_path / "both.json"
    good = json.loads((FIXTURES / "events" / "course.enrolled.json").read_text())
    both.write_text(json.dumps([good, {"id": "e-bad-2", "type": "nonsense"}]))
    counts, printed = lines(client, [both])
    assert [p[:2] for p in printed] == [[good["id"], "accepted"], ["e-bad-2", "rejected"]] and printed[1][2]
    counts, printed = lines(client, [both], secret="not-the-secret")
    assert counts == {"refused": 2} and printed[0][1] == "refused (HTTP 401)"


def test_the_secret_defaults_to_the_environment_then_the_local_stacks_file(monkeypatch, tmp_path):
    monkeypatch.setenv("KARMAYOGI_WEBHOOK_SECRETS", "first, second")
    assert post_events.default_secret() == "first"
    monkeypatch.delenv("KARMAYOGI_WEBHOOK_SECRETS")
    monkeypatch.setattr(dev_keys, "WEBHOOK_SECRET_FILE", tmp_path / "webhook-secret")
    assert post_events.default_secret() is None  # the stack never ran: nothing made up
    made = dev_keys.dev_webhook_secret()  # what `make run` does on its first start
    assert post_events.default_secret() == made and dev_keys.dev_webhook_secret() == made
