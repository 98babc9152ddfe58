"""lineage.json (content-determined) and generated.json (when and by which run).

lineage.json holds only facts determined by the warehouse content, the code and the
configuration, so two packs of the same warehouse and period are byte-identical:

- ``her2qa.lineage.lineage``: input files with SHA-256 and row accounting, software version
  and git commit, configuration hash, guideline versions applied, and as ``run_id`` the
  Dagster run that last built the warehouse state (the latest ``staged_run_id`` of
  ``ops.ingested_files``: the run whose staging the marts were built from);
- the pack's own facts: period, lab, the period's row-set sizes and guideline versions,
  quarantine counts by reason, the validation assay classification (the configuration's LDT
  kits, also covered by the configuration hash), the SHA-256
  of every SQL file that computed a figure, of metrics.csv and of each case file.

The generation time and the Dagster run that made the pack (when one did) go to
generated.json and into the report only. JSON: sorted keys, two-space indent, UTF-8, no
floats.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import duckdb

import warehouse
from dashboards.audit_pack import compute
from dashboards.audit_pack.period import Period
from her2qa.config import SiteConfig
from her2qa.lineage import lineage

FORMAT_VERSION = 1


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dumps(obj: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, indent 2, trailing newline)."""
    _no_floats(obj)
    return (json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _no_floats(obj: Any) -> None:
    if isinstance(obj, float):
        raise TypeError("lineage.json holds no floats (their text is not stable)")
    if isinstance(obj, Mapping):
        for v in obj.values():
            _no_floats(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            _no_floats(v)


def warehouse_run_id(con: duckdb.DuckDBPyConnection) -> str | None:
    """The Dagster run that last staged data into the warehouse (its current state)."""
    row = con.execute(
        "SELECT staged_run_id FROM wh.ops.ingested_files WHERE staged_run_id IS NOT NULL "
        "ORDER BY staged_at DESC NULLS LAST, file_id DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


def quarantine_counts(con: duckdb.DuckDBPyConnection, lab: str | None) -> dict[str, Any]:
    """Quarantined rows (all dates) of the scope, in total and by reason code."""
    params = {"lab": lab}
    (rows,) = con.execute(
        "SELECT count(*) FROM wh.quarantine.rejected_rows WHERE $lab IS NULL OR lab_id = $lab",
        params,
    ).fetchone()
    by_reason = con.execute(
        "SELECT code, count(*) FROM (SELECT unnest(list_distinct(reason_codes)) AS code "
        "FROM wh.quarantine.rejected_rows WHERE $lab IS NULL OR lab_id = $lab) "
        "GROUP BY code ORDER BY code",
        params,
    ).fetchall()
    return {
        "scope": lab or "ALL",
        "rows": int(rows),
        "by_reason_code": {str(code): int(n) for code, n in by_reason},
    }


def sql_hashes() -> dict[str, str]:
    """SHA-256 of every SQL file the pack ran (warehouse/sql/<name>.sql)."""
    return {
        f"warehouse/sql/{name}.sql": sha256(warehouse.sql(name).encode("utf-8"))
        for name in compute.all_sql_files()
    }


def pack_lineage(
    con: duckdb.DuckDBPyConnection,
    site: SiteConfig,
    period: Period,
    lab: str | None,
    facts: Mapping[str, Any],
    metrics_csv: bytes,
    metrics_rows: int,
    case_files: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """The lineage record of a pack (``con`` from compute.open_warehouse)."""
    run_id = warehouse_run_id(con)
    con.execute("USE wh")
    try:
        record = lineage(con, site, run_id)  # the shared helper (her2qa/lineage.py)
    finally:
        con.execute("USE memory")
    record["run_id_meaning"] = (
        "Dagster run that last staged data into the warehouse (latest staged_run_id of "
        "ops.ingested_files): the warehouse state the figures were computed from"
    )
    record["audit_pack"] = {
        "format_version": FORMAT_VERSION,
        "period": {"from": period.date_from.isoformat(), "to": period.date_to.isoformat()},
        "lab": lab,
        "rows_in_period": {
            "specimens": facts["specimens"],
            "agreement_pairs": facts["agreement_pairs"],
            "primary_metastasis_pairs": facts["primary_metastasis_pairs"],
        },
        "guideline_versions_in_period": dict(facts["guideline_versions"]),
        "quarantine": quarantine_counts(con, lab),
        "validation_assay_classes": {
            "default": "FDA-approved (20 positive + 20 negative cases)",
            "ldt_kits": {k: list(v) for k, v in sorted(site.ldt_kits.items())},
        },
        "sql_sha256": sql_hashes(),
        "metrics_csv": {"sha256": sha256(metrics_csv), "rows": metrics_rows},
        "case_files": {name: dict(info) for name, info in sorted(case_files.items())},
    }
    return record
