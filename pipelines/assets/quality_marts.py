"""Quality marts stage: the core marts -> the lab-quality tables (her2qa/quality_marts.py).

The SQL does the work (warehouse/sql/marts/<table>.sql, one file per table); this asset says
when, and reports each table's row count and headline figures as numeric metadata.
"""

import dagster as dg

from her2qa import quality_marts
from pipelines.assets.marts import AGREEMENT, PRIMARY_METASTASIS_PAIRS, SPECIMEN_HER2
from pipelines.assets.staging import RESULTS
from pipelines.resources import Her2qaPaths


def key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["marts", table])


REFERENCE_BANDS = key("reference_bands")
IHC_ISH_DISCORDANCE = key("ihc_ish_discordance")
AMPLIFICATION_BY_IHC_SCORE = key("amplification_by_ihc_score")
AGREEMENT_BY_GROUP = key("agreement_by_group")
POSITIVITY_MONTHLY = key("positivity_monthly")
HER2_LOW_DISTRIBUTION = key("her2_low_distribution")
INTERPRETATION_AUDIT = key("interpretation_audit")
CAP11_RATES = key("cap11_rates")
PRIMARY_METASTASIS_SUMMARY = key("primary_metastasis_summary")
HER2_LOW_TRANSITIONS = key("her2_low_transitions")
RETEST_CANDIDATES = key("retest_candidates")
PREANALYTIC_MONTHLY = key("preanalytic_monthly")

# table -> (description, upstream assets it is built from)
TABLES: dict[str, tuple[str, list[dg.AssetKey]]] = {
    "reference_bands": (
        "Published benchmarks (her2-domain.md §BENCH) and pre-analytic limits (§PREANALYTIC) "
        "as data: band, low/high, unit, source, label. The other quality marts join these.",
        [],
    ),
    "ihc_ish_discordance": (
        "Worklist, one row per specimen: IHC 3+ with ISH group 5, IHC 0/1+ with group 1, and "
        "every group 2-4 with how it resolved; selected test ids, values, reason.",
        [SPECIMEN_HER2],
    ),
    "amplification_by_ihc_score": (
        "Per lab (and ALL) and IHC score: specimens with dual-probe ISH, amplified (group 1; "
        "ratio >= 2.0) and ISH-positive rates with Wilson CIs, beside §BENCH 6.2.",
        [SPECIMEN_HER2, REFERENCE_BANDS],
    ),
    "agreement_by_group": (
        "marts.agreement statistics by assay kit and by pathologist of the first member "
        "(IHC vs ISH, observer vs observer, lab vs reference).",
        [AGREEMENT, SPECIMEN_HER2],
    ),
    "positivity_monthly": (
        "p-chart of the monthly HER2-positive rate per lab and per pathologist (clinical "
        "primaries, positive or negative): centre line, 3-sigma limits, out-of-control flag, "
        "published band beside it (context, not a limit).",
        [SPECIMEN_HER2, REFERENCE_BANDS],
    ),
    "her2_low_distribution": (
        "HER2 categories (positive, low, ultralow, null, zero_unspecified, equivocal, "
        "indeterminate) per lab, role and quarter, counts and shares, beside §BENCH 6.3.",
        [SPECIMEN_HER2, REFERENCE_BANDS],
    ),
    "interpretation_audit": (
        "Every current clinical result: reported call vs the ASCO/CAP algorithm's call for the "
        "row, agreement and reason; IHC score vs % stained contradictions as findings.",
        [RESULTS, SPECIMEN_HER2],
    ),
    "cap11_rates": (
        "CAP 11 (2019) proxies per lab and month: rate 1 specimens whose reported calls agree "
        "with the algorithm; rate 2 IHC 2+ specimens with a completed dual-probe ISH, with "
        "median / p90 days IHC -> ISH; Wilson CIs.",
        [SPECIMEN_HER2, INTERPRETATION_AUDIT],
    ),
    "primary_metastasis_summary": (
        "Per metastasis lab (and ALL): gain, loss and overall discordance with Wilson CIs "
        "beside Schrijver 2018 and Houssami 2011 (§BENCH 6.4).",
        [PRIMARY_METASTASIS_PAIRS, REFERENCE_BANDS],
    ),
    "her2_low_transitions": (
        "Primary HER2 category -> metastasis HER2 category counts per lab (and ALL).",
        [PRIMARY_METASTASIS_PAIRS],
    ),
    "retest_candidates": (
        "Metastases to consider for retesting: status change that would change therapy, no "
        "usable result, IHC 2+ without ISH, ... with the reason (§BENCH 6.4).",
        [SPECIMEN_HER2, PRIMARY_METASTASIS_PAIRS],
    ),
    "preanalytic_monthly": (
        "Per lab and month: cold ischaemia <= 60 min, fixation 6-72 h, undocumented, "
        "compliance rates with Wilson CIs; turnaround median and p90 days.",
        [RESULTS, SPECIMEN_HER2, REFERENCE_BANDS],
    ),
}
if tuple(TABLES) != quality_marts.TABLES:  # one list of tables, in build order
    raise RuntimeError("pipelines/assets/quality_marts.py is out of step with her2qa/quality_marts")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key(table),
            description=description,
            deps=deps,
            kinds={"duckdb"},
            group_name="marts",
            owners=["team:her2qa"],
        )
        for table, (description, deps) in TABLES.items()
    ],
    pool="her2qa_warehouse",
)
def build_quality_marts(context: dg.AssetExecutionContext, paths: Her2qaPaths):
    """Rebuild the quality marts from staging and the core marts (one transaction); the
    results are yielded in build order."""
    with paths.connect() as con:
        summary = quality_marts.build_quality_marts(con)
    context.log.info(
        "quality marts: "
        f"{summary.figure('ihc_ish_discordance', 'discordant_cases'):,} IHC/ISH discordant cases, "
        f"{summary.figure('positivity_monthly', 'out_of_control_points'):,} out-of-control "
        "positivity points, "
        f"{summary.figure('interpretation_audit', 'interpretation_disagreements'):,} "
        "interpretation disagreements, "
        f"{summary.figure('retest_candidates', 'retest_candidates'):,} retest candidates"
    )
    for table in quality_marts.TABLES:
        yield dg.MaterializeResult(
            asset_key=key(table),
            metadata={
                "dagster/row_count": summary.rows[table],
                **summary.figures.get(table, {}),
            },
        )


QUALITY_MART_ASSETS = [build_quality_marts]
