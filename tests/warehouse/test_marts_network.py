"""The marts end to end on a generated 20k-row network (warehouse/build.py), checked against
the generator's ground truth."""

from __future__ import annotations

import duckdb
import pytest

import warehouse
from her2qa import config, staging
from her2qa.generate import generate
from her2qa.ingest import inbox
from pipelines.factory import rule_violations, table_rules
from tests.conftest import TEST_PHI_KEY
from warehouse import build, catalog


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    """A messy 20k-row network: generated, ingested and staged once, all marts built."""
    root = tmp_path_factory.mktemp("quality_network")
    manifest = generate(root / "inbox", rows=20_000, seed=23, messy=True)
    with warehouse.connect(root / "her2.duckdb") as con:
        warehouse.ensure_schema(con)
        inbox.ingest_inbox(con, root / "inbox", root / "archive", TEST_PHI_KEY, "quality-e2e")
        staging.stage_pending(con, config.SiteConfig())
        summary = build.build_marts(con, config.SiteConfig())
    con = duckdb.connect(str(root / "her2.duckdb"), read_only=True)
    yield manifest, con, summary
    con.close()


def test_network_every_mart_builds_and_every_integrity_rule_holds(network):
    _, con, summary = network
    # Tables the generated network leaves empty, by design: no guideline periods are configured,
    # the generator plants no metastatic patient whose only usable result is an IHC 0 primary
    # (the fixtures of tests/warehouse/test_worklists.py cover that list), and no second
    # specimen of a patient within the CAP 11 repeat window (tests/warehouse/test_quality_marts.py).
    empty = {
        "marts.guideline_periods",
        "marts.worklist_ihc0_metastatic",
        "marts.specimen_repeats",
    }
    for table in catalog.build_order():
        if table.layer != "scratch" and table.name not in empty:
            assert summary.rows[table.short] > 0, table.name
    for table in catalog.TABLES:
        for rule in table_rules(table):
            violations = rule_violations(con, rule)
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
