"""The roster store against DynamoDB Local: transactions with conditions and sharded counters, the by_org index,
and two imports of the same org at once never counting anyone twice."""
import threading

from chalicelib.rosters.service import import_roster, not_started

HEADER = "learner_id,full_name,email,mobile,group,designation,employee_id,org_id,language"
ORG = "org_it_roster"


def lines(numbers, name="Employee"):
    return [HEADER] + [f"it-{n:05d},{name} {n},e{n}@example.gov.in,+91 98{n:08d},Group C,Assistant,E{n},,hi"
                       for n in numbers]


def test_import_re_import_and_removal_on_the_real_engine(adapters):
    first = import_roster(ORG, lines(range(250)), adapters)
    assert (first["added"], first["headcount"]) == (250, 250)
    again = import_roster(ORG, lines(range(250)), adapters)
    assert (again["added"], again["updated"], again["unchanged"], again["headcount"]) == (0, 0, 250, 250)
    fewer = import_roster(ORG, lines(range(200)), adapters)
    assert (fewer["removed"], fewer["headcount"]) == (50, 200)
    page, after = adapters.rosters.employees(ORG, 150)
    rest, end = adapters.rosters.employees(ORG, 150, after)
    assert len(page) + len(rest) == 200 and end is None
    assert adapters.rosters.get("it-00007").phone == "+919800000007"
    assert len(not_started(ORG, adapters, "100")["employees"]) == 100


def test_two_imports_of_the_same_org_at_once_count_everyone_once(adapters):
    results = []

    def run(name):
        results.append(import_roster(ORG, lines(range(400), name), adapters, mode="merge"))
    threads = [threading.Thread(target=run, args=(name,)) for name in ("Employee", "Karmachari")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["added"] for r in results) == 400  # each employee added by exactly one of the two
    assert adapters.rosters.headcount(ORG) == 400
    assert all(r["rejected_rows"] == 0 for r in results)
