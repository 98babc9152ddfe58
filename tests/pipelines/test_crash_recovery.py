"""Crash recovery (issue 12, item 1): a `her2qa run` killed with SIGKILL in any writing step
never blocks a later run on the same DAGSTER_HOME, and the run that follows gives exactly
the warehouse a clean run gives. Real processes, a real DAGSTER_HOME, real DuckDB files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from her2qa.generate import generate
from her2qa.instance import TAG_PID, WAREHOUSE_POOL, open_instance
from pipelines.definitions import build_defs
from pipelines.defs.resources import default_paths
from tests.conftest import IHC_ROW, REPO, TEST_KEY, write_extract

CANARIES = ("MRN-CANARY-4410", "Ozymandias", "Thrunkwell", "1958-11-23")
# Columns that say when and by which run, not what: they differ between any two runs.
# Columns that say when and by which run, not what: and how the marts were last built (the
# recovered run extends marts an earlier, killed run built; the clean run builds them whole).
RUN_COLUMNS = {
    *("ingested_at", "staged_at", "run_id", "staged_run_id", "archive_path"),
    *("built_at", "mode", "changed_at"),  # ops.mart_state
    *("looked_ns", "mtime_ns", "ctime_ns", "inode", "device"),  # ops.inbox_looks: the file system's
}


def _inbox(inbox: Path) -> None:
    generate(inbox, rows=150, seed=11, messy=True)
    canary = {
        **IHC_ROW,
        "test_id": "T-CANARY",
        "patient_mrn": CANARIES[0],
        "patient_name": f"{CANARIES[1]} {CANARIES[2]}",
        "patient_dob": CANARIES[3],
    }
    path = write_extract(inbox / "zz_canary.csv", [canary, {**canary, "test_id": "T-C2"}])
    # plus a record whose unquoted comma in the name shifts every field after it
    path.write_text(
        path.read_text()
        + path.read_text()
        .splitlines()[1]
        .replace(f"{CANARIES[1]} {CANARIES[2]}", f"{CANARIES[2]}, {CANARIES[1]}")
        .replace("T-CANARY", "T-C3")
        + "\n"
    )


def _pool_steps() -> list[str]:
    job = build_defs(default_paths()).resolve_job_def("her2qa_job")
    return [
        node.name
        for node in job.nodes_in_topological_order
        if getattr(node.definition, "pool", None) == WAREHOUSE_POOL
    ]


def _start(root: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "her2qa.cli", "run", "--inbox", "inbox", "--warehouse", "w.duckdb"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_in_step(instance: dg.DagsterInstance, proc: subprocess.Popen, step: str) -> str:
    """SIGKILL the run as soon as the event log says `step` started; returns the run id."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended before step {step}: {proc.communicate()}"
        runs = instance.get_runs(filters=dg.RunsFilter(tags={TAG_PID: str(proc.pid)}))
        if runs:
            started = instance.get_records_for_run(
                runs[0].run_id, of_type=dg.DagsterEventType.STEP_START
            ).records
            if any(r.event_log_entry.step_key == step for r in started):
                proc.send_signal(signal.SIGKILL)
                proc.communicate()
                return runs[0].run_id
        time.sleep(0.02)
    raise AssertionError(f"step {step} never started")


def _tables(path: Path) -> dict[str, list]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database() ORDER BY ALL"
        ).fetchall()
        out = {}
        for schema, table in tables:
            cols = [
                c[0]
                for c in con.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = $s AND table_name = $t ORDER BY ordinal_position",
                    {"s": schema, "t": table},
                ).fetchall()
                if c[0] not in RUN_COLUMNS
            ]
            select = ", ".join(f'"{c}"' for c in cols)
            out[f"{schema}.{table}"] = con.execute(
                f'SELECT {select} FROM "{schema}"."{table}" ORDER BY ALL'
            ).fetchall()
        return out
    finally:
        con.close()


@pytest.mark.slow
def test_a_run_killed_in_any_step_never_blocks_the_next(tmp_path, monkeypatch):
    root = tmp_path / "deploy"
    _inbox(root / "inbox")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HER2QA_", "DAGSTER_"))}
    env.update(
        HER2QA_HOME=str(root / "var"),
        HER2QA_PHI_KEY=TEST_KEY,
        HER2QA_SITE=str(root / "site"),
        DAGSTER_HOME=str(root / "dagster"),
        PYTHONPATH=str(REPO),
    )
    for name in ("HER2QA_HOME", "HER2QA_PHI_KEY", "HER2QA_SITE", "DAGSTER_HOME"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.chdir(root)
    instance = open_instance()  # the storage exists before the runs race to create it
    steps = _pool_steps()
    assert steps[0] == "ingest_inbox" and "stage_results" in steps and "site" in steps

    # The clean reference: the same inbox, once, from nothing (own state and run history),
    # in parallel with the kill chain below (a second process: the machine has 2 cores).
    clean_root = tmp_path / "clean"
    clean_root.mkdir()
    (clean_root / "inbox").symlink_to(root / "inbox")
    clean_env = {
        **env,
        "HER2QA_HOME": str(clean_root / "var"),
        "HER2QA_SITE": str(clean_root / "site"),
        "DAGSTER_HOME": str(clean_root / "dagster"),
    }
    clean_proc = _start(clean_root, clean_env)

    output = []
    killed = []
    # Each run is killed in the next writing step: so each run must get past the claim
    # that the run before it left behind when it died.
    for step in steps:
        run_id = _kill_in_step(instance, _start(root, env), step)
        killed.append(run_id)
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
        info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
        holders = {s.run_id for s in info.claimed_slots} | {p.run_id for p in info.pending_steps}
        assert run_id in holders  # the dead run holds the pool: the next would wait forever

    proc = _start(root, env)
    stdout, stderr = proc.communicate(timeout=300)
    output.append(stdout + stderr)
    assert proc.returncode == 0, stderr
    # one line names what was released, before the progress; nothing else of the framework
    recovered = [line for line in stderr.splitlines() if "marked failed" in line]
    assert len(recovered) == 1 and killed[-1][:8] in recovered[0]
    assert f"during step {steps[-1]}" in recovered[0]
    for noise in ("Traceback", "Warning", "warnings.warn", "Not executing"):
        assert noise not in stderr, stderr
    statuses = {instance.get_run_by_id(r).status for r in killed}
    assert statuses == {dg.DagsterRunStatus.FAILURE}
    info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    assert not info.claimed_slots and not info.pending_steps

    # the recovered warehouse is the clean run's, table by table, row by row
    assert clean_proc.communicate(timeout=300) and clean_proc.returncode == 0
    recovered_tables, clean_tables = _tables(root / "w.duckdb"), _tables(clean_root / "w.duckdb")
    assert recovered_tables.keys() == clean_tables.keys()
    for table, rows in clean_tables.items():
        assert recovered_tables[table] == rows, table
    assert len(recovered_tables["marts.findings"]) > 5
    assert len(recovered_tables["staging.her2_results"]) > 100

    # accounting, and no canary anywhere: warehouse, Dagster's storage, what was printed
    con = duckdb.connect(str(root / "w.duckdb"), read_only=True)
    assert con.execute(
        "SELECT count(*) FROM ops.ingested_files WHERE rows_read <> rows_staged + rows_quarantined"
    ).fetchone() == (0,)
    con.close()
    dumped = json.dumps(recovered_tables, default=str)
    stored = b"".join(p.read_bytes() for p in (root / "dagster").rglob("*") if p.is_file())
    for canary in CANARIES:
        assert canary not in dumped
        assert canary.encode() not in stored
        assert canary not in "".join(output)
    assert b"T-CANARY" in b"".join(
        p.read_bytes() for p in (root / "var" / "archive").rglob("*.csv")
    )  # the scan looked where the canaries were (only the archive keeps them)
