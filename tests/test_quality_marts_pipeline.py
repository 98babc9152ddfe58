"""The quality marts in Dagster (pipelines/assets/quality_marts.py, quality_checks.py), and end
to end on a generated 20k-row network, checked against the generator's ground truth."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

import warehouse
from her2qa import config, marts, quality_marts, staging
from her2qa.generate import generate
from her2qa.ingest import inbox, phi
from pipelines.assets.marts import MART_ASSETS, PRIMARY_METASTASIS_PAIRS, SPECIMEN_HER2
from pipelines.assets.quality_marts import (
    CAP11_RATES,
    INTERPRETATION_AUDIT,
    POSITIVITY_MONTHLY,
    QUALITY_MART_ASSETS,
    REFERENCE_BANDS,
    RETEST_CANDIDATES,
    key,
)
from pipelines.assets.staging import stage_results
from pipelines.quality_checks import QUALITY_CHECKS, RULES
from pipelines.defs.resources import Her2qaPaths
from tests.conftest import TEST_KEY
from tests.marts_fixtures import build, ihc, ish


def _paths(root: Path) -> Her2qaPaths:
    return Her2qaPaths(
        inbox=str(root / "inbox"),
        warehouse_file=str(root / "her2.duckdb"),
        archive_dir=str(root / "archive"),
        site_dir=str(root / "site"),
    )


def _staged_rows() -> list[dict]:
    """HIGH: 16 of 40 primaries positive (40%, outside the band), April 10 of 10 (out of
    control: p̄ 0.4, UCL 0.865); MID: 3 of 20 (15%, inside); a discordant case, a
    disagreement."""
    rows = []
    for month, positives in [(1, 2), (2, 2), (3, 2), (4, 10)]:
        for i in range(10):
            rows.append(
                ihc(
                    "3+" if i < positives else "1+",
                    lab_id="HIGH",
                    accession_id=f"H{month}-{i}",
                    collection_date=date(2024, month, 2),
                    report_date=date(2024, month, 6),
                )
            )
    rows += [ihc("3+" if i < 3 else "0", lab_id="MID", accession_id=f"M{i}") for i in range(20)]
    rows.append(ish(1.2, 2.4, lab_id="MID", accession_id="M0"))  # IHC 3+ with group 5
    rows.append(ihc("2+", lab_id="MID", accession_id="MZ", reported_result="negative"))
    rows.append(
        ihc("0", lab_id="MID", accession_id="MET", patient_key="P1", specimen_role="metastasis")
    )
    return rows


@pytest.fixture
def staged(tmp_path: Path) -> Her2qaPaths:
    build(tmp_path / "her2.duckdb", _staged_rows()).close()
    return _paths(tmp_path)


def test_assets_materialise_and_findings_are_only_warnings(staged):
    result = dg.materialize(
        [*MART_ASSETS, *QUALITY_MART_ASSETS, *QUALITY_CHECKS],
        resources={"paths": staged},
        raise_on_error=False,
    )
    assert result.success  # findings never fail the run
    meta = {
        m.asset_key: {k: v.value for k, v in m.materialization.metadata.items()}
        for m in result.get_asset_materialization_events()
    }
    for table in quality_marts.TABLES:
        assert meta[key(table)]["dagster/row_count"] >= 1, table
    assert meta[key("ihc_ish_discordance")]["discordant_cases"] == 1
    assert meta[POSITIVITY_MONTHLY]["out_of_control_points"] == 1
    assert meta[INTERPRETATION_AUDIT]["interpretation_disagreements"] == 1
    assert meta[RETEST_CANDIDATES]["retest_candidates"] == 1  # metastasis: patient P1 primary
    assert meta[REFERENCE_BANDS]["bands"] == 14
    assert isinstance(meta[CAP11_RATES]["rate2"], float)

    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    for rule in RULES:
        assert evaluations[rule.name].passed, rule.name
        assert evaluations[rule.name].severity == dg.AssetCheckSeverity.ERROR
    band = evaluations["positivity_within_published_band"]
    assert not band.passed and band.severity == dg.AssetCheckSeverity.WARN
    assert band.metadata["labs_outside"].value == "HIGH"  # MID (15%) is inside 11.8-17.2%
    assert band.metadata["band_source"].value == (
        "Denmark 2007–2019, BCR-DK-2023 (her2-domain.md §BENCH 6.1)"
    )
    assert band.metadata["band_label"].value == "published benchmark band (context, not a limit)"
    assert band.metadata["band_low_pct"].value == pytest.approx(11.8)
    control = evaluations["positivity_in_statistical_control"]
    assert not control.passed and control.severity == dg.AssetCheckSeverity.WARN
    assert control.metadata["out_of_control_points"].value == 1
    assert "| HIGH | ALL | 2024-04 |" in control.metadata["points"].value


def test_findings_pass_when_there_are_none(tmp_path):
    rows = [ihc("3+" if i < 3 else "0", accession_id=f"A{i}") for i in range(20)]
    build(tmp_path / "her2.duckdb", rows).close()
    with duckdb.connect(str(tmp_path / "her2.duckdb")) as con:
        quality_marts.build_quality_marts(con)
    paths = _paths(tmp_path)
    checks = {next(iter(c.check_keys)).name: c for c in QUALITY_CHECKS}
    assert checks["positivity_within_published_band"](paths=paths).passed
    assert checks["positivity_in_statistical_control"](paths=paths).passed


@pytest.mark.parametrize(
    ("rule", "corruption"),
    [
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
         "UPDATE marts.interpretation_audit SET reason = NULL WHERE NOT agrees"),
    ],
)  # fmt: skip
def test_each_integrity_check_catches_a_broken_mart(staged, rule, corruption):
    with duckdb.connect(staged.warehouse_file) as con:
        quality_marts.build_quality_marts(con)
    check = next(c for c in QUALITY_CHECKS if rule in {k.name for k in c.check_keys})
    assert check(paths=staged).passed
    with duckdb.connect(staged.warehouse_file) as con:
        con.execute(corruption)
    result = check(paths=staged)
    assert not result.passed
    assert result.severity == dg.AssetCheckSeverity.ERROR


def test_definitions_load_with_the_stages_before(tmp_path):
    defs = dg.Definitions(
        assets=[stage_results, *MART_ASSETS, *QUALITY_MART_ASSETS],
        asset_checks=QUALITY_CHECKS,
        resources={"paths": _paths(tmp_path)},
    )
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert SPECIMEN_HER2 in graph.get(key("ihc_ish_discordance")).parent_keys
    assert PRIMARY_METASTASIS_PAIRS in graph.get(RETEST_CANDIDATES).parent_keys
    assert INTERPRETATION_AUDIT in graph.get(CAP11_RATES).parent_keys
    assert REFERENCE_BANDS in graph.get(POSITIVITY_MONTHLY).parent_keys
    assert graph.get(CAP11_RATES).group_name == "marts"
    assert {next(iter(c.check_keys)).name for c in QUALITY_CHECKS} >= {
        "positivity_within_published_band",
        "positivity_in_statistical_control",
    }


# --- end to end: a generated 20k-row network ----------------------------------------------


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    """A messy 20k-row network: generated, ingested and staged once, all marts built."""
    root = tmp_path_factory.mktemp("quality_network")
    manifest = generate(root / "inbox", rows=20_000, seed=23, messy=True)
    previous = os.environ.get("HER2QA_PHI_KEY")
    os.environ["HER2QA_PHI_KEY"] = TEST_KEY
    try:
        key_ = phi.load_key()
    finally:
        if previous is None:
            os.environ.pop("HER2QA_PHI_KEY")
        else:
            os.environ["HER2QA_PHI_KEY"] = previous
    with warehouse.connect(root / "her2.duckdb") as con:
        warehouse.ensure_schema(con)
        inbox.ingest_inbox(con, root / "inbox", root / "archive", key_, "quality-e2e")
        staging.stage_pending(con, config.SiteConfig())
        marts.build_core_marts(con, config.SiteConfig())
        summary = quality_marts.build_quality_marts(con)
    con = duckdb.connect(str(root / "her2.duckdb"), read_only=True)
    yield manifest, con, summary
    con.close()


def test_network_every_mart_builds_and_every_integrity_rule_holds(network):
    _, con, summary = network
    for table in quality_marts.TABLES:
        assert summary.rows[table] > 0, table
    for rule in RULES:
        violations = sum(int(r[0]) for r in con.execute(rule.violations_sql).fetchall())
        assert violations == 0, rule.name


def test_network_findings_match_the_planted_ground_truth(network):
    manifest, con, summary = network
    planted = manifest["planted"]
    # every planted disagreement is found; the only others are ISH groups 2-4 whose concurrent
    # IHC was quarantined (messy rows): without it they read equivocal (IHC review missing)
    found = {
        (lab, test): ish_group in (2, 3, 4) and concurrent is None and call == "equivocal"
        for lab, test, ish_group, concurrent, call in con.execute(
            "SELECT lab_id, test_id, ish_group, concurrent_ihc_score, algorithm_call "
            "FROM marts.interpretation_audit WHERE NOT agrees"
        ).fetchall()
    }
    wanted = {(d["lab_id"], d["test_id"]) for d in manifest["interpretation_disagreements"]}
    assert len(wanted) == planted["interpretation_disagreements"]
    assert wanted <= set(found)
    assert all(found[k] for k in set(found) - wanted)
    assert (
        summary.figures["interpretation_audit"]["pct_contradictions"]
        == (planted["contradictory_pct"])
    )
    pairs = planted["ihc_vs_ish"]
    assert summary.figures["ihc_ish_discordance"]["discordant_cases"] == (
        pairs["pairs"] - pairs["agree"]
    )
    amplified = {
        score: (n, k)
        for score, n, k in con.execute(
            "SELECT ihc_score, n_with_ish, n_ratio_amplified FROM marts.amplification_by_ihc_score "
            "WHERE lab_id = 'ALL'"
        ).fetchall()
    }
    assert amplified == {
        s: (v["ish"], v["amplified"]) for s, v in planted["amplified_by_ihc"].items()
    }
    pre = planted["preanalytic"]
    assert con.execute(
        "SELECT sum(n_specimens), sum(n_cold_within), sum(n_cold_within + n_cold_over), "
        "sum(n_fixation_within), sum(n_fixation_within + n_fixation_outside) "
        "FROM marts.preanalytic_monthly WHERE lab_id = 'ALL'"
    ).fetchone() == (
        pre["specimens"],
        pre["cold_within_60_min"],
        pre["cold_documented"],
        pre["fixation_6_to_72_h"],
        pre["fixation_documented"],
    )
    mets = planted["metastases"]
    assert con.execute(
        "SELECT n_pairs, n_gain, n_loss, n_not_comparable FROM marts.primary_metastasis_summary "
        "WHERE lab_id = 'ALL'"
    ).fetchone() == (mets["pairs"], mets["gain"], mets["loss"], mets["not_comparable"])
    transitions = dict(
        con.execute(
            "SELECT transition_kind, sum(n_pairs) FROM marts.her2_low_transitions "
            "WHERE lab_id = 'ALL' GROUP BY ALL"
        ).fetchall()
    )
    assert transitions["low_to_zero"] == mets["her2_low_to_zero"]
    assert transitions["zero_to_low"] == mets["zero_to_her2_low"]
    positives = dict(
        con.execute(
            "SELECT lab_id, sum(n_positive) FROM marts.positivity_monthly WHERE level = 'lab' "
            "GROUP BY ALL"
        ).fetchall()
    )
    assert positives == {lab: v["positive"] for lab, v in planted["positivity"]["by_lab"].items()}
    # the outlier lab-period planted above the band: above the lab's centre line and the band
    outlier = planted["positivity"]["outlier"]
    rate, centre, band_high = con.execute(
        "SELECT sum(n_positive) / sum(n_specimens), any_value(centre_line), any_value(band_high) "
        "FROM marts.positivity_monthly WHERE level = 'lab' AND lab_id = ? "
        "AND month BETWEEN ? AND ?",
        [outlier["lab_id"], outlier["collection_from"], outlier["collection_to"]],
    ).fetchone()
    assert rate > centre and rate > band_high
