"""`her2qa ui`: the Dagster webserver and daemon on loopback, for one deployment.

Both run as child processes in their own process group (so a Ctrl-C or a
SIGTERM stops them and everything they started), with DAGSTER_HOME and a
workspace file that loads ``pipelines.definitions``. The daemon runs the
nightly schedule, the inbox sensor and the run queue.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from her2qa import config
from her2qa.instance import ensure_dagster_home, open_instance

REPO = Path(__file__).resolve().parents[1]


def write_workspace(home: Path) -> Path:
    workspace = home / "workspace.yaml"
    workspace.write_text(
        "# Written by her2qa (her2qa/services.py)\n"
        "load_from:\n"
        "  - python_module:\n"
        "      module_name: pipelines.definitions\n"
        f"      working_directory: {REPO}\n"
        "      location_name: her2qa\n",
        encoding="utf-8",
    )
    return workspace


def service_env() -> dict[str, str]:
    """The environment both services run with: paths made absolute, once, here."""
    env = dict(os.environ)
    env["DAGSTER_HOME"] = str(ensure_dagster_home())
    env["HER2QA_HOME"] = str(config.home().absolute())
    env["HER2QA_INBOX"] = str(config.inbox_path().absolute())
    env["HER2QA_WAREHOUSE"] = str(config.warehouse_path().absolute())
    env["HER2QA_SITE"] = str(config.site_path().absolute())
    env["HER2QA_ARCHIVE"] = str(config.archive_path().absolute())
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def prepare() -> tuple[dict[str, str], str]:
    """Everything the services need before they start: their environment, the inbox, the
    instance's storage and the workspace file. Returns (environment, workspace path)."""
    env = service_env()
    config.inbox_path().absolute().mkdir(parents=True, exist_ok=True)
    # The webserver, its code server and the daemon each open the instance as they start.
    # On a fresh DAGSTER_HOME each would create its SQLite storage and stamp its migration,
    # leaving two heads in alembic_version: an instance no Dagster process can open again.
    # Create it here, once, under the init lock; they then only read it.
    open_instance().dispose()
    return env, str(write_workspace(Path(env["DAGSTER_HOME"])))


def start(port: int, host: str = "127.0.0.1") -> list[subprocess.Popen]:
    """Start webserver and daemon; returns the processes (each leads its own group)."""
    env, workspace = prepare()
    bindir = Path(sys.executable).parent
    commands = [
        [str(bindir / "dagster-webserver"), "-h", host, "-p", str(port), "-w", workspace],
        [str(bindir / "dagster-daemon"), "run", "-w", workspace],
    ]
    return [subprocess.Popen(cmd, env=env, start_new_session=True) for cmd in commands]


def stop(processes: list[subprocess.Popen], timeout_s: float = 20.0) -> None:
    """SIGTERM each process group, then SIGKILL what is left after the timeout."""
    for proc in processes:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for proc in processes:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
    for proc in processes:  # children the services started (run workers) go too
        _signal_group(proc, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
