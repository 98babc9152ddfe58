"""Orchestration: schedule, sensor, freshness, failures, overlapping runs, rebuild."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest

from her2qa import config
from her2qa.runner import execute
from pipelines.definitions import build_defs, defs
from pipelines.defs.resources import default_paths
from tests.conftest import IHC_ROW, ISH_ROW, REPO, write_extract
from tests.pipelines.test_run import _cli, _one_line_error


def test_nightly_schedule_is_2am_in_the_lab_time_zone(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HER2QA_TIMEZONE", "Europe/Berlin")
    schedule = build_defs(default_paths()).resolve_schedule_def("nightly")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 2 * * *", "Europe/Berlin")
    assert schedule.job_name == "her2qa_job"
    monkeypatch.delenv("HER2QA_TIMEZONE")
    (tmp_path / "her2qa.toml").write_text('[site]\ntimezone = "America/Chicago"\n')
    schedule = build_defs(default_paths()).resolve_schedule_def("nightly")
    assert schedule.execution_timezone == "America/Chicago"
    # the next tick is 02:00 local time, whatever UTC says
    ctx = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 1, 15, 2, 0, tzinfo=ZoneInfo("America/Chicago"))
    )
    assert schedule.evaluate_tick(ctx).run_requests
    monkeypatch.setenv("HER2QA_TIMEZONE", "Mars/Olympus_Mons")
    with pytest.raises(config.ConfigError, match="not an IANA time zone"):
        config.lab_timezone()


def test_definitions_are_one_readable_map():
    graph = defs.resolve_asset_graph()
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert {"ingest", "staging", "marts"} <= groups
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and node.owners and node.kinds, key
    assert {j.name for j in defs.resolve_all_job_defs()} >= {"her2qa_job", "rebuild_job"}
    assert defs.resolve_sensor_def("inbox_sensor").default_status == dg.DefaultSensorStatus.RUNNING


def test_inbox_sensor_keys_on_content_not_names(env):
    inbox = env / "inbox"
    paths = default_paths(inbox, env / "w.duckdb", env / "site")
    sensor_defs = build_defs(paths)
    sensor = sensor_defs.resolve_sensor_def("inbox_sensor")

    def tick(cursor):
        with dg.build_sensor_context(
            cursor=cursor, resources={"paths": paths}, definitions=sensor_defs
        ) as ctx:
            result = sensor.evaluate_tick(ctx)
            return result, result.cursor

    result, cursor = tick(None)
    assert not result.run_requests  # empty inbox
    write_extract(inbox / "a.csv", [IHC_ROW])
    result, cursor = tick(cursor)
    assert len(result.run_requests) == 1
    result, cursor = tick(cursor)
    assert not result.run_requests  # nothing new
    shutil.copy(inbox / "a.csv", inbox / "a-renamed.csv")
    result, cursor = tick(cursor)
    assert not result.run_requests  # a renamed copy starts nothing
    write_extract(inbox / "b.csv", [ISH_ROW])
    result, cursor = tick(cursor)
    assert len(result.run_requests) == 1


def test_a_broken_file_does_not_fail_the_nightly_run(env):
    (env / "inbox" / "broken.csv").write_bytes(b"\x00\x01\x02 not a csv")
    write_extract(env / "inbox" / "good.csv", [IHC_ROW, ISH_ROW])
    result = execute(default_paths(env / "inbox", env / "w.duckdb", env / "site"))
    assert result.success
    con = duckdb.connect(str(env / "w.duckdb"), read_only=True)
    assert con.execute("SELECT status FROM ops.ingested_files ORDER BY file_name").fetchall() == [
        ("rejected",),
        ("ingested",),
    ]
    assert con.execute("SELECT count(*) FROM marts.specimen_her2").fetchone()[0] == 1
    con.close()


def test_freshness_warns_when_no_new_results(env, monkeypatch):
    write_extract(env / "inbox" / "good.csv", [IHC_ROW])
    paths = default_paths(env / "inbox", env / "w.duckdb", env / "site")
    first = execute(paths)
    fresh = {e.check_name: e for e in first.get_asset_check_evaluations()}["data_freshness"]
    assert fresh.passed and fresh.severity == dg.AssetCheckSeverity.WARN
    con = duckdb.connect(str(env / "w.duckdb"))
    con.execute("UPDATE ops.ingested_files SET ingested_at = ingested_at - INTERVAL 10 DAY")
    con.close()
    second = execute(paths)
    assert second.success  # a finding, never a failure
    stale = {e.check_name: e for e in second.get_asset_check_evaluations()}["data_freshness"]
    assert not stale.passed and stale.metadata["labs_to_look_at"].value == "NORTH"
    with duckdb.connect(str(env / "w.duckdb"), read_only=True) as con:
        figures = con.execute(
            "SELECT lab_id, figure, verdict FROM marts.findings WHERE finding = 'data_freshness'"
        ).fetchall()
    assert sorted(figures) == [("ALL", 10.0, "look"), ("NORTH", 10.0, "look")]


def test_unwritable_warehouse_fails_with_a_clear_message(env):
    (env / "afile").write_text("not a folder")
    proc = _cli(env, "run", "--inbox", "inbox", "--warehouse", "afile/her2.duckdb")
    _one_line_error(proc, "afile")


def test_overlapping_runs_are_serialised_and_add_nothing_twice(env):
    from her2qa.generate import generate

    generate(env / "inbox", rows=20_000, seed=3, messy=True)
    run_env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "her2qa.cli",
                "run",
                "--inbox",
                "inbox",
                "--warehouse",
                "w.duckdb",
                "--quiet",
            ],
            cwd=env,
            env={**run_env, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    con = duckdb.connect(str(env / "w.duckdb"), read_only=True)
    files, rows_read, unbalanced = con.execute(
        "SELECT count(*), sum(rows_read), count(*) FILTER (WHERE rows_read <> rows_staged + rows_quarantined) "
        "FROM ops.ingested_files"
    ).fetchone()
    manifest_files = len(list((env / "inbox").glob("*.csv")))
    assert files == manifest_files  # every file recorded once, by one of the two runs
    assert unbalanced == 0
    assert rows_read == con.execute("SELECT count(*) FROM raw.her2_rows").fetchone()[0]
    assert (
        con.execute("SELECT count(*) FROM staging.her2_results_history").fetchone()[0]
        == (
            con.execute(
                "SELECT sum(rows_staged - rows_repeated) FROM ops.ingested_files"
            ).fetchone()[0]
        )
    )
    con.close()


def test_rebuild_command_replays_the_raw_layer(env):
    write_extract(env / "inbox" / "a.csv", [IHC_ROW, {**ISH_ROW, "ish_ratio": "2.9"}])
    assert _cli(env, "run", "--inbox", "inbox", "--warehouse", "w.duckdb").returncode == 0
    con = duckdb.connect(str(env / "w.duckdb"), read_only=True)
    before = con.execute("SELECT * FROM marts.specimen_her2").fetchall()
    con.close()
    proc = _cli(env, "rebuild", "--warehouse", "w.duckdb")
    assert proc.returncode == 0, proc.stderr
    con = duckdb.connect(str(env / "w.duckdb"), read_only=True)
    assert con.execute("SELECT * FROM marts.specimen_her2").fetchall() == before
    assert con.execute("SELECT count(*) FROM quarantine.rejected_rows").fetchone()[0] == 1
    assert (
        con.execute("SELECT count(DISTINCT staged_run_id) FROM ops.ingested_files").fetchone()[0]
        == 1
    )
    con.close()
    # the CLI's runs are kept in the deployment's run history (DAGSTER_HOME under var/)
    instance_yaml = env / "var" / "dagster" / "dagster.yaml"
    assert "max_concurrent_runs: 1" in instance_yaml.read_text()


def test_concordance_target_is_the_labs_own(env):
    from her2qa.config import load_site_config

    (env / "her2qa.toml").write_text("[labs.NORTH]\nconcordance_target_pct = 80\n")
    site = load_site_config()
    assert site.labs["NORTH"].concordance_target_pct == 80.0  # SOUTH: the default row (95%)
    assert ("concordance_target_pct", "NORTH", "80") in site.lab_setting_rows()
    (env / "her2qa.toml").write_text("[labs.NORTH]\nconcordance_target_pct = 180\n")
    with pytest.raises(config.ConfigError, match="percentage"):
        load_site_config()
