"""What the benchmarks share: each step measured in a child process of its own (so one
step's memory does not hide another's), the child reporting its figures as one JSON line.

    measure(script, step, work, *args)   runs ``script --child step --work work *args``
    finish(out, started)                 the child's figures + seconds and peak RSS
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEY = "benchmark-key-not-for-production-0123456789"


def finish(out: dict, started: float) -> dict:
    """The child's figures with its wall time and peak RSS."""
    out["seconds"] = time.perf_counter() - started
    # ru_maxrss of this process (KiB on Linux): Python, pyarrow and DuckDB memory together
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def measure(script: str, step: str, work: Path, *args: str) -> dict:
    """Run one step of ``script`` in a child process and return the figures it prints."""
    env = {**os.environ, "HER2QA_PHI_KEY": KEY, "HER2QA_HOME": str(work / "var")}
    env["PYTHONPATH"] = str(REPO)
    cmd = [sys.executable, script, "--child", step, "--work", str(work), *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:  # Dagster's own log goes to stderr: shown only on failure
        raise SystemExit(f"{step} failed (exit {proc.returncode}):\n{proc.stderr[-5000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
