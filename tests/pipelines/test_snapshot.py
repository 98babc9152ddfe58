"""The published snapshot (pipelines/defs/snapshot.py, warehouse/publish.py): readers open a
read-only copy made after the run's tables are built and checked, so a reader never makes a
run wait or fail, and never sees a half-built state."""

from __future__ import annotations

import os
import stat

import duckdb
import pytest

from her2qa import config
from her2qa.runner import execute
from pipelines.defs.resources import default_paths
from tests.conftest import IHC_ROW, ISH_ROW, write_extract
from warehouse import catalog


def _counts(path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            t.name: con.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0]
            for t in catalog.published()
        }


def test_the_snapshot_is_a_read_only_copy_of_the_run_and_a_reader_never_blocks_a_run(env):
    paths = default_paths(env / "inbox", env / "her2.duckdb", env / "site")
    write_extract(env / "inbox" / "a.csv", [IHC_ROW, ISH_ROW])
    assert execute(paths).success
    snap = config.snapshot_path(env / "her2.duckdb")
    assert paths.snapshot_file == snap == env / "her2.snapshot.duckdb"
    assert _counts(snap) == _counts(env / "her2.duckdb")
    assert not os.stat(snap).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)

    # a notebook holds the snapshot open while the next run lands a file
    reader = duckdb.connect(str(snap), read_only=True)
    before = reader.execute("SELECT count(*) FROM staging.her2_results").fetchone()[0]
    second = {**IHC_ROW, "test_id": "T-2", "accession_id": "S-2"}
    write_extract(env / "inbox" / "b.csv", [second])
    assert execute(paths).success  # never waits for the reader
    assert reader.execute("SELECT count(*) FROM staging.her2_results").fetchone()[0] == before
    reader.close()
    assert _counts(snap)["staging.her2_results"] == before + 1  # the new snapshot


def test_the_snapshot_location_is_configured_and_never_the_warehouse(env, monkeypatch):
    monkeypatch.setenv("HER2QA_SNAPSHOT", str(env / "published" / "her2.duckdb"))
    assert config.snapshot_path() == env / "published" / "her2.duckdb"
    from warehouse import publish

    with duckdb.connect(str(env / "w.duckdb")) as con, pytest.raises(ValueError):
        publish.snapshot(con, env / "w.duckdb", env / "w.duckdb")


def test_the_snapshot_copy_is_exact_whether_the_kernel_clones_copies_or_refuses(
    tmp_path, monkeypatch
):
    from warehouse import publish

    source = tmp_path / "w.duckdb"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    publish.clone_or_copy(source, tmp_path / "kernel.duckdb")
    assert (tmp_path / "kernel.duckdb").read_bytes() == source.read_bytes()

    def refused(*_args):
        raise OSError(18, "Invalid cross-device link")  # EXDEV: another file system

    monkeypatch.setattr(os, "copy_file_range", refused)
    publish.clone_or_copy(source, tmp_path / "fallback.duckdb")
    assert (tmp_path / "fallback.duckdb").read_bytes() == source.read_bytes()
