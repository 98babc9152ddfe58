"""The real services: dagster-webserver and dagster-daemon as processes, driven over GraphQL.

An extract dropped into the inbox must be picked up by the sensor, run by the
daemon, and land in the warehouse; then both services stop cleanly.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time

import duckdb
import psutil
import pytest
import requests

from her2qa import services
from tests.conftest import SHARED

RUNS = """{ runsOrError { ... on Runs { results { runId status
    tags { key value } } } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    reply = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=10)
    reply.raise_for_status()
    return reply.json()["data"]


def _wait(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (requests.ConnectionError, requests.Timeout):
            value = None
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}")


# What each service does first: open the deployment's instance and read its run storage.
OPEN_INSTANCE = "import dagster as dg; dg.DagsterInstance.get().get_runs(limit=1)"


def test_services_starting_together_on_a_fresh_home_find_its_storage_made_once(env):
    """The webserver, its code server and the daemon start at once. On a fresh DAGSTER_HOME
    each used to create the SQLite storage and stamp its migration: two heads in
    alembic_version, and no Dagster process could open the instance again (CI saw it)."""
    env_vars, _ = services.prepare()
    home = env_vars["DAGSTER_HOME"]
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_INSTANCE],
            env=env_vars,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1] for p in starts]
    assert [p.returncode for p in starts] == [0] * 4, errors[0][-400:]
    for storage in ("history/runs.db", "history/runs/index.db", "schedules/schedules.db"):
        with sqlite3.connect(os.path.join(home, storage)) as db:
            heads = db.execute("SELECT count(*) FROM alembic_version").fetchone()[0]
        assert heads == 1, storage


@pytest.mark.slow
def test_sensor_run_through_the_real_webserver_and_daemon(env, monkeypatch):
    monkeypatch.setenv("HER2QA_SENSOR_INTERVAL", "5")
    monkeypatch.setenv("HER2QA_INBOX", str(env / "inbox"))
    monkeypatch.setenv("DAGSTER_HOME", str(env / "dagster_home"))
    port = _free_port()
    procs = services.start(port)
    try:
        _wait(lambda: _graphql(port, RUNS)["runsOrError"]["results"] == [], 90, "the webserver")
        shutil.copy(
            SHARED / "data" / "real" / "tcga-brca" / "extract.csv", env / "inbox" / "tcga.csv"
        )

        def finished():
            runs = _graphql(port, RUNS)["runsOrError"]["results"]
            done = [r for r in runs if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
            return done or None

        runs = _wait(finished, 240, "the sensor's run")
        assert [r["status"] for r in runs] == ["SUCCESS"]
        tags = {t["key"]: t["value"] for t in runs[0]["tags"]}
        assert tags["dagster/sensor_name"] == "inbox_sensor"
        con = duckdb.connect(str(env / "her2.duckdb"), read_only=True)
        read, staged, quarantined = con.execute(
            "SELECT rows_read, rows_staged, rows_quarantined FROM ops.ingested_files"
        ).fetchone()
        assert read == staged + quarantined > 1000
        assert con.execute("SELECT count(*) FROM marts.specimen_her2").fetchone()[0] > 0
        con.close()
        # the schedule is known to the daemon, at 02:00 in the lab's time zone
        schedules = _graphql(
            port,
            '{ schedulesOrError(repositorySelector: {repositoryName: "__repository__", '
            'repositoryLocationName: "her2qa"}) { ... on Schedules { results { name '
            "cronSchedule executionTimezone scheduleState { status } } } } }",
        )["schedulesOrError"]["results"]
        states = {s["name"]: (s["cronSchedule"], s["scheduleState"]["status"]) for s in schedules}
        assert states["nightly"] == ("0 2 * * *", "RUNNING")
        assert states["quarterly_audit"][1] == "RUNNING"
    finally:
        services.stop(procs)
    assert all(p.poll() is not None for p in procs)
    groups = {p.pid for p in procs}  # nothing of either process group is left running
    _wait(lambda: not _alive_in(groups), 10, "the services' processes to end")


def _alive_in(groups: set[int]) -> list[psutil.Process]:
    alive = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) in groups and proc.info["status"] != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except (ProcessLookupError, psutil.Error):
            continue
    return alive
