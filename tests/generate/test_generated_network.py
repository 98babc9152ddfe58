"""The messy synthetic network, end to end: every planted row accounted for."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import duckdb
import pytest

from her2qa.generate import generate
from her2qa.runner import execute
from pipelines.defs.resources import default_paths
from tests.conftest import REPO, TEST_KEY


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    """A messy 30k-row network, ingested once through the real Dagster job."""
    root = tmp_path_factory.mktemp("network")
    inbox = root / "inbox"
    manifest = generate(inbox, rows=30_000, seed=11, messy=True)
    os.environ["HER2QA_PHI_KEY"] = TEST_KEY
    try:
        result = execute(default_paths(inbox, root / "her2.duckdb", root / "site"))
    finally:
        os.environ.pop("HER2QA_PHI_KEY")
    assert result.success
    con = duckdb.connect(str(root / "her2.duckdb"), read_only=True)
    yield manifest, con, result
    con.close()


def test_every_file_has_the_expected_status_and_counts(network):
    manifest, con, _ = network
    got = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT file_name, status, rows_read, rows_staged, rows_quarantined FROM ops.ingested_files"
        ).fetchall()
    }
    assert set(got) == {f["name"] for f in manifest["files"]}
    for f in manifest["files"]:
        status, read, staged, quarantined = got[f["name"]]
        assert status == f["expected_status"], f["name"]
        if status == "ingested":
            assert (read, staged, quarantined) == (
                f["data_rows"],
                f["expected_rows_staged"],
                f["expected_rows_quarantined"],
            ), f["name"]
            assert read == staged + quarantined
    kinds = {f["expected_reason"] for f in manifest["files"] if f["expected_status"] == "rejected"}
    assert kinds >= {"empty", "not_utf8", "missing_columns", "not_csv"}


def test_every_planted_row_is_quarantined_with_its_reason_and_nothing_else_is(network):
    manifest, con, _ = network
    rejected = {
        (r[0], r[1]): set(zip(r[2], r[3], strict=True))
        for r in con.execute(
            "SELECT source_file, source_row, reason_fields, reason_codes FROM quarantine.rejected_rows"
        ).fetchall()
    }
    ingested = {f["name"] for f in manifest["files"] if f["expected_status"] == "ingested"}
    planted = {(p["file"], p["row"]): p for p in manifest["planted_rows"] if p["file"] in ingested}
    assert len(planted) > 500
    assert set(rejected) == set(planted)
    for key, p in planted.items():
        assert {tuple(e) for e in p["expected"]} <= rejected[key], (key, p, rejected[key])
    planted_kinds = {p["kind"] for p in planted.values()}
    assert planted_kinds >= {
        "required_missing",
        "not_in_vocabulary",
        "not_a_number",
        "not_an_integer",
        "bad_date",
        "out_of_range",
        "implausible_cep17",
        "ratio_mismatch",
        "dual_probe_incomplete",
        "report_before_collection",
        "date_in_future",
        "conflicting_version",
    }


def test_amendments_supersede_and_all_checks_pass(network):
    manifest, con, result = network
    errors = [e for e in result.get_asset_check_evaluations() if e.severity.value == "ERROR"]
    assert errors and all(e.passed for e in errors)
    versions = con.execute(
        "SELECT count(*) FROM staging.her2_results WHERE result_version > 1"
    ).fetchone()[0]
    assert versions > 0
    history, current = con.execute(
        "SELECT (SELECT count(*) FROM staging.her2_results_history), "
        "(SELECT count(*) FROM staging.her2_results)"
    ).fetchone()
    # superseded versions are kept; there are no more of them than amendments planted
    assert versions <= history - current <= manifest["planted"]["amendments"]


def test_demo_makes_a_private_key_and_a_warehouse(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HER2QA_", "DAGSTER_HOME"))}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run(
        [sys.executable, "-m", "her2qa.cli", "demo", "--rows", "3000"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    key = tmp_path / "var" / "phi.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (tmp_path / "warehouse" / "her2.duckdb").exists()
    assert "3,000 rows read" in proc.stdout  # the planted bad files read no rows
    manifest = json.loads((tmp_path / "var" / "demo" / "inbox" / "manifest.json").read_text())
    assert manifest["rows"] == 3000
