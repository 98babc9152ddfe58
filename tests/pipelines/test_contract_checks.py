"""The pandera contract checks of a run (pipelines/validation.py): the schema of every row,
the values of a deterministic sample (and of every file's first rows), and of every row the
SQL set aside or chose between. A bad row the check looks at fails it; a PHI column fails it
whatever the sample.

Bad rows are written straight into the warehouse after a real run: they stand for a change to
the SQL rules that lets such a row through."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pytest

import warehouse
from her2qa import config, staging
from her2qa.ingest import inbox, phi
from pipelines import validation
from pipelines.defs import ingest as ingest_defs
from pipelines.defs import staging as staging_defs
from pipelines.defs.resources import Her2qaPaths
from schemas.raw import raw_her2_rows
from schemas.staged import staged_her2_results
from tests.conftest import IHC_ROW, write_extract

RUN = "run-contract"
ROWS_PER_FILE = 100
SAMPLE = 30  # three files of 100 rows: one row in ten, and each file's first rows


def _rows(prefix: str, n: int = ROWS_PER_FILE) -> list[dict]:
    return [
        {**IHC_ROW, "test_id": f"{prefix}-{i}", "patient_mrn": f"MRN-{prefix}-{i}"}
        for i in range(1, n + 1)
    ]


def _run(env: Path, key: phi.PhiKey, files: dict[str, list[dict]]) -> Her2qaPaths:
    """Ingest and stage ``files`` as run RUN; the paths the checks read."""
    for name, rows in files.items():
        write_extract(env / "inbox" / name, rows)
    with warehouse.connect(env / "her2.duckdb") as con:
        warehouse.ensure_schema(con)
        inbox.ingest_inbox(con, env / "inbox", env / "archive", key, RUN)
        staging.stage_pending(con, config.SiteConfig(), run_id=RUN)
    return Her2qaPaths(
        inbox=str(env / "inbox"),
        warehouse_file=str(env / "her2.duckdb"),
        archive_dir=str(env / "archive"),
        site_dir=str(env / "site"),
    )


def _raw_check(paths: Her2qaPaths, sample_rows: int = SAMPLE, run_id: str = RUN):
    return validation.validate_run(
        paths,
        raw_her2_rows,
        ingest_defs.RAW_ROWS_OF_RUN,
        run_id,
        ingest_defs.RAW_ALWAYS,
        sample_rows=sample_rows,
    )


def _staged_check(paths: Her2qaPaths, sample_rows: int = SAMPLE):
    return validation.validate_run(
        paths,
        staged_her2_results,
        staging_defs.STAGED_ROWS_OF_RUN,
        RUN,
        staging_defs.STAGED_ALWAYS,
        sample_rows=sample_rows,
    )


def _sql(paths: Her2qaPaths, sql: str) -> list[tuple]:
    with warehouse.connect(Path(paths.warehouse_file)) as con:
        return con.execute(sql).fetchall()


def _sampled(file_id: int, source_row: int, one_in: int) -> bool:
    """Whether the sample's hash picks this row (pipelines/validation.py)."""
    picked = duckdb.execute(
        f"SELECT hash($f::BIGINT, $r::BIGINT) % {one_in} = 0", {"f": file_id, "r": source_row}
    ).fetchall()[0][0]
    return picked or source_row <= validation.FIRST_ROWS


def _unsampled_row(file_id: int, one_in: int) -> int:
    return next(r for r in range(1, ROWS_PER_FILE + 1) if not _sampled(file_id, r, one_in))


def test_a_run_within_the_sample_size_is_checked_whole_and_a_bad_row_fails(env, key):
    paths = _run(env, key, {"a.csv": _rows("A", 40)})
    assert _staged_check(paths, sample_rows=100).passed
    _sql(paths, "UPDATE staging.her2_results_history SET ihc_score = '4+' WHERE test_id = 'A-3'")
    result = _staged_check(paths, sample_rows=100)
    assert not result.passed
    assert result.metadata["rows_checked"].value == result.metadata["rows_in_run"].value == 40
    assert "ihc_score" in result.metadata["failures"].value


def test_the_sample_is_reproducible_covers_every_file_and_a_bad_row_in_it_fails(env, key):
    paths = _run(env, key, {f"{p}.csv": _rows(p) for p in "ABC"})
    first, again = _raw_check(paths), _raw_check(paths)
    assert first.passed and again.passed
    checked = first.metadata["rows_checked"].value
    assert checked == again.metadata["rows_checked"].value
    assert first.metadata["rows_in_run"].value == 300 > checked
    one_in = math.ceil(300 / SAMPLE)
    expected = sum(_sampled(f, r, one_in) for f in (1, 2, 3) for r in range(1, 101))
    assert checked == expected  # the hash's one in ten, and each file's first rows
    # a bad row the hash picks fails the check; so does one among a file's first rows
    picked = next(r for r in range(validation.FIRST_ROWS + 1, 101) if _sampled(3, r, one_in))
    for source_row in (picked, 2):
        where = f"WHERE file_id = 3 AND source_row = {source_row}"
        [(good,)] = _sql(paths, f"SELECT patient_key FROM raw.her2_rows {where}")
        _sql(paths, f"UPDATE raw.her2_rows SET patient_key = 'not-a-key' {where}")
        failed = _raw_check(paths)
        assert not failed.passed and "patient_key" in failed.metadata["failures"].value
        _sql(paths, f"UPDATE raw.her2_rows SET patient_key = '{good}' {where}")
    assert _raw_check(paths).passed


def test_a_malformed_raw_row_is_checked_whatever_the_sample(env, key):
    paths = _run(env, key, {f"{p}.csv": _rows(p) for p in "ABC"})
    where = f"WHERE file_id = 2 AND source_row = {_unsampled_row(2, math.ceil(300 / SAMPLE))}"
    _sql(paths, f"UPDATE raw.her2_rows SET patient_key = 'not-a-key' {where}")
    assert _raw_check(paths).passed  # a well-formed row outside the sample is not looked at
    _sql(paths, f"UPDATE raw.her2_rows SET malformed = 'fields shifted' {where}")
    failed = _raw_check(paths)  # set aside by the ingest: always looked at
    assert not failed.passed and "patient_key" in failed.metadata["failures"].value


def test_the_version_chosen_over_a_quarantined_one_is_checked_whatever_the_sample(env, key):
    # 200 rows staged (files A and B; C's one row conflicts): the hash picks one in seven.
    row = _unsampled_row(1, math.ceil(200 / SAMPLE))  # file A is file 1, test A-n its row n
    conflict = {**_rows("A")[row - 1], "ihc_pct_stained": "45"}  # same version, new content
    paths = _run(env, key, {"A.csv": _rows("A"), "B.csv": _rows("B"), "C.csv": [conflict]})
    reasons = _sql(paths, "SELECT test_id, reason_codes FROM quarantine.rejected_rows")
    assert reasons == [(f"A-{row}", ["conflicting_version"])]
    assert _staged_check(paths).passed
    assert _staged_check(paths).metadata["rows_in_run"].value == 200
    history = "staging.her2_results_history"
    _sql(paths, f"UPDATE {history} SET ihc_pct_stained = 140 WHERE test_id = 'A-{row}'")
    failed = _staged_check(paths)
    assert not failed.passed and "ihc_pct_stained" in failed.metadata["failures"].value


@pytest.mark.parametrize("run_id", [RUN, "a-run-with-no-rows"])
def test_a_phi_column_fails_the_raw_check_whatever_the_sample(env, key, run_id):
    paths = _run(env, key, {"A.csv": _rows("A")})
    _sql(paths, "ALTER TABLE raw.her2_rows ADD COLUMN patient_name VARCHAR")
    failed = _raw_check(paths, sample_rows=1, run_id=run_id)
    assert not failed.passed
    assert "| column_in_schema |      1 |" in failed.metadata["failures"].value
