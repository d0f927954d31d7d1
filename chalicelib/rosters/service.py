"""Roster use cases: import an org's roster (three ways in, one use case) and list who has never started.

import_roster() streams: it reads rows one at a time and handles them a chunk at a time (config.toml
chunk_rows): one consistent batch read of the stored rows, then only the rows that differ are written, each
with the headcount counters it moves (RosterStore.apply). Re-importing the same file therefore writes nothing
and leaves every headcount as it was. The only thing kept for the whole file is an 8-byte hash of each
learner id (about 70 bytes a row in a Python set; 10 lakh rows, about 70 MB), to find duplicate rows and,
at the end, who the file left out.

Modes:
  replace (default): the file is the org's whole roster. Employees of the org the file does not list are
  removed, and reported as removed. A row rejected for a bad value but with a valid learner id keeps that
  employee as stored (a typo in a mobile number must not drop someone). A file with no valid row removes
  nobody (an empty or wrong export must not empty a roster).
  merge: add and update only; nobody is removed.
An employee is on one org's roster at a time: a file listing someone from another org's roster moves them
(counted as added here, removed there), but only from a roster the importer may take from (`may_take`): an org
admin's import (and an S3 upload, for the org it names) takes only employees on no roster or on a roster inside
the admin's (the org's) own subtree; anyone else is a rejected row. Moving people between unrelated orgs is the
platform's profile events, or a national admin's (or an operator's `make import-roster`) import.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import count
from typing import Callable, Iterable, Optional, Union

from chalicelib.errors import ApiError, bad_request
from chalicelib.events import ID_PATTERN, is_id
from chalicelib.identity.access import require_org_admin, within
from chalicelib.notifications.nudges import schedule_never_started_many
from chalicelib.orgtree import parent_lookup
from chalicelib.paging import decode_cursor, encode_cursor, parse_limit
from chalicelib.rosters.employees import Employee, RosterChange, RosterConflict
from chalicelib.rosters.importer import (AcceptedRow, Problem, RejectedRow, RosterConfig, RosterFileError, read_rows,
                                         roster_config)

MODES = ("replace", "merge")
Progress = Callable[[dict], None]
MayTake = Callable[[str], bool]  # may this import take an employee from the roster of this org?
NOT_YOURS = ("is on the roster of another org outside yours: moving an employee between orgs is done by the "
             "platform's profile events or a national admin's import")


def taking_within(root_org: str, adapters) -> MayTake:
    """Employees may come from rosters of `root_org` and the orgs below it only."""
    parent_of = parent_lookup(adapters)
    return lambda org_id: within(org_id, root_org, parent_of)


@dataclass
class ImportReport:
    org_id: str
    mode: str
    max_listed: int
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    rejected_rows: int = 0
    rejected: list[dict] = field(default_factory=list)
    headcount: Optional[int] = None

    def reject(self, row: RejectedRow) -> None:
        self.rejected_rows += 1
        if len(self.rejected) < self.max_listed:
            self.rejected.append(row.as_dict())

    def counts(self) -> dict:
        """Counts only: what logs and progress bars may show (no names, emails or numbers)."""
        return {"org_id": self.org_id, "mode": self.mode, "rows": self.rows, "added": self.added,
                "updated": self.updated, "unchanged": self.unchanged, "removed": self.removed,
                "rejected_rows": self.rejected_rows, "headcount": self.headcount}

    def as_dict(self) -> dict:
        return {**self.counts(), "rejected": self.rejected,
                "rejected_truncated": self.rejected_rows > len(self.rejected)}


def _id_hash(learner_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(learner_id.encode(), digest_size=8).digest(), "big")


def import_roster(org_id: str, lines: Iterable[Union[str, bytes]], adapters, progress: Optional[Progress] = None,
                  mode: str = "replace", config: Optional[RosterConfig] = None,
                  now: Optional[datetime] = None, may_take: Optional[MayTake] = None) -> dict:
    """Import one org's roster CSV from an iterator of lines. Returns the report (ImportReport.as_dict()).
    `may_take`: whether an employee on another org's roster may be moved here (None: anyone may, for a national
    admin or an operator); a row naming one who may not is rejected and the employee stays where they are.

    Chunks are compared and written by `config.writers` threads at once (the waits on DynamoDB overlap); at
    most twice that many chunks are in flight, so memory stays bounded whatever the file's size.
    Raises RosterFileError when the header is not a roster's (nothing is imported) and ValueError for a bad
    org id or mode (the callers check those first)."""
    if not is_id(org_id):
        raise ValueError("org_id is not an id")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    config = config or roster_config()
    store = adapters.rosters
    report = ImportReport(org_id, mode, config.max_listed_rejections)
    seen: set[int] = set()
    chunk: list[AcceptedRow] = []
    accepted = 0
    in_flight: deque[Future] = deque()
    lanes = count()
    lane = threading.local()

    now = now or datetime.now(timezone.utc)

    def write(rows: list[AcceptedRow]) -> tuple[dict, list[RejectedRow]]:
        if not hasattr(lane, "number"):
            lane.number = next(lanes)  # each writer thread moves its own headcount counter: no contention
        outcome, rejected, added = _write_chunk(rows, store, config, lane.number, may_take)
        # Employees new to the roster who have never learned: the nudge ladder's first rung (nudge_never_started),
        # sent by the nightly run. After the write, so a failed chunk schedules nobody.
        schedule_never_started_many(added, adapters, now)
        return outcome, rejected

    def collect(future: Future) -> None:
        outcome, rejected = future.result()
        for name, n in outcome.items():
            setattr(report, name, getattr(report, name) + n)
        for row in rejected:
            report.reject(row)
        if progress:
            progress(report.counts())

    with ThreadPoolExecutor(max_workers=config.writers, thread_name_prefix="roster") as pool:
        try:
            for row in read_rows(lines, org_id, config):
                report.rows += 1
                if isinstance(row, RejectedRow):
                    report.reject(row)
                    if row.learner_id:
                        seen.add(_id_hash(row.learner_id))  # kept as stored, never removed for a bad value
                    continue
                key = _id_hash(row.employee.learner_id)
                if key in seen:
                    report.reject(RejectedRow(row.line, row.employee.learner_id, (
                        Problem("learner_id", "appears more than once in the file; the first row was used"),)))
                    continue
                seen.add(key)
                accepted += 1
                chunk.append(row)
                if len(chunk) >= config.chunk_rows:
                    in_flight.append(pool.submit(write, chunk))
                    chunk = []
                    while len(in_flight) > 2 * config.writers:
                        collect(in_flight.popleft())
            if chunk:
                in_flight.append(pool.submit(write, chunk))
            while in_flight:
                collect(in_flight.popleft())
        finally:
            for future in in_flight:  # a failure (or the file's header) stops the import: start no more
                future.cancel()
    if mode == "replace" and accepted:
        _remove_missing(org_id, seen, store, report, config, progress)
    report.headcount = store.headcount(org_id)
    if progress:
        progress(report.counts())
    return report.as_dict()


def _write_chunk(chunk: list[AcceptedRow], store, config: RosterConfig, lane: int = 0,
                 may_take: Optional[MayTake] = None) -> tuple[dict, list[RejectedRow], list[Employee]]:
    """Compare a chunk with what is stored and write the rows that differ. Another import touching the same
    employees meanwhile makes the write fail as a whole: read again and redo the comparison.
    Returns the counts, the rows that could not be written, and the employees new to any roster."""
    for _ in range(config.conflict_attempts):
        stored = store.get_many([row.employee.learner_id for row in chunk])
        changes, outcome, refused = [], {"added": 0, "updated": 0, "unchanged": 0}, []
        for row in chunk:
            before = stored.get(row.employee.learner_id)
            if (before is not None and before.org_id != row.employee.org_id and may_take is not None
                    and not may_take(before.org_id)):
                refused.append(RejectedRow(row.line, row.employee.learner_id, (Problem("learner_id", NOT_YOURS),)))
                continue
            if before == row.employee:
                outcome["unchanged"] += 1
                continue
            outcome["added" if before is None or before.org_id != row.employee.org_id else "updated"] += 1
            changes.append(RosterChange(before, row.employee))
        try:
            if changes:
                store.apply(changes, lane)
        except RosterConflict:
            continue
        return outcome, refused, [c.after for c in changes if c.before is None]
    # Still colliding: these rows are reported, never silently dropped.
    return {}, [RejectedRow(row.line, row.employee.learner_id, (
        Problem("row", "was being changed by another import at the same time; import the file again"),))
        for row in chunk], []


def _remove_missing(org_id: str, seen: set[int], store, report: ImportReport, config: RosterConfig,
                    progress: Optional[Progress]) -> None:
    after = None
    while True:
        page, after = store.employees(org_id, config.chunk_rows * 2, after)
        missing = [e.learner_id for e in page if _id_hash(e.learner_id) not in seen]
        if missing:
            _remove(org_id, missing, store, report, config)
            if progress:
                progress(report.counts())
        if after is None:
            return


def _remove(org_id: str, learner_ids: list[str], store, report: ImportReport, config: RosterConfig) -> None:
    for _ in range(config.conflict_attempts):
        # The org's index may lag: remove only who is (still) on this org's roster now.
        stored = [e for e in store.get_many(learner_ids).values() if e.org_id == org_id]
        try:
            if stored:
                store.apply([RosterChange(e, None) for e in stored])
        except RosterConflict:
            continue
        report.removed += len(stored)
        return
    # Not removed this time (another import kept changing them): the next import of the file removes them.


# --- who has never started ---------------------------------------------------------------------------------

NOT_STARTED_CURSOR = ID_PATTERN  # the learner id examined last


def not_started(org_id: str, adapters, limit_raw=None, cursor: Optional[str] = None,
                max_examined: int = 1000) -> dict:
    """One page of an org's roster employees who have never learned anything (no learner record at all, or
    one with no completion and no learning minutes), in learner-id order.

    Costs a bounded number of requests whatever the org's size: roster pages are read until `limit` are found
    or `max_examined` employees have been looked at; a shorter page with a cursor means "more may follow"."""
    limit = parse_limit(limit_raw, 50, adapters.limits.max_page_size)
    after = decode_cursor(cursor, NOT_STARTED_CURSOR) if cursor else None
    found: list[Employee] = []
    examined = 0
    while len(found) < limit and examined < max_examined:
        page, next_after = adapters.rosters.employees(org_id, min(100, max_examined - examined), after)
        examined += len(page)
        started = adapters.learners.started([e.learner_id for e in page]) if page else set()
        for employee in page:
            if employee.learner_id not in started:
                found.append(employee)
            after = employee.learner_id
            if len(found) == limit:
                break
        if next_after is None and (not page or after == page[-1].learner_id):
            after = None
            break
    more = after is not None
    return {"org_id": org_id,
            "employees": [{"learner_id": e.learner_id, "name": e.name, "designation": e.designation,
                           "group": e.group} for e in found],
            "cursor": encode_cursor(after) if more else None}


def require_org_id(org_id: str) -> str:
    if not is_id(org_id):
        raise bad_request("org_id", "is not an org id")
    return org_id


# --- the three ways in ----------------------------------------------------------------------------------------

def import_from_request(org_id: str, raw_body: bytes, principal, adapters, query: dict) -> dict:
    """POST /v1/orgs/{org_id}/roster: a small CSV in the body, by an admin of the org (or above it)."""
    require_org_id(org_id)
    require_org_admin(principal, org_id, parent_lookup(adapters))
    mode = query.get("mode") or "replace"
    if mode not in MODES:
        raise bad_request("mode", f"must be one of {', '.join(MODES)}")
    limit = adapters.limits.max_roster_body_bytes
    if len(raw_body or b"") > limit:
        raise ApiError(413, "payload_too_large", f"body is over {limit} bytes: upload bigger rosters to S3 "
                                                 "(rosters/<org_id>/<name>.csv) or use make import-roster", "body")
    try:
        text = (raw_body or b"").decode("utf-8-sig")
    except UnicodeDecodeError:
        raise bad_request("body", "must be UTF-8 text") from None
    # An org admin takes employees only from rosters inside their own subtree; a national admin from any.
    may_take = None if principal.has("national_admin") else taking_within(principal.org_id, adapters)
    try:
        return import_roster(org_id, iter(text.splitlines()), adapters, mode=mode, may_take=may_take)
    except RosterFileError as exc:
        raise bad_request(exc.field, exc.message, code="invalid_roster") from None


UPLOAD_KEY = r"rosters/(" + ID_PATTERN + r")/([^/]+)\.csv"


def report_key(key: str) -> Optional[str]:
    """rosters/<org_id>/<name>.csv -> reports/<org_id>/<name>.json; None for a key that is no roster upload."""
    match = re.fullmatch(UPLOAD_KEY, key)
    return f"reports/{match.group(1)}/{match.group(2)}.json" if match else None


def import_upload(bucket: str, key: str, s3, adapters, logger) -> Optional[dict]:
    """S3 ObjectCreated on rosters/<org_id>/<name>.csv: stream the object, import it, write the report beside
    it (reports/<org_id>/<name>.json). Logs counts only. Returns the report (None for a key ignored)."""
    match = re.fullmatch(UPLOAD_KEY, key)
    if not match:
        logger.warning("roster upload ignored: the key is not rosters/<org_id>/<name>.csv",
                       extra={"bucket": bucket, "key_length": len(key)})
        return None
    org_id = match.group(1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        # An upload speaks for the org it names: it takes employees only from rosters inside that org's subtree.
        report = import_roster(org_id, body.iter_lines(chunk_size=64 * 1024), adapters,
                               may_take=taking_within(org_id, adapters))
    except RosterFileError as exc:
        report = {"org_id": org_id, "error": {"code": "invalid_roster", "field": exc.field, "message": exc.message}}
    finally:
        body.close()
    s3.put_object(Bucket=bucket, Key=report_key(key), Body=json.dumps(report, ensure_ascii=False, indent=1).encode(),
                  ContentType="application/json", ServerSideEncryption="AES256")
    counts = {k: v for k, v in report.items() if k not in ("rejected", "error")}
    logger.info("roster imported" if "error" not in report else "roster file rejected",
                extra={"roster": counts, "problem_field": report.get("error", {}).get("field")})
    return report
