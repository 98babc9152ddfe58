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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from her2qa import config

WAREHOUSE_POOL = "her2qa_warehouse"

DAGSTER_YAML = """\
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
        instance.get_event_records(
            dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_MATERIALIZATION), limit=1
        )
    return instance


def dagster_home() -> Path:
    value = os.environ.get("DAGSTER_HOME", "").strip()
    return Path(value) if value else (config.home() / "dagster").absolute()


def ensure_dagster_home() -> Path:
    """Create DAGSTER_HOME with our dagster.yaml (kept if an operator edited it)."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    yaml = home / "dagster.yaml"
    if not yaml.exists():
        yaml.write_text(DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home
