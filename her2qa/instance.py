"""The persistent Dagster instance: run history, schedules, sensors, pool limits.

``DAGSTER_HOME`` (default ``$HER2QA_HOME/dagster``, git-ignored under ``var/``) holds
Dagster's SQLite run storage and the ``dagster.yaml`` written here. The YAML
serialises writers of the DuckDB warehouse, which allows one writing process:
every writing step is in the pool ``her2qa_warehouse`` and each pool runs one step
at a time; runs themselves are queued one at a time as well.
"""

from __future__ import annotations

import os
from pathlib import Path

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
