"""What the code reads is in the repository: a file git ignores works in this checkout and
is missing from every clone (the partition SQL once sat in a folder named build/, which the
.gitignore meant for packaging output, and only a CI run on a fresh clone showed it)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO

SOURCE_FOLDERS = ("her2qa", "pipelines", "schemas", "warehouse", "dashboards", "benchmarks")


def test_no_source_file_is_ignored_by_git():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--ignored", "--exclude-standard", "--", *SOURCE_FOLDERS],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    # what a run or a test leaves beside the code (a warehouse, its temp, caches) aside
    made = ("__pycache__/", ".duckdb", "benchmarks/out/")
    ignored = [p for p in listed if not any(m in p for m in made)]
    assert ignored == []
