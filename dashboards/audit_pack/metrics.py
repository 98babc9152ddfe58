"""metrics.csv: every figure of the report, with n, CI, target, verdict and source rule.

Rows come from the SQL table ``audit_metrics`` (warehouse/sql/audit/metrics_table.sql
documents the columns), verdicts included: a judged figure carries the verdict and the
message of its row of marts.findings (warehouse/sql/audit/verdicts.sql); nothing is judged
here. Rows are scoped, sorted and formatted so that the same inputs give the same bytes (the
CSV's own machine-readable formats live here; the report's human formats are
dashboards/report/formatting.py):

- rows sorted by section (report order), metric, lab ('ALL' first), stratum;
- numbers formatted by unit: counts as integers, proportions and kappas with 6 decimals,
  days with 2; bounds of a target as integers when whole, else 6 decimals; no exponent,
  no negative zero; empty cells for "none";
- UTF-8, ``\\n`` line ends, RFC 4180 quoting, text cells that a spreadsheet would run as a
  formula neutralised (her2qa/restricted.py: labels and strata may carry input text).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from her2qa.restricted import neutralise

# Sections in report order.
SECTIONS = (
    "volumes",
    "ihc_vs_ish",
    "lab_vs_reference",
    "observer_vs_observer",
    "amplification",
    "positivity",
    "her2_low",
    "preanalytic",
    "cap11",
    "primary_vs_metastasis",
    "discordance",
    "validation",
    "proficiency",
    "data_quality",
    "annual_review",
)

COLUMNS = (
    "section",
    "metric",
    "lab_id",
    "stratum",
    "label",
    "value",
    "unit",
    "numerator",
    "n",
    "ci_low",
    "ci_high",
    "ci_method",
    "target_kind",
    "target_low",
    "target_high",
    "target_label",
    "target_source",
    "finding",
    "finding_period",
    "verdict",
    "verdict_message",
    "source_rule",
)

# Warehouse-wide facts, kept (lab 'ALL') in a one-laboratory pack too.
WAREHOUSE_WIDE = ("warehouse_files", "warehouse_rows_read", "warehouse_rows_staged",
                  "warehouse_rows_quarantined")  # fmt: skip


def scoped(rows: Iterable[dict[str, Any]], lab: str | None) -> list[dict[str, Any]]:
    """The rows of the pack's scope, sorted.

    Without a lab: every lab and the pooled 'ALL'. With a lab, the SQL ran on that lab's
    rows only, so a pooled 'ALL' row and the lab's row are the same figure: the lab's own row
    is kept (it carries the lab's target and verdict), else the pooled one under the lab's
    code (it exists even when the lab has no data in the period: n 0); the warehouse-wide
    facts stay 'ALL'."""
    rows = list(rows)
    if lab is not None:
        own = {(r["section"], r["metric"], r["stratum"]) for r in rows if r["lab_id"] == lab}
        rows = [
            r if r["lab_id"] == lab or r["metric"] in WAREHOUSE_WIDE else dict(r, lab_id=lab)
            for r in rows
            if r["lab_id"] == lab
            or (r["lab_id"] == "ALL" and r["metric"] in WAREHOUSE_WIDE)
            or (r["lab_id"] == "ALL" and (r["section"], r["metric"], r["stratum"]) not in own)
        ]
    order = {s: i for i, s in enumerate(SECTIONS)}
    return sorted(
        rows,
        key=lambda r: (
            order.get(r["section"], len(order)),
            r["section"],
            r["metric"],
            r["lab_id"] != "ALL",
            r["lab_id"],
            r["stratum"],
        ),
    )


def fmt(value: Any, unit: str) -> str:
    """A figure as text, by unit (stable across runs and machines)."""
    if value is None:
        return ""
    if unit == "count":
        return str(round(float(value)))
    if unit == "days":
        return f"{float(value) + 0.0:.2f}"
    return f"{round(float(value), 6) + 0.0:.6f}"


def fmt_bound(value: Any) -> str:
    """A target bound: an integer when whole (20, 60), else 6 decimals."""
    if value is None:
        return ""
    x = float(value)
    return str(int(x)) if x.is_integer() else f"{round(x, 6) + 0.0:.6f}"


def csv_row(row: dict[str, Any]) -> list[str]:
    unit = row["unit"]
    out = []
    for column in COLUMNS:
        value = row.get(column)
        if column in ("value", "ci_low", "ci_high"):
            out.append(fmt(value, unit))
        elif column in ("numerator", "n"):
            out.append("" if value is None else str(int(value)))
        elif column in ("target_low", "target_high"):
            out.append(fmt_bound(value))
        else:
            out.append(neutralise("" if value is None else str(value)))
    return out


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    """metrics.csv bytes (header + rows, in the order given)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(csv_row(row))
    return buffer.getvalue().encode("utf-8")
