"""The one runner of the marts and findings: staging -> every table of the catalog's ``marts``
and ``findings`` layers, in build order, in ONE transaction (readers see all the old tables or
all the new ones).

    macros      warehouse/sql/macros/*.sql (ASCO/CAP rules, statistics, rates): temporary, per
                connection; ``define_macros`` is how every reader of the marts gets them
    settings    the configuration's per-lab rows (guideline periods, lab targets) reach SQL as
                parameters, never formatted into a statement
    tables      ``catalog.build_order()``: each table after the tables it reads
    summary     row counts and the catalog's headline figures per table

DuckDB may take 80% of the machine's memory by default; the build caps it at ``MEMORY_LIMIT``
(spilling to disk beyond), which keeps 10M staged rows within a 4 GB budget
(benchmarks/marts_benchmark.py), and restores the setting afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

import warehouse
from her2qa.config import SiteConfig
from warehouse import catalog

MACROS = (
    "macros/asco_cap_rules",
    "macros/statistics",
    "macros/rates",
    "macros/cap11",  # after statistics: a macro's body is bound where it is defined
    "macros/formatting",
)
MEMORY_LIMIT = "3GB"
_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class BuildSummary:
    rows: dict[str, int]  # table -> row count
    figures: dict[str, dict[str, float]]  # table -> headline figures (catalog; None left out)
    memory_limit: str = ""  # DuckDB's memory_limit in force during the build

    def figure(self, table: str, name: str, default: float = 0) -> float:
        return self.figures.get(table, {}).get(name, default)


def define_macros(con: duckdb.DuckDBPyConnection) -> None:
    """The rule, statistics and formatting macros on this connection (temporary)."""
    for name in MACROS:
        warehouse.run(con, name)


def build_marts(
    con: duckdb.DuckDBPyConnection,
    site: SiteConfig,
    *,
    as_of: datetime | None = None,
    memory_limit: str | None = MEMORY_LIMIT,
    tables: tuple[catalog.Table, ...] | None = None,
) -> BuildSummary:
    """Rebuild the marts and findings from ``staging`` (whole tables, one transaction).

    ``as_of`` is the moment the findings are judged at (data freshness), default now."""
    order = tables or catalog.build_order()
    params = settings_params(site, as_of=as_of)
    with _memory_capped(con, memory_limit) as limit_in_force:
        con.execute("BEGIN TRANSACTION")
        try:
            define_macros(con)
            load_settings(con, site)
            for t in order:
                warehouse.run(con, t.sql, params)
                if t.name == "marts.guideline_periods" and guideline_rows(site):
                    con.executemany(
                        "INSERT INTO marts.guideline_periods VALUES (?, ?, ?, ?)",
                        guideline_rows(site),
                    )
            for t in order:
                if t.layer == "scratch":
                    con.execute(f"DROP TABLE IF EXISTS {t.name}")
            summary = summarise(con, [t for t in order if t.layer != "scratch"])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return BuildSummary(summary.rows, summary.figures, limit_in_force)


def settings_params(site: SiteConfig, *, as_of: datetime | None = None) -> dict:
    """Named parameters the mart and findings SQL may use."""
    moment = (as_of or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    return {"as_of": moment, "freshness_days": site.freshness_days}


def load_settings(con: duckdb.DuckDBPyConnection, site: SiteConfig) -> None:
    """The configuration's per-lab values as a temporary table ``lab_settings`` (setting,
    lab_id, value), read by marts/reference_bands.sql: one home for every threshold."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE lab_settings "
        "(setting VARCHAR NOT NULL, lab_id VARCHAR NOT NULL, value VARCHAR NOT NULL)"
    )
    rows = site.lab_setting_rows()
    if rows:
        con.executemany("INSERT INTO lab_settings VALUES (?, ?, ?)", rows)


def guideline_rows(site: SiteConfig) -> list[tuple]:
    """(lab_id, guideline_version, valid_from, valid_until) per configured period."""
    return [
        (lab, period.version, period.valid_from, period.until)
        for lab, cfg in sorted(site.labs.items())
        for period in cfg.guidelines
    ]


def summarise(con: duckdb.DuckDBPyConnection, tables: list[catalog.Table]) -> BuildSummary:
    """Row counts and the catalog's headline figures of ``tables``."""
    # table names come from the catalog, never from input
    count = "SELECT count(*) FROM {}"
    rows = {t.short: int(con.execute(count.format(t.name)).fetchone()[0]) for t in tables}
    figures: dict[str, dict[str, float]] = {}
    for t in tables:
        values = {
            name: con.execute(q.replace("{table}", t.name)).fetchone()
            for name, q in t.figures.items()
        }
        figures[t.short] = {
            name: _number(row[0]) for name, row in values.items() if row and row[0] is not None
        }
    return BuildSummary(rows=rows, figures=figures)


def _number(value: object) -> float:
    """An int stays an int (counts), anything else becomes a float (rates)."""
    if isinstance(value, int):
        return int(value)
    return float(value)  # type: ignore[arg-type]


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
