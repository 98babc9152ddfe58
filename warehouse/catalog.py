"""The table catalog: one entry per warehouse table, and everything else derives from it.

An entry says what a table is (schema, grain, key, description), how it is made (its SQL
file, the tables it is built from) and how it is checked (key, roll-ups, bounds of its rates,
table-specific rules) and summarised (headline figures). From these entries come:

* the build order of the marts and findings, run by one runner (``warehouse/build.py``);
* one Dagster asset per table and its integrity checks (``pipelines/factory.py``);
* what the dashboard site and the audit pack declare they read (``READ_BY``);
* the README's table of tables (``markdown_table``; a test keeps the README equal to it).

Layers, in the order the data flows: ``ingest`` (ops, raw) -> ``staging`` (staging,
quarantine; written by her2qa/ingest and her2qa/staging.py) -> ``marts`` (built from staging
by SQL) -> ``findings`` (every verdict, built from the marts). Scratch tables (``scratch``)
exist only while the marts are built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from graphlib import TopologicalSorter

# Contract values (spec/warehouse.md), for callers that enumerate them and for the checks.
FINAL_STATUSES = ("positive", "negative", "equivocal", "indeterminate")
HER2_CATEGORIES = (
    "positive",
    "low",
    "ultralow",
    "null",
    "zero_unspecified",
    "negative_unspecified",
    "equivocal",
    "indeterminate",
)
ISH_PROBES = ("dual", "single")
COMPARISONS = ("ihc_vs_ish", "lab_vs_reference", "observer_vs_observer", "primary_vs_metastasis")
CHANGES = ("concordant", "gain", "loss", "not_comparable")
VERDICTS = ("ok", "look", "info", "too_few")

LAYERS = ("ingest", "staging", "marts", "findings")

# The finding codes of marts.findings (warehouse/sql/findings/findings.sql documents each
# rule); each is a Dagster WARN check and a line of the run summary when it says 'look'.
FINDINGS: dict[str, str] = {
    "lab_target_ihc_vs_ish": "IHC vs ISH: PPA and NPA each at or above the lab's target "
    "(ASCO/CAP 2007 criterion, 95% unless the lab sets its own), per lab and quarter.",
    "lab_target_lab_vs_reference": "Laboratory vs reference laboratory: PPA and NPA each at or "
    "above the lab's target, per lab and quarter.",
    "positivity_control": "Each lab's monthly HER2-positive rate in statistical control (p-chart "
    "limits and a run rule for a sustained shift).",
    "positivity_pathologist": "Each pathologist's HER2-positive rate over the last 12 months "
    "within the funnel limits around the laboratory's rate.",
    "positivity_published_range": "Each lab's HER2-positive rate over the last 12 months within "
    "the published range (context, not a limit).",
    "amplification_published_range": "ISH amplification of IHC 2+ specimens within the "
    "published range (context, not a limit).",
    "her2_low_published_range": "HER2-low share of primaries within the published range "
    "(context, not a limit).",
    "metastasis_loss_published_range": "HER2 loss from primary to metastasis within the "
    "published range (context, not a limit).",
    "metastasis_gain_published_range": "HER2 gain from primary to metastasis within the "
    "published range (context, not a limit).",
    "metastasis_discordance_published_range": "Primary vs metastasis discordance within the "
    "published range (context, not a limit).",
    "observer_agreement": "Agreement of the clinical IHC score with a second reader (shown, no "
    "target applies).",
    "primary_metastasis_agreement": "Agreement of metastases with their primary (shown, no "
    "target applies).",
    "quarantine_rate": "Quarantined rows of each lab at or under the her2qa default.",
    "data_freshness": "New results of each lab arrived within the freshness window "
    "([site] freshness_days, default 3).",
    "files_rejected": "Every file of the latest arrival day read (none rejected whole).",
}


@dataclass(frozen=True)
class Rule:
    """An integrity rule: ``violations_sql`` counts the rows that break it (its rows are
    summed); named parameters come from ``RULE_VALUES``."""

    name: str
    description: str
    violations_sql: str


@dataclass(frozen=True)
class Rate:
    """A rate (or share) column, optionally with its interval, within ``[0, scale]``."""

    column: str
    low: str | None = None
    high: str | None = None


@dataclass(frozen=True)
class Table:
    name: str  # schema.table
    layer: str  # one of LAYERS, or "scratch"
    sql: str  # warehouse/sql/<sql>.sql: the file that makes (or, for ingest/staging, fills) it
    grain: str  # one row per ...
    description: str
    key: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()  # the tables its SQL reads
    figures: dict[str, str] = field(default_factory=dict)  # headline name -> SQL of one number
    rate_scale: float = 1.0  # 1 for proportions, 100 for percent columns
    rates: tuple[Rate, ...] = ()
    roll_up: tuple[tuple[str, ...], tuple[str, ...]] | None = None  # (other key cols, counts)
    rules: tuple[Rule, ...] = ()

    @property
    def schema(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def short(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def built(self) -> bool:
        """Made by the mart runner (as opposed to written by ingest and staging)."""
        return self.layer in ("marts", "findings", "scratch")


def _t(name: str, layer: str, sql: str, grain: str, description: str, **kw) -> Table:
    return Table(name, layer, sql, grain, description, **kw)


_ALL_ROLLUP_NOTE = "lab 'ALL' pools the laboratories"

TABLES: tuple[Table, ...] = (
    # ---------------------------------------------------------------- ingest
    _t(
        "ops.ingested_files",
        "ingest",
        "ddl",
        "file that landed in the inbox",
        "SHA-256, status (ingested / duplicate / rejected with its reason), arrival, archive "
        "path and row accounting (rows_read = rows_staged + rows_quarantined).",
        key=("file_id",),
    ),
    _t(
        "ops.vocabulary",
        "staging",
        "ddl",
        "accepted LIS spelling of an enumerated field",
        "The LIS vocabulary of schemas/vocabulary.py, reloaded at every staging step.",
        key=("field", "spelling"),
    ),
    _t(
        "raw.her2_rows",
        "ingest",
        "ddl",
        "input data row",
        "Every row of every ingested file as read (text), with file and row number; "
        "patient_mrn keyed to patient_key, names and birth dates dropped.",
        key=("file_id", "source_row"),
    ),
    # ---------------------------------------------------------------- staging
    _t(
        "staging.her2_results_history",
        "staging",
        "staging/her2_results_history",
        "valid version of a result (lab_id, test_id, result_version)",
        "Every valid version of every result, typed and normalised; amendments never delete.",
        key=("lab_id", "test_id", "result_version"),
        upstream=("raw.her2_rows", "ops.ingested_files"),
    ),
    _t(
        "quarantine.rejected_rows",
        "staging",
        "quarantine/rejected_rows",
        "rejected input row",
        "Rejected input rows with file, row, every reason and the row as read (no PHI).",
        key=("file_id", "source_row"),
        upstream=("raw.her2_rows", "ops.ingested_files"),
        rules=(
            Rule(
                "no_row_both_staged_and_quarantined",
                "A row of an input file is staged or quarantined, never both.",
                "SELECT count(*) FROM staging.her2_results_history "
                "SEMI JOIN quarantine.rejected_rows USING (file_id, source_row)",
            ),
        ),
    ),
    _t(
        "staging.her2_results",
        "staging",
        "staging/her2_results",
        "current result (lab_id, test_id)",
        "The current version of each valid result: the contract's columns, normalised, "
        "patient_key instead of any PHI.",
        key=("lab_id", "test_id"),
        upstream=("staging.her2_results_history",),
    ),
    # ---------------------------------------------------------------- marts: configuration
    _t(
        "marts.guideline_periods",
        "marts",
        "marts/guideline_periods",
        "configured ASCO/CAP rule-set period of a lab",
        "Which ASCO/CAP rule set applies to which lab and dates (her2qa.toml), as data.",
        key=("lab_id", "guideline_version"),
    ),
    _t(
        "marts.reference_bands",
        "marts",
        "marts/reference_bands",
        "published band, guideline limit, requirement or lab target",
        "Every threshold a verdict is read against, with its source (her2-domain.md): "
        "published benchmark bands (context, not limits), pre-analytic limits, ASCO/CAP case "
        "counts and PT marks, lab targets (per lab from her2qa.toml), pipeline choices.",
        key=("band_id", "lab_id"),
    ),
    # ---------------------------------------------------------------- marts: core (contract)
    _t(
        "marts.specimen_calls",
        "scratch",
        "marts/specimen_calls",
        "specimen × purpose",
        "Selected results and status per specimen and purpose (clinical, reference_lab, "
        "second_read); the input of specimen_her2 and agreement_pairs, dropped after the build.",
        upstream=("staging.her2_results", "marts.guideline_periods"),
    ),
    _t(
        "marts.specimen_her2",
        "marts",
        "marts/specimen_her2",
        "specimen (lab_id, accession_id) with a clinical result",
        "Selected IHC and ISH (dual-probe, else single-probe: ish_probe), ISH group (2018, "
        "dual-probe), final status under the lab's ASCO/CAP version, HER2 category, 4B5 "
        "companion assay (spec/warehouse.md v2).",
        key=("lab_id", "accession_id"),
        upstream=("marts.specimen_calls",),
        figures={
            "specimens": "SELECT count(*) FROM marts.specimen_her2",
            **{
                f"n_{s}": f"SELECT count_if(final_status = '{s}') FROM marts.specimen_her2"
                for s in FINAL_STATUSES
            },
            "single_probe_specimens": "SELECT count_if(ish_probe = 'single') "
            "FROM marts.specimen_her2",
            "negative_unspecified": "SELECT count_if(her2_category = 'negative_unspecified') "
            "FROM marts.specimen_her2",
            "ultralow_null_off_companion": "SELECT count_if(ultralow_null_off_companion) "
            "FROM marts.specimen_her2",
        },
        rules=(
            Rule(
                "specimens_have_final_status_and_category",
                "Every specimen has a final_status and a her2_category from the contract's "
                "values (spec/warehouse.md, Statuses).",
                """
                SELECT count(*) FROM marts.specimen_her2
                WHERE NOT coalesce(list_contains($final_statuses, final_status), false)
                   OR NOT coalesce(list_contains($her2_categories, her2_category), false)
                   OR (ish_group IS NOT NULL AND ish_group NOT BETWEEN 1 AND 5)
                """,
            ),
            Rule(
                "specimens_ish_probe_in_contract",
                "ish_probe is 'dual', 'single' or null (no usable ISH); ish_group is null "
                "unless dual and set when dual; a negative without an IHC score is "
                "negative_unspecified (spec/warehouse.md v2).",
                """
                SELECT count(*) FROM marts.specimen_her2
                WHERE NOT coalesce(list_contains($ish_probes, ish_probe), ish_probe IS NULL)
                   OR (ish_group IS NOT NULL) IS DISTINCT FROM coalesce(ish_probe = 'dual', false)
                   OR (ish_probe IS NULL) IS DISTINCT FROM (ish_test_id IS NULL)
                   OR (final_status = 'negative' AND ihc_score IS NULL)
                       IS DISTINCT FROM (her2_category = 'negative_unspecified')
                """,
            ),
        ),
    ),
    _t(
        "marts.primary_metastasis_pairs",
        "marts",
        "marts/primary_metastasis_pairs",
        "(patient, metastasis specimen) pair",
        "Each metastasis specimen with the patient's earliest primary (across labs): both "
        "statuses, change (concordant / gain / loss / not_comparable), HER2 categories.",
        key=("patient_key", "metastasis_lab_id", "metastasis_accession_id"),
        upstream=("marts.specimen_her2",),
        figures={
            "pairs": "SELECT count(*) FROM marts.primary_metastasis_pairs",
            **{
                f"n_{c}": f"SELECT count_if(change = '{c}') FROM marts.primary_metastasis_pairs"
                for c in CHANGES
            },
        },
        rules=(
            Rule(
                "primary_metastasis_pairs_change_in_contract",
                "Each pair's change is one of the contract's values.",
                "SELECT count(*) FROM marts.primary_metastasis_pairs "
                "WHERE NOT coalesce(list_contains($changes, change), false)",
            ),
        ),
    ),
    _t(
        "marts.agreement_pairs",
        "marts",
        "marts/agreement_pairs",
        "pair behind marts.agreement",
        "Every pair of every comparison, so each agreement figure traces to its specimens.",
        upstream=(
            "marts.specimen_calls",
            "marts.specimen_her2",
            "marts.primary_metastasis_pairs",
        ),
    ),
    _t(
        "marts.agreement",
        "marts",
        "marts/agreement",
        "comparison × lab (or ALL) × period (ALL or YYYY-Qn)",
        "IHC vs ISH, lab vs reference lab, observer vs observer, primary vs metastasis: n, % "
        "agreement with Wilson CI, 2×2 cells, PPA/NPA, kappa (spec/warehouse.md).",
        key=("comparison", "lab_id", "period"),
        upstream=("marts.agreement_pairs",),
        figures={
            "rows": "SELECT count(*) FROM marts.agreement",
            **{
                f"pairs_{c}": "SELECT n_pairs FROM marts.agreement WHERE lab_id = 'ALL' "
                f"AND period = 'ALL' AND comparison = '{c}'"
                for c in COMPARISONS
            },
        },
        rate_scale=100.0,
        rates=(Rate("pct_agree", "ci_low", "ci_high"), Rate("ppa"), Rate("npa")),
        rules=(
            Rule(
                "agreement_2x2_sums_to_n_pairs",
                "Binary comparisons: n_pos_pos + n_pos_neg + n_neg_pos + n_neg_neg = n_pairs "
                "and n_pos_pos + n_neg_neg = n_agree; observer_vs_observer rows leave the 2×2, "
                "ppa and npa null.",
                """
                SELECT count(*) FROM marts.agreement
                WHERE CASE
                    WHEN comparison = 'observer_vs_observer' THEN
                        coalesce(n_pos_pos, n_pos_neg, n_neg_pos, n_neg_neg, ppa, npa)
                            IS NOT NULL
                    ELSE n_pos_pos + n_pos_neg + n_neg_pos + n_neg_neg IS DISTINCT FROM n_pairs
                        OR n_pos_pos + n_neg_neg IS DISTINCT FROM n_agree
                END
                """,
            ),
            Rule(
                "agreement_roll_ups_add_up",
                "Each 'ALL' row holds the sum of the rows it pools: lab ALL = sum over labs, "
                "period ALL = sum over quarters (n_pairs and n_agree); kappa at most 1.",
                """
                WITH labs AS (
                    SELECT comparison, period, sum(n_pairs) AS n, sum(n_agree) AS k
                    FROM marts.agreement WHERE lab_id <> 'ALL' GROUP BY ALL
                ), quarters AS (
                    SELECT comparison, lab_id, sum(n_pairs) AS n, sum(n_agree) AS k
                    FROM marts.agreement WHERE period <> 'ALL' GROUP BY ALL
                )
                SELECT
                    (SELECT count(*) FROM marts.agreement AS a
                        JOIN labs AS l USING (comparison, period)
                     WHERE a.lab_id = 'ALL' AND (a.n_pairs <> l.n OR a.n_agree <> l.k))
                  + (SELECT count(*) FROM marts.agreement AS a
                        JOIN quarters AS q USING (comparison, lab_id)
                     WHERE a.period = 'ALL' AND (a.n_pairs <> q.n OR a.n_agree <> q.k))
                  + (SELECT count(*) FROM marts.agreement
                     WHERE n_pairs < 1 OR n_agree > n_pairs
                        OR kappa > 1 + 1e-9 OR kappa_quadratic > 1 + 1e-9)
                """,
            ),
        ),
    ),
    # ---------------------------------------------------------------- marts: quality
    _t(
        "marts.ihc_ish_discordance",
        "marts",
        "marts/ihc_ish_discordance",
        "discordant or ISH group 2–4 specimen",
        "Worklist: IHC 3+ with ISH group 5, IHC 0/1+ with group 1, and every group 2–4 with "
        "how it resolved; selected test ids, values, reason.",
        key=("lab_id", "accession_id"),
        upstream=("marts.specimen_her2",),
        figures={
            "discordant_cases": "SELECT count_if(discordance_type <> 'ish_group_2_4') "
            "FROM marts.ihc_ish_discordance",
            "ish_group_2_4_cases": "SELECT count_if(discordance_type = 'ish_group_2_4') "
            "FROM marts.ihc_ish_discordance",
            "needs_blinded_recount": "SELECT count_if(needs_blinded_recount) "
            "FROM marts.ihc_ish_discordance",
        },
    ),
    _t(
        "marts.amplification_by_ihc_score",
        "marts",
        "marts/amplification_by_ihc_score",
        "lab (and ALL) × IHC score",
        "Specimens with dual-probe ISH, amplified (group 1; ratio ≥ 2.0) and ISH-positive "
        "rates with Wilson CIs, beside §BENCH 6.2.",
        key=("lab_id", "ihc_score"),
        upstream=("marts.specimen_her2", "marts.reference_bands"),
        figures={
            "ihc_2plus_with_ish": "SELECT n_with_ish FROM marts.amplification_by_ihc_score "
            "WHERE lab_id = 'ALL' AND ihc_score = '2+'",
            "ihc_2plus_ratio_amplified_rate": "SELECT ratio_amplified_rate "
            "FROM marts.amplification_by_ihc_score WHERE lab_id = 'ALL' AND ihc_score = '2+'",
        },
        rates=(
            Rate("ish_tested_share"),
            Rate("amplified_rate", "amplified_ci_low", "amplified_ci_high"),
            Rate("ratio_amplified_rate", "ratio_amplified_ci_low", "ratio_amplified_ci_high"),
            Rate("ish_positive_rate", "ish_positive_ci_low", "ish_positive_ci_high"),
        ),
        roll_up=(("ihc_score",), ("n_specimens", "n_with_ish", "n_group1")),
    ),
    _t(
        "marts.agreement_by_group",
        "marts",
        "marts/agreement_by_group",
        "comparison × lab × assay kit or pathologist",
        "marts.agreement statistics by assay kit and by pathologist of the first member "
        "(IHC vs ISH, observer vs observer, lab vs reference).",
        key=("comparison", "lab_id", "breakdown", "breakdown_value"),
        upstream=("marts.agreement_pairs", "marts.specimen_her2"),
        figures={"groups": "SELECT count(*) FROM marts.agreement_by_group WHERE lab_id <> 'ALL'"},
        rate_scale=100.0,
        rates=(Rate("pct_agree", "ci_low", "ci_high"), Rate("ppa"), Rate("npa")),
        roll_up=(("comparison", "breakdown", "breakdown_value"), ("n_pairs", "n_agree")),
    ),
    _t(
        "marts.positivity_monthly",
        "marts",
        "marts/positivity_monthly",
        "lab × level (lab or pathologist) × month",
        "Monthly HER2-positive rate of patients' first primaries per lab (and pathologist), "
        "with statistical process control per lab: centre line from a lagged 12-month baseline, "
        "Laney p′ limits, a two-sided CUSUM for sustained shifts, the current month shown but "
        "not judged; published band beside it (context, not a limit).",
        key=("lab_id", "level", "pathologist_id", "month"),
        upstream=("marts.specimen_her2", "marts.reference_bands"),
        figures={
            "out_of_control_points": "SELECT count_if(out_of_control) "
            "FROM marts.positivity_monthly WHERE level = 'lab'",
            "judged_points": "SELECT count_if(month_status = 'judged') "
            "FROM marts.positivity_monthly WHERE level = 'lab'",
        },
        rates=(Rate("rate", "ci_low", "ci_high"), Rate("centre_line", "lcl", "ucl")),
    ),
    _t(
        "marts.positivity_pathologists",
        "marts",
        "marts/positivity_pathologists",
        "lab × pathologist over the last 12 months",
        "Funnel plot: each pathologist's HER2-positive rate (patients' first primaries) against "
        "the laboratory's, with 95% and 99.8% limits at the pathologist's n (ANP.22970 "
        "interobserver variability).",
        key=("lab_id", "pathologist_id"),
        upstream=("marts.positivity_monthly", "marts.reference_bands"),
        figures={
            "pathologists_outside": "SELECT count_if(outside) FROM marts.positivity_pathologists"
        },
        rates=(
            Rate("rate", "ci_low", "ci_high"),
            Rate("lab_rate", "limit_low", "limit_high"),
            Rate("limit_95_low"),
            Rate("limit_95_high"),
        ),
    ),
    _t(
        "marts.her2_low_distribution",
        "marts",
        "marts/her2_low_distribution",
        "lab (and ALL) × specimen role × quarter (and ALL)",
        "HER2 categories (positive, low, ultralow, null, zero_unspecified, "
        "negative_unspecified, equivocal, indeterminate) counts and shares, beside §BENCH 6.3; "
        "ultralow / null calls off the 4B5 companion assay.",
        key=("lab_id", "specimen_role", "quarter"),
        upstream=("marts.specimen_her2", "marts.reference_bands"),
        figures={
            "primary_share_low": "SELECT share_low FROM marts.her2_low_distribution "
            "WHERE lab_id = 'ALL' AND specimen_role = 'primary' AND quarter = 'ALL'",
            "primary_share_ihc0": "SELECT share_ihc0 FROM marts.her2_low_distribution "
            "WHERE lab_id = 'ALL' AND specimen_role = 'primary' AND quarter = 'ALL'",
        },
        rates=tuple(
            Rate(f"share_{c}")
            for c in (
                "positive",
                "low",
                "ultralow",
                "null",
                "zero_unspecified",
                "negative_unspecified",
                "equivocal",
                "indeterminate",
                "ihc0",
                "ultralow_of_negative",
            )
        ),
        roll_up=(
            ("specimen_role", "quarter"),
            (
                "n_specimens",
                "n_low",
                "n_null",
                "n_negative_unspecified",
                "n_ultralow_null_off_companion",
            ),
        ),
        rules=(
            Rule(
                "her2_low_distribution_shares_sum_to_one",
                "Per group, the HER2-category counts add up to n_specimens and their shares to 1.",
                "SELECT count(*) FROM marts.her2_low_distribution WHERE "
                + " + ".join(f"n_{c}" for c in HER2_CATEGORIES)
                + " <> n_specimens OR abs("
                + " + ".join(f"share_{c}" for c in HER2_CATEGORIES)
                + " - 1) > 1e-9",
            ),
        ),
    ),
    _t(
        "marts.interpretation_audit",
        "marts",
        "marts/interpretation_audit",
        "current clinical result (lab_id, test_id)",
        "Reported call vs the ASCO/CAP algorithm's call for the row, agreement and reason; "
        "IHC score vs % stained contradictions as findings.",
        key=("lab_id", "test_id"),
        upstream=("staging.her2_results", "marts.specimen_her2"),
        figures={
            "audited_results": "SELECT count_if(audited) FROM marts.interpretation_audit",
            "interpretation_disagreements": "SELECT count_if(NOT agrees) "
            "FROM marts.interpretation_audit",
            "pct_contradictions": "SELECT count_if(pct_contradiction) "
            "FROM marts.interpretation_audit",
        },
        rules=(
            Rule(
                "interpretation_audit_consistent",
                "audited ⇔ an algorithm call; agrees defined only when audited; a reason "
                "exactly for each disagreement; a % finding exactly for each contradiction.",
                """
                SELECT count(*) FROM marts.interpretation_audit
                WHERE audited IS DISTINCT FROM (algorithm_call IS NOT NULL)
                   OR (agrees IS NULL) = audited
                   OR (reason IS NOT NULL) IS DISTINCT FROM coalesce(NOT agrees, false)
                   OR pct_contradiction IS DISTINCT FROM (pct_finding IS NOT NULL)
                """,
            ),
        ),
    ),
    _t(
        "marts.cap11_rates",
        "marts",
        "marts/cap11_rates",
        "lab (and ALL) × month",
        "CAP 11 (2019) proxies: rate 1 specimens whose reported calls agree with the "
        "algorithm; rate 2 IHC 2+ specimens with a completed ISH (dual-probe, or a decided "
        "single-probe call), with median / p90 days IHC → ISH; Wilson CIs.",
        key=("lab_id", "month"),
        upstream=("marts.specimen_her2", "marts.interpretation_audit"),
        figures={
            "rate1": "SELECT sum(n_specimens_agree) / sum(n_specimens_audited) "
            "FROM marts.cap11_rates WHERE lab_id = 'ALL'",
            "rate2": "SELECT sum(n_ish_completed) / sum(n_ihc_equivocal) "
            "FROM marts.cap11_rates WHERE lab_id = 'ALL'",
        },
        rates=(
            Rate("rate1", "rate1_ci_low", "rate1_ci_high"),
            Rate("rate2", "rate2_ci_low", "rate2_ci_high"),
        ),
        roll_up=(("month",), ("n_specimens_audited", "n_specimens_agree", "n_ihc_equivocal")),
    ),
    _t(
        "marts.primary_metastasis_summary",
        "marts",
        "marts/primary_metastasis_summary",
        "metastasis lab (and ALL)",
        "Gain, loss and overall discordance with Wilson CIs, pooled and per site group "
        "(distant_*, locoregional_*); Schrijver 2018 (distant) beside distant_*, Houssami 2011 "
        "beside the pooled discordance (§BENCH 6.4).",
        key=("lab_id",),
        upstream=("marts.primary_metastasis_pairs", "marts.reference_bands"),
        figures={
            "gain_rate": "SELECT gain_rate FROM marts.primary_metastasis_summary "
            "WHERE lab_id = 'ALL'",
            "loss_rate": "SELECT loss_rate FROM marts.primary_metastasis_summary "
            "WHERE lab_id = 'ALL'",
        },
        rates=tuple(
            Rate(f"{g}{r}_rate", f"{g}{r}_ci_low", f"{g}{r}_ci_high")
            for g in ("", "distant_", "locoregional_")
            for r in ("gain", "loss", "discordance")
        ),
        roll_up=(
            (),
            (
                "n_pairs",
                "n_gain",
                "n_loss",
                "n_comparable",
                "n_site_unspecified",
                "n_likely_decalcified",
                *(
                    f"{g}_{c}"
                    for g in ("distant", "locoregional")
                    for c in ("n_pairs", "n_gain", "n_loss", "n_comparable")
                ),
            ),
        ),
        rules=(
            Rule(
                "primary_metastasis_site_groups_add_up",
                "Per lab, distant + locoregional + unspecified pairs = n_pairs, and each group's "
                "gains, losses and comparable pairs add up to at most the pooled ones.",
                """
                SELECT count(*) FROM marts.primary_metastasis_summary
                WHERE coalesce(distant_n_pairs + locoregional_n_pairs + n_site_unspecified, 0)
                        IS DISTINCT FROM coalesce(n_pairs, 0)
                   OR distant_n_gain + locoregional_n_gain > n_gain
                   OR distant_n_loss + locoregional_n_loss > n_loss
                   OR distant_n_comparable + locoregional_n_comparable > n_comparable
                """,
            ),
        ),
    ),
    _t(
        "marts.her2_low_transitions",
        "marts",
        "marts/her2_low_transitions",
        "lab (and ALL) × primary category × metastasis category",
        "Primary HER2 category → metastasis HER2 category counts, read as 2025 eligibility "
        "classes (positive / low / ultralow / null): class change, anti-HER2 and T-DXd "
        "(HR-positive, HR-negative) gained / lost, calls off the 4B5 companion assay.",
        key=("lab_id", "primary_category", "metastasis_category"),
        upstream=("marts.primary_metastasis_pairs",),
        figures={
            "eligibility_changes": "SELECT coalesce(sum(n_pairs), 0) "
            "FROM marts.her2_low_transitions WHERE lab_id = 'ALL' AND changes_eligibility",
            "null_ultralow_changes": "SELECT coalesce(sum(n_pairs), 0) "
            "FROM marts.her2_low_transitions WHERE lab_id = 'ALL' "
            "AND primary_class IN ('null', 'ultralow') "
            "AND metastasis_class IN ('null', 'ultralow') AND primary_class <> metastasis_class",
        },
        rates=(Rate("share_of_primary"),),
        roll_up=(("primary_category", "metastasis_category"), ("n_pairs", "n_pairs_off_companion")),
        rules=(
            Rule(
                "her2_low_transitions_eligibility_consistent",
                "changes_eligibility is true exactly when both classes are known and differ, or "
                "a therapy is certainly gained or lost; false only when both classes are known "
                "and equal; never set for a non-comparable pair (§HER2-LOW).",
                """
                SELECT count(*) FROM marts.her2_low_transitions
                WHERE (transition_kind = 'not_comparable' AND changes_eligibility IS NOT NULL)
                   OR (primary_class IS NOT NULL AND metastasis_class IS NOT NULL
                       AND changes_eligibility IS DISTINCT FROM (primary_class <> metastasis_class))
                   OR (changes_eligibility = false
                       AND (primary_class IS NULL OR metastasis_class IS NULL))
                   OR (changes_eligibility IS DISTINCT FROM true
                       AND list_has_any(
                           [anti_her2_change, tdxd_hr_positive_change, tdxd_hr_negative_change],
                           ['gained', 'lost']))
                   OR n_pairs_off_companion > n_pairs
                """,
            ),
        ),
    ),
    _t(
        "marts.retest_candidates",
        "marts",
        "marts/retest_candidates",
        "metastasis specimen to consider for retesting",
        "Status or eligibility-class change that would change therapy (incl. null ↔ "
        "ultralow), no usable result, IHC 2+ without ISH, ... with the reason (§BENCH 6.4); "
        "site group, bone (likely decalcified, CAP ANP.22985) flagged.",
        key=("lab_id", "accession_id"),
        upstream=("marts.specimen_her2", "marts.primary_metastasis_pairs"),
        figures={
            "retest_candidates": "SELECT count(*) FROM marts.retest_candidates",
            "therapy_change_candidates": "SELECT count_if(reason_group = 'therapy_change') "
            "FROM marts.retest_candidates",
        },
    ),
    _t(
        "marts.preanalytic_monthly",
        "marts",
        "marts/preanalytic_monthly",
        "lab (and ALL) × month",
        "Cold ischaemia within the limit, fixation within the window of each specimen's "
        "ASCO/CAP version (6–48 h under 2007, 6–72 h after), undocumented, compliance rates "
        "with Wilson CIs; turnaround median and p90 days.",
        key=("lab_id", "month"),
        upstream=("staging.her2_results", "marts.specimen_her2", "marts.reference_bands"),
        figures={
            "cold_compliance_rate": "SELECT sum(n_cold_within) / sum(n_cold_within "
            "+ n_cold_over) FROM marts.preanalytic_monthly WHERE lab_id = 'ALL'",
            "fixation_compliance_rate": "SELECT sum(n_fixation_within) / sum(n_fixation_within "
            "+ n_fixation_outside) FROM marts.preanalytic_monthly WHERE lab_id = 'ALL'",
        },
        rates=(
            Rate("cold_documented_rate", "cold_documented_ci_low", "cold_documented_ci_high"),
            Rate("cold_compliance_rate", "cold_compliance_ci_low", "cold_compliance_ci_high"),
            Rate(
                "fixation_documented_rate",
                "fixation_documented_ci_low",
                "fixation_documented_ci_high",
            ),
            Rate(
                "fixation_compliance_rate",
                "fixation_compliance_ci_low",
                "fixation_compliance_ci_high",
            ),
        ),
        roll_up=(("month",), ("n_specimens", "n_cold_within", "n_fixation_within")),
    ),
    # ---------------------------------------------------------------- findings
    _t(
        "marts.findings",
        "findings",
        "findings/findings",
        "verdict about one figure, for one lab (or ALL) and period",
        "Every verdict the tool gives a person, made once (spec/warehouse.md): page badges, "
        "'Where to look', Dagster WARN checks, the run summary and the audit pack's marks "
        "all read it. verdict ok / look / info / too_few, the figure, its n and CI, the "
        "threshold with what it is, its source and one sentence for a lab director.",
        key=("finding", "lab_id", "period", "subgroup"),
        upstream=(
            "ops.ingested_files",
            "staging.her2_results",
            "quarantine.rejected_rows",
            "marts.agreement",
            "marts.positivity_monthly",
            "marts.positivity_pathologists",
            "marts.reference_bands",
            "marts.amplification_by_ihc_score",
            "marts.her2_low_distribution",
            "marts.primary_metastasis_summary",
            "marts.preanalytic_monthly",
            "marts.cap11_rates",
        ),
        figures={
            "look": "SELECT count_if(verdict = 'look') FROM marts.findings",
            "too_few": "SELECT count_if(verdict = 'too_few') FROM marts.findings",
        },
        rules=(
            Rule(
                "findings_verdicts_in_contract",
                "Every finding has a verdict of the contract (ok, look, info, too_few), a "
                "source and a message.",
                "SELECT count(*) FROM marts.findings WHERE NOT coalesce("
                "list_contains($verdicts, verdict), false) OR source IS NULL OR message IS NULL",
            ),
        ),
    ),
)

# Named parameters the rules may use.
RULE_VALUES = {
    "final_statuses": list(FINAL_STATUSES),
    "her2_categories": list(HER2_CATEGORIES),
    "ish_probes": list(ISH_PROBES),
    "changes": list(CHANGES),
    "verdicts": list(VERDICTS),
}

BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}


def table(name: str) -> Table:
    return BY_NAME[name]


def layer(name: str) -> tuple[Table, ...]:
    return tuple(t for t in TABLES if t.layer == name)


def build_order() -> tuple[Table, ...]:
    """The tables the mart runner builds, each after the tables it reads (stable: catalog
    order among independent tables)."""
    built = [t for t in TABLES if t.built]
    names = {t.name for t in built}
    graph = {t.name: [u for u in t.upstream if u in names] for t in built}
    sorter = TopologicalSorter(graph)
    sorter.prepare()
    position = {t.name: i for i, t in enumerate(built)}
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        order += ready
        sorter.done(*ready)
    return tuple(BY_NAME[n] for n in order)


def published() -> tuple[Table, ...]:
    """Every table that outlives a run (scratch tables aside)."""
    return tuple(t for t in TABLES if t.layer != "scratch")


def markdown_table() -> str:
    """The README's table of tables."""
    lines = ["| table | layer | one row per | key | what for |", "|---|---|---|---|---|"]
    for t in published():
        key = ", ".join(f"`{c}`" for c in t.key)
        lines.append(f"| `{t.name}` | {t.layer} | {t.grain} | {key} | {t.description} |")
    return "\n".join(lines)


def _check_catalog() -> None:
    """The catalog is consistent: upstream tables exist, layers are known."""
    for t in TABLES:
        if t.layer not in (*LAYERS, "scratch"):
            raise ValueError(f"{t.name}: unknown layer {t.layer}")
        for u in t.upstream:
            if u not in BY_NAME:
                raise ValueError(f"{t.name}: upstream {u} is not in the catalog")


_check_catalog()


if __name__ == "__main__":  # the README's table of tables
    print(markdown_table())
