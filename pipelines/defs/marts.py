"""Marts and findings stage: staging -> every table of the catalog's marts and findings layers
(warehouse/catalog.py), built by the one runner (warehouse/build.py) in one transaction.

One asset per table, generated from the catalog; this step says when, and reports each
table's row count and headline figures as metadata. The integrity checks (keys, bounds,
roll-ups, each table's rules) are blocking ERROR checks generated from the catalog; the
quality findings are WARN checks that report marts.findings (pipelines/factory.py).
"""

import dagster as dg

from pipelines.defs.resources import Her2qaPaths
from pipelines.factory import asset_key, finding_checks, integrity_checks, mart_specs
from warehouse import build, catalog


@dg.multi_asset(specs=mart_specs(), pool="her2qa_warehouse")
def build_marts(context: dg.AssetExecutionContext, paths: Her2qaPaths):
    """Build the marts and findings from the current staged results (one transaction):
    incrementally, the night's specimens and patients only, when the marts were built by the
    same rules and settings; the results are yielded in build order."""
    with paths.connect() as con:
        summary = build.build_marts(con, paths.load_site_config())
    scope = (
        f"incremental: {summary.scope_specimens:,} specimens of {summary.scope_patients:,} "
        "patients recomputed"
        if summary.mode == "incremental"
        else "built whole"
    )
    context.log.info(
        f"marts ({scope}): {summary.figure('specimen_her2', 'specimens'):,} specimens, "
        f"{summary.rows['agreement']:,} agreement rows; findings: "
        f"{summary.figure('findings', 'look'):,} to look at"
    )
    for t in catalog.build_order():
        if t.layer == "scratch":
            continue
        yield dg.MaterializeResult(
            asset_key=asset_key(t.name),
            metadata={"dagster/row_count": summary.rows[t.short], **summary.figures[t.short]},
        )


integrity = integrity_checks(
    [t for t in catalog.build_order() if t.layer != "scratch"], "marts_integrity"
)
findings = finding_checks()
