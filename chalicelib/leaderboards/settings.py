"""Leaderboard settings, read from config.toml beside this file."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Optional

from chalicelib.leaderboards.boards import SizeCategory, scope_of_board


@dataclass(frozen=True)
class BoardSettings:
    shards: dict[str, int]
    max_hidden_org_learners: int
    org_stats_shards: int
    org_tree_cache_seconds: int
    top_size: int
    size_categories: tuple[SizeCategory, ...]

    def shards_for(self, board: str) -> int:
        return self.shards.get(scope_of_board(board).kind, 1)


def settings_from(data: dict) -> BoardSettings:
    return BoardSettings(
        shards=dict(data["shards"]), max_hidden_org_learners=data["max_hidden_org_learners"],
        org_stats_shards=data["org_stats_shards"], org_tree_cache_seconds=data["org_tree_cache_seconds"],
        top_size=data["top_size"],
        size_categories=tuple(SizeCategory(c["name"], c["min_headcount"], c.get("max_headcount"))
                              for c in data["size_category"]))


@lru_cache(maxsize=1)
def board_settings() -> BoardSettings:
    path = os.environ.get("KARMAYOGI_LEADERBOARDS_FILE") or Path(__file__).with_name("config.toml")
    with open(path, "rb") as f:
        return settings_from(tomllib.load(f))


def size_categories_at(rules, config: BoardSettings, instant: Optional[datetime]) -> tuple[SizeCategory, ...]:
    """The org size categories of the rule version in force at `instant` (a period's or a campaign's start; now
    for all time), or, when that version sets none, the settings' [[size_category]] (the first version's, and a
    test's KARMAYOGI_LEADERBOARDS_FILE)."""
    at = getattr(rules, "size_categories_at", None)  # a RuleBook; a test may hold a single Rules
    if at is None:
        return config.size_categories
    from datetime import timezone
    found = at(instant or datetime.now(timezone.utc))
    return config.size_categories if found is None else tuple(SizeCategory(*c) for c in found)
