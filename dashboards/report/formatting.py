"""Numbers as people read them, for every page and report (the findings' messages use the
same conventions in SQL: warehouse/sql/macros/formatting.sql)."""

from __future__ import annotations


def pct(p: float | None, digits: int = 1) -> str:
    """A proportion (0-1) as a percentage."""
    return "–" if p is None else f"{100 * p:.{digits}f}%"


def ci(low: float | None, high: float | None, digits: int = 1) -> str:
    """A 95% interval of proportions, as percentages."""
    if low is None or high is None:
        return "95% CI –"
    return f"95% CI {100 * low:.{digits}f}–{100 * high:.{digits}f}%"


def count(n: int | None) -> str:
    return "–" if n is None else f"{int(n):,}"
