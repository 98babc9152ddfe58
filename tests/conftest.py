"""Shared fixtures: a real DuckDB file per test, a PHI key, and CSV extract builders."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import pytest

import warehouse
from her2qa import config, staging
from her2qa.ingest import inbox, phi
from schemas import contract

# One Chromium for the whole session, shared by every page test (tests/browser.py):
# Playwright's sync API allows one instance per thread.
from tests.browser import browser  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"  # ../shared beside the repository: contracts, references, data
TEST_KEY = "test-key-0123456789abcdef-not-for-production"
# The same key as an object, for code that takes one (HER2QA_PHI_KEY=TEST_KEY gives it)
TEST_PHI_KEY = phi.PhiKey(TEST_KEY.encode("utf-8"))

# A valid IHC row and a valid dual-probe ISH row of the contract; tests override fields.
IHC_ROW = {
    "lab_id": "NORTH",
    "test_id": "T-IHC-1",
    "result_version": "1",
    "accession_id": "S24-0001-A1",
    "patient_mrn": "MRN00000001",
    "patient_name": "Ada Lovelace",
    "patient_dob": "1961-07-14",
    "specimen_role": "primary",
    "specimen_site": "breast",
    "collection_date": "2024-03-01",
    "report_date": "2024-03-04",
    "cold_ischemia_min": "35",
    "fixation_hours": "24",
    "assay": "IHC",
    "assay_kit": "4B5",
    "ihc_score": "2+",
    "ihc_pct_stained": "40",
    "reported_result": "equivocal",
    "pathologist_id": "NORTH-P01",
    "test_purpose": "clinical",
}
ISH_ROW = {
    **IHC_ROW,
    "test_id": "T-ISH-1",
    "report_date": "2024-03-08",
    "assay": "ISH",
    "assay_kit": "PathVysion",
    "ihc_score": "",
    "ihc_pct_stained": "",
    "ish_her2_per_cell": "8.10",
    "ish_cep17_per_cell": "2.00",
    "ish_ratio": "4.05",
    "ish_cells_counted": "20",
    "reported_result": "positive",
}


def write_extract(path: Path, rows: Iterable[dict], header: list[str] | None = None) -> Path:
    """Write rows as an LIS extract (contract header unless given)."""
    header = header or list(contract.NAMES)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore", restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> phi.PhiKey:
    monkeypatch.setenv("HER2QA_PHI_KEY", TEST_KEY)
    return phi.load_key()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: phi.PhiKey) -> Path:
    """An isolated deployment: state, warehouse, site and config all under tmp_path."""
    monkeypatch.setenv("HER2QA_HOME", str(tmp_path / "var"))
    monkeypatch.setenv("HER2QA_WAREHOUSE", str(tmp_path / "her2.duckdb"))
    monkeypatch.setenv("HER2QA_SITE", str(tmp_path / "site"))
    monkeypatch.delenv("HER2QA_CONFIG", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inbox").mkdir()
    return tmp_path


def materialize_ingest(env: Path):
    """The ingest and staging assets with every check of theirs, in process, on ``env``'s
    inbox (an ephemeral Dagster instance): (result, instance)."""
    import dagster as dg

    from pipelines.defs import ingest as ingest_defs
    from pipelines.defs import staging as staging_defs
    from pipelines.defs.resources import default_paths

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [
            ingest_defs.ingest_inbox,
            staging_defs.stage_results,
            ingest_defs.raw_rows_carry_no_phi,
            staging_defs.accounting_balances,
            staging_defs.staged_rows_match_contract,
            *ingest_defs.integrity,
            *staging_defs.integrity,
        ],
        resources={"paths": default_paths(env / "inbox", env / "her2.duckdb", env / "site")},
        instance=instance,
    )
    return result, instance


class Warehouse:
    """Ingest + stage through the library (fast); Dagster runs are tested separately."""

    def __init__(self, root: Path, key: phi.PhiKey, site: config.SiteConfig | None = None):
        self.root = root
        self.path = root / "her2.duckdb"
        self.inbox = root / "inbox"
        self.key = key
        self.site = site or config.SiteConfig()

    def run(
        self,
        run_id: str = "test-run",
        *,
        site: config.SiteConfig | None = None,
        progress: list[str] | None = None,
    ) -> staging.StageSummary:
        """Ingest the inbox, files read as the [[sources]] of ``site`` say (default: this
        warehouse's configuration), and stage, like a nightly run; ``progress`` collects
        the run's lines."""
        site = site or self.site
        with warehouse.connect(self.path) as con:
            warehouse.ensure_schema(con)
            inbox.ingest_inbox(
                con,
                self.inbox,
                self.root / "var" / "archive",
                self.key,
                run_id,
                site=site,
                progress=progress.append if progress is not None else None,
            )
            return staging.stage_pending(con, site)

    def query(self, sql: str, params: dict | None = None) -> list[tuple]:
        with warehouse.connect(self.path, read_only=True) as con:
            return con.execute(sql, params).fetchall()

    def one(self, sql: str, params: dict | None = None):
        rows = self.query(sql, params)
        assert len(rows) == 1, rows
        return rows[0][0] if len(rows[0]) == 1 else rows[0]


@pytest.fixture
def wh(env: Path, key: phi.PhiKey) -> Warehouse:
    return Warehouse(env, key)
