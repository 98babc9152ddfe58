"""Asset checks of the core marts.

ERROR checks are integrity (blocking): a mart that breaks one is wrong, whatever the
data, and the steps after it (dashboards) must not publish it. They come from one table
of rules, each a query counting the rows that break it.

The WARN check is quality (non-blocking): IHC/ISH concordance under the lab target is a
finding about the laboratory, shown in the outputs, never a failure of the run.
"""

from typing import NamedTuple

import dagster as dg

from her2qa import marts
from her2qa.config import CONCORDANCE_TARGET_LABEL, DEFAULT_CONCORDANCE_TARGET
from pipelines.assets.marts import AGREEMENT, PRIMARY_METASTASIS_PAIRS, SPECIMEN_HER2
from pipelines.resources import Her2qaPaths

# The IHC/ISH concordance target is the lab's (her2qa/config.py, default 95%: the ASCO/CAP
# 2007 validation criterion, which 2013/2018 no longer set as a figure; a lab target, not a
# CAP requirement, her2-domain.md §QA-WORDING).


class Rule(NamedTuple):
    name: str
    asset: dg.AssetKey
    description: str
    violations_sql: str  # counts the rows that break the rule (several rows are summed)


# The contract's values, passed to the rules as parameters.
VALUES = {
    "final_statuses": list(marts.FINAL_STATUSES),
    "her2_categories": list(marts.HER2_CATEGORIES),
    "changes": list(marts.CHANGES),
}

RULES = (
    Rule(
        "agreement_2x2_sums_to_n_pairs",
        AGREEMENT,
        "Binary comparisons: n_pos_pos + n_pos_neg + n_neg_pos + n_neg_neg = n_pairs and "
        "n_pos_pos + n_neg_neg = n_agree; observer_vs_observer rows leave the 2×2, ppa and "
        "npa null.",
        """
        SELECT count(*) FROM marts.agreement
        WHERE CASE
            WHEN comparison = 'observer_vs_observer' THEN
                coalesce(n_pos_pos, n_pos_neg, n_neg_pos, n_neg_neg, ppa, npa) IS NOT NULL
            ELSE n_pos_pos + n_pos_neg + n_neg_pos + n_neg_neg IS DISTINCT FROM n_pairs
                OR n_pos_pos + n_neg_neg IS DISTINCT FROM n_agree
        END
        """,
    ),
    Rule(
        "agreement_roll_ups_add_up",
        AGREEMENT,
        "Each 'ALL' row holds the sum of the rows it pools: lab ALL = sum over labs, "
        "period ALL = sum over quarters (n_pairs and n_agree); statistics within range.",
        """
        WITH labs AS (
            SELECT comparison, period, sum(n_pairs) AS n, sum(n_agree) AS k
            FROM marts.agreement WHERE lab_id <> 'ALL' GROUP BY ALL
        ), quarters AS (
            SELECT comparison, lab_id, sum(n_pairs) AS n, sum(n_agree) AS k
            FROM marts.agreement WHERE period <> 'ALL' GROUP BY ALL
        )
        SELECT
            (SELECT count(*) FROM marts.agreement AS a JOIN labs AS l USING (comparison, period)
             WHERE a.lab_id = 'ALL' AND (a.n_pairs <> l.n OR a.n_agree <> l.k))
          + (SELECT count(*) FROM marts.agreement AS a JOIN quarters AS q
                 USING (comparison, lab_id)
             WHERE a.period = 'ALL' AND (a.n_pairs <> q.n OR a.n_agree <> q.k))
          + (SELECT count(*) FROM marts.agreement
             WHERE n_pairs < 1 OR n_agree > n_pairs
                OR NOT (ci_low <= pct_agree + 1e-9 AND pct_agree <= ci_high + 1e-9)
                OR kappa > 1 + 1e-9 OR kappa_quadratic > 1 + 1e-9)
        """,
    ),
    Rule(
        "specimens_have_final_status_and_category",
        SPECIMEN_HER2,
        "Every specimen has a final_status and a her2_category from the contract's values "
        "(spec/warehouse.md, Statuses).",
        """
        SELECT count(*) FROM marts.specimen_her2
        WHERE NOT coalesce(list_contains($final_statuses, final_status), false)
           OR NOT coalesce(list_contains($her2_categories, her2_category), false)
           OR (ish_group IS NOT NULL AND ish_group NOT BETWEEN 1 AND 5)
        """,
    ),
    Rule(
        "specimen_her2_key_unique",
        SPECIMEN_HER2,
        "One row per specimen (lab_id, accession_id).",
        """
        SELECT count(*) FROM (
            SELECT 1 FROM marts.specimen_her2 GROUP BY lab_id, accession_id HAVING count(*) > 1
        )
        """,
    ),
    Rule(
        "agreement_key_unique",
        AGREEMENT,
        "One row per comparison × lab_id × period.",
        """
        SELECT count(*) FROM (
            SELECT 1 FROM marts.agreement GROUP BY comparison, lab_id, period
            HAVING count(*) > 1
        )
        """,
    ),
    Rule(
        "primary_metastasis_pairs_key_unique",
        PRIMARY_METASTASIS_PAIRS,
        "One row per (patient, metastasis specimen), each with a change from the contract.",
        """
        SELECT count(*) FROM (
            SELECT 1 FROM marts.primary_metastasis_pairs
            GROUP BY patient_key, metastasis_lab_id, metastasis_accession_id
            HAVING count(*) > 1
        )
        UNION ALL
        SELECT count(*) FROM marts.primary_metastasis_pairs
        WHERE NOT coalesce(list_contains($changes, change), false)
        """,
    ),
)


def integrity_check(rule: Rule) -> dg.AssetChecksDefinition:
    """A blocking ERROR check that passes when the rule's SQL counts no violating row."""

    @dg.asset_check(asset=rule.asset, name=rule.name, blocking=True, description=rule.description)
    def _check(paths: Her2qaPaths) -> dg.AssetCheckResult:
        with paths.connect(read_only=True) as con:
            params = {k: v for k, v in VALUES.items() if f"${k}" in rule.violations_sql}
            result = con.execute(rule.violations_sql, params or None).fetchall()
        violations = sum(int(r[0]) for r in result)
        return dg.AssetCheckResult(
            passed=violations == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"violating_rows": violations},
        )

    return _check


@dg.asset_check(
    asset=AGREEMENT,
    blocking=False,
    description=(
        "IHC/ISH concordance at or above the lab target (ASCO/CAP 2007 criterion, "
        f"{DEFAULT_CONCORDANCE_TARGET:g}% unless the lab's configuration says otherwise), per "
        "lab, all periods pooled. A quality "
        "finding (WARN), never a failure of the run. The 2013/2018 guidelines set no "
        "concordance figure; the 95% is a lab target, not a CAP requirement."
    ),
)
def ihc_ish_concordance_meets_lab_target(paths: Her2qaPaths) -> dg.AssetCheckResult:
    with paths.connect(read_only=True) as con:
        rows = con.execute(
            """
            SELECT lab_id, n_pairs, pct_agree, ci_low, ci_high
            FROM marts.agreement
            WHERE comparison = 'ihc_vs_ish' AND period = 'ALL'
            ORDER BY lab_id <> 'ALL', lab_id
            """
        ).fetchall()
    site = paths.load_site_config()
    labs = [r for r in rows if r[0] != "ALL"]
    below = [r for r in labs if r[2] < site.concordance_target(r[0])]
    table = "\n".join(
        [
            "| lab | pairs | concordance % | 95% CI (Wilson) | lab target % | target met |",
            "|---|---|---|---|---|---|",
        ]
        + [
            f"| {lab} | {n:,} | {pct:.1f} | {low:.1f}–{high:.1f} | "
            f"{site.concordance_target(lab):g} | "
            f"{'yes' if pct >= site.concordance_target(lab) else 'no'} |"
            for lab, n, pct, low, high in rows
        ]
    )
    return dg.AssetCheckResult(
        passed=not below,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(below)} of {len(labs)} lab(s) under their {CONCORDANCE_TARGET_LABEL}"
            if labs
            else "no IHC/ISH pairs yet"
        ),
        metadata={
            "default_target_pct": DEFAULT_CONCORDANCE_TARGET,
            "labs_evaluated": len(labs),
            "labs_below_target": len(below),
            "labs_below": ", ".join(r[0] for r in below) or "none",
            "concordance": dg.MetadataValue.md(table if rows else "no IHC/ISH pairs"),
        },
    )


MART_CHECKS = [*(integrity_check(rule) for rule in RULES), ihc_ish_concordance_meets_lab_target]
