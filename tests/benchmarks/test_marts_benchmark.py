"""The marts benchmark (benchmarks/marts_benchmark.py) still runs: its synthetic staged layer
must follow the history's columns, or the benchmark stops at its first step. A tiny size,
whole and in partitions; no timing is asserted, only that each build reported the same
tables."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import REPO


def test_the_marts_benchmark_builds_its_synthetic_layer_whole_and_in_partitions(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "benchmarks/marts_benchmark.py",
            "--rows",
            "3000",
            "--partition-results",
            "100000",
            "700",
            "--dir",
            str(tmp_path),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert [re.search(r"partitions of ([\d,]+) results", line)[1] for line in lines] == [
        "100,000",
        "700",
    ]
    # the same specimens, pairs and findings either way
    tails = {line.split(" MB; ")[-1] for line in lines}
    assert len(tails) == 1 and "1,000 specimens" in tails.pop(), lines
    assert list(tmp_path.iterdir()) == []  # the files went with the run
