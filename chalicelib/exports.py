"""Files people open elsewhere: CSV for spreadsheets, HTML from jinja2 templates.

Both are made safe here, once, for every report and page that uses them: a CSV cell that a spreadsheet would
run as a formula is neutralised, and every template is autoescaped.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterable, Sequence

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

# Spreadsheets treat a cell starting with these as a formula (CSV injection); tab and CR act the same in some.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text  # the apostrophe makes Excel, LibreOffice and Sheets show it as text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def to_csv(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return out.getvalue()


def template_environment(directory: Path) -> Environment:
    """HTML (and any template not named *.txt) is autoescaped; plain-text bodies (*.txt: email text parts,
    SMS) are not HTML, so escaping them would show entities. Undefined variables fail loudly."""
    return Environment(loader=FileSystemLoader(str(directory)),
                       autoescape=select_autoescape(disabled_extensions=("txt",), default=True,
                                                    default_for_string=True),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
