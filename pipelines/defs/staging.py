"""Staging stage: validate the raw rows of new files into staging and quarantine
(her2qa/staging.py runs warehouse/sql/staging/), and the checks that nothing was lost, keys
are unique and the staged rows meet the typed contract."""

import dagster as dg

from her2qa import staging
from pipelines.defs.resources import Her2qaPaths
from pipelines.factory import asset_key, integrity_checks, spec
from pipelines.validation import contract_check
from schemas.staged import staged_her2_results
from warehouse import catalog

HISTORY = asset_key("staging.her2_results_history")
RESULTS = asset_key("staging.her2_results")
REJECTED = asset_key("quarantine.rejected_rows")
VOCABULARY = asset_key("ops.vocabulary")


class StageConfig(dg.Config):
    rebuild: bool = False  # replay every ingested file from the raw layer (rebuild_job)


@dg.multi_asset(
    specs=[spec(t) for t in catalog.layer("staging")],
    pool="her2qa_warehouse",
)
def stage_results(context: dg.AssetExecutionContext, config: StageConfig, paths: Her2qaPaths):
    """Type, check and stage the rows of every file not yet staged, in arrival order."""
    with paths.connect() as con:
        if config.rebuild:
            context.log.info("rebuilding staging and quarantine from the raw layer")
        summary = staging.stage_pending(
            con, paths.load_site_config(), replay=config.rebuild, run_id=context.run.run_id
        )
        history, quarantined = con.execute(
            "SELECT (SELECT count(*) FROM staging.her2_results_history), "
            "(SELECT count(*) FROM quarantine.rejected_rows)"
        ).fetchone()
    context.log.info(
        f"staged {summary.rows_staged:,} rows ({summary.rows_repeated:,} unchanged repeats), "
        f"quarantined {summary.rows_quarantined:,}, from {summary.files} file(s)"
    )
    quarantine_pct = (
        100.0 * summary.rows_quarantined / summary.rows_read if summary.rows_read else 0.0
    )
    yield dg.MaterializeResult(asset_key=VOCABULARY)
    yield dg.MaterializeResult(asset_key=HISTORY, metadata={"dagster/row_count": int(history)})
    yield dg.MaterializeResult(
        asset_key=RESULTS,
        metadata={
            "dagster/row_count": int(summary.results_current),
            "rows_in": summary.rows_read,
            "rows_staged": summary.rows_staged,
            "rows_repeated": summary.rows_repeated,
        },
    )
    yield dg.MaterializeResult(
        asset_key=REJECTED,
        metadata={
            "dagster/row_count": int(quarantined),
            "rows_quarantined": summary.rows_quarantined,
            "quarantine_pct": float(round(quarantine_pct, 3)),
        },
    )


@dg.asset_check(
    asset=RESULTS,
    blocking=True,
    description=(
        "Nothing lost: for every ingested file, rows_read = rows_staged + rows_quarantined, "
        "and the staged rows are in the history (new versions) or counted as repeats."
    ),
)
def accounting_balances(paths: Her2qaPaths) -> dg.AssetCheckResult:
    with paths.connect(read_only=True) as con:
        unbalanced, history_gap = con.execute(
            """
            SELECT
              (SELECT count(*) FROM ops.ingested_files
                WHERE status = 'ingested' AND rows_read <> rows_staged + rows_quarantined),
              (SELECT coalesce(sum(rows_staged - rows_repeated), 0) FROM ops.ingested_files)
              - (SELECT count(*) FROM staging.her2_results_history)
            """
        ).fetchone()
    return dg.AssetCheckResult(
        passed=bool(unbalanced == 0 and history_gap == 0),
        metadata={"files_unbalanced": int(unbalanced), "history_gap_rows": int(history_gap)},
    )


# This run's staged rows, and those checked whatever the sample (pipelines/validation.py):
# every version of a result this run quarantined another version of (where the SQL chose).
STAGED_ROWS_OF_RUN = (
    "SELECT h.* EXCLUDE (is_current) FROM staging.her2_results_history AS h "
    "JOIN ops.ingested_files AS f USING (file_id) WHERE f.staged_run_id = $run_id"
)
STAGED_ALWAYS = (
    "(lab_id, test_id) IN (SELECT q.lab_id, q.test_id FROM quarantine.rejected_rows AS q "
    "JOIN ops.ingested_files AS qf USING (file_id) WHERE qf.staged_run_id = $run_id)"
)

staged_rows_match_contract = contract_check(
    RESULTS,
    "staged_rows_match_contract",
    staged_her2_results,
    STAGED_ROWS_OF_RUN,
    "The staged rows of this run satisfy the typed contract (schemas/staged.py, pandera): types, "
    "vocabulary, ranges, ratio vs means, dates, conditional fields, unique keys. The columns of "
    "every row; the values of a sample and of every version of a result this run quarantined "
    "another version of.",
    always=STAGED_ALWAYS,
)


# Keys unique, and each table's own rules (warehouse/catalog.py).
integrity = integrity_checks(catalog.layer("staging"), "staging_integrity")
