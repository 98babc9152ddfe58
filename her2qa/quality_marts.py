"""Quality marts: the core marts -> the lab-quality tables of the "Clinical core and quality
marts" issue (item 3), all computed in DuckDB SQL (``warehouse/sql/marts/``, one file per
table, named after it, each documenting its grain and columns)::

    reference_bands.sql             published benchmarks and guideline limits, as data
    ihc_ish_discordance.sql         worklist: IHC 3+/group 5, IHC 0-1+/group 1, groups 2-4
    amplification_by_ihc_score.sql  ISH amplification per IHC score, beside §BENCH 6.2
    agreement_by_group.sql          marts.agreement by assay kit and by pathologist
    positivity_monthly.sql          p-chart of the HER2-positive rate, beside §BENCH 6.1
    her2_low_distribution.sql       HER2 categories per lab and quarter, beside §BENCH 6.3
    interpretation_audit.sql        reported call vs the algorithm's, per clinical result
    cap11_rates.sql                 CAP 11 rates 1 and 2 per lab and month
    primary_metastasis_summary.sql  gain / loss / discordance, beside §BENCH 6.4
    her2_low_transitions.sql        primary category -> metastasis category
    retest_candidates.sql           metastases to consider for retesting, with the reason
    preanalytic_monthly.sql         cold ischaemia, fixation, turnaround per lab and month

They are built only from ``staging.her2_results`` and the core marts (her2qa/marts.py), with
the core's rule and statistics macros (``asco_cap_rules``, ``agreement_statistics``: never
redefined). This module runs the files in order, in one transaction: readers see all the old
quality marts or all the new ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

import warehouse

# Temporary macros of the core marts (defined per connection, so defined again here).
RULES = ("marts/asco_cap_rules", "marts/agreement_statistics")
# In dependency order: reference_bands first, interpretation_audit before cap11_rates.
TABLES = (
    "reference_bands",
    "ihc_ish_discordance",
    "amplification_by_ihc_score",
    "agreement_by_group",
    "positivity_monthly",
    "her2_low_distribution",
    "interpretation_audit",
    "cap11_rates",
    "primary_metastasis_summary",
    "her2_low_transitions",
    "retest_candidates",
    "preanalytic_monthly",
)


# Headline figures per table (asset metadata): name -> query of one number (NULL: none).
FIGURES: dict[str, dict[str, str]] = {
    "reference_bands": {"bands": "SELECT count(*) FROM marts.reference_bands"},
    "ihc_ish_discordance": {
        "discordant_cases": "SELECT count_if(discordance_type <> 'ish_group_2_4') "
        "FROM marts.ihc_ish_discordance",
        "ish_group_2_4_cases": "SELECT count_if(discordance_type = 'ish_group_2_4') "
        "FROM marts.ihc_ish_discordance",
        "needs_blinded_recount": "SELECT count_if(needs_blinded_recount) "
        "FROM marts.ihc_ish_discordance",
    },
    "amplification_by_ihc_score": {
        "ihc_2plus_with_ish": "SELECT n_with_ish FROM marts.amplification_by_ihc_score "
        "WHERE lab_id = 'ALL' AND ihc_score = '2+'",
        "ihc_2plus_ratio_amplified_rate": "SELECT ratio_amplified_rate "
        "FROM marts.amplification_by_ihc_score WHERE lab_id = 'ALL' AND ihc_score = '2+'",
    },
    "agreement_by_group": {
        "groups": "SELECT count(*) FROM marts.agreement_by_group WHERE lab_id <> 'ALL'",
    },
    "positivity_monthly": {
        "out_of_control_points": "SELECT count_if(out_of_control) FROM marts.positivity_monthly "
        "WHERE level = 'lab'",
        "out_of_control_pathologist_points": "SELECT count_if(out_of_control) "
        "FROM marts.positivity_monthly WHERE level = 'pathologist'",
        "positive_rate": "SELECT sum(n_positive) / sum(n_specimens) "
        "FROM marts.positivity_monthly WHERE level = 'lab'",
    },
    "her2_low_distribution": {
        "primary_share_low": "SELECT share_low FROM marts.her2_low_distribution "
        "WHERE lab_id = 'ALL' AND specimen_role = 'primary' AND quarter = 'ALL'",
        "primary_share_ihc0": "SELECT share_ihc0 FROM marts.her2_low_distribution "
        "WHERE lab_id = 'ALL' AND specimen_role = 'primary' AND quarter = 'ALL'",
    },
    "interpretation_audit": {
        "audited_results": "SELECT count_if(audited) FROM marts.interpretation_audit",
        "interpretation_disagreements": "SELECT count_if(NOT agrees) "
        "FROM marts.interpretation_audit",
        "pct_contradictions": "SELECT count_if(pct_contradiction) FROM marts.interpretation_audit",
    },
    "cap11_rates": {
        "rate1": "SELECT sum(n_specimens_agree) / sum(n_specimens_audited) "
        "FROM marts.cap11_rates WHERE lab_id = 'ALL'",
        "rate2": "SELECT sum(n_ish_completed) / sum(n_ihc_equivocal) "
        "FROM marts.cap11_rates WHERE lab_id = 'ALL'",
    },
    "primary_metastasis_summary": {
        "pairs": "SELECT n_pairs FROM marts.primary_metastasis_summary WHERE lab_id = 'ALL'",
        "gain_rate": "SELECT gain_rate FROM marts.primary_metastasis_summary WHERE lab_id = 'ALL'",
        "loss_rate": "SELECT loss_rate FROM marts.primary_metastasis_summary WHERE lab_id = 'ALL'",
    },
    "her2_low_transitions": {
        "eligibility_changes": "SELECT coalesce(sum(n_pairs), 0) FROM marts.her2_low_transitions "
        "WHERE lab_id = 'ALL' AND changes_eligibility",
    },
    "retest_candidates": {
        "retest_candidates": "SELECT count(*) FROM marts.retest_candidates",
        "therapy_change_candidates": "SELECT count_if(reason_group = 'therapy_change') "
        "FROM marts.retest_candidates",
    },
    "preanalytic_monthly": {
        "cold_compliance_rate": "SELECT sum(n_cold_within) / sum(n_cold_within + n_cold_over) "
        "FROM marts.preanalytic_monthly WHERE lab_id = 'ALL'",
        "fixation_compliance_rate": "SELECT sum(n_fixation_within) "
        "/ sum(n_fixation_within + n_fixation_outside) "
        "FROM marts.preanalytic_monthly WHERE lab_id = 'ALL'",
    },
}


@dataclass(frozen=True)
class QualitySummary:
    rows: dict[str, int]  # table -> row count
    figures: dict[str, dict[str, float]]  # table -> headline figures (FIGURES; None left out)

    def figure(self, table: str, name: str, default: float = 0) -> float:
        return self.figures.get(table, {}).get(name, default)


def build_quality_marts(con: duckdb.DuckDBPyConnection) -> QualitySummary:
    """Rebuild every quality mart from staging and the core marts (one transaction)."""
    con.execute("BEGIN TRANSACTION")
    try:
        for step in RULES:
            warehouse.run(con, step)
        for table in TABLES:
            warehouse.run(con, f"marts/{table}")
        summary = summarise(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return summary


def summarise(con: duckdb.DuckDBPyConnection) -> QualitySummary:
    """Row counts and headline figures of the quality marts (asset metadata, run log)."""
    rows = {
        table: int(con.execute(f"SELECT count(*) FROM marts.{table}").fetchone()[0])  # noqa: S608
        for table in TABLES
    }
    figures: dict[str, dict[str, float]] = {}
    for table, queries in FIGURES.items():
        values = {name: con.execute(sql).fetchone() for name, sql in queries.items()}
        figures[table] = {
            name: _number(row[0]) for name, row in values.items() if row and row[0] is not None
        }
    return QualitySummary(rows=rows, figures=figures)


def _number(value: object) -> float:
    """An int stays an int (counts), anything else becomes a float (rates)."""
    if isinstance(value, int):
        return int(value)
    return float(value)  # type: ignore[arg-type]
