"""The three ways a roster comes in, through the real handlers on moto: an S3 upload (the Lambda invoked with an
S3 ObjectCreated event), POST /v1/orgs/{org_id}/roster (who may, size limit, content type), and the command line.
Plus org comparisons using the roster headcount."""
import json

import pytest

from chalicelib import settings
from chalicelib.bootstrap import s3_client
from tests.conftest import FIXTURES, bearer
from tests.openapi_check import assert_matches_spec

ORG, ROUTE = "org_mines_hq", "/v1/orgs/{org_id}/roster"
FIXTURE = (FIXTURES / "roster.csv").read_bytes()
PII = ["ananya.mehta@example.gov.in", "9812345678", "9822222222", "Ananya Mehta", "Lakshmi"]


def org_event(org_id, parent=None, kind="mdo"):
    return {"id": f"org-{org_id}", "type": "org.upserted", "occurred_at": "2024-01-01T00:00:00Z",
            "org": {"id": org_id, "name": org_id, "type": kind, **({"parent_id": parent} if parent else {})}}


@pytest.fixture
def tree(client, aws):
    """min_mines > dept_mines > org_mines_hq, and a sibling ministry, stored through the webhook."""
    from tests.conftest import pump, signed_headers
    events = [org_event("min_mines", kind="ministry"), org_event("dept_mines", "min_mines", "department"),
              org_event(ORG, "dept_mines"), org_event("min_finance", kind="ministry")]
    body = json.dumps(events).encode()
    assert client.http.post("/v1/events", body=body, headers=signed_headers(body)).status_code == 202
    pump(client, aws)
    return client


def post_roster(client, body, org=ORG, headers=None, query=""):
    return client.http.post(ROUTE.replace("{org_id}", org) + query, body=body,
                            headers={"Content-Type": "text/csv", **(headers or {})})


# --- POST ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("who,status", [
    (bearer("admin-1", ["national_admin"]), 200),
    (bearer("hq-admin", ["mdo_admin"], ORG), 200),
    (bearer("ministry-admin", ["mdo_admin"], "min_mines"), 200),  # an admin above the org
    (bearer("other-admin", ["mdo_admin"], "min_finance"), 403),
    (bearer("u-0001", ["learner"], ORG), 403),
])
def test_who_may_post_a_roster(tree, aws, who, status):
    response = post_roster(tree, FIXTURE, headers=who)
    assert response.status_code == status, response.json_body
    assert_matches_spec(ROUTE, "post", status, response.json_body)
    assert aws.rosters.headcount(ORG) == (4 if status == 200 else 0)


def test_post_imports_reports_bad_rows_and_a_second_post_changes_nothing(tree, aws):
    body = FIXTURE + b"u-0009,,nobody@,12345,,,,org_other,xx\n"
    first = post_roster(tree, body)
    assert first.status_code == 200
    report = assert_matches_spec(ROUTE, "post", 200, first.json_body)
    assert (report["added"], report["rejected_rows"], report["headcount"]) == (4, 1, 4)
    assert report["rejected"][0]["line"] == 6
    assert {e["field"] for e in report["rejected"][0]["errors"]} == {"full_name", "email", "mobile", "org_id",
                                                                    "language"}
    again = post_roster(tree, body).json_body
    assert (again["added"], again["updated"], again["unchanged"], again["headcount"]) == (0, 0, 4, 4)
    merged = post_roster(tree, FIXTURE.splitlines()[0] + b"\nu-0010,Neha Singh,,,,,,,\n", query="?mode=merge")
    assert (merged.json_body["added"], merged.json_body["removed"], merged.json_body["headcount"]) == (1, 0, 5)


def test_a_body_over_the_limit_is_413_naming_the_body(tree, aws):
    limit = settings.Limits().max_roster_body_bytes
    big = FIXTURE + b"".join(b"u-%06d,Employee %d,,,,,,,\n" % (n, n) for n in range(limit // 20))
    assert len(big) > limit
    response = post_roster(tree, big)
    assert response.status_code == 413
    assert assert_matches_spec(ROUTE, "post", 413, response.json_body)["error"]["field"] == "body"
    assert aws.rosters.headcount(ORG) == 0


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_only_text_csv_is_accepted(tree, content_type):
    response = post_roster(tree, FIXTURE, headers={"Content-Type": content_type})
    assert response.status_code == 415
    assert_matches_spec(ROUTE, "post", 415, response.json_body)


@pytest.mark.parametrize("body,query,field", [
    (b"name,email\nx,y\n", "", "header"), (b"", "", "header"), (b"\xff\xfe", "", "body"),
    (FIXTURE, "?mode=everything", "mode")])
def test_a_bad_file_or_mode_is_400_naming_the_field(tree, aws, body, query, field):
    response = post_roster(tree, body, query=query)
    assert response.status_code == 400
    assert assert_matches_spec(ROUTE, "post", 400, response.json_body)["error"]["field"] == field
    assert aws.rosters.headcount(ORG) == 0


def test_a_bad_org_id_is_400(tree):
    response = post_roster(tree, FIXTURE, org="not%20an%20id")
    assert response.status_code == 400 and response.json_body["error"]["field"] == "org_id"


# --- S3 upload --------------------------------------------------------------------------------------------------

@pytest.fixture
def bucket(aws):
    s3_client().create_bucket(Bucket=settings.ROSTER_BUCKET,
                              CreateBucketConfiguration={"LocationConstraint": settings.REGION})
    return settings.ROSTER_BUCKET


def upload(client, bucket, key, body):
    s3_client().put_object(Bucket=bucket, Key=key, Body=body)
    return client.lambda_.invoke("import_roster_upload", client.events.generate_s3_event(bucket, key))


def report_at(bucket, key):
    return json.loads(s3_client().get_object(Bucket=bucket, Key=key)["Body"].read())


def test_an_uploaded_roster_is_imported_and_its_report_written_beside_it(client, aws, bucket, caplog):
    body = FIXTURE + b"u-0009,Someone,,+1 415 555 0123,,,,,\n"
    upload(client, bucket, "rosters/org_mines_hq/November 2026.csv", body)
    report = report_at(bucket, "reports/org_mines_hq/November 2026.json")
    assert_matches_spec(ROUTE, "post", 200, report)
    assert (report["added"], report["rejected_rows"], report["headcount"]) == (4, 1, 4)
    assert report["rejected"] == [{"line": 6, "learner_id": "u-0009", "errors": [
        {"field": "mobile", "message": "must be an Indian (+91) mobile number"}]}]
    assert aws.rosters.get("u-0004").phone == "+919822222222"
    assert [e.learner_id for e in aws.rosters.employees(ORG, 10)[0]] == \
        ["5f1c2a9e-8d44-4b7a-9a6e-1c2d3e4f5a6b", "u-0001", "u-0004", "u-0005"]

    upload(client, bucket, "rosters/org_mines_hq/November 2026.csv", body)  # S3 may deliver an event twice
    again = report_at(bucket, "reports/org_mines_hq/November 2026.json")
    assert (again["added"], again["unchanged"], again["headcount"]) == (0, 4, 4)

    imported = [r for r in caplog.records if r.getMessage() == "roster imported"]
    assert [r.roster["added"] for r in imported] == [4, 0]  # counts only
    logged = caplog.text + "".join(json.dumps(r.__dict__, default=str) for r in caplog.records)
    assert not [p for p in PII if p in logged]


def test_an_upload_that_is_not_a_roster_gets_a_report_saying_why_and_imports_nothing(client, aws, bucket):
    upload(client, bucket, "rosters/org_mines_hq/wrong.csv", b"name,phone\nA,9812345678\n")
    report = report_at(bucket, "reports/org_mines_hq/wrong.json")
    assert report["error"]["field"] == "header" and aws.rosters.headcount(ORG) == 0


def test_an_upload_under_an_unexpected_key_is_ignored(client, aws, bucket):
    upload(client, bucket, "rosters/loose-file.csv", FIXTURE)
    assert s3_client().list_objects_v2(Bucket=bucket, Prefix="reports/").get("KeyCount") == 0
    assert aws.rosters.headcount(ORG) == 0


def test_the_upload_is_streamed_from_s3_not_read_whole(client, aws, bucket, monkeypatch):
    from botocore.response import StreamingBody
    monkeypatch.setattr(StreamingBody, "read", lambda *a, **k: pytest.fail("read() of the whole object"))
    original = StreamingBody.iter_lines
    used = []
    monkeypatch.setattr(StreamingBody, "iter_lines", lambda self, *a, **k: used.append(1) or original(self, *a, **k))
    s3_client().put_object(Bucket=bucket, Key="rosters/org_mines_hq/a.csv", Body=FIXTURE)
    monkeypatch.undo()  # put_object done; now only the import runs with the guard
    monkeypatch.setattr(StreamingBody, "iter_lines", lambda self, *a, **k: used.append(1) or original(self, *a, **k))
    real_read = StreamingBody.read
    monkeypatch.setattr(StreamingBody, "read", lambda self, amt=None: real_read(self, amt) if amt
                        else pytest.fail("read() of the whole object"))
    client.lambda_.invoke("import_roster_upload", client.events.generate_s3_event(bucket, "rosters/org_mines_hq/a.csv"))
    assert used and aws.rosters.headcount(ORG) == 4


# --- command line -------------------------------------------------------------------------------------------

def test_the_command_line_imports_a_file_with_a_progress_bar(aws, tmp_path, capsys):
    from local import import_roster
    path = tmp_path / "roster.csv"
    path.write_bytes(FIXTURE)
    assert import_roster.main([str(path), "--org", ORG, "--aws"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["added"] == 4 and aws.rosters.headcount(ORG) == 4
    assert "roster org_mines_hq" in err and "100%" in err  # tqdm, on stderr
    assert import_roster.main([str(path), "--org", ORG, "--aws", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["unchanged"] == 4
    path.write_text("name\nx\n")
    assert import_roster.main([str(path), "--org", ORG, "--aws", "--no-progress"]) == 1


# --- org comparisons by roster headcount --------------------------------------------------------------------

def test_org_boards_use_the_roster_headcount_where_there_is_a_roster(memory):
    from datetime import datetime, timezone
    from chalicelib.leaderboards import service as leaderboards
    from chalicelib.leaderboards.boards import Scope, board_key
    from chalicelib.rosters.service import import_roster
    now = datetime(2024, 10, 23, tzinfo=timezone.utc)
    for org in ("org_a", "org_b"):  # 12 learners seen in each: XS (11-50) on learners alone
        memory.boards.apply([(None, leaderboards.Entry(board_key(Scope("org", org), leaderboards.MEMBERS),
                                                       f"{org}-{n}", org, 0, 0, None)) for n in range(12)],
                            {org: ["national"]})
    header = "learner_id,full_name"
    import_roster("org_a", [header] + [f"{'org_a'}-{n},Person {n}" for n in range(60)], memory)  # S (51-250)
    board = leaderboards.org_board({"scope": "national", "period": "all"}, memory, now)
    sizes = {o["org_id"]: (c["category"], o["headcount"]) for c in board["categories"] for o in c["orgs"]}
    assert sizes == {"org_a": ("S", 60), "org_b": ("XS", 12)}
