"""xAPI statements, the pure part (chalicelib/xapi/statements.py, clients.py): versions, validation with ralph's
models, ids, the digest of a re-post, what each verb means, Basic credentials."""
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from chalicelib.errors import ApiError
from chalicelib.xapi import clients
from chalicelib.xapi.statements import (config_from, default_config, digest, kept, meaning_of, minutes_of,
                                        one_statement, protocol_version, statements_in)
from tests.xapi_samples import (AU, COURSE_IRI, HOME, attended, basic, changed, cmi5_passed, cmi5_statement,
                                moodle_experienced, xapi20_completed)

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
EARLIEST = datetime(2020, 1, 1, tzinfo=timezone.utc)
SID = "2f6a1e3c-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
CONFIG = default_config()


def parse(payload, version="1.0", new_id=lambda: "00000000-0000-4000-8000-000000000001"):
    return statements_in(payload, version, CONFIG, NOW, new_id, EARLIEST, 300)


def refused(payload, version="1.0") -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse(payload, version)
    return caught.value


# --- versions ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("header, spoken", [("1.0.3", "1.0"), ("1.0", "1.0"), ("1.0.0", "1.0"), ("2.0.0", "2.0"),
                                            ("2.0", "2.0")])
def test_the_version_header_names_the_line_spoken(header, spoken):
    assert protocol_version(header) == spoken


@pytest.mark.parametrize("header", [None, "", "0.95", "1.1.0", "1.0.4", "3.0.0", "latest"])
def test_a_missing_or_unknown_version_is_400_naming_the_header(header):
    with pytest.raises(ApiError) as caught:
        protocol_version(header)
    assert (caught.value.status, caught.value.field) == (400, "X-Experience-API-Version")


# --- validation (ralph's models) --------------------------------------------------------------------------------

def test_a_cmi5_statement_is_valid_and_keeps_its_id_and_timestamp_in_utc():
    [s] = parse(cmi5_statement("completed", SID))
    assert s.id == SID and s.body["id"] == SID
    assert s.occurred_at == datetime(2026, 11, 19, 4, 35, tzinfo=timezone.utc)


def test_a_statement_without_id_gets_one_and_without_timestamp_happened_now():
    statement = cmi5_statement("completed", None)
    del statement["timestamp"]
    [s] = parse(statement, new_id=lambda: "9c1d4a1e-0000-4000-8000-00000000abcd")
    assert s.id == "9c1d4a1e-0000-4000-8000-00000000abcd" and s.occurred_at == NOW


@pytest.mark.parametrize("broken, field", [
    (lambda s: s["verb"].update(id="not an iri"), "verb.id"),
    (lambda s: s.update(actor={"objectType": "Agent", "mbox": "mailto:nobody"}), "actor.mbox"),
    (lambda s: s["actor"]["account"].update(homePage="no scheme"), "actor.account.homePage"),
    (lambda s: s["result"].update(duration="forty minutes"), "result.duration"),
    (lambda s: s.update(unknown_property=1), "unknown_property"),
    (lambda s: s["context"].update(registration="not-a-uuid"), "context.registration"),
    (lambda s: s.update(timestamp="2031-01-01T00:00:00Z"), "timestamp"),
    (lambda s: s.update(timestamp="2019-12-31T00:00:00Z"), "timestamp"),
])
def test_an_invalid_statement_is_400_naming_the_field(broken, field):
    statement = cmi5_statement("completed", SID)
    broken(statement)
    error = refused(statement)
    assert (error.status, error.field) == (400, field), error.message


def test_what_trips_the_library_itself_is_a_400_not_a_crash():
    statement = cmi5_statement("completed", SID)
    statement["context"]["platform"] = "Moodle"
    del statement["object"]  # ralph's context check reads the object before the model finds it missing
    assert refused(statement).status == 400


def test_the_error_never_echoes_an_email_address():
    statement = changed(cmi5_statement("completed", SID), actor={"mbox": "mailto:ravi.kumar@@nic.in"})
    error = refused(statement)
    assert error.field == "actor.mbox" and "ravi.kumar" not in error.message


def test_in_a_batch_one_bad_statement_refuses_the_batch_naming_its_index():
    good, bad = cmi5_statement("completed", SID), cmi5_statement("passed", None)
    bad["verb"]["id"] = "passed"
    error = refused([good, bad])
    assert (error.status, error.field) == (400, "[1].verb.id")


def test_the_same_id_twice_in_one_batch_is_400():
    error = refused([cmi5_statement("completed", SID), cmi5_passed(SID)])
    assert (error.field, error.code) == ("[1].id", "duplicate_id")


def test_limits_on_a_batch_and_a_statement():
    assert refused([]).status == 400
    assert refused([cmi5_statement("completed", None)] * (CONFIG.max_statements + 1)).status == 413
    big = cmi5_statement("completed", SID)
    big["context"]["extensions"]["https://example.gov.in/x"] = "x" * CONFIG.max_statement_bytes
    assert refused(big).status == 413
    assert refused("a statement").field == "body"


def test_xapi_2_statements_need_the_2_0_header():
    statement = xapi20_completed(SID, "lbsnaa-7", AU)
    [s] = parse(statement, "2.0")
    assert s.body["context"]["contextAgents"][0]["objectType"] == "contextAgent"
    assert refused(statement, "1.0").field in ("version", "context.contextAgents")
    assert refused(changed(statement, version=None) | {"version": "3.0.0"}, "2.0").field == "version"


# --- the digest: an identical re-post and a conflicting one --------------------------------------------------------

def test_the_digest_ignores_what_the_lrs_sets_and_sees_everything_else():
    [s] = parse(cmi5_statement("completed", SID))
    stored = dict(s.body, stored="2026-11-19T05:00:00Z", authority={"mbox": "mailto:lrs@example.org"},
                  version="1.0.3")
    assert digest(stored) == s.digest
    [other] = parse(cmi5_statement("completed", SID, learner="lbsnaa-1043"))
    assert other.digest != s.digest


def test_a_put_names_the_id_which_the_statement_must_carry_or_leave_out():
    statement = cmi5_statement("completed", None)
    s = one_statement(statement, "1.0", CONFIG, NOW, lambda: "unused", EARLIEST, 300, statement_id=SID)
    assert s.id == SID
    with pytest.raises(ApiError) as caught:
        one_statement(changed(statement, id="d9b1c0de-0000-4000-8000-000000000000"), "1.0", CONFIG, NOW,
                      lambda: "unused", EARLIEST, 300, statement_id=SID)
    assert caught.value.field == "id"


# --- meaning -----------------------------------------------------------------------------------------------------

def meaning(statement, version="1.0"):
    [s] = parse(statement, version)
    return meaning_of(s, CONFIG)


def test_cmi5_completed_is_a_course_completion_of_the_au_by_the_account():
    m = meaning(cmi5_statement("completed", SID))
    assert (m.kind, m.courses) == ("course.completed", (AU,))
    assert (m.user.account_home_page, m.user.account_name) == (HOME, "lbsnaa-1042")
    assert m.details["cmi5"] is True and "passed" not in m.details


def test_cmi5_passed_is_a_completion_with_the_assessment_passed_and_its_score():
    m = meaning(cmi5_passed(SID, scaled=0.82))
    assert m.kind == "course.completed" and (m.details["passed"], m.details["score_percent"]) == (True, 82.0)


def test_failed_and_experienced_are_learning_time_from_the_duration():
    failed = meaning(cmi5_statement("failed", SID, success=False))
    assert (failed.kind, failed.details["minutes"]) == ("learning.time", 38)
    experienced = meaning(moodle_experienced(SID, "asha@nic.in", 45))
    assert (experienced.kind, experienced.details["minutes"], experienced.user.mbox) == (
        "learning.time", 45, "mailto:asha@nic.in")


def test_experienced_without_a_duration_and_other_verbs_score_nothing():
    no_time = moodle_experienced(SID, "asha@nic.in", 0)
    assert meaning(no_time) is None
    launched = cmi5_statement("completed", SID)
    launched["verb"] = {"id": "http://adlnet.gov/expapi/verbs/launched"}
    assert meaning(launched) is None


def test_attended_is_an_event_attendance_of_the_activity():
    m = meaning(attended(SID, "lbsnaa-9", "https://lms.lbsnaa.gov.in/webinar/17"))
    assert (m.kind, m.courses) == ("event.attended", ("https://lms.lbsnaa.gov.in/webinar/17",))


def test_the_course_may_be_the_grouping_and_a_platform_iri_names_a_catalogue_course():
    statement = moodle_experienced(SID, "asha@nic.in", 10)
    statement["verb"]["id"] = "http://adlnet.gov/expapi/verbs/completed"
    statement["context"]["contextActivities"]["grouping"].append(
        {"id": "https://portal.igotkarmayogi.gov.in/app/toc/do_1139/overview"})
    m = meaning(statement)
    assert m.courses == ("https://lms.lbsnaa.gov.in/mod/page/view.php?id=7", COURSE_IRI, "do_1139")


def test_an_object_that_is_no_activity_scores_nothing():
    statement = cmi5_statement("completed", SID)
    statement["object"] = {"objectType": "StatementRef", "id": "9c1d4a1e-0000-4000-8000-00000000abcd"}
    statement["context"]["contextActivities"]["grouping"] = [{"id": COURSE_IRI}]
    assert meaning(statement) is None


def test_a_group_or_an_unfindable_agent_names_no_learner():
    assert meaning(changed(cmi5_statement("completed", SID), actor={
        "objectType": "Group", "member": [{"mbox": "mailto:a@nic.in"}]})) is None
    assert meaning(changed(cmi5_statement("completed", SID), actor={"mbox_sha1sum": "a" * 40})) is None


def test_xapi_2_completed_with_success_carries_the_assessment():
    m = meaning(xapi20_completed(SID, "lbsnaa-7", AU), "2.0")
    assert (m.kind, m.details["passed"], m.details["score_percent"]) == ("course.completed", True, 90.0)


@given(st.integers(min_value=-10_000, max_value=10_000_000), st.integers(min_value=1, max_value=5000))
def test_minutes_are_whole_minutes_rounded_down_never_negative_never_over_the_cap(seconds, cap):
    minutes = minutes_of(timedelta(seconds=seconds), cap)
    assert 0 <= minutes <= cap
    assert minutes == min(max(seconds, 0) // 60, cap)


def test_the_configuration_is_checked():
    with pytest.raises(ValueError):
        config_from({"verbs": {"http://adlnet.gov/expapi/verbs/completed": "points"}})
    with pytest.raises(ValueError):
        config_from({"catalogue": {"iri_patterns": ["^https://x/(.*)$"]}})


# --- Basic credentials -------------------------------------------------------------------------------------------

PAIRS = clients.clients_from("moodle-lbsnaa:s3cret-new, moodle-lbsnaa:s3cret-old,openedx-ap:other, bad entry,"
                             "Upper:x,:nobody")


def test_clients_are_pairs_and_malformed_entries_are_left_out():
    assert PAIRS == [("moodle-lbsnaa", "s3cret-new"), ("moodle-lbsnaa", "s3cret-old"), ("openedx-ap", "other")]


@pytest.mark.parametrize("secret", ["s3cret-new", "s3cret-old"])
def test_either_secret_of_a_rotation_authenticates_the_client(secret):
    assert clients.authenticate(basic("moodle-lbsnaa", secret), PAIRS) == "moodle-lbsnaa"


@pytest.mark.parametrize("header", [None, "", "Bearer abc", "Basic !!!", "Basic " + "bm9jb2xvbg==",
                                    basic("moodle-lbsnaa", "other"), basic("openedx-ap", "s3cret-new"),
                                    basic("nobody", "s3cret-new")])
def test_anything_else_is_401(header):
    with pytest.raises(ApiError) as caught:
        clients.authenticate(header, PAIRS)
    assert caught.value.status == 401 and "s3cret" not in caught.value.message


def test_no_client_configured_refuses_everyone():
    with pytest.raises(ApiError):
        clients.authenticate(basic("moodle-lbsnaa", "s3cret-new"), [])


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                 max_size=5), max_leaves=20)


@given(st.fixed_dictionaries({}, optional={"actor": JSON, "verb": JSON, "object": JSON, "result": JSON,
                                           "context": JSON, "timestamp": JSON, "id": JSON, "version": JSON}))
def test_whatever_a_statement_holds_it_is_valid_or_a_4xx_naming_something(statement):
    try:
        [s] = parse(statement)
    except ApiError as error:
        assert 400 <= error.status < 500 and error.field
        return
    assert meaning_of(s, CONFIG) is None or meaning_of(s, CONFIG).kind in (
        "course.completed", "event.attended", "learning.time")


@given(st.text(min_size=1, max_size=30), st.text(max_size=30))
def test_a_surrogate_or_any_text_in_a_field_is_refused_or_kept_never_a_crash(name, extra):
    statement = cmi5_statement("completed", SID)
    statement["actor"]["account"]["name"] = name + "\ud800"
    statement["context"]["extensions"]["https://example.gov.in/x"] = extra
    assert refused(statement).status in (400, 413)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, prefix + (index,))


SAMPLES = [cmi5_statement("completed", SID), cmi5_passed(SID), moodle_experienced(SID, "asha@nic.in", 30),
           attended(SID, "lbsnaa-9", "https://lms.lbsnaa.gov.in/webinar/17")]


@given(st.sampled_from(range(len(SAMPLES))), st.data(), JSON)
def test_a_valid_statement_with_any_one_value_replaced_is_valid_or_a_4xx(which, data, replacement):
    import copy
    statement = copy.deepcopy(SAMPLES[which])
    path = data.draw(st.sampled_from([p for p in _paths(statement) if p]))
    node = statement
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = replacement
    try:
        [s] = parse(statement)
    except ApiError as error:
        assert 400 <= error.status < 500 and error.field
        return
    meaning_of(s, CONFIG)  # whatever it means, reading it never fails, nor keeping it
    assert "mbox" not in kept(s.body, "lms", NOW, "https://engage.example")["actor"]
