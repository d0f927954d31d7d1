"""Badge images: an SVG per achievement, generated from the catalogue and design.toml. No I/O but the template.

Accessible (role="img", <title> and <desc> referenced by aria-labelledby), self-contained (no fonts, images or
links fetched from elsewhere: a generic font family), text escaped by the autoescaping template environment,
and small (tests check every catalogue badge stays under MAX_BYTES).
"""
from __future__ import annotations

import re
import textwrap
from functools import lru_cache

from chalicelib.credentials.config import HERE, design
from chalicelib.credentials.ob3 import Achievement
from chalicelib.exports import template_environment

MAX_BYTES = 10 * 1024
LINE_CHARS, MAX_LINES = 16, 3


@lru_cache(maxsize=1)
def _template():
    return template_environment(HERE / "templates").get_template("badge.svg")


def _lines(name: str) -> list[str]:
    lines = textwrap.wrap(name, LINE_CHARS, break_long_words=True) or [name]
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES]
        lines[-1] = lines[-1][:LINE_CHARS - 1].rstrip() + "…"
    return lines


def badge_svg(achievement: Achievement) -> str:
    look = design()
    area = look["areas"].get(achievement.area, look["areas"]["general"])
    level = look["levels"].get(achievement.level, look["levels"]["bronze"])
    campaign = achievement.kind == "campaign"
    lines = _lines(achievement.name)
    description = (f"{level['label']} badge, {area['label']}: {achievement.description}" if not campaign
                   else f"{area['label']} award: {achievement.description}")
    svg = _template().render(
        uid="badge-" + re.sub(r"[^A-Za-z0-9_-]", "-", achievement.badge_id)[:60],
        title=achievement.name, description=description, campaign=campaign,
        fill=area["fill"], accent=area["accent"], ring=level["ring"],
        top_label=("CAMPAIGN" if campaign else level["label"].upper()), lines=lines,
        first_line_y=(120 - 8 * (len(lines) - 1)), bottom_label=area["label"])
    return re.sub(r"\n\s*\n", "\n", svg)
