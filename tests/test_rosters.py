"""Rosters: reading the CSV (every kind of bad row, mobile numbers as people write them), importing it (a
re-import changes nothing, headcounts stay exact, who is removed), streaming without holding the file, and
the same behaviour from the in-memory store and the DynamoDB one (moto)."""
import threading
import tracemalloc
from types import SimpleNamespace
import unicodedata

import pytest
from hypothesis import given, strategies as st

from chalicelib.bootstrap import memory_adapters
from chalicelib.rosters.employees import Employee, MemoryRosterStore, RosterChange, RosterConflict
from chalicelib.rosters.importer import (AcceptedRow, InvalidValue, RejectedRow, RosterFileError, normalise_mobile,
                                         read_rows, roster_config)
from chalicelib.rosters.service import import_roster, not_started
from tests.conftest import FIXTURES

HEADER = "learner_id,full_name,email,mobile,group,designation,employee_id,org_id,language"
ORG = "org_mines_hq"


def fixture_lines():
    return (FIXTURES / "roster.csv").read_text().splitlines()


def csv_of(*rows, header=HEADER):
    return [header, *rows]


def row(n, org=ORG, name=None, mobile=None, language="hi"):
    return f"u-{n:06d},{name or f'Employee {n}'},e{n}@example.gov.in,{mobile or f'98{n:08d}'},Group C,Assistant," \
           f"E-{n},{org},{language}"


@pytest.fixture(params=["memory", "dynamodb"])
def adapters(request):
    """Every import test runs on both stores: the fake must behave as DynamoDB does."""
    if request.param == "memory":
        yield memory_adapters(rosters=MemoryRosterStore())
    else:
        from tests.conftest import aws_world
        with aws_world() as aws:
            yield aws


def stored(adapters, org):
    employees, after = [], None
    while True:
        page, after = adapters.rosters.employees(org, 2, after)
        employees += page
        if after is None:
            return employees


# --- mobile numbers ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("written", [
    "9812345678", "+919812345678", "+91 98123 45678", "+91-98123-45678", "09812345678", "0 98123 45678",
    "919812345678", "00919812345678", "98123-45678", "98123 45678", "(+91) 98123 45678", "+91.9812345678",
    " 9812345678 ", "９８１２３４５６７８",  # full-width digits, as some keyboards type them
])
def test_mobile_numbers_as_people_write_them_become_e164(written):
    assert normalise_mobile(written) == "+919812345678"


@pytest.mark.parametrize("written", [
    "5812345678",  # Indian mobiles start with 6-9
    "981234567", "98123456789", "+9198123456", "+14155550123", "+44 7911 123456", "022 2345 6789",
    "98123x5678", "", "+91", "0091 5812345678", "٩٨١٢٣٤٥٦٧٨",
])
def test_what_is_not_an_indian_mobile_number_is_rejected(written):
    with pytest.raises(InvalidValue):
        normalise_mobile(written)


@given(first=st.sampled_from("6789"), rest=st.text("0123456789", min_size=9, max_size=9),
       prefix=st.sampled_from(["", "+91", "+91 ", "+91-", "91", "0", "0091", "(+91) "]),
       cut=st.integers(1, 9), separator=st.sampled_from(["", " ", "-", "  ", " - "]))
def test_any_way_of_writing_a_mobile_number_gives_the_same_e164(first, rest, prefix, cut, separator):
    digits = first + rest
    assert normalise_mobile(prefix + digits[:cut] + separator + digits[cut:]) == "+91" + digits


@given(st.text(max_size=20))
def test_normalise_mobile_either_gives_e164_or_rejects(text):
    try:
        result = normalise_mobile(text)
    except InvalidValue:
        return
    assert len(result) == 13 and result.startswith("+91") and result[3] in "6789" and result[3:].isdigit()


# --- rows -------------------------------------------------------------------------------------------------

def test_the_fixture_roster_reads_into_employees():
    rows = list(read_rows(fixture_lines(), ORG))
    assert all(isinstance(r, AcceptedRow) for r in rows) and [r.line for r in rows] == [2, 3, 4, 5]
    lakshmi = rows[2].employee
    assert lakshmi == Employee("u-0004", ORG, "Lakshmi Narayanan", "lakshmi.n@example.gov.in", "+919822222222",
                               "Group A", "Deputy Secretary", "MINES-0042", "ta")
    assert rows[3].employee.email is None and rows[3].employee.phone == "+919833333333"


def test_a_row_with_every_kind_of_error_reports_each_with_its_line_and_field():
    lines = csv_of(row(1),
                   "bad id!,,not-an-email,12345,Group C,Assistant,E-2,org_other,xx",
                   "",  # a blank line: skipped, but it still counts in line numbers
                   "u-3,Name,a@b.in,9812345678,G,D,E,org_mines_hq",  # one value short
                   row(1, name="Again"),  # the same learner twice
                   "u-5," + "x" * 201 + ",,,,,,,",
                   "u-6,Nam\x07e,,,,,,,")
    rows = list(read_rows(lines, ORG))
    rejected = {r.line: r for r in rows if isinstance(r, RejectedRow)}
    assert {p.field for p in rejected[3].problems} == {"learner_id", "full_name", "email", "mobile", "org_id",
                                                      "language"}
    assert rejected[3].learner_id is None
    assert [(p.field, p.message) for p in rejected[5].problems] == [("row", "has 8 values; the header has 9")]
    assert [p.field for p in rejected[7].problems] == ["full_name"] and rejected[7].learner_id == "u-5"
    assert [p.field for p in rejected[8].problems] == ["full_name"]
    # No message quotes what was sent: a report never echoes an email or a phone number.
    for r in rejected.values():
        for p in r.problems:
            assert "not-an-email" not in p.message and "12345" not in p.message

    report = import_roster(ORG, lines, memory_adapters(rosters=MemoryRosterStore()))
    assert report["added"] == 1 and report["rejected_rows"] == 5
    by_line = {r["line"]: r for r in report["rejected"]}
    assert sorted(by_line) == [3, 5, 6, 7, 8]
    assert by_line[6] == {"line": 6, "learner_id": "u-000001", "errors": [
        {"field": "learner_id", "message": "appears more than once in the file; the first row was used"}]}
    assert {e["field"] for e in by_line[3]["errors"]} == {"learner_id", "full_name", "email", "mobile", "org_id",
                                                         "language"}


def test_names_are_nfc_and_single_spaced_emails_lower_case_org_and_language_may_be_empty():
    decomposed = unicodedata.normalize("NFD", "Śrī  Gaṇeśa")
    [r] = read_rows(csv_of(f"u-1, {decomposed} ,A.B@Example.GOV.in,,,,,,"), ORG)
    assert r.employee.name == unicodedata.normalize("NFC", "Śrī Gaṇeśa")
    assert r.employee.email == "a.b@example.gov.in" and r.employee.org_id == ORG
    assert r.employee.language is None and r.employee.phone is None


def test_columns_may_come_in_any_order_and_optional_ones_may_be_left_out():
    [r] = read_rows(["\ufeffFull_Name,learner_id", "Asha Rao,u-9"], ORG)
    assert r.employee == Employee("u-9", ORG, "Asha Rao")


@pytest.mark.parametrize("lines,message", [
    ([], "empty"), (["learner_id,name"], "unknown column"), (["full_name,email"], "missing column"),
    (["learner_id,full_name,learner_id"], "more than once")])
def test_a_file_that_is_not_a_roster_is_refused_whole(lines, message):
    with pytest.raises(RosterFileError, match=message) as error:
        list(read_rows(lines, ORG))
    assert error.value.field == "header"


# --- importing --------------------------------------------------------------------------------------------

def test_a_re_import_of_the_same_file_changes_nothing(adapters):
    lines = csv_of(*(row(n) for n in range(1, 121)))
    first = import_roster(ORG, lines, adapters)
    assert (first["added"], first["unchanged"], first["headcount"]) == (120, 0, 120)
    before = stored(adapters, ORG)
    writes = _writes(adapters)
    again = import_roster(ORG, lines, adapters)
    assert (again["added"], again["updated"], again["unchanged"], again["removed"]) == (0, 0, 120, 0)
    assert again["headcount"] == adapters.rosters.headcount(ORG) == 120
    assert stored(adapters, ORG) == before
    assert _writes(adapters) == writes  # not a single row written


def _writes(adapters):
    if isinstance(adapters.rosters, MemoryRosterStore):
        return adapters.rosters.writes
    from chalicelib.rosters.models import RosterRecord
    return sorted((r.learner_id, r.updated_at) for r in RosterRecord.scan())


def test_changes_are_written_missing_employees_removed_and_headcount_stays_exact(adapters):
    import_roster(ORG, csv_of(*(row(n) for n in range(1, 11))), adapters)
    lines = csv_of(*(row(n) for n in range(1, 6)),  # 6-10 left out
                   row(3, name="Renamed Three"),  # a duplicate: rejected, the first row is used
                   row(11), row(12, mobile="+91 98 0000 0012"), row(4, name="Four New"))
    report = import_roster(ORG, lines, adapters)
    assert (report["added"], report["updated"], report["unchanged"], report["removed"]) == (2, 0, 5, 5)
    assert report["rejected_rows"] == 2
    assert report["headcount"] == adapters.rosters.headcount(ORG) == len(stored(adapters, ORG)) == 7
    assert adapters.rosters.get("u-000006") is None
    assert adapters.rosters.get("u-000012").phone == "+919800000012"


def test_an_update_is_counted_and_written_once(adapters):
    import_roster(ORG, csv_of(row(1), row(2)), adapters)
    report = import_roster(ORG, csv_of(row(1), row(2, name="Two Renamed")), adapters)
    assert (report["updated"], report["unchanged"], report["headcount"]) == (1, 1, 2)
    assert adapters.rosters.get("u-000002").name == "Two Renamed"


def test_a_rejected_row_keeps_its_employee_and_an_empty_file_removes_nobody(adapters):
    import_roster(ORG, csv_of(row(1), row(2)), adapters)
    report = import_roster(ORG, csv_of(row(1), row(2, mobile="12345")), adapters)
    assert (report["removed"], report["rejected_rows"], report["headcount"]) == (0, 1, 2)
    assert adapters.rosters.get("u-000002").phone == "+919800000002"  # as stored before
    assert import_roster(ORG, csv_of(), adapters)["headcount"] == 2


def test_merge_mode_adds_and_updates_and_removes_nobody(adapters):
    import_roster(ORG, csv_of(row(1), row(2)), adapters)
    report = import_roster(ORG, csv_of(row(3)), adapters, mode="merge")
    assert (report["added"], report["removed"], report["headcount"]) == (1, 0, 3)


def test_an_employee_listed_by_another_org_moves_there_and_both_headcounts_follow(adapters):
    import_roster(ORG, csv_of(row(1), row(2)), adapters)
    report = import_roster("org_gsi_kolkata", csv_of(row(2, org="")), adapters)
    assert report["added"] == 1
    assert adapters.rosters.headcounts([ORG, "org_gsi_kolkata", "org_none"]) == \
        {ORG: 1, "org_gsi_kolkata": 1, "org_none": 0}
    assert adapters.rosters.get("u-000002").org_id == "org_gsi_kolkata"
    # ORG's next import still lists u-2: last import wins, and nothing is counted twice.
    import_roster(ORG, csv_of(row(1), row(2)), adapters)
    assert adapters.rosters.headcounts([ORG, "org_gsi_kolkata"]) == {ORG: 2, "org_gsi_kolkata": 0}


def test_a_store_conflict_is_read_again_and_applied_once(adapters):
    """Another import changes the same employees between our read and our write: the write fails whole,
    the chunk is compared again, and the headcount counts each employee once."""
    store, original = adapters.rosters, adapters.rosters.apply
    calls = []

    def racing_apply(changes, lane=0):
        if not calls:
            calls.append(1)
            original([RosterChange(None, Employee("u-000001", ORG, "Someone Else"))])  # the other import
        return original(changes, lane)
    store.apply = racing_apply
    try:
        report = import_roster(ORG, csv_of(row(1), row(2)), adapters)
    finally:
        del store.apply
    assert (report["added"], report["updated"], report["headcount"]) == (1, 1, 2)
    assert store.get("u-000001").name == "Employee 1"


def test_apply_refuses_a_change_whose_row_is_no_longer_as_read(adapters):
    adapters.rosters.apply([RosterChange(None, Employee("u-1", ORG, "A"))])
    with pytest.raises(RosterConflict):
        adapters.rosters.apply([RosterChange(None, Employee("u-2", ORG, "B")),
                                RosterChange(None, Employee("u-1", ORG, "A again"))], lane=3)
    assert adapters.rosters.get("u-2") is None and adapters.rosters.headcount(ORG) == 1
    # Counters moved by different writers (lanes) add up to the one headcount.
    adapters.rosters.apply([RosterChange(None, Employee("u-2", ORG, "B"))], lane=2)
    adapters.rosters.apply([RosterChange(Employee("u-1", ORG, "A"), None)], lane=1)
    assert adapters.rosters.headcounts([ORG]) == {ORG: 1}


def test_the_report_lists_a_capped_number_of_rejections_and_counts_them_all():
    lines = csv_of(*(f"u-{n},,,,,,,," for n in range(150)))
    report = import_roster(ORG, lines, memory_adapters(rosters=MemoryRosterStore()))
    assert report["rejected_rows"] == 150 and len(report["rejected"]) == 100 and report["rejected_truncated"]


# --- streaming --------------------------------------------------------------------------------------------

class CountingStore:
    """Stores nothing: measures the importer alone (a real store keeps rows in DynamoDB, not in the process)."""

    def __init__(self, produced):
        self.produced, self.written, self.most_ahead = produced, 0, 0
        self.lock = threading.Lock()

    def get_many(self, ids):
        return {}

    def apply(self, changes, lane=0):
        with self.lock:
            self.written += len(changes)
            self.most_ahead = max(self.most_ahead, self.produced[0] - self.written)

    def employees(self, org_id, limit, after=None):
        return [], None

    def headcount(self, org_id):
        return self.written


def test_a_100000_row_file_is_streamed_never_held():
    rows, produced = 100_000, [0]

    def lines():
        yield HEADER
        for n in range(rows):
            produced[0] += 1
            yield row(n)
    store = CountingStore(produced)
    adapters = memory_adapters(rosters=store)
    # New employees go on the nudge schedule (never started): a DynamoDB table in AWS, so not held here either.
    scheduled = []
    adapters.notifications.schedule = SimpleNamespace(start_spell=lambda entry, shards: scheduled.append(1) or None)
    tracemalloc.start()
    try:
        report = import_roster(ORG, lines(), adapters)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report["added"] == store.written == rows == len(scheduled)
    config = roster_config()
    # Never more rows read than the chunks in flight (twice the writers, one being written, one being filled).
    assert store.most_ahead <= (2 * config.writers + 2) * config.chunk_rows
    # The file is about 10 MB and as Employee objects well over 50 MB; the importer keeps an 8-byte hash per
    # learner id (duplicates, and who was left out), about 70 bytes a row in a Python set.
    assert peak < 120 * rows, f"peak {peak / 1e6:.1f} MB"


# --- never started ------------------------------------------------------------------------------------------

def stored_learner(learner_id, org_id, minutes, courses):
    from chalicelib.rules.learner import LearnerStanding
    from chalicelib.storage.ports import StoredLearner
    return StoredLearner(LearnerStanding(learner_id, learning_minutes=minutes, courses_completed=courses), 1)


def test_not_started_lists_roster_employees_with_no_learning_a_page_at_a_time(memory):
    import_roster(ORG, csv_of(*(row(n) for n in range(1, 8))), memory)
    for n, minutes, courses in ((2, 30, 0), (4, 0, 1), (5, 0, 0)):  # 5 logged in but learned nothing
        memory.learners.learners[f"u-{n:06d}"] = stored_learner(f"u-{n:06d}", ORG, minutes, courses)
    first = not_started(ORG, memory, "2")
    assert [e["learner_id"] for e in first["employees"]] == ["u-000001", "u-000003"]
    second = not_started(ORG, memory, "2", first["cursor"])
    assert [e["learner_id"] for e in second["employees"]] == ["u-000005", "u-000006"]
    third = not_started(ORG, memory, "2", second["cursor"])
    assert [e["learner_id"] for e in third["employees"]] == ["u-000007"] and third["cursor"] is None
    assert set(third["employees"][0]) == {"learner_id", "name", "designation", "group"}  # no contact details


def test_not_started_reads_a_bounded_number_of_employees_per_call(memory):
    import_roster(ORG, csv_of(*(row(n) for n in range(1, 31))), memory)
    for n in range(1, 30):
        memory.learners.learners[f"u-{n:06d}"] = stored_learner(f"u-{n:06d}", ORG, 10, 0)
    page = not_started(ORG, memory, "5", max_examined=10)
    assert page["employees"] == [] and page["cursor"]  # nobody yet among the first 10: more may follow
    ids = []
    while page["cursor"]:
        page = not_started(ORG, memory, "5", page["cursor"], max_examined=10)
        ids += [e["learner_id"] for e in page["employees"]]
    assert ids == ["u-000030"]
