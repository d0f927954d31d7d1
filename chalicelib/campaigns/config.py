"""Campaign settings: limits of a definition, defaults, operation (shards, page sizes), from config.toml or
KARMAYOGI_CAMPAIGNS_FILE."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class CampaignConfig:
    timezone: str
    grace_hours: int
    max_name_length: int
    max_window_days: int
    max_multiplier: float
    max_listed: int
    goal: dict
    counts: dict
    awards: dict
    operation: dict
    stats_shards: dict
    max_created_per_admin_per_day: int = 20

    def shards_for(self, org_type: Optional[str]) -> int:
        return int(self.stats_shards.get(org_type or "", 1))


@lru_cache(maxsize=1)
def campaign_config() -> CampaignConfig:
    path = os.environ.get("KARMAYOGI_CAMPAIGNS_FILE") or Path(__file__).with_name("config.toml")
    with open(path, "rb") as f:
        data = tomllib.load(f)
    return CampaignConfig(**data)
