"""The marts asset and its checks in Dagster (pipelines/assets/marts.py, marts_checks.py)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from her2qa import marts
from her2qa.config import SiteConfig
from pipelines.assets.marts import AGREEMENT, MART_ASSETS, SPECIMEN_HER2
from pipelines.assets.staging import stage_results
from pipelines.marts_checks import MART_CHECKS, RULES
from pipelines.defs.resources import Her2qaPaths
from tests.marts_fixtures import build, ihc, ish


def _paths(root: Path) -> Her2qaPaths:
    return Her2qaPaths(
        inbox=str(root / "inbox"),
        warehouse_file=str(root / "her2.duckdb"),
        archive_dir=str(root / "archive"),
        site_dir=str(root / "site"),
    )


@pytest.fixture
def staged(tmp_path: Path) -> Her2qaPaths:
    """A staged warehouse: 10 specimens with IHC and ISH, IHC/ISH concordance 90%."""
    rows = []
    for i in range(10):
        score = "3+" if i < 4 else "1+"
        numbers = (2.5, 5.0) if i < 5 else (1.2, 2.4)  # A4: IHC 1+ vs group 1
        rows += [ihc(score, accession_id=f"A{i}"), ish(*numbers, accession_id=f"A{i}")]
    rows.append(ihc("2+", accession_id="M", specimen_role="metastasis"))
    build(tmp_path / "her2.duckdb", rows).close()
    return _paths(tmp_path)


def test_asset_materialises_the_marts_and_a_low_concordance_is_only_a_warning(staged):
    result = dg.materialize(
        [*MART_ASSETS, *MART_CHECKS], resources={"paths": staged}, raise_on_error=False
    )
    assert result.success  # a quality finding never fails the run
    meta = {
        m.asset_key: {k: v.value for k, v in m.materialization.metadata.items()}
        for m in result.get_asset_materialization_events()
    }
    assert meta[SPECIMEN_HER2]["specimens"] == 11
    assert meta[SPECIMEN_HER2]["primary_positive_pct"] == pytest.approx(50.0)  # 5 of 10 primaries
    assert meta[AGREEMENT]["ihc_ish_pct_agree"] == pytest.approx(90.0)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {r.name for r in RULES} | {"ihc_ish_concordance_meets_lab_target"}
    for rule in RULES:
        assert evaluations[rule.name].passed, rule.name
        assert evaluations[rule.name].severity == dg.AssetCheckSeverity.ERROR
    warn = evaluations["ihc_ish_concordance_meets_lab_target"]
    assert not warn.passed
    assert warn.severity == dg.AssetCheckSeverity.WARN
    assert warn.metadata["labs_below"].value == "NORTH"


def test_concordance_at_target_passes(tmp_path):
    rows = []
    for i in range(20):
        score, numbers = ("3+", (2.5, 5.0)) if i % 2 else ("0", (1.2, 2.4))
        rows += [ihc(score, accession_id=f"A{i}"), ish(*numbers, accession_id=f"A{i}")]
    build(tmp_path / "her2.duckdb", rows).close()
    check = MART_CHECKS[-1]
    assert check(paths=_paths(tmp_path)).passed


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
        ("primary_metastasis_pairs_key_unique",
         "UPDATE marts.primary_metastasis_pairs SET change = 'unchanged'"),
    ],
)  # fmt: skip
def test_each_integrity_check_catches_a_broken_mart(tmp_path, rule, corruption):
    rows = [ihc("3+", accession_id=f"A{i}") for i in range(2)]
    rows += [ish(2.5, 5.0, accession_id=f"A{i}") for i in range(2)]
    rows.append(ihc("3+", accession_id="M", specimen_role="metastasis"))
    build(tmp_path / "her2.duckdb", rows).close()
    check = next(c for c in MART_CHECKS if rule in {k.name for k in c.check_keys})
    assert check(paths=_paths(tmp_path)).passed
    with duckdb.connect(str(tmp_path / "her2.duckdb")) as con:
        con.execute(corruption)
    result = check(paths=_paths(tmp_path))
    assert not result.passed
    assert result.severity == dg.AssetCheckSeverity.ERROR


def test_definitions_load_with_the_existing_stages(tmp_path):
    defs = dg.Definitions(
        assets=[stage_results, *MART_ASSETS],
        asset_checks=MART_CHECKS,
        resources={"paths": _paths(tmp_path)},
    )
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert dg.AssetKey(["staging", "her2_results"]) in graph.get(SPECIMEN_HER2).parent_keys
    assert graph.get(SPECIMEN_HER2).group_name == "marts"


def test_the_build_lowers_duckdb_memory_never_raises_it_and_restores_it(tmp_path):
    con = build(tmp_path / "her2.duckdb", [ihc("3+")])
    setting = "SELECT current_setting('memory_limit')"
    default = con.execute(setting).fetchone()[0]
    summary = marts.build_core_marts(con, SiteConfig(), memory_limit="512MB")
    assert summary.memory_limit != default and "MiB" in summary.memory_limit
    assert con.execute(setting).fetchone()[0] == default
    con.execute("SET memory_limit = '256MB'")
    lower = con.execute(setting).fetchone()[0]
    assert marts.build_core_marts(con, SiteConfig(), memory_limit="512MB").memory_limit == lower
    assert con.execute(setting).fetchone()[0] == lower
    con.close()
