"""Rule numbers and the badge catalogue, read from data files (defaults.toml, badges.toml), and the book of dated
rule versions built on them (versions/*.toml, docs/rule-versions.md)."""
from __future__ import annotations

import hashlib
import json
import os
import tomllib
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Optional
from zoneinfo import ZoneInfo

from chalicelib.rules.abuse import AbuseLimits

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Points:
    course_completion: int
    assessment_passed: int
    acbp_bonus: int
    course_rating: int
    first_login: int
    first_enrolment: int
    event_attended: int


@dataclass(frozen=True)
class Rules:
    timezone: ZoneInfo
    points: Points
    point_earning_categories: frozenset[str]
    monthly_cap: int
    late_penalty_base: int
    late_penalty_per_month: int
    clap_weekly_minutes: int
    abuse: AbuseLimits = AbuseLimits()  # the rate over which completions are held for review


@dataclass(frozen=True)
class Badge:
    id: str
    name: str
    description: str
    metric: str
    threshold: int
    level: str

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "description": self.description,
                "metric": self.metric, "threshold": self.threshold, "level": self.level}


def rules_from(data: dict) -> Rules:
    return Rules(
        timezone=ZoneInfo(data["timezone"]),
        points=Points(**data["points"]),
        point_earning_categories=frozenset(data["course"]["point_earning_categories"]),
        monthly_cap=data["monthly_cap"]["non_acbp_completions"],
        late_penalty_base=data["acbp_late_penalty"]["base"],
        late_penalty_per_month=data["acbp_late_penalty"]["per_month_late"],
        clap_weekly_minutes=data["claps"]["weekly_minutes"],
        abuse=AbuseLimits(**data["abuse"]) if "abuse" in data else AbuseLimits(),
    )


def _load(env: str, default: Path) -> dict:
    with open(os.environ.get(env) or default, "rb") as f:
        return tomllib.load(f)


@lru_cache(maxsize=1)
def default_rules() -> Rules:
    return rules_from(_load("KARMAYOGI_RULES_FILE", HERE / "defaults.toml"))


@lru_cache(maxsize=1)
def badge_catalogue() -> tuple[Badge, ...]:
    return tuple(Badge(**b) for b in _load("KARMAYOGI_BADGES_FILE", HERE / "badges.toml")["badge"])


# --- dated rule versions (docs/rule-versions.md) -----------------------------------------------------------------

VERSIONS = HERE / "versions"
DIGESTS = "digests.toml"
FAR_PAST = datetime(2000, 1, 1, tzinfo=timezone.utc)


class RuleVersionError(ValueError):
    """A rule version file is malformed, or differs from the digest recorded for it."""


@dataclass(frozen=True)
class RuleVersion:
    """The rules and badge catalogue in force from `effective_from` until the next version's."""
    id: str
    effective_from: datetime
    reason: str  # in words, for the ledger: "a fifth course a month now counts"
    rules: Rules
    catalogue: tuple[Badge, ...]
    digest: str = ""  # of the resolved version (rules and badges as loaded), see digest_of
    data: dict = field(default_factory=dict, compare=False, repr=False)  # resolved, for the next version's overlay
    translations: dict = field(default_factory=dict, compare=False)  # locale -> the reason in that language
    # Org size categories for org comparisons, (name, min headcount, max headcount or None), smallest first; None:
    # the leaderboard settings' [[size_category]] (leaderboards/config.toml), which are the first version's.
    size_categories: Optional[tuple[tuple[str, int, Optional[int]], ...]] = None


@dataclass(frozen=True)
class RuleBook:
    """Every rule version, oldest first. An event is scored by `at(event.occurred_at)`.

    Callers that read a rule number (`book.timezone`, `book.abuse`, `book.clap_weekly_minutes`...) get the
    version in force now: the book stands in for the single `Rules` it replaced."""
    versions: tuple[RuleVersion, ...]

    def __post_init__(self) -> None:
        if not self.versions:
            raise RuleVersionError("a rule book needs at least one version")
        starts = [v.effective_from for v in self.versions]
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise RuleVersionError("rule versions must have distinct effective_from instants, in order")
        if len({v.id for v in self.versions}) != len(self.versions):
            raise RuleVersionError("rule version ids must be distinct")

    @classmethod
    def single(cls, rules: Rules, catalogue: tuple[Badge, ...], id: str = "custom") -> "RuleBook":
        return cls((RuleVersion(id, FAR_PAST, "", rules, tuple(catalogue)),))

    def at(self, instant: datetime) -> RuleVersion:
        """The version in force at `instant` (the first version for anything before it)."""
        index = bisect_right([v.effective_from for v in self.versions], instant) - 1
        return self.versions[max(index, 0)]

    def current(self, now: Optional[datetime] = None) -> RuleVersion:
        return self.at(now or datetime.now(timezone.utc))

    def abuse_at(self, instant: datetime) -> AbuseLimits:
        """The anti-abuse limits in force at `instant`: a completion is judged by those of its occurred_at."""
        return self.at(instant).rules.abuse

    def size_categories_at(self, instant: datetime) -> Optional[tuple[tuple[str, int, Optional[int]], ...]]:
        """The org size categories in force at `instant` (None: the leaderboard settings' defaults)."""
        return self.at(instant).size_categories

    def get(self, version_id: str) -> Optional[RuleVersion]:
        return next((v for v in self.versions if v.id == version_id), None)

    def with_version(self, version: RuleVersion) -> "RuleBook":
        others = tuple(v for v in self.versions if v.id != version.id)
        return RuleBook(tuple(sorted(others + (version,), key=lambda v: v.effective_from)))

    def without(self, version_id: str) -> "RuleBook":
        return RuleBook(tuple(v for v in self.versions if v.id != version_id))

    @property
    def catalogue(self) -> tuple[Badge, ...]:
        """Every badge any version offers (the latest definition of each): a badge never leaves the catalogue."""
        by_id: dict[str, Badge] = {}
        for version in self.versions:
            by_id.update({b.id: b for b in version.catalogue})
        return tuple(by_id.values())

    @property
    def reasons(self) -> dict[str, str]:
        """Version id -> why it was made, for every version after the first (the first changed nothing)."""
        return {v.id: v.reason for v in self.versions[1:]}

    def __getattr__(self, name: str):
        if name.startswith("__") or name == "versions":
            raise AttributeError(name)
        return getattr(self.current().rules, name)


def as_book(rules: "Rules | RuleBook", catalogue: Optional[tuple[Badge, ...]] = None) -> RuleBook:
    """A book from what callers pass: a book as it is, or one `Rules` (and its catalogue) as a book of one."""
    if isinstance(rules, RuleBook):
        return rules
    return RuleBook.single(rules, tuple(catalogue if catalogue is not None else badge_catalogue()))


def _merged(base: dict, override: dict) -> dict:
    """Tables merge key by key; badges replace by id or are added (a badge never leaves the catalogue)."""
    out = dict(base)
    for key, value in override.items():
        if key == "badge":
            by_id = {b["id"]: b for b in out.get("badge", [])}
            by_id.update({b["id"]: b for b in value})
            out["badge"] = list(by_id.values())
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def _same_shape(base: dict, override: dict, version_id: str, path: str = "") -> None:
    """A later version changes values, not their kinds: a number stays a number, a list a list, a table a table;
    a badge is a full badge (every field of Badge)."""
    for key, value in override.items():
        where = f"{path}{key}"
        if key == SIZE_CATEGORY and not path:
            _check_size_categories(value, version_id)
            continue
        if key == "badge" and not path:
            fields = {"id", "name", "description", "metric", "threshold", "level"}
            if not isinstance(value, list) or any(not isinstance(b, dict) or set(b) != fields for b in value):
                raise RuleVersionError(f"version {version_id}: each [[badge]] needs exactly {', '.join(sorted(fields))}")
            continue
        if key not in base:
            raise RuleVersionError(f"version {version_id}: {where} is not a rule (no such setting in the version "
                                   f"before)")
        old = base[key]
        if isinstance(old, dict):
            if not isinstance(value, dict):
                raise RuleVersionError(f"version {version_id}: {where} must be a table")
            _same_shape(old, value, version_id, f"{where}.")
        elif type(value) is not type(old):
            raise RuleVersionError(f"version {version_id}: {where} must be a {type(old).__name__}, "
                                   f"like {old!r}")


SIZE_CATEGORY = "size_category"


def _check_size_categories(value, version_id: str) -> None:
    """[[size_category]] replaces the whole list: each with name and min_headcount (and max_headcount but the
    last), ascending and not overlapping, so an org's headcount falls in at most one."""
    if not isinstance(value, list) or not value:
        raise RuleVersionError(f"version {version_id}: [[size_category]] must be a non-empty list of tables")
    previous_max: Optional[int] = 0
    names = set()
    for n, c in enumerate(value):
        if (not isinstance(c, dict) or not {"name", "min_headcount"} <= set(c)
                or not set(c) <= {"name", "min_headcount", "max_headcount"} or not isinstance(c["name"], str)
                or any(type(c.get(k, 0)) is not int for k in ("min_headcount", "max_headcount"))):
            raise RuleVersionError(f"version {version_id}: each [[size_category]] has a name, a whole "
                                   f"min_headcount and (but the last) a whole max_headcount")
        last = n == len(value) - 1
        if (previous_max is None or c["min_headcount"] <= previous_max or c["name"] in names
                or ("max_headcount" in c and c["max_headcount"] < c["min_headcount"])
                or (not last and "max_headcount" not in c)):
            raise RuleVersionError(f"version {version_id}: size categories must be distinct, ascending and not "
                                   f"overlapping")
        names.add(c["name"])
        previous_max = c.get("max_headcount")


def _size_categories(data: dict) -> Optional[tuple[tuple[str, int, Optional[int]], ...]]:
    if SIZE_CATEGORY not in data:
        return None
    return tuple((c["name"], c["min_headcount"], c.get("max_headcount")) for c in data[SIZE_CATEGORY])


def digest_of(header: dict, data: dict) -> str:
    """What a version is: its header and its resolved rules and badges, canonically serialised."""
    canonical = json.dumps({"version": header, "data": data}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_version(text: str, previous: Optional[dict], here: Path = VERSIONS) -> tuple[dict, dict]:
    """(header, resolved data) of one version file: the previous version's data overlaid with this file's
    tables, or, for the first version, the rules_file and badges_file it names."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleVersionError(f"version file: {exc}") from exc
    header = raw.pop("version", None)
    if not isinstance(header, dict) or not {"id", "effective_from", "reason"} <= set(header):
        raise RuleVersionError("a version file needs [version] with id, effective_from and reason")
    when = header["effective_from"]
    if not isinstance(when, datetime) or when.tzinfo is None:
        raise RuleVersionError(f"version {header['id']}: effective_from must be an instant with its offset")
    if previous is None:
        if raw or not {"rules_file", "badges_file"} <= set(header):
            raise RuleVersionError("the first version names rules_file and badges_file and overrides nothing")
        data = _read_toml(here / header["rules_file"])
        data["badge"] = _read_toml(here / header["badges_file"])["badge"]
    else:
        _same_shape(previous, raw, str(header["id"]))
        data = _merged(previous, raw)
    try:
        rules_from(data), tuple(Badge(**b) for b in data["badge"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RuleVersionError(f"version {header['id']}: {exc!r}") from exc
    return header, data


def _read_toml(path: Path) -> dict:
    with open(path, "rb") as f:
        return tomllib.load(f)


def _version(header: dict, data: dict) -> RuleVersion:
    return RuleVersion(str(header["id"]), header["effective_from"].astimezone(timezone.utc), str(header["reason"]),
                       rules_from(data), tuple(Badge(**b) for b in data["badge"]), digest_of(header, data), data,
                       dict(header.get("reasons") or {}), _size_categories(data))


def load_book(directory: Path = VERSIONS, check_digests: bool = True,
              extra: Optional[str] = None) -> RuleBook:
    """Every version file in `directory` (ordered by effective_from), each overlaid on the one before it.

    Refuses (RuleVersionError) a version whose digest is not the one recorded in digests.toml: nothing changes a
    version once it is written down, and so never one that has taken effect. `extra` is the text of a candidate
    version file (make rules-preview), overlaid last, and not checked against a digest."""
    texts = [(p.name, p.read_text()) for p in sorted(directory.glob("*.toml")) if p.name != DIGESTS]
    parsed = []
    for name, text in texts:
        header = tomllib.loads(text).get("version", {})
        if not isinstance(header.get("effective_from"), datetime):
            raise RuleVersionError(f"{name}: [version] effective_from is missing")
        parsed.append((header["effective_from"], name, text))
    parsed.sort(key=lambda item: item[0])
    recorded = _read_toml(directory / DIGESTS).get("digests", {}) if check_digests else {}
    versions, previous = [], None
    for _, name, text in parsed:
        header, data = parse_version(text, previous, directory)
        version = _version(header, data)
        if check_digests and recorded.get(version.id) != version.digest:
            raise RuleVersionError(f"{name}: rule version {version.id} does not match the digest recorded in "
                                   f"{DIGESTS} (a version never changes: write a new one)")
        versions.append(version)
        previous = data
    book = RuleBook(tuple(versions))
    if extra is not None:
        book = book.with_version(candidate_version(book, extra, directory))
    return book


def candidate_version(book: RuleBook, text: str, directory: Path = VERSIONS) -> RuleVersion:
    """A version file not yet in the book, overlaid on the version in force just before it."""
    header = tomllib.loads(text).get("version", {}) if text else {}
    when = header.get("effective_from")
    if not isinstance(when, datetime) or when.tzinfo is None:
        raise RuleVersionError("the candidate needs [version] effective_from, an instant with its offset")
    if when.astimezone(timezone.utc) <= book.versions[0].effective_from:
        raise RuleVersionError("a candidate version must start after the first version")
    base = book.at(when.astimezone(timezone.utc) - timedelta(microseconds=1))
    if not base.data:
        raise RuleVersionError(f"version {base.id} was not loaded from a file: nothing to overlay on")
    return _version(*parse_version(text, base.data, directory))


def recorded_digests(directory: Path = VERSIONS) -> dict[str, str]:
    """What digests.toml should say for the version files as they are (to record a new version)."""
    return {v.id: v.digest for v in load_book(directory, check_digests=False).versions}


def default_book() -> RuleBook:
    """The deployed rules: the version files, or, when KARMAYOGI_RULES_FILE / KARMAYOGI_BADGES_FILE point at
    other files (tests, a local experiment), those as a book of one version."""
    return _book_for(os.environ.get("KARMAYOGI_RULES_FILE"), os.environ.get("KARMAYOGI_BADGES_FILE"),
                     os.environ.get("KARMAYOGI_RULE_VERSIONS_DIR"))


@lru_cache(maxsize=4)
def _book_for(rules_file: Optional[str], badges_file: Optional[str], directory: Optional[str]) -> RuleBook:
    if rules_file or badges_file:
        return RuleBook.single(default_rules(), badge_catalogue())
    return load_book(Path(directory or VERSIONS))


def fingerprint(rules: "Rules | RuleBook") -> str:
    """Changes whenever any version is added or differs: what a checkpoint of the fold is valid for."""
    if isinstance(rules, RuleBook):
        parts = [f"{v.id}|{v.effective_from.isoformat()}|{v.digest or repr((v.rules, v.catalogue))}"
                 for v in rules.versions]
    else:
        parts = [repr(rules)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
