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
exist only while the marts are built; ``state`` tables are the mart runner's own bookkeeping
(what the next incremental build must do, what the last one did), not assets.
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
    "proficiency_event": "Each lab's proficiency-testing event at or above 90% correct on "
    "graded challenges (ASCO/CAP 2018), graded against the provider's key, else the network's "
    "consensus (labelled so).",
    "proficiency_events_per_year": "At least 2 proficiency-testing events in each finished "
    "calendar year (ASCO/CAP 2018); the current year shown, not judged.",
    "cap11_rate3": "CAP 11 rate 3, the reported rate: algorithm-derived and, when equivocal, a "
    "completed repeat (shown, no published target).",
    "validation_set": "Each assay kit's validation set: at least the required positive and "
    "negative cases (ASCO/CAP 2013/2018: 20 + 20 FDA-approved, 40 + 40 laboratory-developed) and "
    "PPA and NPA each at or above the lab's target (ASCO/CAP 2007 criterion).",
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
    layer: str  # one of LAYERS, or "scratch" or "state"
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
    # How a nightly build keeps the table (warehouse/build.py): None = rebuilt whole from the
    # tables it reads; "specimen" / "patient" = case-level, its rows recomputed only for the
    # night's specimens (lab_id, accession_id) / patients (patient_key), because each row
    # depends on the rows of its patient alone.
    scope: str | None = None
    # An additive table (warehouse/build.py): one row per combination of its ``key`` columns (a
    # NULL is a value there) over the rows of ``counts_of``, a case-level table, with ``counts``
    # that add up over any split of those rows (the first counts the rows, never 0). A nightly
    # build keeps it by subtracting the counts of the scope's rows as they stood and adding
    # those of its rows as they now stand: a few thousand rows summed, not every row counted.
    counts_of: str | None = None
    counts: tuple[str, ...] = ()
    # Ingest and staging tables: the condition that picks the rows a run wrote or may have
    # changed (named parameter $run_id). A run's integrity checks read those rows (the rest
    # were checked by the runs that wrote them), so a night's checks cost what its rows cost.
    run_rows: str = ""

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
    if kw.get("counts_of"):  # an additive table reads the table it counts, and nothing else
        kw.setdefault("upstream", (kw["counts_of"],))
    return Table(name, layer, sql, grain, description, **kw)


def _of(expression: str, where: str = "") -> str:
    """A headline figure: ``expression`` over the table's rows (``where`` they match); the
    runner puts the table's name for ``{table}``."""
    return f"SELECT {expression} FROM {{table}}" + (f" WHERE {where}" if where else "")


def _pooled(expression: str, where: str = "") -> str:
    """A headline figure over a table's pooled rows (lab 'ALL')."""
    return _of(expression, "lab_id = 'ALL'" + (f" AND {where}" if where else ""))


_ALL_ROLLUP_NOTE = "lab 'ALL' pools the laboratories"


def _worklist_rows_complete(name: str, rules: tuple[str, ...]) -> Rule:
    """A worklist row names its specimen, the rule that put it there (one of ``rules``), a
    reason and a source."""
    codes = ", ".join(f"'{r}'" for r in rules)
    return Rule(
        f"{name.split('.', 1)[1]}_rows_complete",
        "Every row names its specimen (lab_id, accession_id), its rule (a known code), the "
        "reason and the guideline source.",
        f"SELECT count(*) FROM {name} WHERE lab_id IS NULL OR accession_id IS NULL "
        f"OR rule IS NULL OR rule NOT IN ({codes}) OR reason IS NULL OR source IS NULL",
    )


# Worklist rule codes (the `rule` column of each case worklist; the SQL file documents each).
DISCORDANCE_RULES = (
    "ihc3_ish_group5",
    "ihc01_ish_group1",
    "ish_group_2_4",
    "ihc3_single_probe_negative",
    "ihc01_single_probe_positive",
)
PCT_CONTRADICTION_RULES = (
    "ihc0_pct_over_10",
    "ihc1_pct_10_or_less",
    "ihc3_pct_10_or_less",
    "ihc0_stained_2007",
    "ihc1_unstained_2007",
    "ihc3_pct_30_or_less_2007",
)
OPEN_EQUIVOCAL_RULES = (
    "ihc_2plus_without_ish",
    "ish_group_2_4_without_ihc",
    "ish_equivocal_without_resolving_test",
    "single_probe_equivocal",
)
ISH_COUNTING_RULES = (
    "ish_nuclei_under_minimum",
    "blinded_recount_missing",
    "blinded_recount_other_group",
    "blinded_recount_same_observer",
)
IHC0_METASTATIC_RULES = ("metastatic_only_ihc0_primary",)

# The files a run staged, and the results (lab_id, test_id) it received a version of: the
# rows of the staging tables that run may have changed (Table.run_rows).
_STAGED_BY_RUN = "SELECT file_id FROM ops.ingested_files WHERE staged_run_id = $run_id"
_RESULTS_STAGED_BY_RUN = (
    "(lab_id, test_id) IN (SELECT (lab_id, test_id) FROM staging.her2_results_history "
    f"WHERE file_id IN ({_STAGED_BY_RUN}))"
)

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
        run_rows="file_id IN (SELECT file_id FROM ops.ingested_files WHERE run_id = $run_id)",
    ),
    # ---------------------------------------------------------------- state (warehouse/build.py)
    _t(
        "ops.mart_changes",
        "state",
        "staging/her2_results",
        "specimen of a patient whose current results changed since the last mart build",
        "The incremental build's work list: appended by staging (before and after each "
        "change), cleared by the build that did the work.",
    ),
    _t(
        "ops.mart_state",
        "state",
        "ddl",
        "last mart build",
        "Fingerprint of the rules and settings the marts were built by, and the mode (full or "
        "incremental): other rules or settings force a full build.",
    ),
    _t(
        "ops.mart_scope_specimens",
        "state",
        "ddl",
        "specimen the last incremental build recomputed",
        "The scope of the last incremental build, closed over patients: its checks read these "
        "rows of the case-level tables.",
        key=("lab_id", "accession_id"),
    ),
    _t(
        "ops.mart_scope_patients",
        "state",
        "ddl",
        "patient the last incremental build recomputed",
        "The patients of that scope.",
        key=("patient_key",),
    ),
    _t(
        "ops.mart_scope_tables",
        "state",
        "ddl",
        "case-level table the last incremental build merged rows into",
        "The row ids of that build's rows of the table (the merge appended them) and the "
        "table's row count then: its checks read those rows by id while both still hold.",
        key=("table_name",),
    ),
    _t(
        "ops.inbox_looks",
        "state",
        "ddl",
        "inbox file name, at its last look",
        "Size, modification and change times, inode and SHA-256 of each inbox file whose "
        "bytes are recorded: a file unchanged since is not read and hashed again each run.",
        key=("file_name",),
    ),
    _t(
        "ops.identifier_fingerprints",
        "state",
        "ops/identifier_fingerprints",
        "row of raw.her2_rows",
        "Fingerprints of each raw row's patient_key prefix, accession_id and test_id, written "
        "with the row: the site's identifier check looks page tokens up here before the raw rows "
        "(warehouse/sql/macros/identifiers.sql).",
        upstream=("raw.her2_rows",),
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
        run_rows=_RESULTS_STAGED_BY_RUN,
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
        run_rows=f"file_id IN ({_STAGED_BY_RUN})",
    ),
    _t(
        "staging.her2_results",
        "staging",
        "staging/her2_results",
        "current result (lab_id, test_id)",
        "The current version of each valid result: the contract's columns, normalised, "
        "patient_key instead of any PHI. A view of the history's rows flagged is_current.",
        key=("lab_id", "test_id"),
        upstream=("staging.her2_results_history",),
        run_rows=_RESULTS_STAGED_BY_RUN,
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
        scope="specimen",
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
            "specimens": _of("count(*)"),
            **{
                f"n_{s}": f"SELECT count_if(final_status = '{s}') FROM marts.specimen_her2"
                for s in FINAL_STATUSES
            },
            "single_probe_specimens": _of("count_if(ish_probe = 'single')"),
            "negative_unspecified": _of("count_if(her2_category = 'negative_unspecified')"),
            "ultralow_null_off_companion": _of("count_if(ultralow_null_off_companion)"),
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
        scope="specimen",
    ),
    _t(
        "marts.specimen_counts",
        "marts",
        "marts/specimen_counts",
        "combination of lab, collection month, role, category, status, IHC score, ISH group, "
        "companion-assay flags and the IHC read's quarter, reader and clone",
        "The clinical specimens counted per combination: the specimen-count aggregates "
        "(her2_low_distribution, ihc0_share, amplification_by_ihc_score, volume_monthly, "
        "ihc_ish_matrix) sum these counts; a night adds and subtracts its scope's counts.",
        key=(
            "lab_id",
            "collection_month",
            "specimen_role",
            "her2_category",
            "final_status",
            "ihc_score",
            "ish_group",
            "companion_assay",
            "ultralow_null_off_companion",
            "ihc_quarter_start",
            "ihc_pathologist_id",
            "ihc_assay_kit",
        ),
        counts_of="marts.specimen_her2",
        counts=("n_specimens",),
    ),
    _t(
        "marts.specimen_repeats",
        "marts",
        "marts/specimen_repeats",
        "specimen completed by a decided specimen of the same patient (CAP 11 repeat rule)",
        "Specimens followed, within the CAP 11 window, by a positive or negative specimen of "
        "the same patient and specimen role, any lab (macros/cap11): read by the CAP 11 rates "
        "and the open-equivocal worklist.",
        key=("lab_id", "accession_id"),
        upstream=("marts.specimen_her2", "marts.reference_bands"),
        scope="specimen",
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
            "pairs": _of("count(*)"),
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
        scope="patient",
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
        scope="patient",
    ),
    _t(
        "marts.agreement_counts",
        "marts",
        "marts/agreement_counts",
        "combination of comparison, lab, period, pair of codes, specimen kit and reader",
        "The agreement pairs counted per combination: agreement and agreement_by_group sum "
        "these counts; a night adds and subtracts its scope's counts.",
        key=(
            "comparison",
            "lab_id",
            "period",
            "first_code",
            "second_code",
            "assay_kit",
            "pathologist_id",
        ),
        counts_of="marts.agreement_pairs",
        counts=("n_pairs",),
    ),
    _t(
        "marts.agreement",
        "marts",
        "marts/agreement",
        "comparison × lab (or ALL) × period (ALL or YYYY-Qn)",
        "IHC vs ISH, lab vs reference lab, observer vs observer, primary vs metastasis: n, % "
        "agreement with Wilson CI, 2×2 cells, PPA/NPA, kappa (spec/warehouse.md).",
        key=("comparison", "lab_id", "period"),
        upstream=("marts.agreement_counts",),
        figures={
            "rows": _of("count(*)"),
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
            "discordant_cases": _of("count_if(discordance_type <> 'ish_group_2_4')"),
            "ish_group_2_4_cases": _of("count_if(discordance_type = 'ish_group_2_4')"),
            "needs_blinded_recount": _of("count_if(needs_blinded_recount)"),
        },
        rules=(_worklist_rows_complete("marts.ihc_ish_discordance", DISCORDANCE_RULES),),
        scope="specimen",
    ),
    _t(
        "marts.amplification_by_ihc_score",
        "marts",
        "marts/amplification_by_ihc_score",
        "lab (and ALL) × IHC score",
        "Specimens with dual-probe ISH, amplified (group 1; ratio ≥ 2.0) and ISH-positive "
        "rates with Wilson CIs, beside §BENCH 6.2.",
        key=("lab_id", "ihc_score"),
        upstream=("marts.specimen_counts", "marts.reference_bands"),
        figures={
            "ihc_2plus_with_ish": _pooled("n_with_ish", "ihc_score = '2+'"),
            "ihc_2plus_ratio_amplified_rate": _pooled("ratio_amplified_rate", "ihc_score = '2+'"),
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
        upstream=("marts.agreement_counts",),
        figures={"groups": _of("count(*)", "lab_id <> 'ALL'")},
        rate_scale=100.0,
        rates=(Rate("pct_agree", "ci_low", "ci_high"), Rate("ppa"), Rate("npa")),
        roll_up=(("comparison", "breakdown", "breakdown_value"), ("n_pairs", "n_agree")),
    ),
    _t(
        "marts.boundary_pairs",
        "marts",
        "marts/boundary_pairs",
        "pair of IHC reads of a specimen (clinical vs second read or reference lab)",
        "Every clinical IHC read paired with the specimen's second read or reference-lab IHC, "
        "both scores and % stained, the clinical read's reader and clone, and whether the pair "
        "sits on the 0 vs 1+ or the null vs ultralow boundary (traces marts.boundary_agreement).",
        key=("comparison", "lab_id", "accession_id"),
        upstream=("marts.specimen_calls", "marts.specimen_her2"),
        figures={
            "pairs_0_vs_1plus": _of("count_if(on_0_vs_1plus)"),
            "pairs_null_vs_ultralow": _of("count_if(on_null_vs_ultralow)"),
        },
        scope="specimen",
    ),
    _t(
        "marts.boundary_agreement",
        "marts",
        "marts/boundary_agreement",
        "comparison × boundary × lab (and ALL) × breakdown (all, pathologist, clone)",
        "Agreement and Cohen's kappa at the 0 vs 1+ and the null vs ultralow boundary, clinical "
        "read vs second read and vs reference lab: n, % agreement with Wilson CI, 2×2 cells, "
        "kappa with its large-sample SE and 95% CI (§HER2-LOW, §STATS).",
        key=("comparison", "boundary", "lab_id", "breakdown", "breakdown_value"),
        upstream=("marts.boundary_pairs",),
        figures={
            "kappa_0_vs_1plus_second_read": _pooled(
                "kappa",
                "comparison = 'second_read' AND boundary = '0_vs_1plus' AND breakdown = 'all'",
            ),
            "pct_agree_0_vs_1plus_second_read": _pooled(
                "pct_agree",
                "comparison = 'second_read' AND boundary = '0_vs_1plus' AND breakdown = 'all'",
            ),
        },
        rate_scale=100.0,
        rates=(Rate("pct_agree", "ci_low", "ci_high"),),
        roll_up=(
            ("comparison", "boundary", "breakdown", "breakdown_value"),
            ("n_pairs", "n_agree", "n_pos_pos", "n_pos_neg", "n_neg_pos", "n_neg_neg"),
        ),
        rules=(
            Rule(
                "boundary_agreement_cells_and_kappa",
                "The 2×2 cells add up to n_pairs, the diagonal to n_agree; kappa within its "
                "interval, the interval within [-1, 1], the SE non-negative; each breakdown "
                "holds every pair of its group once.",
                """
                SELECT count(*) FROM marts.boundary_agreement
                WHERE n_pos_pos + n_pos_neg + n_neg_pos + n_neg_neg <> n_pairs
                   OR n_pos_pos + n_neg_neg <> n_agree
                   OR kappa_se < 0
                   OR kappa_ci_low < -1 - 1e-9 OR kappa_ci_high > 1 + 1e-9
                   OR kappa < kappa_ci_low - 1e-9 OR kappa > kappa_ci_high + 1e-9
                UNION ALL
                SELECT count(*) FROM (
                    SELECT comparison, boundary, lab_id, breakdown, sum(n_pairs) AS n
                    FROM marts.boundary_agreement GROUP BY ALL
                ) AS a
                JOIN (
                    SELECT comparison, boundary, lab_id, breakdown, sum(n_pairs) AS n
                    FROM marts.boundary_agreement GROUP BY ALL
                ) AS b USING (comparison, boundary, lab_id)
                WHERE a.breakdown = 'all' AND b.breakdown <> 'all' AND a.n <> b.n
                """,
            ),
        ),
    ),
    _t(
        "marts.ihc0_share",
        "marts",
        "marts/ihc0_share",
        "lab (and ALL) × breakdown (all, pathologist, clone) × quarter (and ALL)",
        "Share of IHC 0 among clinical IHC reads per reader and per clone over time, with "
        "Wilson CIs (the 0 vs 1+ call drifting shows here).",
        key=("lab_id", "breakdown", "breakdown_value", "quarter"),
        upstream=("marts.specimen_counts",),
        figures={
            "share_ihc0": _pooled("share_ihc0", "breakdown = 'all' AND quarter = 'ALL'"),
        },
        rates=(Rate("share_ihc0", "ci_low", "ci_high"),),
        roll_up=(
            ("breakdown", "breakdown_value", "quarter"),
            ("n_ihc_reads", "n_ihc0", "n_ihc1plus"),
        ),
    ),
    _t(
        "marts.positivity_cases",
        "marts",
        "marts/positivity_cases",
        "patient's first primary specimen with a positive or negative final status",
        "The population of the HER2-positive rate (her2-domain.md §BENCH 6.1): the monthly "
        "rates and the pathologists' funnel count these rows.",
        key=("lab_id", "accession_id"),
        upstream=("marts.specimen_her2",),
        scope="patient",
    ),
    _t(
        "marts.positivity_counts",
        "marts",
        "marts/positivity_counts",
        "combination of lab, reader, month and status of the positivity cases",
        "The positivity cases counted per combination: positivity_monthly sums these counts; "
        "a night adds and subtracts its scope's counts.",
        key=("lab_id", "pathologist_id", "month", "positive"),
        counts_of="marts.positivity_cases",
        counts=("n_specimens",),
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
        upstream=("marts.positivity_counts", "marts.reference_bands"),
        figures={
            "out_of_control_points": _of("count_if(out_of_control)", "level = 'lab'"),
            "judged_points": _of("count_if(month_status = 'judged')", "level = 'lab'"),
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
        figures={"pathologists_outside": _of("count_if(outside)")},
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
        upstream=("marts.specimen_counts", "marts.reference_bands"),
        figures={
            "primary_share_low": _pooled(
                "share_low", "specimen_role = 'primary' AND quarter = 'ALL'"
            ),
            "primary_share_ihc0": _pooled(
                "share_ihc0", "specimen_role = 'primary' AND quarter = 'ALL'"
            ),
        },
        rates=tuple(Rate(f"share_{c}") for c in (*HER2_CATEGORIES, "ihc0", "ultralow_of_negative")),
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
            "audited_results": _of("count_if(audited)"),
            "interpretation_disagreements": _of("count_if(NOT agrees)"),
            "pct_contradictions": _of("count_if(pct_contradiction)"),
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
        scope="specimen",
    ),
    _t(
        "marts.cap11_specimens",
        "marts",
        "marts/cap11_specimens",
        "specimen as the CAP 11 rates count it",
        "Each specimen's report month, whether its calls were audited and agree with the "
        "algorithm, whether it was equivocal and how it was completed (same specimen, another "
        "specimen of the patient): the CAP 11 rates are counts of these rows.",
        key=("lab_id", "accession_id"),
        upstream=("marts.specimen_her2", "marts.interpretation_audit", "marts.specimen_repeats"),
        scope="specimen",
    ),
    _t(
        "marts.cap11_rates",
        "marts",
        "marts/cap11_rates",
        "lab (and ALL) × month",
        "CAP 11 (2019) proxies, rate 3 the reported one: rate 1 specimens whose reported calls "
        "agree with the algorithm; rate 2 equivocal specimens with a completed repeat (ISH on "
        "the specimen, or a decided result on another specimen of the patient within the "
        "her2qa window); rate 3 both; reflex IHC 2+ → ISH median / p90 days; Wilson CIs.",
        key=("lab_id", "month"),
        upstream=("marts.cap11_specimens", "marts.reference_bands"),
        figures={
            "rate1": _pooled("sum(n_specimens_agree) / sum(n_specimens_audited)"),
            "rate2": _pooled("sum(n_equivocal_completed) / sum(n_equivocal)"),
            "rate3": _pooled("sum(n_rate3_met) / sum(n_specimens_audited)"),
            "repeats_other_specimen": _pooled("sum(n_repeat_other_specimen)"),
        },
        rates=(
            Rate("rate1", "rate1_ci_low", "rate1_ci_high"),
            Rate("rate2", "rate2_ci_low", "rate2_ci_high"),
            Rate("rate3", "rate3_ci_low", "rate3_ci_high"),
        ),
        roll_up=(
            ("month",),
            (
                "n_specimens_audited",
                "n_specimens_agree",
                "n_rate3_met",
                "n_equivocal",
                "n_equivocal_completed",
                "n_repeat_same_specimen",
                "n_repeat_other_specimen",
                "n_ihc_equivocal",
                "n_ish_completed",
            ),
        ),
        rules=(
            Rule(
                "cap11_rates_nested",
                "Rate 3's specimens are among rate 1's (n_rate3_met ≤ n_specimens_agree ≤ "
                "n_specimens_audited); completed ≤ equivocal, each way of completing ≤ the "
                "completed, and the reflex IHC 2+ counts within the equivocal ones.",
                """
                SELECT count(*) FROM marts.cap11_rates
                WHERE n_rate3_met > n_specimens_agree
                   OR n_specimens_agree > n_specimens_audited
                   OR n_equivocal_completed > n_equivocal
                   OR greatest(n_repeat_same_specimen, n_repeat_other_specimen)
                        > n_equivocal_completed
                   OR n_repeat_same_specimen + n_repeat_other_specimen < n_equivocal_completed
                   OR n_ish_completed <> n_repeat_same_specimen
                   OR n_ihc_equivocal > n_equivocal
                """,
            ),
        ),
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
            "gain_rate": _pooled("gain_rate"),
            "loss_rate": _pooled("loss_rate"),
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
            "eligibility_changes": _pooled("coalesce(sum(n_pairs), 0)", "changes_eligibility"),
            "null_ultralow_changes": _pooled(
                "coalesce(sum(n_pairs), 0)",
                "primary_class <> metastasis_class "
                "AND list_has_all(['null', 'ultralow'], [primary_class, metastasis_class])",
            ),
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
            "retest_candidates": _of("count(*)"),
            "therapy_change_candidates": _of("count_if(reason_group = 'therapy_change')"),
        },
        scope="patient",
    ),
    # ---------------------------------------------------------------- marts: case worklists
    _t(
        "marts.worklist_pct_contradictions",
        "marts",
        "marts/worklist_pct_contradictions",
        "current clinical IHC result whose score contradicts its % stained",
        "Worklist: IHC 0 over 10%, 1+ or 3+ at 10% or less (2007: 0 with any staining, 1+ with "
        "none, 3+ at 30% or less), per the ASCO/CAP version the result was read under, whatever "
        "the reported call; rule, reason and source on every row (§IHC-2018, §HER2-LOW).",
        key=("lab_id", "test_id"),
        upstream=("marts.interpretation_audit", "marts.specimen_her2"),
        figures={
            "cases": _of("count(*)"),
            "boundary_0_1": _of("count_if(boundary_0_1)"),
        },
        rules=(
            _worklist_rows_complete("marts.worklist_pct_contradictions", PCT_CONTRADICTION_RULES),
            Rule(
                "worklist_pct_contradictions_all_listed",
                "Exactly the results marts.interpretation_audit flags as pct_contradiction.",
                """
                SELECT (SELECT count(*) FROM marts.interpretation_audit a
                        WHERE a.pct_contradiction AND NOT EXISTS (
                            SELECT 1 FROM marts.worklist_pct_contradictions w
                            WHERE w.lab_id = a.lab_id AND w.test_id = a.test_id))
                     + (SELECT count(*) FROM marts.worklist_pct_contradictions w
                        WHERE NOT EXISTS (
                            SELECT 1 FROM marts.interpretation_audit a
                            WHERE a.pct_contradiction AND w.lab_id = a.lab_id
                              AND w.test_id = a.test_id))
                """,
            ),
        ),
        scope="specimen",
    ),
    _t(
        "marts.worklist_interpretation_disagreements",
        "marts",
        "marts/worklist_interpretation_disagreements",
        "current clinical result whose reported call differs from the algorithm's call",
        "Worklist: the rows of marts.interpretation_audit audited and not agreeing, each with "
        "the reason (the ASCO/CAP call for the row, §IHC-2018, §ISH-RESOLVE).",
        key=("lab_id", "test_id"),
        upstream=("marts.interpretation_audit",),
        figures={"cases": _of("count(*)")},
        rules=(
            Rule(
                "worklist_interpretation_disagreements_consistent",
                "Every row names its specimen (lab_id, accession_id) and a reason, and the "
                "list has as many rows as marts.interpretation_audit has disagreements.",
                """
                SELECT count(*) FROM marts.worklist_interpretation_disagreements
                WHERE lab_id IS NULL OR accession_id IS NULL OR reason IS NULL
                    OR NOT audited
                UNION ALL
                SELECT abs((SELECT count(*) FROM marts.worklist_interpretation_disagreements)
                    - (SELECT count(*) FROM marts.interpretation_audit
                       WHERE audited AND NOT agrees))
                """,
            ),
        ),
        scope="specimen",
    ),
    _t(
        "marts.open_equivocal",
        "marts",
        "marts/open_equivocal",
        "open equivocal specimen (primary or metastasis)",
        "The case-level part of the aging worklist: equivocal final status not completed by a "
        "decided specimen of the patient within the CAP 11 window, with the rule code and "
        "source; marts.worklist_open_equivocal adds the data's clock.",
        key=("lab_id", "accession_id"),
        upstream=("marts.specimen_her2", "marts.specimen_repeats"),
        rules=(
            Rule(
                "open_equivocal_are_equivocal",
                "Every open specimen is equivocal in marts.specimen_her2.",
                """
                SELECT count(*) FROM marts.open_equivocal o
                WHERE NOT EXISTS (
                    SELECT 1 FROM marts.specimen_her2 s
                    WHERE s.lab_id = o.lab_id AND s.accession_id = o.accession_id
                      AND s.final_status = 'equivocal'
                )
                """,
            ),
        ),
        scope="specimen",
    ),
    _t(
        "marts.worklist_open_equivocal",
        "marts",
        "marts/worklist_open_equivocal",
        "open equivocal specimen (primary or metastasis)",
        "Aging worklist: equivocal final status (IHC 2+ without a usable ISH, ISH group 2–4 "
        "without IHC, single-probe or 2013/2007 ISH equivocal) not completed by a decided "
        "specimen of the patient within the CAP 11 window; days_open from the specimen's "
        "latest report to the warehouse's newest report date (deterministic).",
        key=("lab_id", "accession_id"),
        upstream=("staging.her2_results", "marts.open_equivocal"),
        figures={
            "cases": _of("count(*)"),
            "primaries": _of("count_if(specimen_role = 'primary')"),
            "metastases": _of("count_if(specimen_role = 'metastasis')"),
            "oldest_days_open": _of("max(days_open)"),
        },
        rules=(
            _worklist_rows_complete("marts.worklist_open_equivocal", OPEN_EQUIVOCAL_RULES),
            Rule(
                "worklist_open_equivocal_consistent",
                "The list has a row for every open equivocal specimen (as many rows as "
                "marts.open_equivocal); days_open is never negative.",
                """
                SELECT count(*) FROM marts.worklist_open_equivocal w
                WHERE w.days_open IS NULL OR w.days_open < 0
                UNION ALL
                SELECT abs((SELECT count(*) FROM marts.worklist_open_equivocal)
                    - (SELECT count(*) FROM marts.open_equivocal))
                """,
            ),
        ),
    ),
    _t(
        "marts.worklist_ish_counting",
        "marts",
        "marts/worklist_ish_counting",
        "ISH row counted in too few nuclei, or group 2–4 IHC 2+ specimen without a concordant "
        "blinded recount (lab_id, test_id, rule)",
        "Worklist (§ISH-COUNT): clinical ISH and blinded recounts under the 20-nuclei minimum "
        "(marts.reference_bands), and dual-probe groups 2–4 with IHC 2+ whose blinded recount "
        "(a second_read ISH row) is missing, in another group or by the same observer.",
        key=("lab_id", "test_id", "rule"),
        upstream=("staging.her2_results", "marts.specimen_her2", "marts.reference_bands"),
        figures={
            "nuclei_under_minimum": _of("count_if(rule = 'ish_nuclei_under_minimum')"),
            "recount_missing": _of("count_if(rule = 'blinded_recount_missing')"),
            "recount_other_group": _of("count_if(rule = 'blinded_recount_other_group')"),
        },
        rules=(
            _worklist_rows_complete("marts.worklist_ish_counting", ISH_COUNTING_RULES),
            Rule(
                "worklist_ish_counting_consistent",
                "A nuclei row counted under the minimum; a recount row is a group 2–4 with IHC "
                "2+; a recount in another group names that group.",
                """
                SELECT count(*) FROM marts.worklist_ish_counting
                WHERE (rule = 'ish_nuclei_under_minimum'
                       AND NOT coalesce(ish_cells_counted < nuclei_minimum, false))
                   OR (rule LIKE 'blinded_recount%'
                       AND NOT coalesce(ish_group IN (2, 3, 4) AND ihc_score = '2+', false))
                   OR (rule = 'blinded_recount_other_group'
                       AND recount_group IS NOT DISTINCT FROM ish_group)
                """,
            ),
        ),
        scope="specimen",
    ),
    _t(
        "marts.worklist_ihc0_metastatic",
        "marts",
        "marts/worklist_ihc0_metastatic",
        "metastatic patient whose only HER2 result is an IHC 0 primary (named by the primary)",
        "Worklist: patients with a metastasis specimen but no usable result on it, and only "
        "IHC 0 primaries (null, ultralow, unspecified): retest for HER2-low / ultralow, T-DXd "
        "eligibility (§HER2-LOW); the latest metastasis named beside the primary.",
        key=("lab_id", "accession_id"),
        upstream=("staging.her2_results", "marts.specimen_her2"),
        figures={"cases": _of("count(*)")},
        rules=(
            _worklist_rows_complete("marts.worklist_ihc0_metastatic", IHC0_METASTATIC_RULES),
            Rule(
                "worklist_ihc0_metastatic_is_ihc0",
                "Every listed primary is an IHC 0 negative (null, ultralow, zero_unspecified).",
                "SELECT count(*) FROM marts.worklist_ihc0_metastatic WHERE ihc_score <> '0' "
                "OR her2_category NOT IN ('null', 'ultralow', 'zero_unspecified') "
                "OR metastasis_accession_id IS NULL",
            ),
        ),
        scope="specimen",
    ),
    _t(
        "marts.specimen_preanalytic",
        "marts",
        "marts/specimen_preanalytic",
        "clinical specimen with its pre-analytic times judged",
        "Each specimen's worst documented cold ischaemia and fixation against the limits of its "
        "ASCO/CAP version, and its turnaround: the monthly pre-analytic figures count these rows.",
        key=("lab_id", "accession_id"),
        upstream=("staging.her2_results", "marts.specimen_her2", "marts.reference_bands"),
        scope="specimen",
    ),
    _t(
        "marts.preanalytic_counts",
        "marts",
        "marts/preanalytic_counts",
        "combination of lab, collection month, cold-ischaemia and fixation judgements, 2007 "
        "window and turnaround days",
        "The clinical specimens of specimen_preanalytic counted per combination: "
        "preanalytic_monthly sums these counts and takes the turnaround quantiles from them; "
        "a night adds and subtracts its scope's counts.",
        key=(
            "lab_id",
            "month",
            "cold",
            "fixation",
            "fixation_under",
            "fixation_over",
            "read_2007",
            "turnaround_days",
        ),
        counts_of="marts.specimen_preanalytic",
        counts=("n_specimens",),
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
        upstream=("marts.preanalytic_counts", "marts.reference_bands"),
        figures={
            "cold_compliance_rate": _pooled(
                "sum(n_cold_within) / sum(n_cold_within + n_cold_over)"
            ),
            "fixation_compliance_rate": _pooled(
                "sum(n_fixation_within) / sum(n_fixation_within + n_fixation_outside)"
            ),
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
    _t(
        "marts.proficiency_results",
        "marts",
        "marts/proficiency_results",
        "lab × proficiency challenge (challenge_id, assay) answered",
        "Every PT answer graded once (§VALIDATION): against the provider's key "
        "(expected_result, contract v2) where given, else the consensus of at least 3 "
        "laboratories (a her2qa rule, labelled 'consensus'), else ungraded.",
        key=("lab_id", "challenge_id", "assay"),
        upstream=("staging.her2_results", "marts.reference_bands"),
        figures={
            "answers": _of("count(*)"),
            "graded_by_key": _of("count_if(graded_by = 'provider_key')"),
            "graded_by_consensus": _of("count_if(graded_by = 'consensus')"),
        },
        rules=(
            Rule(
                "proficiency_results_graded_consistently",
                "graded_by is provider_key exactly when expected_result is given; correct and "
                "graded_against are set exactly when graded.",
                """
                SELECT count(*) FROM marts.proficiency_results
                WHERE (graded_by = 'provider_key') IS DISTINCT FROM (expected_result IS NOT NULL)
                   OR (correct IS NULL) IS DISTINCT FROM (graded_by = 'ungraded')
                   OR (graded_against IS NULL) IS DISTINCT FROM (graded_by = 'ungraded')
                   OR graded_by NOT IN ('provider_key', 'consensus', 'ungraded')
                """,
            ),
        ),
    ),
    _t(
        "marts.proficiency_events",
        "marts",
        "marts/proficiency_events",
        "lab × proficiency-testing event",
        "Each lab's PT events: graded challenges, % correct with Wilson CI (≥ 90% per event, "
        "§VALIDATION), graded by the provider's key or the consensus, events in the year.",
        key=("lab_id", "event_date"),
        upstream=("marts.proficiency_results",),
        figures={
            "events": _of("count(*)"),
            "events_under_pt_correct": "SELECT count_if(e.pct_correct < b.low) "
            "FROM marts.proficiency_events AS e JOIN marts.reference_bands AS b "
            "ON b.band_id = 'pt_correct' AND b.lab_id = 'ALL'",
        },
        rates=(Rate("pct_correct", "ci_low", "ci_high"),),
        rules=(
            Rule(
                "proficiency_events_add_up",
                "n_correct ≤ n_graded ≤ n_challenges; n_by_key + n_by_consensus = n_graded.",
                """
                SELECT count(*) FROM marts.proficiency_events
                WHERE n_correct > n_graded OR n_graded > n_challenges
                   OR n_by_key + n_by_consensus <> n_graded
                """,
            ),
        ),
    ),
    _t(
        "marts.validation_cases",
        "marts",
        "marts/validation_cases",
        "current validation result (lab_id, test_id)",
        "Each validation result as a case: its call, its comparator (the specimen's clinical "
        "final status) and whether they agree; the validation sets count these rows.",
        key=("lab_id", "test_id"),
        upstream=("staging.her2_results", "marts.specimen_her2"),
        scope="specimen",
    ),
    _t(
        "marts.validation_sets",
        "marts",
        "marts/validation_sets",
        "lab × assay × assay kit with validation results",
        "Each kit's validation set (test_purpose validation, comparator: the specimen's clinical "
        "final status): positive and negative cases against 20 + 20 (FDA-approved) or 40 + 40 "
        "(laboratory-developed, ldt_kits) (§VALIDATION), PPA / NPA / overall agreement with "
        "Wilson CIs, and every case with its call.",
        key=("lab_id", "assay", "assay_kit"),
        upstream=("marts.validation_cases", "marts.reference_bands"),
        figures={
            "sets": _of("count(*)"),
            "sets_short_of_cases": _of("count_if(NOT cases_met)"),
        },
        rates=(
            Rate("ppa", "ppa_ci_low", "ppa_ci_high"),
            Rate("npa", "npa_ci_low", "npa_ci_high"),
            Rate("concordance", "concordance_ci_low", "concordance_ci_high"),
        ),
        rules=(
            Rule(
                "validation_sets_add_up",
                "positive + negative + not comparable = cases = the listed cases; agreement "
                "within its category; cases_met exactly when both categories reach the "
                "required count.",
                """
                SELECT count(*) FROM marts.validation_sets
                WHERE n_positive + n_negative + n_not_comparable <> n_cases
                   OR n_comparable <> n_positive + n_negative
                   OR len(cases) <> n_cases
                   OR n_pos_agree > n_positive OR n_neg_agree > n_negative
                   OR n_agree <> n_pos_agree + n_neg_agree
                   OR cases_met IS DISTINCT FROM (n_positive >= required_per_category
                        AND n_negative >= required_per_category)
                """,
            ),
        ),
    ),
    # ---------------------------------------------------------------- what the pages read
    _t(
        "marts.headline",
        "marts",
        "marts/headline",
        "lab (and ALL)",
        "The overview's counts: clinical specimens (primary, metastasis, in the last 12 "
        "collection months of the warehouse), first and last collection, latest report and "
        "latest arrival of a file with a current result.",
        key=("lab_id",),
        upstream=("marts.specimen_her2", "staging.her2_results", "ops.ingested_files"),
        roll_up=((), ("n_specimens", "n_primary", "n_metastasis", "n_window")),
    ),
    _t(
        "marts.volume_monthly",
        "marts",
        "marts/volume_monthly",
        "lab (and ALL) × collection month × specimen role",
        "Clinical specimens per collection month and role, for the overview's volume chart.",
        key=("lab_id", "month", "specimen_role"),
        upstream=("marts.specimen_counts",),
        roll_up=(("month", "specimen_role"), ("n_specimens",)),
    ),
    _t(
        "marts.ihc_ish_matrix",
        "marts",
        "marts/ihc_ish_matrix",
        "lab (and ALL) × IHC score × ISH group",
        "Clinical specimens by selected IHC score and 2018 ISH group ('none': no usable "
        "dual-probe ISH), for the IHC/ISH page's matrix.",
        key=("lab_id", "ihc_score", "ish_group"),
        upstream=("marts.specimen_counts",),
        roll_up=(("ihc_score", "ish_group"), ("n_specimens",)),
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
            "raw.her2_rows",
            "staging.her2_results",
            "quarantine.rejected_rows",
            "marts.agreement",
            "marts.positivity_monthly",
            "marts.positivity_pathologists",
            "marts.reference_bands",
            "marts.amplification_by_ihc_score",
            "marts.her2_low_distribution",
            "marts.primary_metastasis_summary",
            "marts.cap11_rates",
            "marts.proficiency_events",
            "marts.validation_sets",
        ),
        figures={
            "look": _of("count_if(verdict = 'look')"),
            "too_few": _of("count_if(verdict = 'too_few')"),
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


def case_level() -> tuple[Table, ...]:
    """The case-level tables a build keeps (catalog ``scope``; scratch tables aside), in build
    order: what a nightly build merges, a partitioned build appends and the checks of a
    nightly build read by their scope."""
    return tuple(t for t in build_order() if t.scope and t.layer != "scratch")


def published() -> tuple[Table, ...]:
    """Every table that outlives a run and is an asset (scratch and state tables aside)."""
    return tuple(t for t in TABLES if t.layer not in ("scratch", "state"))


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
        if t.layer not in (*LAYERS, "scratch", "state"):
            raise ValueError(f"{t.name}: unknown layer {t.layer}")
        for u in t.upstream:
            if u not in BY_NAME:
                raise ValueError(f"{t.name}: upstream {u} is not in the catalog")


_check_catalog()


if __name__ == "__main__":  # the README's table of tables
    print(markdown_table())
