"""The persistent Dagster instance: run history, schedules, sensors, pool limits.

``DAGSTER_HOME`` (default ``$HER2QA_HOME/dagster``, git-ignored under ``var/``) holds
Dagster's SQLite run storage and the ``dagster.yaml`` written here. The YAML
serialises writers of the DuckDB warehouse, which allows one writing process:
every writing step is in the pool ``her2qa_warehouse`` and each pool runs one step
at a time; runs themselves are queued one at a time as well.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import psutil

from her2qa import config

WAREHOUSE_POOL = "her2qa_warehouse"

# Run tags naming the process that executes a run in process (``her2qa run``), so that a
# later run can tell a live run from one whose process was killed (kill -9, OOM, reboot).
TAG_PID = "her2qa/pid"
TAG_HOST = "her2qa/host"
TAG_PROCESS_START = "her2qa/process_start"
# Statuses of a run that may still hold (or wait for) a slot of the pool.
_UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]

# The dagster.yaml her2qa wrote before the event log kept its index open: replaced when found
# as written, byte for byte (an operator's edited file is kept as it is).
_EARLIER_YAML = """\
# Written by her2qa (her2qa/instance.py). DuckDB allows one writing process per file.
concurrency:
  pools:
    default_limit: 1        # pool her2qa_warehouse: one writing step at a time, across runs
  runs:
    max_concurrent_runs: 1  # the nightly run, a sensor run and a rebuild queue behind each other
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
telemetry:
  enabled: false
"""
DAGSTER_YAML = (
    _EARLIER_YAML
    + """\
event_log_storage:           # Dagster's SQLite event log, its cross-run index kept open
  module: her2qa.event_log   # (2.5 s of a night's run: see her2qa/event_log.py)
  class: KeptIndexSqliteEventLogStorage
"""
)


@contextmanager
def _init_lock(home: Path) -> Iterator[None]:
    """Serialise first use of DAGSTER_HOME: two processes creating its SQLite storage at
    once would both run its migrations (seen as 'table alembic_version already exists')."""
    with (home / ".her2qa-init.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def open_instance() -> dg.DagsterInstance:
    """The deployment's persistent instance, its storage created once even under races."""
    home = ensure_dagster_home()
    with _init_lock(home):
        instance = dg.DagsterInstance.get()
        instance.get_runs(limit=1)  # touches (and, the first time, creates) run storage
        # touches the event log storage, which holds the pool's slots (no deprecated API:
        # get_event_records printed a UserWarning on every run)
        instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    return instance


def owner_tags() -> dict[str, str]:
    """Tags for a run executed by this process: its PID, host and process start time (the
    start time tells a reused PID from the original process)."""
    return {
        TAG_PID: str(os.getpid()),
        TAG_HOST: socket.gethostname(),
        TAG_PROCESS_START: f"{psutil.Process().create_time():.2f}",
    }


def _owner_alive(tags: dict[str, str]) -> bool | None:
    """True/False when the run's process can be checked from here, None when it cannot
    (no owner tags, as for runs launched by the daemon, or another host)."""
    if TAG_PID not in tags or tags.get(TAG_HOST) != socket.gethostname():
        return None
    try:
        proc = psutil.Process(int(tags[TAG_PID]))
        started = float(tags.get(TAG_PROCESS_START, "nan"))
        if abs(proc.create_time() - started) > 1.0:
            return False  # the PID was reused by another process
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, ValueError):
        return False
    except psutil.Error:
        return None  # cannot tell (permissions): assume it lives


def _last_step(instance: dg.DagsterInstance, run_id: str) -> str | None:
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.STEP_START, limit=1, ascending=False
    ).records
    return records[0].event_log_entry.step_key if records else None


def recover_stale_runs(instance: dg.DagsterInstance) -> list[str]:
    """Release what dead processes left behind; returns one line per thing released.

    A ``kill -9`` of ``her2qa run`` leaves its run STARTED and its claim on the pool
    her2qa_warehouse (limit 1) in the instance's storage: every later step of every run
    would wait for that slot forever. Here a run whose owning process is gone (checked by
    PID, host and process start time) is marked failed and its slots and pending steps are
    freed; a slot or pending step held by a run that is finished (or deleted) is freed too.
    A run whose process lives, or cannot be checked from here, is left alone."""
    notes: list[str] = []
    with _init_lock(ensure_dagster_home()):
        for run in instance.get_runs(filters=dg.RunsFilter(statuses=_UNFINISHED)):
            if _owner_alive(dict(run.tags)) is not False:
                continue
            step = _last_step(instance, run.run_id)
            where = f" during step {step}" if step else ""
            instance.report_run_failed(
                run,
                f"the process that ran it (pid {run.tags[TAG_PID]}) ended without finishing"
                f"{where}: marked failed by a later run",
            )
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            notes.append(
                f"run {run.run_id[:8]} (pid {run.tags[TAG_PID]}) ended without finishing"
                f"{where} (killed?): marked failed and its claim on pool {WAREHOUSE_POOL} "
                "released"
            )
        storage = instance.event_log_storage
        info = storage.get_concurrency_info(WAREHOUSE_POOL)
        holders = {s.run_id for s in info.claimed_slots} | {p.run_id for p in info.pending_steps}
        for run_id in sorted(holders):
            run = instance.get_run_by_id(run_id)
            if run is not None and not run.is_finished:
                continue
            storage.free_concurrency_slots_for_run(run_id)
            state = "deleted" if run is None else run.status.value.lower()
            notes.append(
                f"released a stale claim on pool {WAREHOUSE_POOL} held by run {run_id[:8]} "
                f"({state})"
            )
    return notes


def dagster_home() -> Path:
    value = os.environ.get("DAGSTER_HOME", "").strip()
    return Path(value) if value else (config.home() / "dagster").absolute()


def ensure_dagster_home() -> Path:
    """Create DAGSTER_HOME with our dagster.yaml, or bring an earlier release's unedited
    file up to date; a file an operator edited is kept."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    yaml = home / "dagster.yaml"
    if not yaml.exists() or yaml.read_text(encoding="utf-8") == _EARLIER_YAML:
        # whole or not at all: a webserver and a daemon starting together both get here
        part = yaml.with_name(f".dagster.yaml.{os.getpid()}.part")
        part.write_text(DAGSTER_YAML, encoding="utf-8")
        os.replace(part, yaml)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
