"""The inspection period of an audit pack: dates, the last complete quarter, default folder."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

DEFAULT_ROOT = Path("build/audit")


class PeriodError(ValueError):
    """A period the user asked for cannot be used; the message is one line."""


@dataclass(frozen=True)
class Period:
    """Calendar dates, both inclusive."""

    date_from: date
    date_to: date

    def __post_init__(self) -> None:
        if self.date_from > self.date_to:
            raise PeriodError(
                f"the period starts ({self.date_from}) after it ends ({self.date_to})"
            )

    @property
    def label(self) -> str:
        return f"{self.date_from.isoformat()} to {self.date_to.isoformat()}"

    @property
    def slug(self) -> str:
        return f"{self.date_from.isoformat()}_{self.date_to.isoformat()}"


def parse_date(text: str, what: str = "date") -> date:
    """An ISO date (YYYY-MM-DD), strictly."""
    value = (text or "").strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise PeriodError(f"{what} {text!r} is not an ISO date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PeriodError(f"{what} {text!r} is not a calendar date") from None


def quarter_of(day: date) -> Period:
    """The calendar quarter holding ``day``."""
    first_month = 3 * ((day.month - 1) // 3) + 1
    start = date(day.year, first_month, 1)
    end_month = first_month + 2
    end = (
        date(day.year + 1, 1, 1) if end_month == 12 else date(day.year, end_month + 1, 1)
    ).toordinal() - 1
    return Period(start, date.fromordinal(end))


def last_complete_quarter(as_of: date) -> Period:
    """The last calendar quarter that ended before ``as_of`` (the day of the run)."""
    current = quarter_of(as_of)
    return quarter_of(date.fromordinal(current.date_from.toordinal() - 1))


def default_out_dir(period: Period, lab: str | None, root: Path = DEFAULT_ROOT) -> Path:
    """``build/audit/<from>_<to>[_<lab>]`` (the lab code made safe for a folder name)."""
    name = period.slug
    if lab:
        name += "_" + re.sub(r"[^A-Za-z0-9_.-]", "_", lab)
    return root / name
