"""Period figures in SQL: the warehouse's own mart SQL re-run on the period's rows.

The marts are not restricted to an arbitrary date range, so the pack recomputes the
period's figures from the row-level marts — and to keep ONE definition per statistic it
does not restate them: it copies the period's rows into scratch in-memory catalogs and runs
the warehouse's mart SQL files there, unchanged (``STAGES``). The warehouse file is only
attached read-only (as ``wh``); nothing is written to it.

    stage              rows copied (warehouse/sql/audit/stage_*.sql)      SQL re-run
    period_specimens   clinical specimens reported in the period           quality marts of
                       (specimen_date, else last report_date) + their      specimens (below)
                       results, audit rows, metastasis pairs
    period_pairs       agreement pairs and IHC boundary pairs dated in     agreement,
                       the period                                          agreement_by_group,
                                                                           boundary_agreement
    period_metastasis  primary/metastasis pairs dated in the period        summary, transitions
    period_findings    the marts findings.sql reads, each from the stage   findings/findings
                       above that made it for the period

Every stage re-runs marts/reference_bands.sql first, with the pack's configuration (the
temporary table ``lab_settings`` of warehouse/build.py): the pack's targets are the
configuration it records in lineage.json. Then warehouse/sql/audit/<section>.sql turn the
re-run marts (and, for validation and proficiency, staging.her2_results) into one long table
of figures, ``audit_metrics``, and the case worklists; each judged figure carries the verdict
of its row of marts.findings (audit/findings.sql, audit/verdicts.sql). Every value reaches SQL
as a parameter ($from, $to, $lab, ...): none is formatted into a statement.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as day_time
from pathlib import Path
from typing import Any

import duckdb

import warehouse
from dashboards.audit_pack.period import Period
from her2qa import config
from warehouse import build, catalog

# Every warehouse table a pack reads (catalog.published(); a warehouse built by an older
# version may lack some).
WAREHOUSE_TABLES = (
    "ops.ingested_files",
    "raw.her2_rows",
    "quarantine.rejected_rows",
    "staging.her2_results",
    "marts.specimen_her2",
    "marts.agreement_pairs",
    "marts.boundary_pairs",
    "marts.primary_metastasis_pairs",
    "marts.interpretation_audit",
    "marts.positivity_monthly",
    "marts.findings",
    "marts.proficiency_results",
    "marts.proficiency_events",
)


@dataclass(frozen=True)
class Stage:
    catalog: str  # scratch in-memory catalog (a constant identifier, never user input)
    copy_sql: str  # warehouse/sql/audit/<...>: copies the period's rows into the catalog
    marts: tuple[str, ...]  # warehouse/sql/marts/<...>, re-run unchanged in the catalog


STAGES: tuple[Stage, ...] = (
    Stage(
        "period_specimens",
        "audit/stage_specimens",
        (
            "marts/reference_bands",
            "marts/ihc_ish_discordance",
            "marts/specimen_counts",
            "marts/amplification_by_ihc_score",
            "marts/positivity_cases",
            "marts/positivity_counts",
            "marts/positivity_monthly",
            "marts/positivity_pathologists",
            "marts/her2_low_distribution",
            "marts/specimen_repeats",
            "marts/cap11_specimens",
            "marts/cap11_rates",
            "marts/retest_candidates",
            "marts/specimen_preanalytic",
            "marts/preanalytic_counts",
            "marts/preanalytic_monthly",
        ),
    ),
    Stage(
        "period_pairs",
        "audit/stage_pairs",
        (
            "marts/agreement_counts",
            "marts/agreement",
            "marts/agreement_by_group",
            "marts/boundary_agreement",
        ),
    ),
    Stage(
        "period_metastasis",
        "audit/stage_metastasis",
        (
            "marts/reference_bands",
            "marts/primary_metastasis_summary",
            "marts/her2_low_transitions",
        ),
    ),
    Stage(
        "period_findings", "audit/stage_findings", ("marts/reference_bands", "findings/findings")
    ),
)


def stage_inputs(stage: Stage) -> list[tuple[str, str]]:
    """(table, catalog): the tables the stage's SQL reads (their catalog upstream) that an
    earlier stage made for the period, copied from there, so each keeps the period definition
    of the stage that made it (e.g. findings reads marts.agreement from period_pairs). A table
    the stage makes itself (marts.reference_bands, re-run everywhere) is not copied."""
    by_sql = {t.sql: t for t in catalog.TABLES}
    made_in: dict[str, str] = {}
    for earlier in STAGES[: STAGES.index(stage)]:
        made_in.update({by_sql[sql].name: earlier.catalog for sql in earlier.marts})
    own = {by_sql[sql].name for sql in stage.marts}
    reads = sorted({u for sql in stage.marts for u in by_sql[sql].upstream} - own)
    return [(name, made_in[name]) for name in reads if name in made_in]


# warehouse/sql/audit/<section>.sql, in order: the findings before the cases (positivity
# signals) and the cases before the sections that count them; verdicts last.
SECTIONS = (
    "metrics_table",
    "findings",
    "cases",
    "volumes",
    "agreement",
    "amplification",
    "positivity",
    "her2_low",
    "preanalytic",
    "cap11",
    "metastasis",
    "discordance",
    "validation",
    "proficiency",
    "data_quality",
    "annual_review",
    "verdicts",
)

# Case worklists: file in cases/ -> the query of its rows (sorted: deterministic files).
CASE_QUERIES: dict[str, str] = {
    "ihc_ish_discordance.csv": "SELECT * FROM audit_cases_ihc_ish ORDER BY lab_id, accession_id",
    "lab_vs_reference_discordance.csv": (
        "SELECT * FROM audit_cases_lab_vs_reference ORDER BY lab_id, accession_id"
    ),
    "observer_disagreements.csv": (
        "SELECT * FROM audit_cases_observer ORDER BY lab_id, accession_id"
    ),
    "retest_candidates.csv": "SELECT * FROM audit_cases_retest ORDER BY lab_id, accession_id",
    "positivity_signals.csv": (
        "SELECT * FROM audit_cases_positivity_signals "
        "ORDER BY lab_id, level, pathologist_id, month_label"
    ),
    "validation_cases.csv": (
        "SELECT * FROM audit_validation_cases ORDER BY lab_id, assay, assay_kit, test_id"
    ),
    "proficiency_results.csv": (
        "SELECT * FROM audit_pt_results ORDER BY lab_id, event_date, challenge_id, assay"
    ),
}


class AuditError(Exception):
    """The pack cannot be made; the message is one line for the user."""


@dataclass
class PeriodData:
    metrics: list[dict[str, Any]]  # rows of audit_metrics
    findings: list[dict[str, Any]]  # rows of audit_findings: every verdict the pack may show
    cases: dict[str, tuple[list[str], list[tuple]]]  # file name -> (columns, rows)
    labs: list[str]  # laboratories of the warehouse
    facts: dict[str, Any] = field(default_factory=dict)  # cohort sizes, guideline versions


def all_sql_files() -> list[str]:
    """Every SQL file a pack runs (for lineage: their hashes pin the definitions)."""
    names = list(build.MACROS)
    for stage in STAGES:
        names += [stage.copy_sql, *stage.marts]
    names += [f"audit/{s}" for s in SECTIONS]
    return names


@contextmanager
def open_warehouse(warehouse_file: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB with the warehouse attached read-only as ``wh``.

    Waits while another process holds the write lock (``HER2QA_LOCK_TIMEOUT`` seconds, as
    ``warehouse.connect``); one-line AuditError for a missing or unusable file."""
    path = Path(warehouse_file)
    if not path.exists():
        raise AuditError(f"warehouse {path} does not exist: run `her2qa run` first")
    settings = warehouse._settings()  # the project's DuckDB memory and thread limits
    with tempfile.TemporaryDirectory(prefix="her2qa-audit-") as spill:
        con = duckdb.connect(":memory:", config={**settings, "temp_directory": spill})
        try:
            _attach(con, path)
            yield con
        finally:
            con.close()


def _attach(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    deadline = time.monotonic() + float(os.environ.get("HER2QA_LOCK_TIMEOUT", "30"))
    delay = 0.1
    while True:
        try:
            con.execute("ATTACH $path AS wh (READ_ONLY)", {"path": str(path)})
            break
        except duckdb.Error as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if "lock" in message.lower() and time.monotonic() < deadline:
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if "lock" in message.lower():
                raise AuditError(
                    f"warehouse {path} is locked by another process (a run in progress?)"
                ) from None
            raise AuditError(f"warehouse {path} is not a usable DuckDB file: {message}") from None
    present = {
        f"{schema}.{table}"
        for schema, table in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'wh' "
            "UNION ALL SELECT schema_name, view_name FROM duckdb_views() "
            "WHERE database_name = 'wh'"  # staging.her2_results is a view of the history
        ).fetchall()
    }
    missing = [t for t in WAREHOUSE_TABLES if t not in present]
    if missing:
        raise AuditError(
            f"warehouse {path} has no {', '.join(missing)} yet: run `her2qa run` first"
        )


def warehouse_labs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Laboratories with current results in the warehouse."""
    rows = con.execute("SELECT DISTINCT lab_id FROM wh.staging.her2_results ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def compute(
    con: duckdb.DuckDBPyConnection, period: Period, lab: str | None, site: config.SiteConfig
) -> PeriodData:
    """The period's figures, verdicts and worklists (``con`` from ``open_warehouse``), with the
    targets of ``site`` (its lab targets and LDT kits reach SQL as rows of ``lab_settings``)."""
    params: dict[str, Any] = {
        # findings are judged at the end of the period's last day (never the clock: the same
        # inputs give the same pack)
        **build.settings_params(
            site, as_of=datetime.combine(period.date_to, day_time.max, tzinfo=UTC)
        ),
        "from": period.date_from,
        "to": period.date_to,
        "lab": lab,
    }
    labs = warehouse_labs(con)
    build.define_macros(con)
    build.load_settings(con, site)
    for stage in STAGES:
        con.execute(f"DETACH DATABASE IF EXISTS {stage.catalog}")  # a second period, same con
        con.execute(f"ATTACH ':memory:' AS {stage.catalog}")
        warehouse.run(con, stage.copy_sql, params)
        for table, made_in in stage_inputs(stage):
            con.execute(
                f"CREATE TABLE {stage.catalog}.{table} AS SELECT * FROM {made_in}.{table}"  # noqa: S608 - catalog names
            )
        con.execute(f"USE {stage.catalog}")
        try:
            for sql in stage.marts:
                warehouse.run(con, sql, params)
        finally:
            con.execute("USE memory")
    for section in SECTIONS:
        warehouse.run(con, f"audit/{section}", params)
    metrics = _records(con, "SELECT * FROM audit_metrics")
    findings = _records(
        con, "SELECT * FROM audit_findings ORDER BY finding, lab_id, period, subgroup"
    )
    cases = {}
    for file_name, query in CASE_QUERIES.items():
        cursor = con.execute(query)
        columns = [d[0] for d in cursor.description]
        cases[file_name] = (columns, [tuple(_plain(v) for v in row) for row in cursor.fetchall()])
    return PeriodData(metrics=metrics, findings=findings, cases=cases, labs=labs, facts=_facts(con))


def _facts(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Sizes of the period's row sets and the guideline versions they were read under."""
    (specimens,) = con.execute(
        "SELECT count(*) FROM period_specimens.marts.specimen_her2"
    ).fetchone()
    (pairs,) = con.execute("SELECT count(*) FROM period_pairs.marts.agreement_pairs").fetchone()
    (met_pairs,) = con.execute(
        "SELECT count(*) FROM period_metastasis.marts.primary_metastasis_pairs"
    ).fetchone()
    versions = con.execute(
        "SELECT guideline_version, count(*) FROM period_specimens.marts.specimen_her2 "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return {
        "specimens": int(specimens),
        "agreement_pairs": int(pairs),
        "primary_metastasis_pairs": int(met_pairs),
        "guideline_versions": {str(v): int(n) for v, n in versions},
    }


def _records(con: duckdb.DuckDBPyConnection, query: str) -> list[dict[str, Any]]:
    cursor = con.execute(query)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, (_plain(v) for v in row), strict=True)) for row in cursor.fetchall()]


def _plain(value: Any) -> Any:
    """Dates as ISO text; everything else as DuckDB gives it."""
    if isinstance(value, date):
        return value.isoformat()
    return value
