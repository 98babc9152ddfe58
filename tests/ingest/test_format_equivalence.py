"""One network, every input format, the same warehouse (issue: real inputs).

``her2qa generate --format`` writes the same simulated network as CSV, an Excel workbook,
a wide one-row-per-case workbook, HL7 v2 ORU^R01 messages and FHIR R4 Bundles. Each is
ingested into its own warehouse through the one pipeline after its adapter; the current
results and every mart must equal the CSV's, row for row (file names and row numbers
aside: they name each format's own files)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import warehouse
from her2qa import config, staging
from her2qa.generate import generate
from her2qa.ingest import inbox
from tests.conftest import REPO, TEST_PHI_KEY
from warehouse import build, catalog

ROWS, SEED = 3_000, 17
# The wide layout needs its mapping; the example shipped with the docs reads the generator's.
CONFIGS = {"wide": REPO / "docs" / "formats" / "wide-example.toml"}
# Columns that point at a format's own files, not at the results.
FILE_COLUMNS = {"file_id", "source_file", "source_row"}


def _warehouse(root: Path, fmt: str) -> Path:
    generate(root / "inbox", rows=ROWS, seed=SEED, fmt=fmt)
    site = config.load_site_config(CONFIGS[fmt]) if fmt in CONFIGS else config.SiteConfig()
    db = root / "her2.duckdb"
    with warehouse.connect(db) as con:
        warehouse.ensure_schema(con)
        inbox.ingest_inbox(con, root / "inbox", root / "archive", TEST_PHI_KEY, fmt, site=site)
        staging.stage_pending(con, site)
        build.build_marts(con, site)
    return db


@pytest.fixture(scope="module")
def csv_warehouse(tmp_path_factory) -> Path:
    return _warehouse(tmp_path_factory.mktemp("csv"), "csv")


def _compared(con: duckdb.DuckDBPyConnection, table: str) -> str:
    columns = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_catalog = 'csv' AND table_schema || '.' || table_name = $t "
            "ORDER BY ordinal_position",
            {"t": table},
        ).fetchall()
        if r[0] not in FILE_COLUMNS
    ]
    return ", ".join(f'"{c}"' for c in columns)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["xlsx", "wide", "hl7v2", "fhir"])
def test_every_format_gives_the_csv_warehouse(csv_warehouse, tmp_path, fmt):
    other = _warehouse(tmp_path, fmt)
    con = duckdb.connect()
    con.execute(f"ATTACH '{csv_warehouse}' AS csv (READ_ONLY)")
    con.execute(f"ATTACH '{other}' AS fmt (READ_ONLY)")
    # every row read is staged or quarantined, per file, in this format too
    assert con.execute(
        "SELECT count(*) FROM fmt.ops.ingested_files "
        "WHERE status = 'ingested' AND rows_read <> rows_staged + rows_quarantined"
    ).fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM fmt.staging.her2_results").fetchone()[0] > 1_000
    tables = ["staging.her2_results"]
    tables += [t.name for t in catalog.published() if t.layer in ("marts", "findings")]
    for table in tables:
        cols = _compared(con, table)
        for a, b in (("csv", "fmt"), ("fmt", "csv")):
            extra = con.execute(
                f"SELECT count(*) FROM (SELECT {cols} FROM {a}.{table} "
                f"EXCEPT ALL SELECT {cols} FROM {b}.{table})"
            ).fetchone()[0]
            assert extra == 0, f"{table}: {extra} row(s) of {a} not in {b} ({fmt})"
