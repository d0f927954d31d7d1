"""Properties of reading the platform's records (chalicelib/platform/sunbird.py, pure): a time-based UUID gives
back its instant, and whatever a record holds, reading it either works or names a field; it never raises
anything else (one bad record never sinks its batch)."""
from datetime import datetime, timezone

from hypothesis import given, settings, strategies as st

from chalicelib.platform import sunbird
from local.platform_sample import time_uuid
from tests.platform_helpers import record

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                max_size=4), max_leaves=12)
SHAPES = {"certificate": "certificate", "enrolment": "enrolment", "rating": "rating_add",
          "acbp_claim": "acbp_claim", "attendance": "attendance_ets", "progress": "progress"}


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)), st.integers(0, 2 ** 32))
def test_a_time_uuid_gives_back_its_instant(moment, salt):
    import random
    moment = moment.replace(tzinfo=timezone.utc)
    read = sunbird.time_uuid_instant(time_uuid(moment, random.Random(salt)))
    assert read == moment


@settings(max_examples=200)
@given(st.sampled_from(sorted(SHAPES)), st.sampled_from(["edata", "userIds", "ets", "etc", "user_id", "courseId",
                                                         "updatedValues", "contents", "action", "rating"]), JSON)
def test_any_value_in_any_field_is_read_or_refused_naming_a_field(kind, name, value):
    data = record(SHAPES[kind])
    target = data["edata"] if name not in ("edata", "ets", "etc", "user_id", "updatedValues", "action") \
        and isinstance(data.get("edata"), dict) else data
    target[name] = value
    try:
        parsed = sunbird.parse(kind, data, NOW)
    except sunbird.InvalidRecord as exc:
        assert exc.field and exc.problem
        return
    for activity in parsed.activities:
        assert activity.occurred_at.tzinfo is not None and activity.user.user_id


@given(JSON)
def test_a_record_that_is_anything_at_all_is_refused_or_read(value):
    for kind in SHAPES:
        try:
            sunbird.parse(kind, value, NOW)
        except sunbird.InvalidRecord:
            pass
