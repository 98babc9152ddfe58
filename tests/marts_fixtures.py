"""Staged rows for the mart tests: defaults filled in, written to a real DuckDB file.

Rows go into ``staging.her2_results_history`` (as the staging step would leave them),
``staging/her2_results`` picks the current versions, then the marts are built.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

import warehouse
from her2qa.config import SiteConfig
from her2qa.staging import refresh_current_results
from warehouse import build as mart_build

_counter = itertools.count(1)

# A valid clinical IHC result on a primary breast specimen; ish() and ihc() override it.
BASE: dict[str, Any] = {
    "lab_id": "NORTH",
    "performing_lab": None,  # defaults to lab_id
    "test_id": None,  # generated when not given
    "result_version": 1,
    "accession_id": "S1",
    "patient_key": "P1",
    "specimen_role": "primary",
    "specimen_site": "breast",
    "collection_date": date(2024, 3, 1),
    "report_date": date(2024, 3, 4),
    "cold_ischemia_min": 30.0,
    "fixation_hours": 24.0,
    "assay": "IHC",
    "assay_kit": "4B5",
    "ihc_score": None,
    "ihc_pct_stained": None,
    "ish_her2_per_cell": None,
    "ish_cep17_per_cell": None,
    "ish_ratio": None,
    "ish_cells_counted": None,
    "reported_result": None,  # derived from the score / ratio when not given
    "pathologist_id": "P01",
    "test_purpose": "clinical",
}
COLUMNS = (
    *BASE,
    "file_id",
    "source_file",
    "source_row",
)


def ihc(score: str | None, **over: Any) -> dict[str, Any]:
    """A staged IHC result with this score."""
    called = {"3+": "positive", "2+": "equivocal"}.get(score or "", "negative")
    row = {**BASE, "assay": "IHC", "ihc_score": score, "reported_result": called}
    if score is None:
        row["reported_result"] = "indeterminate"
    return _finish(row, over)


def ish(ratio: float | None, her2: float | None, **over: Any) -> dict[str, Any]:
    """A staged dual-probe ISH result (cep17 derived from ratio and HER2/cell)."""
    cep17 = round(her2 / ratio, 4) if ratio and her2 is not None else None
    row = {
        **BASE,
        "assay": "ISH",
        "assay_kit": "PathVysion",
        "ish_ratio": ratio,
        "ish_her2_per_cell": her2,
        "ish_cep17_per_cell": cep17,
        "ish_cells_counted": 20 if her2 is not None else None,
        "reported_result": "positive" if ratio is not None and ratio >= 2.0 else "negative",
        "report_date": date(2024, 3, 8),
    }
    if her2 is None:
        row["reported_result"] = "indeterminate"
    return _finish(row, over)


def single_probe_ish(her2: float, **over: Any) -> dict[str, Any]:
    """A staged single-probe ISH result (HER2/cell only, no CEP17, no ratio)."""
    row = ish(None, her2, **over)
    row.update(ish_ratio=None, ish_cep17_per_cell=None)
    row["reported_result"] = over.get("reported_result", "positive" if her2 >= 6 else "negative")
    return row


def _finish(row: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    row.update(over)
    n = next(_counter)
    if row["test_id"] is None:
        row["test_id"] = f"T{n:06d}"
    if row["performing_lab"] is None:
        row["performing_lab"] = row["lab_id"]
    row.setdefault("file_id", 1)
    row.setdefault("source_file", "fixture.csv")
    row.setdefault("source_row", n)
    return row


def open_warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB file with the warehouse schema."""
    con = duckdb.connect(str(path))
    warehouse.ensure_schema(con)
    return con


def stage(con: duckdb.DuckDBPyConnection, rows: Iterable[dict[str, Any]]) -> None:
    """Append rows to the history and rebuild the current results (staging/her2_results)."""
    rows = list(rows)
    if rows:
        placeholders = ", ".join("?" for _ in COLUMNS)
        con.executemany(
            f"INSERT INTO staging.her2_results_history ({', '.join(COLUMNS)}) "
            f"VALUES ({placeholders})",
            [[r[c] for c in COLUMNS] for r in rows],
        )
    refresh_current_results(con)


def build(
    path: Path, rows: Iterable[dict[str, Any]], site: SiteConfig | None = None
) -> duckdb.DuckDBPyConnection:
    """Create the warehouse at ``path``, stage ``rows``, build the marts; an open connection."""
    con = open_warehouse(path)
    stage(con, rows)
    mart_build.build_marts(con, site or SiteConfig())
    return con


def specimen(con: duckdb.DuckDBPyConnection, lab_id: str, accession_id: str) -> dict[str, Any]:
    """The marts.specimen_her2 row of one specimen, as a dict."""
    cur = con.execute(
        "SELECT * FROM marts.specimen_her2 WHERE lab_id = ? AND accession_id = ?",
        [lab_id, accession_id],
    )
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0], strict=True))


def records(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
