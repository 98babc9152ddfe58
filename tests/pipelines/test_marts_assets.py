"""The marts asset and the checks generated from the catalog (pipelines/defs/marts.py,
pipelines/factory.py): one asset per table, integrity checks that catch a broken mart,
WARN checks that report marts.findings and never fail a run."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from her2qa.config import SiteConfig
from pipelines import factory
from pipelines.defs import marts as marts_defs
from pipelines.defs.resources import Her2qaPaths
from pipelines.defs.staging import stage_results
from tests.marts_fixtures import build, ihc, ish
from warehouse import build as runner
from warehouse import catalog

SPECIMEN_HER2 = factory.asset_key("marts.specimen_her2")
AGREEMENT = factory.asset_key("marts.agreement")
CHECKS = [*marts_defs.integrity, *marts_defs.findings]


def _paths(root: Path) -> Her2qaPaths:
    return Her2qaPaths(
        inbox=str(root / "inbox"),
        warehouse_file=str(root / "her2.duckdb"),
        archive_dir=str(root / "archive"),
        site_dir=str(root / "site"),
    )


def _check(name: str, table: str = "marts.findings"):
    """Evaluate one check of the generated multi-checks: ``_check(name)(paths=...)``."""
    key = dg.AssetCheckKey(factory.asset_key(table), name)
    checks = next(c for c in CHECKS if key in c.check_keys)

    def evaluate(paths: Her2qaPaths) -> dg.AssetCheckResult:
        return next(
            r
            for r in checks(paths=paths)
            if (r.asset_key, r.check_name) == (key.asset_key, key.name)
        )

    return evaluate


def _table_of(rule: str) -> str:
    return next(t.name for t in catalog.TABLES for r in factory.table_rules(t) if r.name == rule)


@pytest.fixture
def staged(tmp_path: Path) -> Her2qaPaths:
    """10 specimens with IHC and ISH: IHC/ISH concordance 90%, PPA 80% (4 of 5 ISH-positive)."""
    rows = []
    for i in range(10):
        score = "3+" if i < 4 else "1+"
        numbers = (2.5, 5.0) if i < 5 else (1.2, 2.4)  # A4: IHC 1+ vs group 1
        rows += [ihc(score, accession_id=f"A{i}"), ish(*numbers, accession_id=f"A{i}")]
    rows.append(ihc("2+", accession_id="M", specimen_role="metastasis"))
    build(tmp_path / "her2.duckdb", rows).close()
    return _paths(tmp_path)


def test_one_asset_per_catalog_table_and_a_finding_is_only_a_warning(staged):
    result = dg.materialize(
        [marts_defs.build_marts, *CHECKS], resources={"paths": staged}, raise_on_error=False
    )
    assert result.success  # a quality finding never fails the run
    meta = {
        m.asset_key: {k: v.value for k, v in m.materialization.metadata.items()}
        for m in result.get_asset_materialization_events()
    }
    built = {factory.asset_key(t.name) for t in catalog.build_order() if t.layer != "scratch"}
    assert set(meta) == built
    assert meta[SPECIMEN_HER2]["specimens"] == 11
    assert meta[AGREEMENT]["pairs_ihc_vs_ish"] == 10
    evaluations = {(e.asset_key, e.check_name): e for e in result.get_asset_check_evaluations()}
    findings = factory.asset_key("marts.findings")
    tables = {
        (factory.asset_key(t.name), factory.INTEGRITY)
        for t in catalog.build_order()
        if factory.table_rules(t)
    }
    assert tables | {(findings, code) for code in catalog.FINDINGS} == set(evaluations)
    for key in tables:
        assert evaluations[key].passed, key
        assert evaluations[key].severity == dg.AssetCheckSeverity.ERROR
    evaluations = {name: e for (asset, name), e in evaluations.items() if asset == findings}
    # PPA 4 of 5 = 80%: too few ISH-positive pairs to judge (< 20), but even the top of its
    # interval (Wilson 37.6-96.4%) is not under 95%, so: too_few, not look
    warn = evaluations["lab_target_ihc_vs_ish"]
    assert warn.severity == dg.AssetCheckSeverity.WARN
    # NORTH and ALL, each for period ALL and the one quarter
    assert warn.passed and warn.metadata["n_too_few"].value == 4


def test_a_lab_target_check_names_the_lab_below_it(tmp_path):
    # 25 ISH-positive pairs of which 20 IHC 3+ (PPA 80%), 25 ISH-negative all IHC 0
    rows = []
    for i in range(50):
        score = "0" if i >= 25 else ("3+" if i < 20 else "1+")
        numbers = (2.5, 5.0) if i < 25 else (1.2, 2.4)
        rows += [ihc(score, accession_id=f"A{i}"), ish(*numbers, accession_id=f"A{i}")]
    build(tmp_path / "her2.duckdb", rows).close()
    result = _check("lab_target_ihc_vs_ish")(paths=_paths(tmp_path))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["labs_to_look_at"].value == "NORTH"
    assert "positive category is below the lab target" in result.metadata["look"].value


def test_finding_checks_pass_when_nothing_is_to_look_at(tmp_path):
    rows = []
    for i in range(40):
        score, numbers = ("3+", (2.5, 5.0)) if i % 2 else ("0", (1.2, 2.4))
        rows += [ihc(score, accession_id=f"A{i}"), ish(*numbers, accession_id=f"A{i}")]
    build(tmp_path / "her2.duckdb", rows).close()
    assert _check("lab_target_ihc_vs_ish")(paths=_paths(tmp_path)).passed


def test_a_positivity_point_out_of_control_is_a_warning_naming_the_month(tmp_path):
    # HIGH: 2023 at 2 of 10 a month; July 2024 10 of 10 (far above the limits of its
    # baseline, January-December 2023); August 2024 is the most recent month, not judged
    rows = []
    months = [(2023, m, 2) for m in range(1, 13)] + [(2024, 7, 10), (2024, 8, 2)]
    for year, month, positives in months:
        rows += [
            ihc(
                "3+" if i < positives else "1+",
                lab_id="HIGH",
                accession_id=f"H{year}{month:02}-{i}",
                patient_key=f"H{year}{month:02}-{i}",
                collection_date=date(year, month, 2),
                report_date=date(year, month, 6),
            )
            for i in range(10)
        ]
    build(tmp_path / "her2.duckdb", rows).close()
    result = _check("positivity_control")(paths=_paths(tmp_path))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert "| HIGH | 2024-07 |" in result.metadata["look"].value
    assert "out of control" in result.metadata["look"].value


@pytest.mark.parametrize(
    ("rule", "corruption"),
    [
        ("agreement_2x2_sums_to_n_pairs", "UPDATE marts.agreement SET n_pos_pos = n_pos_pos + 1"),
        ("agreement_roll_ups_add_up", "UPDATE marts.agreement SET n_pairs = n_pairs + 1 "
         "WHERE lab_id <> 'ALL' AND period <> 'ALL'"),
        ("specimens_have_final_status_and_category",
         "UPDATE marts.specimen_her2 SET her2_category = NULL WHERE accession_id = 'A0'"),
        ("specimen_her2_key_unique",
         "INSERT INTO marts.specimen_her2 SELECT * FROM marts.specimen_her2 LIMIT 1"),
        ("agreement_key_unique", "INSERT INTO marts.agreement SELECT * FROM marts.agreement LIMIT 1"),
        ("primary_metastasis_pairs_change_in_contract",
         "UPDATE marts.primary_metastasis_pairs SET change = 'unchanged'"),
        ("interpretation_audit_key_unique",
         "INSERT INTO marts.interpretation_audit SELECT * FROM marts.interpretation_audit LIMIT 1"),
        ("positivity_monthly_key_unique", "UPDATE marts.positivity_monthly SET pathologist_id = NULL"),
        ("her2_low_distribution_shares_sum_to_one",
         "UPDATE marts.her2_low_distribution SET share_low = share_low + 0.01"),
        ("positivity_monthly_rates_within_range", "UPDATE marts.positivity_monthly SET ucl = 1.2"),
        ("cap11_rates_rates_within_range", "UPDATE marts.cap11_rates SET rate1_ci_high = rate1 - 0.1"),
        ("preanalytic_monthly_roll_ups_add_up",
         "UPDATE marts.preanalytic_monthly SET n_specimens = n_specimens + 1 WHERE lab_id <> 'ALL'"),
        ("interpretation_audit_consistent",
         "UPDATE marts.interpretation_audit SET audited = NOT audited"),
        ("findings_key_unique", "INSERT INTO marts.findings SELECT * FROM marts.findings LIMIT 1"),
        ("findings_verdicts_in_contract", "UPDATE marts.findings SET verdict = 'fine'"),
        ("reference_bands_key_unique",
         "INSERT INTO marts.reference_bands SELECT * FROM marts.reference_bands LIMIT 1"),
    ],
)  # fmt: skip
def test_each_integrity_check_catches_a_broken_mart(tmp_path, rule, corruption):
    rows = [ihc("3+", accession_id=f"A{i}") for i in range(2)]
    rows += [ish(2.5, 5.0, accession_id=f"A{i}") for i in range(2)]
    rows.append(ihc("3+", accession_id="M", specimen_role="metastasis", patient_key="P1"))
    rows.append(ihc("2+", accession_id="Z", reported_result="negative"))
    build(tmp_path / "her2.duckdb", rows).close()
    check = _check(factory.INTEGRITY, _table_of(rule))  # the integrity check of its table
    before = check(paths=_paths(tmp_path))
    assert before.passed and before.metadata[rule].value == 0
    with duckdb.connect(str(tmp_path / "her2.duckdb")) as con:
        con.execute(corruption)
    result = check(paths=_paths(tmp_path))
    assert not result.passed and result.metadata[rule].value > 0
    assert rule in result.description  # "broken: <rule>, ..."
    assert result.severity == dg.AssetCheckSeverity.ERROR


def test_the_marts_depend_on_staging_and_on_each_other_as_the_catalog_says(tmp_path):
    defs = dg.Definitions(
        assets=[stage_results, marts_defs.build_marts],
        asset_checks=CHECKS,
        resources={"paths": _paths(tmp_path)},
    )
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    results = factory.asset_key("staging.her2_results")
    guideline_periods = factory.asset_key("marts.guideline_periods")
    # specimen_her2 reads the scratch table specimen_calls, whose inputs become its parents
    assert graph.get(SPECIMEN_HER2).parent_keys == {results, guideline_periods}
    assert graph.get(SPECIMEN_HER2).group_name == "marts"
    for t in catalog.build_order():
        if t.layer == "scratch":
            continue
        node = graph.get(factory.asset_key(t.name))
        assert node.description and node.owners and node.kinds, t.name
    assert graph.get(factory.asset_key("marts.findings")).group_name == "findings"


def test_the_build_lowers_duckdb_memory_never_raises_it_and_restores_it(tmp_path):
    con = build(tmp_path / "her2.duckdb", [ihc("3+")])
    setting = "SELECT current_setting('memory_limit')"
    default = con.execute(setting).fetchone()[0]
    summary = runner.build_marts(con, SiteConfig(), memory_limit="512MB")
    assert summary.memory_limit != default and "MiB" in summary.memory_limit
    assert con.execute(setting).fetchone()[0] == default
    con.execute("SET memory_limit = '256MB'")
    lower = con.execute(setting).fetchone()[0]
    assert runner.build_marts(con, SiteConfig(), memory_limit="512MB").memory_limit == lower
    assert con.execute(setting).fetchone()[0] == lower
    con.close()
