"""Asset checks of the quality marts (pipelines/assets/quality_marts.py).

ERROR checks are integrity (blocking): keys unique, HER2-category shares summing to 1, every
rate and interval inside [0, 1] (percent columns inside [0, 100]), 'ALL' roll-ups equal to the
sum of the labs, the audit's columns consistent. They come from tables of rules, each a query
counting the rows that break it; a mart that breaks one is wrong whatever the data.

WARN checks are quality findings (non-blocking, never a failure of the run): a lab's
HER2-positive rate outside the published band (a context band, not a limit; its source is
read from marts.reference_bands and shown), and p-chart points out of statistical control.
"""

import dagster as dg

import warehouse
from her2qa import marts
from pipelines.assets.quality_marts import POSITIVITY_MONTHLY, TABLES, key
from pipelines.marts_checks import Rule, integrity_check
from pipelines.resources import Her2qaPaths

# Each table's key (one row per ...): unique, and never NULL.
KEYS: dict[str, tuple[str, ...]] = {
    "reference_bands": ("band_id",),
    "ihc_ish_discordance": ("lab_id", "accession_id"),
    "amplification_by_ihc_score": ("lab_id", "ihc_score"),
    "agreement_by_group": ("comparison", "lab_id", "breakdown", "breakdown_value"),
    "positivity_monthly": ("lab_id", "level", "pathologist_id", "month"),
    "her2_low_distribution": ("lab_id", "specimen_role", "quarter"),
    "interpretation_audit": ("lab_id", "test_id"),
    "cap11_rates": ("lab_id", "month"),
    "primary_metastasis_summary": ("lab_id",),
    "her2_low_transitions": ("lab_id", "primary_category", "metastasis_category"),
    "retest_candidates": ("lab_id", "accession_id"),
    "preanalytic_monthly": ("lab_id", "month"),
}

# Rates and their Wilson intervals: (rate, ci_low, ci_high); a lone proportion has no CI.
# Every value within [0, scale] and ci_low <= rate <= ci_high where defined.
_Rate = tuple[str, str | None, str | None]
RATES: dict[str, tuple[float, list[_Rate]]] = {
    "amplification_by_ihc_score": (
        1.0,
        [
            ("ish_tested_share", None, None),
            ("amplified_rate", "amplified_ci_low", "amplified_ci_high"),
            ("ratio_amplified_rate", "ratio_amplified_ci_low", "ratio_amplified_ci_high"),
            ("ish_positive_rate", "ish_positive_ci_low", "ish_positive_ci_high"),
        ],
    ),
    "agreement_by_group": (
        100.0,
        [("pct_agree", "ci_low", "ci_high"), ("ppa", None, None), ("npa", None, None)],
    ),
    "positivity_monthly": (
        1.0,
        [("rate", "ci_low", "ci_high"), ("centre_line", "lcl", "ucl")],
    ),
    "her2_low_distribution": (
        1.0,
        [
            (f"share_{c}", None, None)
            for c in (
                *marts.HER2_CATEGORIES,
                "ihc0",
                "ultralow_of_negative",
            )
        ],
    ),
    "cap11_rates": (
        1.0,
        [("rate1", "rate1_ci_low", "rate1_ci_high"), ("rate2", "rate2_ci_low", "rate2_ci_high")],
    ),
    "primary_metastasis_summary": (
        1.0,
        [
            ("gain_rate", "gain_ci_low", "gain_ci_high"),
            ("loss_rate", "loss_ci_low", "loss_ci_high"),
            ("discordance_rate", "discordance_ci_low", "discordance_ci_high"),
        ],
    ),
    "her2_low_transitions": (1.0, [("share_of_primary", None, None)]),
    "preanalytic_monthly": (
        1.0,
        [
            ("cold_documented_rate", "cold_documented_ci_low", "cold_documented_ci_high"),
            ("cold_compliance_rate", "cold_compliance_ci_low", "cold_compliance_ci_high"),
            (
                "fixation_documented_rate",
                "fixation_documented_ci_low",
                "fixation_documented_ci_high",
            ),
            (
                "fixation_compliance_rate",
                "fixation_compliance_ci_low",
                "fixation_compliance_ci_high",
            ),
        ],
    ),
}

# 'ALL' rows hold the sum of the labs' rows: (the other key columns, the counts to compare).
ROLL_UPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "amplification_by_ihc_score": (("ihc_score",), ("n_specimens", "n_with_ish", "n_group1")),
    "agreement_by_group": (("comparison", "breakdown", "breakdown_value"), ("n_pairs", "n_agree")),
    "her2_low_distribution": (("specimen_role", "quarter"), ("n_specimens", "n_low", "n_null")),
    "cap11_rates": (("month",), ("n_specimens_audited", "n_specimens_agree", "n_ihc_equivocal")),
    "primary_metastasis_summary": ((), ("n_pairs", "n_gain", "n_loss", "n_comparable")),
    "her2_low_transitions": (("primary_category", "metastasis_category"), ("n_pairs",)),
    "preanalytic_monthly": (("month",), ("n_specimens", "n_cold_within", "n_fixation_within")),
}

EPS = 1e-9


def _keys_sql(table: str, columns: tuple[str, ...]) -> str:
    cols = ", ".join(columns)
    nulls = " OR ".join(f"{c} IS NULL" for c in columns)
    return (
        f"SELECT count(*) FROM (SELECT 1 FROM marts.{table} GROUP BY {cols} "  # noqa: S608
        f"HAVING count(*) > 1) UNION ALL SELECT count(*) FROM marts.{table} WHERE {nulls}"
    )


def _rates_sql(table: str, scale: float, rates: list[_Rate]) -> str:
    broken = []
    for rate, low, high in rates:
        values = [c for c in (rate, low, high) if c]
        broken += [f"{c} < -{EPS} OR {c} > {scale} + {EPS}" for c in values]
        if low and high:
            broken.append(f"{low} > {rate} + {EPS} OR {rate} > {high} + {EPS}")
    where = " OR ".join(f"({b})" for b in broken)
    return f"SELECT count(*) FROM marts.{table} WHERE {where}"  # noqa: S608


def _roll_up_sql(table: str, dims: tuple[str, ...], counts: tuple[str, ...]) -> str:
    group = ", ".join(dims) if dims else "()"
    using = f"USING ({', '.join(dims)})" if dims else "ON true"
    sums = ", ".join(f"sum({c}) AS {c}" for c in counts)
    # no lab rows (nothing to pair yet): the ALL row holds zeros where the sums are NULL
    differs = " OR ".join(f"coalesce(a.{c}, 0) <> coalesce(l.{c}, 0)" for c in counts)
    return (
        f"WITH l AS (SELECT {', '.join((*dims, sums))} FROM marts.{table} "  # noqa: S608
        f"WHERE lab_id <> 'ALL' GROUP BY {group}) "
        f"SELECT count(*) FROM marts.{table} AS a JOIN l {using} "
        f"WHERE a.lab_id = 'ALL' AND ({differs})"
    )


RULES: tuple[Rule, ...] = (
    *(
        Rule(
            f"{table}_key_unique",
            key(table),
            f"One row per {' × '.join(columns)}, none of them NULL.",
            _keys_sql(table, columns),
        )
        for table, columns in KEYS.items()
    ),
    *(
        Rule(
            f"{table}_rates_within_range",
            key(table),
            f"Every rate and share within [0, {scale:g}] and inside its Wilson interval"
            + (" (lcl ≤ centre line ≤ ucl)" if table == "positivity_monthly" else "")
            + ".",
            _rates_sql(table, scale, rates),
        )
        for table, (scale, rates) in RATES.items()
    ),
    *(
        Rule(
            f"{table}_roll_ups_add_up",
            key(table),
            "Each 'ALL' row holds the sum of the labs' rows (" + ", ".join(counts) + ").",
            _roll_up_sql(table, dims, counts),
        )
        for table, (dims, counts) in ROLL_UPS.items()
    ),
    Rule(
        "her2_low_distribution_shares_sum_to_one",
        key("her2_low_distribution"),
        "Per group, the seven HER2-category counts add up to n_specimens and their shares to 1.",
        "SELECT count(*) FROM marts.her2_low_distribution WHERE "  # noqa: S608
        + " + ".join(f"n_{c}" for c in marts.HER2_CATEGORIES)
        + " <> n_specimens OR abs("
        + " + ".join(f"share_{c}" for c in marts.HER2_CATEGORIES)
        + f" - 1) > {EPS}",
    ),
    Rule(
        "interpretation_audit_consistent",
        key("interpretation_audit"),
        "audited ⇔ an algorithm call; agrees defined only when audited; a reason exactly for "
        "each disagreement; a % finding exactly for each contradiction.",
        """
        SELECT count(*) FROM marts.interpretation_audit
        WHERE audited IS DISTINCT FROM (algorithm_call IS NOT NULL)
           OR (agrees IS NULL) = audited
           OR (reason IS NOT NULL) IS DISTINCT FROM coalesce(NOT agrees, false)
           OR pct_contradiction IS DISTINCT FROM (pct_finding IS NOT NULL)
        """,
    ),
)


@dg.asset_check(
    asset=POSITIVITY_MONTHLY,
    blocking=False,
    description=(
        "Each lab's HER2-positive rate (clinical primaries, positive or negative, all months "
        "pooled) inside the primary published band of marts.reference_bands (metric "
        "her2_positive_rate: the Danish department range, BCR-DK-2023, her2-domain.md "
        "§BENCH 6.1); the context band (Germany, DE-POSRATE-2011) is shown beside it. A "
        "published benchmark band is context, not a limit: a finding (WARN), never a failure."
    ),
)
def positivity_within_published_band(paths: Her2qaPaths) -> dg.AssetCheckResult:
    with paths.connect(read_only=True) as con:
        warehouse.run(con, "marts/agreement_statistics")  # Wilson interval macros (temporary)
        bands = {
            role: (low, high, source, label)
            for role, low, high, source, label in con.execute(
                "SELECT role, low, high, source, label FROM marts.reference_bands "
                "WHERE metric = 'her2_positive_rate'"
            ).fetchall()
        }
        labs = con.execute(
            """
            WITH labs AS (
                SELECT lab_id, sum(n_positive) AS k, sum(n_specimens) AS n
                FROM marts.positivity_monthly WHERE level = 'lab' GROUP BY lab_id
            )
            SELECT lab_id, n, k, k / n, wilson_low(k, n), wilson_high(k, n)
            FROM labs ORDER BY lab_id
            """
        ).fetchall()
    low, high, source, label = bands["primary"]
    context = bands.get("context")
    outside = [r for r in labs if not low <= r[3] <= high]
    ci_outside = [r for r in outside if r[5] < low or r[4] > high]

    def pct(x: float) -> str:
        return f"{100 * x:.1f}%"

    rows = [
        f"| {lab} | {n:,} | {k:,} | {pct(rate)} | {pct(lo)}–{pct(hi)} | "
        f"{'inside' if low <= rate <= high else 'outside'} |"
        + (f" {'inside' if context[0] <= rate <= context[1] else 'outside'} |" if context else "")
        for lab, n, k, rate, lo, hi in labs
    ]
    header = "| lab | specimens | positive | rate | 95% CI (Wilson) | primary band |" + (
        " context band |" if context else ""
    )
    table = "\n".join([header, "|---" * (7 if context else 6) + "|", *rows])
    return dg.AssetCheckResult(
        passed=not outside,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(outside)} of {len(labs)} lab(s) outside the {label}: {pct(low)}–{pct(high)}, "
            f"{source}"
            if labs
            else "no clinical primary specimens with a positive or negative status yet"
        ),
        metadata={
            "band_low_pct": 100 * low,
            "band_high_pct": 100 * high,
            "band_source": source,
            "band_label": label,
            **(
                {
                    "context_band_low_pct": 100 * context[0],
                    "context_band_high_pct": 100 * context[1],
                    "context_band_source": context[2],
                }
                if context
                else {}
            ),
            "labs_evaluated": len(labs),
            "labs_outside_band": len(outside),
            "labs_ci_outside_band": len(ci_outside),
            "labs_outside": ", ".join(r[0] for r in outside) or "none",
            "positivity": dg.MetadataValue.md(table if labs else "no data"),
        },
    )


@dg.asset_check(
    asset=POSITIVITY_MONTHLY,
    blocking=False,
    description=(
        "No monthly HER2-positive rate outside its p-chart 3-sigma limits (lab's overall p̄ "
        "as centre line), per lab and per pathologist. Points out of control are findings to "
        "review (WARN), never a failure of the run."
    ),
)
def positivity_in_statistical_control(paths: Her2qaPaths) -> dg.AssetCheckResult:
    with paths.connect(read_only=True) as con:
        points = con.execute(
            """
            SELECT lab_id, level, pathologist_id, month_label, n_specimens, n_positive, rate,
                   lcl, ucl, signal
            FROM marts.positivity_monthly WHERE out_of_control
            ORDER BY level, lab_id, pathologist_id, month
            """
        ).fetchall()
        (charted,) = con.execute(
            "SELECT count(*) FROM marts.positivity_monthly WHERE level = 'lab'"
        ).fetchone()
    lab_points = [p for p in points if p[1] == "lab"]
    shown = points[:50]
    table = "\n".join(
        [
            "| lab | pathologist | month | n | positive | rate | limits | signal |",
            "|---|---|---|---|---|---|---|---|",
            *(
                f"| {lab} | {reader} | {month} | {n:,} | {k:,} | {100 * rate:.1f}% | "
                f"{100 * lcl:.1f}–{100 * ucl:.1f}% | {signal} |"
                for lab, _, reader, month, n, k, rate, lcl, ucl, signal in shown
            ),
        ]
    )
    return dg.AssetCheckResult(
        passed=not points,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(lab_points)} lab-month and {len(points) - len(lab_points)} pathologist-month "
            "point(s) outside the 3-sigma limits"
        ),
        metadata={
            "lab_points_charted": int(charted),
            "out_of_control_points": len(lab_points),
            "out_of_control_pathologist_points": len(points) - len(lab_points),
            "points": dg.MetadataValue.md(table if points else "none"),
        },
    )


QUALITY_CHECKS = [
    *(integrity_check(rule) for rule in RULES),
    positivity_within_published_band,
    positivity_in_statistical_control,
]

# Every quality mart has at least its key check.
if set(KEYS) != set(TABLES):
    raise RuntimeError("pipelines/quality_checks.py: a quality mart has no key rule")
