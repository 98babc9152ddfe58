"""The published snapshot (pipelines/defs/snapshot.py, warehouse/publish.py): readers open a
read-only copy made after the run's tables are built and checked, so a reader never makes a
run wait or fail, and never sees a half-built state."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys

import duckdb
import pytest

from her2qa import config, filecopy
from her2qa.runner import execute
from pipelines.defs.resources import default_paths
from tests.conftest import IHC_ROW, ISH_ROW, REPO, write_extract
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


def _warehouse(path, rows: int) -> None:
    """A DuckDB file of ``rows`` rows in a table, the writes checkpointed into it."""
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE IF NOT EXISTS t (i BIGINT, s VARCHAR)")
        have = con.execute("SELECT count(*) FROM t").fetchone()[0]
        con.execute(
            "INSERT INTO t SELECT i, md5(i::VARCHAR) FROM range($have, $rows) AS r(i)",
            {"have": have, "rows": rows},
        )


def _publish(path, target):
    from warehouse import publish

    with duckdb.connect(str(path)) as con:
        return publish.snapshot(con, path, target)


def _held_open(path):
    """A notebook in another process holding ``path`` open read-only (DuckDB's lock)."""
    code = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print(con.execute('SELECT count(*) FROM t').fetchone()[0], flush=True); sys.stdin.read()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    return proc, int(proc.stdout.readline())


@pytest.fixture
def no_clone(monkeypatch):
    """A file system that cannot clone (ext4), wherever the test's folder is."""
    monkeypatch.setattr(filecopy, "clone_fd", lambda _source, _target: False)


def test_without_clones_a_night_patches_the_snapshot_before_last_and_spares_open_readers(
    tmp_path, no_clone, monkeypatch
):
    monkeypatch.setattr(filecopy, "_PATCH_CHUNK", 1 << 16)  # DuckDB's blocks are 256 KiB
    w, snap = tmp_path / "w.duckdb", tmp_path / "w.snapshot.duckdb"
    spare = tmp_path / ".w.snapshot.duckdb.spare"
    hows = []
    for rows in (50_000, 60_000, 70_000):
        _warehouse(w, rows)
        made = _publish(w, snap)
        hows.append(made.how)
        assert snap.read_bytes() == w.read_bytes()
        assert made.size == w.stat().st_size
    # no spare before the second snapshot; then the first one, patched into the third
    assert hows == ["copied", "copied", "patched"]
    assert 0 < made.written < made.size / 2
    assert not os.stat(snap).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert spare.exists() and not os.path.samefile(spare, snap)

    # a notebook opens the published snapshot (the next spare) and keeps it open
    reader, seen = _held_open(snap)
    assert seen == 70_000
    held = hashlib.sha256(snap.read_bytes()).hexdigest()
    try:
        _warehouse(w, 80_000)
        assert _publish(w, snap).how == "patched"  # the spare it patched was not the open one
        _warehouse(w, 90_000)
        made = _publish(w, snap)
        assert made.how == "copied"  # the spare now is the notebook's file: left as it was
        assert snap.read_bytes() == w.read_bytes()
        (fd,) = [f for f in os.listdir(f"/proc/{reader.pid}/fd") if _is_duckdb(reader.pid, f)]
        with open(f"/proc/{reader.pid}/fd/{fd}", "rb") as its:
            assert hashlib.sha256(its.read()).hexdigest() == held
    finally:
        reader.communicate("")
    _warehouse(w, 100_000)
    assert _publish(w, snap).how == "patched"  # its file closed, the next spare is free
    assert snap.read_bytes() == w.read_bytes()


def _is_duckdb(pid: int, fd: str) -> bool:
    return os.readlink(f"/proc/{pid}/fd/{fd}").endswith(".duckdb (deleted)")


def test_a_run_killed_while_patching_leaves_the_published_snapshot_and_the_next_run_whole(
    tmp_path, no_clone
):
    w, snap = tmp_path / "w.duckdb", tmp_path / "w.snapshot.duckdb"
    for rows in (50_000, 60_000):
        _warehouse(w, rows)
        _publish(w, snap)
    published = snap.read_bytes()
    _warehouse(w, 70_000)
    # the snapshot process is killed (SIGKILL) once it has written part of the spare
    code = (
        "import os, signal, sys, duckdb\n"
        "from her2qa import filecopy\n"
        "from warehouse import publish\n"
        "filecopy.clone_fd = lambda s, t: False\n"
        "def killed(source, target):\n"
        "    os.pwrite(target, os.pread(source, 1 << 16, 0), 0)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "filecopy.patch_fd = killed\n"
        "with duckdb.connect(sys.argv[1]) as con:\n"
        "    publish.snapshot(con, sys.argv[1], sys.argv[2])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(w), str(snap)], cwd=REPO, capture_output=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert (tmp_path / ".w.snapshot.duckdb.part").exists()  # the half-patched spare
    assert snap.read_bytes() == published  # readers still open the last whole snapshot
    made = _publish(w, snap)
    assert made.how == "copied"  # the spare went with the killed run
    assert snap.read_bytes() == w.read_bytes()
    assert not (tmp_path / ".w.snapshot.duckdb.part").exists()


def test_a_spare_that_is_still_the_published_snapshot_is_never_patched(tmp_path, no_clone):
    """A run killed between keeping the published snapshot as the spare and replacing it
    leaves the two names on one file: a reader may open it, so it is copied, not patched."""
    w, snap = tmp_path / "w.duckdb", tmp_path / "w.snapshot.duckdb"
    _warehouse(w, 50_000)
    _publish(w, snap)
    published = snap.read_bytes()
    (tmp_path / ".w.snapshot.duckdb.spare").unlink(missing_ok=True)
    os.link(snap, tmp_path / ".w.snapshot.duckdb.spare")
    before = os.stat(snap).st_ino
    _warehouse(w, 60_000)
    made = _publish(w, snap)
    assert made.how == "copied"
    assert snap.read_bytes() == w.read_bytes()
    assert os.stat(tmp_path / ".w.snapshot.duckdb.spare").st_ino == before
    assert (tmp_path / ".w.snapshot.duckdb.spare").read_bytes() == published


def test_a_file_system_without_hard_links_keeps_no_spare_and_copies_every_snapshot(
    tmp_path, no_clone, monkeypatch
):
    def refused(*_args, **_kwargs):
        raise OSError(1, "Operation not permitted")  # EPERM: a share without hard links

    monkeypatch.setattr(os, "link", refused)
    w, snap = tmp_path / "w.duckdb", tmp_path / "w.snapshot.duckdb"
    for rows in (50_000, 60_000, 70_000):
        _warehouse(w, rows)
        assert _publish(w, snap).how == "copied"
        assert snap.read_bytes() == w.read_bytes()
    assert not (tmp_path / ".w.snapshot.duckdb.spare").exists()


def test_where_the_file_system_clones_the_snapshot_is_a_clone_and_no_spare_is_kept(
    tmp_path, monkeypatch
):
    cloned = []

    def clone(source: int, target: int) -> bool:  # the kernel's clone, as its bytes
        cloned.append(filecopy.copy_fd(source, target))
        return True

    monkeypatch.setattr(filecopy, "clone_fd", clone)
    w, snap = tmp_path / "w.duckdb", tmp_path / "w.snapshot.duckdb"
    for rows in (50_000, 60_000):
        _warehouse(w, rows)
        made = _publish(w, snap)
        assert (made.how, made.written) == ("cloned", 0)
        assert snap.read_bytes() == w.read_bytes()
    assert len(cloned) == 2
    assert not (tmp_path / ".w.snapshot.duckdb.spare").exists()


def test_the_kernel_either_clones_the_whole_file_or_says_it_did_not(tmp_path):
    """FICLONE on this file system, as it is: a clone is the file byte for byte; a refusal
    (ext4, tmpfs) is False, the target left untouched (empty)."""
    source = tmp_path / "w.duckdb"
    source.write_bytes(os.urandom(1024 * 1024 + 17))
    with source.open("rb") as src, (tmp_path / "clone").open("wb") as dst:
        cloned = filecopy.clone_fd(src.fileno(), dst.fileno())
    assert (tmp_path / "clone").read_bytes() == (source.read_bytes() if cloned else b"")


@pytest.mark.parametrize("target_size", [0, 5 * 4096 + 3, 9 * 4096, 12 * 4096 + 100])
def test_a_patched_file_is_the_source_byte_for_byte_with_only_the_differing_chunks_written(
    tmp_path, monkeypatch, target_size
):
    monkeypatch.setattr(filecopy, "_PATCH_CHUNK", 4096)  # many chunks, in both threads
    source = os.urandom(9 * 4096 + 17)
    old = bytearray(source[:target_size].ljust(target_size, b"x"))
    for chunk in (1, 4):  # two chunks changed where the target has them
        if (chunk + 1) * 4096 <= target_size:
            old[chunk * 4096 + 7] ^= 0xFF
    (tmp_path / "s").write_bytes(source)
    (tmp_path / "t").write_bytes(bytes(old))
    with open(tmp_path / "s", "rb") as s, open(tmp_path / "t", "r+b") as t:
        written = filecopy.patch_fd(s.fileno(), t.fileno())
    assert (tmp_path / "t").read_bytes() == source
    expected = sum(
        len(source[i : i + 4096])
        for i in range(0, len(source), 4096)
        if bytes(old[i : i + 4096]) != source[i : i + 4096]
    )
    assert written == expected
