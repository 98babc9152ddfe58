"""The Dagster asset graph, materialised for real, and the `her2qa` command."""

from __future__ import annotations

import csv
import gc
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg

from her2qa import cli
from her2qa.instance import TAG_PID
from her2qa.runner import execute
from pipelines.definitions import defs
from pipelines.defs.resources import default_paths
from pipelines.factory import table_rules
from tests.conftest import (
    IHC_ROW,
    ISH_ROW,
    REPO,
    SHARED,
    TEST_KEY,
    materialize_ingest,
    write_extract,
)
from warehouse import catalog

TCGA = SHARED / "data" / "real" / "tcga-brca"


def _paths(env: Path, inbox: Path | None = None):
    return default_paths(inbox or env / "inbox", env / "her2.duckdb", env / "site")


def test_definitions_load_as_one_map():
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {
        "ops/ingested_files",
        "raw/her2_rows",
        "staging/her2_results",
        "staging/her2_results_history",
        "quarantine/rejected_rows",
    } <= keys
    assert defs.resolve_job_def("her2qa_job") is not None


def test_materialize_ingest_and_staging_with_checks(env):
    rows = [
        {**IHC_ROW, "patient_mrn": "MRN-LEAK-1", "patient_name": "Quentin Leakwell"},
        {**ISH_ROW, "patient_mrn": "MRN-LEAK-1", "patient_name": "Quentin Leakwell"},
        {**ISH_ROW, "test_id": "bad", "ish_ratio": "2.9", "patient_mrn": "MRN-LEAK-2"},
    ]
    write_extract(env / "inbox" / "x.csv", rows)
    result, instance = materialize_ingest(env)
    assert result.success
    # the run names its process (as `her2qa run` does), so a later run can tell it died
    assert instance.get_run_by_id(result.run_id).tags[TAG_PID] == str(os.getpid())
    evaluations = result.get_asset_check_evaluations()
    tables = [t for t in catalog.TABLES if t.layer in ("ingest", "staging") and table_rules(t)]
    rules = {r.name for t in tables for r in table_rules(t)}
    assert "her2_results_key_unique" in rules and "no_row_both_staged_and_quarantined" in rules
    assert {(e.asset_key.to_user_string(), e.check_name) for e in evaluations} == {
        ("staging/her2_results", "accounting_balances"),
        ("staging/her2_results", "staged_rows_match_contract"),
        ("raw/her2_rows", "raw_rows_carry_no_phi"),
        *((t.name.replace(".", "/"), "integrity") for t in tables),
    }
    # every rule of those tables counted, each in its table's integrity check
    counted = {k for e in evaluations if e.check_name == "integrity" for k in e.metadata}
    assert rules <= counted
    assert all(e.passed for e in evaluations)
    by_key = {
        m.asset_key.to_user_string(): m.metadata
        for m in result.get_asset_materialization_events()
        and [
            e.event_specific_data.materialization for e in result.get_asset_materialization_events()
        ]
    }
    assert by_key["staging/her2_results"]["rows_staged"].value == 2
    assert by_key["quarantine/rejected_rows"]["rows_quarantined"].value == 1
    # PHI is absent from everything Dagster recorded: events, messages, metadata
    records = instance.get_records_for_run(result.run_id).records
    dump = " ".join(repr(r.event_log_entry) for r in records)
    assert "MRN-LEAK" not in dump and "Leakwell" not in dump
    assert "x.csv" in dump  # the check above did read real log content


def test_a_second_run_adds_nothing(env):
    write_extract(env / "inbox" / "x.csv", [IHC_ROW, ISH_ROW])
    first = execute(_paths(env))
    second = execute(_paths(env))
    assert first.success and second.success
    import duckdb

    con = duckdb.connect(str(env / "her2.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM staging.her2_results_history").fetchone()[0] == 2
    assert con.execute("SELECT count(*) FROM ops.ingested_files").fetchone()[0] == 1
    con.close()


def test_real_tcga_cohort_is_fully_accounted(env):
    with (TCGA / "extract.csv").open(encoding="utf-8", newline="") as fh:
        data_rows = sum(1 for _ in csv.reader(fh)) - 1
    result = execute(_paths(env, inbox=TCGA))  # read in place from ../shared, never copied
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    errors = [e for e in evaluations if e.severity == dg.AssetCheckSeverity.ERROR]
    assert errors and all(e.passed for e in errors)
    # small-n IHC/ISH concordance is a finding (WARN), never a failed run
    findings = {e.check_name: e for e in evaluations if e.severity == dg.AssetCheckSeverity.WARN}
    assert "lab_target_ihc_vs_ish" in findings  # judged per category in marts.findings
    import duckdb

    con = duckdb.connect(str(env / "her2.duckdb"), read_only=True)
    read, staged, quarantined = con.execute(
        "SELECT rows_read, rows_staged, rows_quarantined FROM ops.ingested_files"
    ).fetchone()
    assert read == data_rows == staged + quarantined
    assert 0.5 < quarantined / read < 0.6  # "a little over half" (dataset README)
    codes = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT unnest(reason_codes) FROM quarantine.rejected_rows"
        ).fetchall()
    }
    assert {
        "required_missing",
        "not_a_number",
        "implausible_cep17",
        "ratio_mismatch",
        "dual_probe_incomplete",
    } <= codes
    assert (
        con.execute(
            "SELECT count(*) FROM quarantine.rejected_rows WHERE len(reasons) = 0"
        ).fetchone()[0]
        == 0
    )
    # a result without dates (TCGA-HN-A2OB) is quarantined with both reasons, not a crash
    assert con.execute(
        "SELECT reason_codes FROM quarantine.rejected_rows WHERE test_id = 'TCGA-HN-A2OB-P1-ISH'"
    ).fetchone()[0] == ["required_missing", "required_missing"]
    con.close()


def _cli(
    env: Path, *args: str, key: bool = True, module: bool = True, **extra_env: str
) -> subprocess.CompletedProcess:
    """``python -m her2qa.cli ARGS`` (``module=False``: ``python ARGS``) in ``env``."""
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("HER2QA_")}
    run_env.update(HER2QA_HOME=str(env / "var"), HER2QA_LOCK_TIMEOUT="1", PYTHONPATH=str(REPO))
    run_env.pop("DAGSTER_HOME", None)
    if key:
        run_env["HER2QA_PHI_KEY"] = TEST_KEY
    run_env.update(extra_env)
    return subprocess.run(
        [sys.executable, *(["-m", "her2qa.cli"] if module else []), *args],
        cwd=env,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _one_line_error(proc: subprocess.CompletedProcess, fragment: str) -> None:
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("her2qa: "), proc.stderr
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


def test_cli_run_succeeds_and_reports(env):
    write_extract(env / "inbox" / "x.csv", [IHC_ROW, {**ISH_ROW, "ish_ratio": "2.9"}])
    proc = _cli(env, "run", "--inbox", "inbox", "--warehouse", "w.duckdb")
    assert proc.returncode == 0, proc.stderr
    assert "1 staged, 1 quarantined" in proc.stdout
    assert "ingested: x.csv" in proc.stderr  # progress lines
    assert "MRN" not in proc.stdout + proc.stderr


def test_the_command_leaves_its_heap_to_the_process_end(env):
    """`her2qa` in a process of its own (cli.entry): what the runner imported is frozen out of
    the garbage collector's passes before the run, and everything else once main() returns,
    so Python's last collections do not traverse it (about 1 s a run). The run is unchanged."""
    write_extract(env / "inbox" / "x.csv", [IHC_ROW])
    probe = textwrap.dedent("""
        import atexit, gc, sys
        import her2qa.runner as runner
        from her2qa import cli
        seen = {}
        real = runner.run_pipeline
        def run_pipeline(*args, **kwargs):
            seen["at_run"] = gc.get_freeze_count()
            seen["collecting"] = gc.isenabled()
            return real(*args, **kwargs)
        runner.run_pipeline = run_pipeline
        def report():
            print("frozen", seen.get("at_run", 0), gc.get_freeze_count(), seen.get("collecting"))
        atexit.register(report)
        sys.argv = ["her2qa", "run", "--inbox", "inbox", "--warehouse", "w.duckdb"]
        cli.entry()
    """)
    proc = _cli(env, "-c", probe, module=False)
    assert proc.returncode == 0, proc.stderr
    assert "1 staged, 0 quarantined" in proc.stdout
    at_run, at_exit, collecting = proc.stdout.split("frozen ")[1].split()
    assert 0 < int(at_run) < int(at_exit)
    assert collecting == "True"  # the collector runs again once the imports are frozen


def test_main_in_a_process_that_goes_on_freezes_nothing(env, monkeypatch):
    monkeypatch.setenv("HER2QA_PHI_KEY", TEST_KEY)
    write_extract(env / "inbox" / "x.csv", [IHC_ROW])
    before = gc.get_freeze_count()
    assert cli.main(["run", "--inbox", "inbox", "--warehouse", "w.duckdb", "--quiet"]) == 0
    assert gc.get_freeze_count() == before


def test_cli_errors_are_one_line(env):
    _one_line_error(_cli(env, "run", "--inbox", "nowhere"), "inbox nowhere")
    _one_line_error(_cli(env, "run", "--inbox", "inbox", key=False), "no PHI key")
    (env / "corrupt.duckdb").write_bytes(b"this is not a database" * 100)
    _one_line_error(
        _cli(env, "run", "--inbox", "inbox", "--warehouse", "corrupt.duckdb"), "corrupt.duckdb"
    )
    _one_line_error(
        _cli(
            env, "run", "--inbox", "inbox", "--warehouse", "w.duckdb", HER2QA_CONFIG="missing.toml"
        ),
        "missing.toml",
    )


def test_cli_locked_warehouse_is_one_line(env):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(env / "w.duckdb")!r})
            print('locked', flush=True)
            time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        _one_line_error(_cli(env, "run", "--inbox", "inbox", "--warehouse", "w.duckdb"), "locked")
    finally:
        holder.kill()
        holder.wait()
