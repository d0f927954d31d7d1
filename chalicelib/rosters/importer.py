"""Reading an org's roster CSV: one row at a time, each row validated into an Employee or a list of problems.

Pure (no I/O). The use case (rosters/service.py) feeds it lines from S3, a file or a request body, and never
holds more than one chunk of rows. Messages never quote what was sent: a report (or a log) must not echo an
email address or a phone number.
"""
from __future__ import annotations

import csv
import os
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

from chalicelib.events import clean_text, is_id
from chalicelib.rosters.employees import Employee

COLUMNS = ("learner_id", "full_name", "email", "mobile", "group", "designation", "employee_id", "org_id",
           "language")
REQUIRED_COLUMNS = ("learner_id", "full_name")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_INDIAN_MOBILE = re.compile(r"[6-9]\d{9}")
_SEPARATORS = re.compile(r"[\s\-.()/]")  # how people space out a number: 98123 45678, 98123-45678, (+91)...
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class RosterConfig:
    languages: frozenset[str]
    chunk_rows: int
    max_listed_rejections: int
    conflict_attempts: int
    writers: int
    max_length: dict


def config_from(data: dict) -> RosterConfig:
    return RosterConfig(frozenset(data["languages"]), int(data["chunk_rows"]), int(data["max_listed_rejections"]),
                        int(data["conflict_attempts"]), int(data["writers"]), dict(data["max_length"]))


@lru_cache(maxsize=1)
def roster_config() -> RosterConfig:
    path = os.environ.get("KARMAYOGI_ROSTERS_FILE") or Path(__file__).with_name("config.toml")
    with open(path, "rb") as f:
        return config_from(tomllib.load(f))


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def as_dict(self) -> dict:
        return {"field": self.field, "message": self.message}


@dataclass(frozen=True)
class RejectedRow:
    line: int
    learner_id: Optional[str]  # when the id itself was valid: the employee is then kept as stored
    problems: tuple[Problem, ...]

    def as_dict(self) -> dict:
        row = {"line": self.line, "errors": [p.as_dict() for p in self.problems]}
        if self.learner_id:
            row["learner_id"] = self.learner_id
        return row


@dataclass(frozen=True)
class AcceptedRow:
    line: int
    employee: Employee


Row = Union[AcceptedRow, RejectedRow]


class RosterFileError(ValueError):
    """The file as a whole cannot be read as a roster (its header): nothing is imported."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


# --- single values ---------------------------------------------------------------------------------------

class InvalidValue(ValueError):
    pass


def normalise_mobile(raw: str) -> str:
    """An Indian mobile number as people write it -> E.164 (+91XXXXXXXXXX). Raises InvalidValue.

    Accepted: 10 digits starting 6-9; with +91, 0091, 91 or 0 in front; with spaces, dashes, dots or
    brackets anywhere. Anything else (a landline, another country, a digit missing) is rejected."""
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))
    if text.startswith("+"):
        if not text.startswith("+91"):
            raise InvalidValue("must be an Indian (+91) mobile number")
        digits = text[3:]
    elif text.startswith("0091"):
        digits = text[4:]
    elif len(text) == 12 and text.startswith("91"):
        digits = text[2:]
    elif len(text) == 11 and text.startswith("0"):
        digits = text[1:]
    else:
        digits = text
    if not (digits.isascii() and _INDIAN_MOBILE.fullmatch(digits)):
        raise InvalidValue("must be a 10-digit Indian mobile number starting with 6, 7, 8 or 9 "
                           "(+91, 0 and spaces or dashes are fine)")
    return "+91" + digits


def normalise_text(raw: str) -> str:
    """Names arrive from many keyboards: one Unicode form (NFC) and single spaces, so search and display agree;
    without bidi or zero-width controls (events.clean_text), which could make a name display as another."""
    return " ".join(clean_text(raw).split())


# --- rows ------------------------------------------------------------------------------------------------

def read_header(fields: list[str]) -> dict[str, int]:
    names = [f.strip().lower().lstrip("\ufeff") for f in fields]
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        raise RosterFileError("header", f"unknown column(s) {', '.join(sorted(set(unknown)))[:200]}; "
                                        f"the columns are {', '.join(COLUMNS)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise RosterFileError("header", f"column(s) {', '.join(repeated)} appear more than once")
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise RosterFileError("header", f"missing column(s) {', '.join(missing)}")
    return {name: position for position, name in enumerate(names)}


def parse_row(values: list[str], line: int, header: dict[str, int], org_id: str, config: RosterConfig) -> Row:
    """One data row -> AcceptedRow, or RejectedRow with every problem found (not just the first)."""
    if len(values) != len(header):
        return RejectedRow(line, None, (Problem("row", f"has {len(values)} values; the header has {len(header)}"),))
    raw = {name: values[position].strip() for name, position in header.items()}
    problems: list[Problem] = []
    cleaned: dict[str, Optional[str]] = {}

    def text(name: str, required: bool = False) -> Optional[str]:
        value = normalise_text(raw.get(name) or "")
        if not value:
            if required:
                problems.append(Problem(name, "is required"))
            return None
        if _CONTROL.search(value):
            problems.append(Problem(name, "contains control characters"))
        elif len(value) > config.max_length.get(name, 300):
            problems.append(Problem(name, f"is longer than {config.max_length.get(name, 300)} characters"))
        return value

    learner_id = raw.get("learner_id") or ""
    if not learner_id:
        problems.append(Problem("learner_id", "is required"))
    elif not is_id(learner_id):
        problems.append(Problem("learner_id", "must be 1 to 128 letters, digits or _ . : @ -"))
    cleaned["name"] = text("full_name", required=True)
    for name in ("group", "designation", "employee_id"):
        cleaned[name] = text(name)
    email = text("email")
    if email and not (len(email) <= config.max_length["email"] and _EMAIL.fullmatch(email)):
        problems.append(Problem("email", "is not an email address"))
    cleaned["email"] = email.lower() if email else None
    mobile = raw.get("mobile") or ""
    cleaned["phone"] = None
    if mobile:
        try:
            cleaned["phone"] = normalise_mobile(mobile)
        except InvalidValue as exc:
            problems.append(Problem("mobile", str(exc)))
    row_org = raw.get("org_id") or ""
    if row_org and row_org != org_id:
        problems.append(Problem("org_id", "must be empty or the org being imported"))
    language = (raw.get("language") or "").lower()
    if language and language not in config.languages:
        problems.append(Problem("language", f"must be empty or one of {', '.join(sorted(config.languages))}"))
    valid_id = learner_id if learner_id and is_id(learner_id) else None
    if problems:
        return RejectedRow(line, valid_id, tuple(problems))
    return AcceptedRow(line, Employee(learner_id=learner_id, org_id=org_id, name=cleaned["name"],
                                      email=cleaned["email"], phone=cleaned["phone"], group=cleaned["group"],
                                      designation=cleaned["designation"], employee_id=cleaned["employee_id"],
                                      language=language or None))


def read_rows(lines: Iterable[Union[str, bytes]], org_id: str, config: Optional[RosterConfig] = None) -> Iterator[Row]:
    """Every data row of a roster CSV, in file order, one at a time (a generator: nothing is held).

    Line numbers are the file's own (the header is line 1), so an admin can find the row in a spreadsheet.
    Blank lines are skipped. Raises RosterFileError before any row if the header is not a roster's."""
    config = config or roster_config()
    reader = csv.reader(_without_newlines(lines))
    try:
        header = read_header(next(reader))
    except StopIteration:
        raise RosterFileError("header", "the file is empty: the first line must name the columns") from None
    except csv.Error:
        raise RosterFileError("header", "is not a CSV line") from None
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error:  # e.g. a NUL byte: that line only
            yield RejectedRow(reader.line_num, None, (Problem("row", "is not a valid CSV line"),))
            continue
        if not any(v.strip() for v in values):
            continue
        yield parse_row(values, reader.line_num, header, org_id, config)


def _without_newlines(lines: Iterable[Union[str, bytes]]) -> Iterator[str]:
    """Lines from a file (with their ending), from S3's iter_lines (bytes, without) or a list: csv wants str."""
    for line in lines:
        if isinstance(line, bytes):
            line = line.decode("utf-8-sig", errors="replace")
        yield line.rstrip("\r\n")
