"""Where a published figure comes from: run, input files (SHA-256), code, configuration.

Every page footer and every audit pack carries this, so a number can be traced to
the files and the software that made it. Deterministic: the same warehouse gives
the same dict (sorted keys and rows); the generation time is kept apart by callers.
"""

from __future__ import annotations

import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

import duckdb

from her2qa.config import SiteConfig

REPO = Path(__file__).resolve().parents[1]


@cache
def software() -> dict[str, str | None]:
    """Package version and, when run from a git checkout, the commit (and whether dirty)."""
    try:
        version = metadata.version("her2qa")
    except metadata.PackageNotFoundError:
        version = None
    commit = dirty = None
    try:
        commit = (
            subprocess.run(
                ["git", "-C", str(REPO), "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout.strip()
            or None
        )
        status = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
        dirty = "yes" if status.strip() else "no"
    except (OSError, subprocess.SubprocessError):
        pass
    return {"package": "her2qa", "version": version, "git_commit": commit, "git_dirty": dirty}


def input_files(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every file that landed, in arrival order, with its hash and row accounting."""
    rows = con.execute(
        """
        SELECT file_id, file_name, sha256, status, reason, rows_read, rows_staged,
               rows_quarantined, strftime(ingested_at, '%Y-%m-%dT%H:%M:%SZ') AS ingested_at,
               run_id
        FROM ops.ingested_files ORDER BY file_id
        """
    ).fetchall()
    names = (
        "file_id",
        "file_name",
        "sha256",
        "status",
        "reason",
        "rows_read",
        "rows_staged",
        "rows_quarantined",
        "ingested_at",
        "ingest_run_id",
    )
    return [dict(zip(names, r, strict=True)) for r in rows]


def guideline_versions(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """ASCO/CAP rule sets applied to specimens, with their counts (empty before the marts)."""
    try:
        rows = con.execute(
            "SELECT guideline_version, count(*) FROM marts.specimen_her2 GROUP BY 1 ORDER BY 1"
        ).fetchall()
    except duckdb.CatalogException:
        return {}
    return {str(v): int(n) for v, n in rows}


def lineage(con: duckdb.DuckDBPyConnection, site: SiteConfig, run_id: str | None) -> dict:
    """The whole lineage record (no timestamps of its own: reproducible byte for byte)."""
    files = input_files(con)
    return {
        "run_id": run_id,
        "software": software(),
        "configuration_sha256": site.fingerprint(),
        "guideline_versions": guideline_versions(con),
        "input_files": files,
        "totals": {
            "files": len(files),
            "rows_read": sum(f["rows_read"] for f in files),
            "rows_staged": sum(f["rows_staged"] for f in files),
            "rows_quarantined": sum(f["rows_quarantined"] for f in files),
        },
    }
