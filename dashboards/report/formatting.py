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


def percent(v: float | None, digits: int = 1) -> str:
    """A figure already in percent (0-100, as marts.agreement and marts.findings hold it)."""
    return "–" if v is None else f"{v:.{digits}f}%"


def agreement(v: float | None, low: float | None, high: float | None) -> str:
    """'96.0% (95.1–96.8)': a percent with its 95% interval, all in percent."""
    if low is None or high is None:
        return percent(v)
    return f"{percent(v)} ({low:.1f}–{high:.1f})"


# --- wording of a finding's verdict (her2-domain.md §QA-WORDING): "in / out of control" only
# for control limits, "meets / below the lab target" for targets, "within / outside the
# published range" for benchmark bands. The verdict itself is marts.findings'; this is words.
VERDICT_WORDS: dict[str, dict[str, str]] = {
    "control": {"ok": "In control", "look": "Out of control"},
    "funnel": {"ok": "Within the funnel limits", "look": "Outside the funnel limits"},
    "target": {"ok": "Meets the lab target", "look": "Below the lab target"},
    "range": {"ok": "Within the published range", "look": "Outside the published range"},
    "other": {"ok": "OK", "look": "Look here"},
}
COMMON_WORDS = {"too_few": "Small n", "info": "For information"}


def finding_kind(finding: str) -> str:
    """'control', 'funnel', 'target', 'range' or 'other': which words its verdict takes."""
    if finding.startswith("positivity_control"):
        return "control"
    if finding == "positivity_pathologist":
        return "funnel"
    if finding.startswith("lab_target_"):
        return "target"
    if finding.endswith("_published_range"):
        return "range"
    return "other"


def verdict_label(finding: str, verdict: str) -> str:
    """The badge words of a finding's verdict ('Below the lab target', 'In control', ...)."""
    return COMMON_WORDS.get(verdict) or VERDICT_WORDS[finding_kind(finding)][verdict]


def labs_phrase(
    finding: str, look: list[str], small: list[str], total: int, where: str = ""
) -> str:
    """'2 of 5 laboratories below the lab target: CITY, EAST' (the labs with a look finding;
    then those too few to judge)."""
    what = {
        "control": f"with a month out of control{where}",
        "funnel": f"with a pathologist outside the funnel limits{where}",
        "target": "below the lab target",
        "range": "outside the published range (context, not a limit)",
        "other": "to look at",
    }[finding_kind(finding)]
    if look:
        text = f"{count(len(look))} of {count(total)} laboratories {what}: {', '.join(look)}"
    else:
        text = f"none of {count(total)} laboratories {what}"
    if small:
        text += f"; too few to judge: {', '.join(small)}"
    return text
