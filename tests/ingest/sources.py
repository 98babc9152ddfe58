"""Test helpers for inbox files read through a ``[[sources]]`` configuration."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path

from her2qa import config
from schemas import contract

# The staged values of a result, whatever file or row it came from (for comparisons).
STAGED_VALUES = ", ".join(("patient_key", *contract.RAW_KEPT))


def staged_history(wh) -> list[tuple]:
    """Every staged result version of ``wh`` by its values (no file names, no row numbers),
    in a fixed order: what two formats of the same network must share."""
    return wh.query(
        f"SELECT {STAGED_VALUES} FROM staging.her2_results_history "
        "ORDER BY lab_id, test_id, result_version"
    )


def fresh(wh, name: str):
    """Another warehouse beside ``wh`` (same PHI key): a file read there is compared with
    the same rows read in ``wh`` (within one warehouse the second would be a repeat)."""
    from tests.conftest import Warehouse

    root = wh.root / name
    (root / "inbox").mkdir(parents=True)
    return Warehouse(root, wh.key)


def site(tmp_path: Path, toml: str) -> config.SiteConfig:
    path = tmp_path / "her2qa-test.toml"
    path.write_text(toml, encoding="utf-8")
    return config.load_site_config(path)


def run(wh, site_config: config.SiteConfig | None = None, progress: list[str] | None = None):
    """Ingest the inbox with the sources of ``site_config`` and stage (like a nightly run)."""
    return wh.run(site=site_config, progress=progress)


def outcome(wh, name: str) -> tuple[str, str | None]:
    return wh.one("SELECT status, reason FROM ops.ingested_files WHERE file_name = $n", {"n": name})


def staged(wh, name: str) -> list[tuple]:
    """The staged values of one file's results, sorted (no file or row columns)."""
    return wh.query(
        f"SELECT {STAGED_VALUES} FROM staging.her2_results_history "
        "WHERE source_file = $n ORDER BY lab_id, test_id, result_version",
        {"n": name},
    )


def csv_text(rows: Iterable[dict], delimiter: str = ",", header: list[str] | None = None) -> str:
    header = header or list(contract.NAMES)
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=header, delimiter=delimiter, extrasaction="ignore", restval=""
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def assert_absent(wh, values: Iterable[str], text: str = "") -> None:
    """None of ``values`` (patient identifiers) in any column of any table, nor in text."""
    values = [v for v in values if v]
    tables = wh.query(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database()"
    )
    assert {s for s, _ in tables} >= {"ops", "raw", "staging", "quarantine"}
    for schema, table in tables:
        dump = json.dumps(
            wh.query(f'SELECT * FROM "{schema}"."{table}"'), default=str, ensure_ascii=False
        )
        assert not [v for v in values if v in dump], (schema, table)
    assert not [v for v in values if v in text]
