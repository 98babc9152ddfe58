"""Marts stage: staging.her2_results -> the core marts of spec/warehouse.md.

The SQL does the work (warehouse/sql/marts/, run by her2qa/marts.py); this asset says
when, and reports the headline figures as metadata.
"""

import dagster as dg

from her2qa import marts
from pipelines.assets.staging import RESULTS
from pipelines.resources import Her2qaPaths

SPECIMEN_HER2 = dg.AssetKey(["marts", "specimen_her2"])
AGREEMENT = dg.AssetKey(["marts", "agreement"])
PRIMARY_METASTASIS_PAIRS = dg.AssetKey(["marts", "primary_metastasis_pairs"])


def _spec(key: dg.AssetKey, description: str, deps: list[dg.AssetKey]) -> dg.AssetSpec:
    return dg.AssetSpec(
        key,
        description=description,
        deps=deps,
        kinds={"duckdb"},
        group_name="marts",
        owners=["team:her2qa"],
    )


@dg.multi_asset(
    specs=[
        _spec(
            SPECIMEN_HER2,
            "One row per specimen with a clinical result: selected IHC and dual-probe ISH, "
            "ISH group (2018), final status under the lab's ASCO/CAP version, HER2 category.",
            [RESULTS],
        ),
        _spec(
            AGREEMENT,
            "Agreement per comparison × lab × quarter (and ALL): IHC vs ISH, lab vs reference "
            "lab, observer vs observer, primary vs metastasis; Wilson CI, PPA/NPA, kappa. "
            "Every pair is in marts.agreement_pairs.",
            [RESULTS, SPECIMEN_HER2, PRIMARY_METASTASIS_PAIRS],
        ),
        _spec(
            PRIMARY_METASTASIS_PAIRS,
            "Each metastasis specimen with the patient's earliest primary (across labs): "
            "both statuses, change (concordant / gain / loss / not_comparable), HER2 categories.",
            [RESULTS, SPECIMEN_HER2],
        ),
    ],
    pool="her2qa_warehouse",
)
def build_marts(context: dg.AssetExecutionContext, paths: Her2qaPaths):
    """Rebuild the core marts from the current staged results (one transaction); the
    results are yielded in dependency order."""
    with paths.connect() as con:
        summary = marts.build_core_marts(con, paths.load_site_config())
        statuses = dict(
            con.execute(
                "SELECT final_status, count(*) FROM marts.specimen_her2 GROUP BY ALL"
            ).fetchall()
        )
        changes = dict(
            con.execute(
                "SELECT change, count(*) FROM marts.primary_metastasis_pairs GROUP BY ALL"
            ).fetchall()
        )
    concordance = (
        f"{summary.ihc_ish_pct_agree:.1f}% over {summary.ihc_ish_pairs:,} pairs"
        if summary.ihc_ish_pct_agree is not None
        else "no IHC/ISH pairs"
    )
    context.log.info(
        f"marts: {summary.specimens:,} specimens, {summary.agreement_rows:,} agreement rows, "
        f"{summary.metastasis_pairs:,} metastasis pairs; IHC/ISH concordance {concordance}"
    )
    specimen_meta: dict = {
        "dagster/row_count": summary.specimens,
        "specimens": summary.specimens,
        **{f"n_{s}": int(statuses.get(s, 0)) for s in marts.FINAL_STATUSES},
    }
    if summary.positive_pct is not None:
        specimen_meta["primary_positive_pct"] = float(round(summary.positive_pct, 3))
    agreement_meta: dict = {
        "dagster/row_count": summary.agreement_rows,
        "ihc_ish_pairs": summary.ihc_ish_pairs,
        **{f"pairs_{c}": summary.pairs_by_comparison.get(c, 0) for c in marts.COMPARISONS},
    }
    if summary.ihc_ish_pct_agree is not None:
        agreement_meta["ihc_ish_pct_agree"] = float(round(summary.ihc_ish_pct_agree, 3))
    yield dg.MaterializeResult(asset_key=SPECIMEN_HER2, metadata=specimen_meta)
    yield dg.MaterializeResult(
        asset_key=PRIMARY_METASTASIS_PAIRS,
        metadata={
            "dagster/row_count": summary.metastasis_pairs,
            **{f"n_{c}": int(changes.get(c, 0)) for c in marts.CHANGES},
        },
    )
    yield dg.MaterializeResult(asset_key=AGREEMENT, metadata=agreement_meta)


MART_ASSETS = [build_marts]
