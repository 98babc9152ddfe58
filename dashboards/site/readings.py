"""Readings: rows of marts.findings as the badges and one-line readings the pages show.

No verdict is made here. A reading's status is its finding's verdict (ok / look / info /
too_few -> the page's ok / look / info / small), its words are the finding's message, its
badge says the verdict in the words §QA-WORDING gives its kind (dashboards/report/formatting.py
``verdict_label``). Where a page sums findings up (a network of laboratories, the months of
the 12-month window), the status is the worst verdict of the rows summed and the text names
the rows to look at: a summary can never say "ok" while a row it covers says "look".
"""

from __future__ import annotations

from collections.abc import Iterable

from dashboards.report import formatting as fmt
from dashboards.site.data import ALL, Finding, Findings
from dashboards.site.layout import Reading

STATUS = {"ok": "ok", "look": "look", "info": "info", "too_few": "small"}
# worst first: the status of a summary of several findings
VERDICT_ORDER = ("look", "too_few", "ok", "info")
# where a finding's topic is shown in detail
TOPIC_PAGE = {
    "concordance": "concordance.html#summary",
    "positivity": "positivity.html#flags",
    "ihc_ish": "ihc-ish.html#amplification",
    "her2_low": "her2-low.html#shares",
    "metastasis": "metastasis.html#rates",
    "readers": "readers.html#matrix",
    "data_quality": "data-quality.html#summary",
    "preanalytic": "preanalytic.html#cap11",
    "proficiency": "proficiency.html#events",
    "validation": "proficiency.html#validation",
}
MONTHLY_UNIT = {"positivity_control": "month"}


def reading(f: Finding, *, topic: str | None = None) -> Reading:
    """One finding as a reading: its verdict, its message, where it is shown in detail."""
    return Reading(
        STATUS[f.verdict],
        f.message,
        f.title if topic is None else topic,
        TOPIC_PAGE.get(f.topic, ""),
        label=fmt.verdict_label(f.finding, f.verdict),
        finding=f.finding,
        lab=f.lab_id,
        period=f.period,
        subgroup=f.subgroup,
        source=f.source or "",
    )


def found(findings: Findings, code: str, lab: str | None, period: str = ALL) -> list[Reading]:
    """The reading of one finding for a view (lab None: the network), or none."""
    f = findings.get(code, lab, period)
    return [reading(f)] if f else []


def worst(verdicts: Iterable[str]) -> str:
    """The worst of several verdicts ('info' when there are none)."""
    present = set(verdicts)
    return next((v for v in VERDICT_ORDER if v in present), "info")


def labs_summary(
    findings: Findings,
    code: str,
    per_lab: dict[str, str],
    *,
    topic: str,
    period: str = ALL,
    where: str = "",
) -> Reading | None:
    """The network's summary of one finding over its laboratories (``per_lab``: lab -> its
    verdict), naming the labs with a look verdict: '2 of 5 laboratories below the lab
    target: CITY, EAST'."""
    if not per_lab:
        return None
    verdict = worst(per_lab.values())
    look = sorted(lab for lab, v in per_lab.items() if v == "look")
    small = sorted(lab for lab, v in per_lab.items() if v == "too_few")
    text = fmt.labs_phrase(code, look, small, len(per_lab), where)
    if look and fmt.finding_kind(code) == "target":
        # the network never hides its worst laboratory: the one furthest under the target
        rows = [
            f for lab in look if (f := findings.get(code, lab, period)) and f.figure is not None
        ]
        if rows:
            furthest = min(rows, key=lambda f: f.figure)
            text += f"; furthest below: {furthest.lab_id} ({fmt.percent(furthest.figure)})"
    return Reading(
        STATUS[verdict],
        text + ".",
        topic,
        _page(findings, code),
        label=fmt.verdict_label(code, verdict),
        finding=code,
        lab="labs",
        period=period,
    )


def window_label(findings: Findings) -> str:
    """'the last 12 months (2025-01 to 2025-12)': the findings' window, in words."""
    if not findings.window:
        return "the last 12 months"
    start, end = findings.window.split("..")
    return f"the last 12 months ({start} to {end})"


def window_rows(findings: Findings, code: str, lab: str | None) -> list[Finding]:
    """The rows of a finding in the 12-month window, or of its months (lab None: every lab)."""
    return [f for f in findings.select(code, lab) if findings.in_window(f)]


def months_summary(findings: Findings, code: str, lab: str, *, topic: str) -> Reading | None:
    """One laboratory's finding over the 12-month window (its months, or its subgroups such as
    pathologists): the worst verdict of those rows, naming the rows to look at."""
    rows = window_rows(findings, code, lab)
    if not rows:
        return None
    verdict = worst(f.verdict for f in rows)
    unit = MONTHLY_UNIT.get(code, "pathologist")
    when = window_label(findings)
    by = {v: [f for f in rows if f.verdict == v] for v in VERDICT_ORDER}
    kind = fmt.finding_kind(code)
    bad, good = (
        ("out of control", "in control")
        if kind == "control"
        else ("outside the funnel limits", "within the funnel limits")
        if kind == "funnel"
        else ("to look at", "without remark")
    )
    parts = []
    if by["look"]:
        points = ", ".join(f.period if f.monthly else f.subgroup for f in by["look"])
        parts.append(f"{fmt.count(len(by['look']))} {unit}(s) {bad}: {points}")
    if by["ok"]:
        parts.append(f"{fmt.count(len(by['ok']))} {unit}(s) {good}")
    if by["too_few"]:
        parts.append(f"{fmt.count(len(by['too_few']))} too few to judge")
    if by["info"]:
        parts.append(f"{fmt.count(len(by['info']))} shown, not judged (incomplete)")
    return Reading(
        STATUS[verdict],
        f"{when}: " + "; ".join(parts) + ".",
        topic,
        TOPIC_PAGE.get(rows[0].topic, ""),
        label=fmt.verdict_label(code, verdict),
        finding=code,
        lab=lab,
        period=findings.window or "",
    )


def lab_window_verdicts(findings: Findings, code: str) -> dict[str, str]:
    """Each laboratory's worst verdict of a monthly finding in the 12-month window."""
    out: dict[str, list[str]] = {}
    for f in window_rows(findings, code, None):
        if f.lab_id != ALL:
            out.setdefault(f.lab_id, []).append(f.verdict)
    return {lab: worst(v) for lab, v in sorted(out.items())}


def lab_verdicts(findings: Findings, code: str, period: str = ALL) -> dict[str, str]:
    """Each laboratory's verdict of a finding (subgroup ALL) for one period."""
    return {
        f.lab_id: f.verdict
        for f in findings.select(code, None, period=period, subgroup=ALL)
        if f.lab_id != ALL
    }


def _page(findings: Findings, code: str) -> str:
    """Where a finding's topic is shown in detail."""
    return next((TOPIC_PAGE.get(f.topic, "") for f in findings.rows if f.finding == code), "")
