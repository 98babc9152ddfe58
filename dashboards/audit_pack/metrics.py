"""metrics.csv: every figure of the report, with n, CI, target and source rule.

Rows come from the SQL table ``audit_metrics`` (warehouse/sql/audit/metrics_table.sql
documents the columns); here they are scoped, judged against their target, sorted and
formatted so that the same inputs give the same bytes:

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
    "versus_target",
    "target_label",
    "target_source",
    "source_rule",
)

# Warehouse-wide facts, kept (lab 'ALL') in a one-laboratory pack too.
WAREHOUSE_WIDE = ("warehouse_files", "warehouse_rows_read", "warehouse_rows_staged",
                  "warehouse_rows_quarantined")  # fmt: skip


def scoped(rows: Iterable[dict[str, Any]], lab: str | None) -> list[dict[str, Any]]:
    """The rows of the pack's scope, judged and sorted.

    Without a lab: every lab and the pooled 'ALL'. With a lab, the SQL ran on that lab's
    rows only, so a pooled 'ALL' row and the lab's row are the same figure: the pooled one is
    kept, under the lab's code (it exists even when the lab has no data in the period: n 0),
    and the warehouse-wide facts stay 'ALL'."""
    rows = list(rows)
    if lab is not None:
        pooled = {(r["section"], r["metric"], r["stratum"]) for r in rows if r["lab_id"] == "ALL"}
        rows = [
            r if r["lab_id"] != "ALL" or r["metric"] in WAREHOUSE_WIDE else dict(r, lab_id=lab)
            for r in rows
            if r["lab_id"] == "ALL"
            or (r["lab_id"] == lab and (r["section"], r["metric"], r["stratum"]) not in pooled)
        ]
    kept = [dict(r, versus_target=versus_target(r)) for r in rows]
    order = {s: i for i, s in enumerate(SECTIONS)}
    return sorted(
        kept,
        key=lambda r: (
            order.get(r["section"], len(order)),
            r["section"],
            r["metric"],
            r["lab_id"] != "ALL",
            r["lab_id"],
            r["stratum"],
        ),
    )


def versus_target(row: dict[str, Any]) -> str:
    """How the figure reads against its target: a plain word, '' when there is none."""
    kind, value = row.get("target_kind"), row.get("value")
    low, high = row.get("target_low"), row.get("target_high")
    if not kind or kind == "limit (per specimen)":
        return ""
    if value is None:
        return "no data"
    if kind in ("lab target", "requirement"):
        return "meets" if low is not None and value >= low - 1e-12 else "below"
    if kind == "benchmark band":
        if low is not None and low == high:  # a single published figure: does the CI hold it?
            ci_low, ci_high = row.get("ci_low"), row.get("ci_high")
            if ci_low is not None and ci_high is not None:
                if ci_low - 1e-12 <= low <= ci_high + 1e-12:
                    return "CI includes figure"
                return "above figure" if ci_low > low else "below figure"
            return "above figure" if value > low else "below figure" if value < low else "at figure"
        if low is not None and value < low - 1e-12:
            return "below band"
        if high is not None and value > high + 1e-12:
            return "above band"
        return "within band"
    if kind == "control limits":
        if low is not None and value < low - 1e-12:
            return "below LCL"
        if high is not None and value > high + 1e-12:
            return "above UCL"
        return "within limits"
    return ""


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
