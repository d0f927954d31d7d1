"""Rule numbers and the badge catalogue, read from data files (defaults.toml, badges.toml)."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
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
