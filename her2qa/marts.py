"""Core marts: staging.her2_results -> marts.specimen_her2, marts.agreement,
marts.primary_metastasis_pairs (spec/warehouse.md), all computed in DuckDB SQL.

The rules live in SQL, once (``warehouse/sql/marts/``)::

    asco_cap_rules.sql            ISH group, final status (2018; 2013 and 2007 sets),
                                  HER2 category: temporary macros
    agreement_statistics.sql      Wilson interval, Cohen's and quadratic kappa: macros
    guideline_periods.sql         marts.guideline_periods (site configuration, as data)
    specimen_calls.sql            per specimen and purpose: selected results, status (temp)
    specimen_her2.sql             marts.specimen_her2
    primary_metastasis_pairs.sql  marts.primary_metastasis_pairs
    agreement_pairs.sql           marts.agreement_pairs (every pair, for traceability)
    agreement.sql                 marts.agreement

This module only loads the site's guideline periods (parameterised inserts) and
runs the files in order, in one transaction: readers see the old marts or the new.
DuckDB may take 80% of the machine's memory by default; the build caps it at
``MEMORY_LIMIT`` (spilling to disk beyond), which keeps 10M staged rows within a
4 GB budget (benchmarks/marts_benchmark.py), and restores the setting afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb

import warehouse
from her2qa.config import SiteConfig

# Values of the marts (spec/warehouse.md), for callers that enumerate them.
FINAL_STATUSES = ("positive", "negative", "equivocal", "indeterminate")
HER2_CATEGORIES = (
    "positive",
    "low",
    "ultralow",
    "null",
    "zero_unspecified",
    "equivocal",
    "indeterminate",
)
COMPARISONS = ("ihc_vs_ish", "lab_vs_reference", "observer_vs_observer", "primary_vs_metastasis")
CHANGES = ("concordant", "gain", "loss", "not_comparable")

MEMORY_LIMIT = "3GB"
_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B\s*$", re.IGNORECASE)

RULES = ("marts/asco_cap_rules", "marts/agreement_statistics", "marts/guideline_periods")
TABLES = (
    "marts/specimen_calls",
    "marts/specimen_her2",
    "marts/primary_metastasis_pairs",
    "marts/agreement_pairs",
    "marts/agreement",
)


@dataclass(frozen=True)
class MartSummary:
    specimens: int
    positive_pct: float | None  # HER2-positive primary specimens, % of all primary specimens
    ihc_ish_pct_agree: float | None  # ihc_vs_ish, lab ALL, period ALL
    ihc_ish_pairs: int
    agreement_rows: int
    metastasis_pairs: int
    pairs_by_comparison: dict[str, int]
    memory_limit: str = ""  # DuckDB's memory_limit in force during the build


def guideline_rows(site: SiteConfig) -> list[tuple]:
    """(lab_id, guideline_version, valid_from, valid_until) per configured period."""
    return [
        (lab, period.version, period.valid_from, period.until)
        for lab, cfg in sorted(site.labs.items())
        for period in cfg.guidelines
    ]


def build_core_marts(
    con: duckdb.DuckDBPyConnection,
    site_config: SiteConfig,
    *,
    memory_limit: str | None = MEMORY_LIMIT,
) -> MartSummary:
    """Rebuild the core marts from ``staging.her2_results`` (whole tables, one transaction)."""
    with _memory_capped(con, memory_limit) as limit_in_force:
        con.execute("BEGIN TRANSACTION")
        try:
            for step in RULES:
                warehouse.run(con, step)
            rows = guideline_rows(site_config)
            if rows:
                con.executemany("INSERT INTO marts.guideline_periods VALUES (?, ?, ?, ?)", rows)
            for step in TABLES:
                warehouse.run(con, step)
            con.execute("DROP TABLE specimen_calls")
            summary = summarise(con, memory_limit=limit_in_force)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return summary


@contextmanager
def _memory_capped(con: duckdb.DuckDBPyConnection, limit: str | None) -> Iterator[str]:
    """Lower DuckDB's memory_limit to ``limit`` for the duration (never raise it); yields
    the limit in force."""
    (before,) = con.execute("SELECT current_setting('memory_limit')").fetchone()
    if not limit or _bytes(limit) >= _bytes(before):
        yield before
        return
    con.execute(f"SET memory_limit = '{_checked(limit)}'")
    try:
        yield con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:  # back to the default if it was the default, else to the value read
        con.execute("RESET memory_limit")
        (default,) = con.execute("SELECT current_setting('memory_limit')").fetchone()
        if default != before and _BYTES.match(before):
            con.execute(f"SET memory_limit = '{_checked(before)}'")


def _bytes(text: str) -> float:
    """Bytes of a DuckDB memory size ('3GB', '18.6 GiB'); anything else is unlimited."""
    match = _BYTES.match(text)
    if not match:
        return float("inf")
    number, unit, binary = match.groups()
    return float(number) * (1024 if binary else 1000) ** "_KMGT".index(unit.upper() or "_")


def _checked(text: str) -> str:
    """A memory size, checked, as SET takes no parameters (never user text in SQL)."""
    if not _BYTES.match(text):
        raise ValueError(f"not a memory size: {text!r}")
    return text.strip()


def summarise(con: duckdb.DuckDBPyConnection, *, memory_limit: str = "") -> MartSummary:
    """Headline figures of the marts, for the asset metadata and the run log."""
    specimens, positive, primaries = con.execute(
        "SELECT count(*), count_if(final_status = 'positive' AND specimen_role = 'primary'), "
        "count_if(specimen_role = 'primary') FROM marts.specimen_her2"
    ).fetchone()
    ihc_ish = con.execute(
        "SELECT pct_agree, n_pairs FROM marts.agreement "
        "WHERE comparison = 'ihc_vs_ish' AND lab_id = 'ALL' AND period = 'ALL'"
    ).fetchone()
    by_comparison = dict(
        con.execute(
            "SELECT comparison, n_pairs FROM marts.agreement "
            "WHERE lab_id = 'ALL' AND period = 'ALL' ORDER BY comparison"
        ).fetchall()
    )
    (agreement_rows,) = con.execute("SELECT count(*) FROM marts.agreement").fetchone()
    (metastasis_pairs,) = con.execute(
        "SELECT count(*) FROM marts.primary_metastasis_pairs"
    ).fetchone()
    return MartSummary(
        specimens=int(specimens),
        positive_pct=100.0 * positive / primaries if primaries else None,
        ihc_ish_pct_agree=float(ihc_ish[0]) if ihc_ish else None,
        ihc_ish_pairs=int(ihc_ish[1]) if ihc_ish else 0,
        agreement_rows=int(agreement_rows),
        metastasis_pairs=int(metastasis_pairs),
        pairs_by_comparison={str(k): int(v) for k, v in by_comparison.items()},
        memory_limit=memory_limit,
    )
