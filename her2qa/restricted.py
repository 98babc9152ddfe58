"""Case-level worklists: CSV files in a folder only the owner can read.

Pages and packs never carry case rows; worklists (discordant cases, metastasis
retest candidates) are written here instead, for the people who must act on
them. Every cell that a spreadsheet would run as a formula is neutralised
(OWASP "CSV injection": a leading =, +, -, @, tab or carriage return gets a
leading apostrophe), and numbers are written as numbers.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """A cell safe to open in a spreadsheet: text that could run as a formula is quoted."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def restricted_folder(path: Path) -> Path:
    """Create (or tighten) a folder readable by its owner only (mode 0700)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Write a worklist CSV (mode 0600) into a restricted folder; returns the row count."""
    restricted_folder(path.parent)
    tmp = path.with_suffix(path.suffix + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    count = 0
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([neutralise(v) for v in row])
            count += 1
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return count
