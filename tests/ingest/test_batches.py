"""Files are recorded and loaded in batches (her2qa/ingest/inbox.py ``_Batch``, written by
her2qa/ingest/raw_layer.py): a batch writes what one file at a time writes, every check stays
its file's own, and a batch that fails leaves none of its files behind."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import warehouse
from her2qa.ingest import inbox, raw_layer
from schemas import contract
from tests.conftest import IHC_ROW, write_extract

NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
# What ingest writes, every column: the records, the raw rows and their fingerprints.
WRITTEN = {
    "ops.ingested_files": "SELECT * FROM ops.ingested_files ORDER BY file_id",
    "raw.her2_rows": "SELECT * FROM raw.her2_rows ORDER BY file_id, source_row",
    "ops.identifier_fingerprints": "SELECT * FROM ops.identifier_fingerprints ORDER BY ALL",
}


def _row(i: int, **overrides: str) -> dict:
    return {**IHC_ROW, "test_id": f"T{i:04d}", "patient_mrn": f"MRN-B-{i:04d}", **overrides}


def _varied_inbox(inbox_dir: Path) -> None:
    """An inbox with every kind of entry, in name order: files read, a duplicate of a file
    earlier in the same run, a file with extra columns, a header-only file, a rejected
    file, and two files where one's identifier is an ordinary value of the other."""
    write_extract(inbox_dir / "a.csv", [_row(i) for i in range(1, 4)])
    (inbox_dir / "b.csv").write_bytes((inbox_dir / "a.csv").read_bytes())
    # c's pathologist_id is d's MRN: in c it is no identifier, in d it is one of its own
    write_extract(inbox_dir / "c.csv", [_row(10, pathologist_id="MRN-B-0020")])
    write_extract(inbox_dir / "d.csv", [_row(20), _row(21, pathologist_id="MRN-B-0020")])
    header = [*contract.NAMES, "lis_comment", "ref_code"]
    extras = [{**_row(30), "lis_comment": "recut", "ref_code": "MRN-B-0030"}]
    write_extract(inbox_dir / "e.csv", extras, header=header)
    write_extract(inbox_dir / "f.csv", [])
    (inbox_dir / "g.csv").write_bytes(b"lab_id,test_id\nNORTH,\x00x\n")
    write_extract(inbox_dir / "h.csv", [_row(40), _row(41)])


def _ingest(root: Path, inbox_dir: Path, archive: Path, key) -> dict[str, list[tuple]]:
    with warehouse.connect(root / "her2.duckdb") as con:
        warehouse.ensure_schema(con)
        inbox.ingest_inbox(con, inbox_dir, archive, key, "run-1", now=NOW)
        return {table: con.execute(sql).fetchall() for table, sql in WRITTEN.items()}


def _counting_loads(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The file_ids of every batch written from now on."""
    batches: list[list[int]] = []
    real = raw_layer.load

    def counted(con, files, key):
        batches.append([file_id for file_id, _ in files])
        return real(con, files, key)

    monkeypatch.setattr(raw_layer, "load", counted)
    return batches


def test_batches_write_what_one_file_at_a_time_writes(tmp_path, key, monkeypatch):
    inbox_dir, archive = tmp_path / "inbox", tmp_path / "archive"
    _varied_inbox(inbox_dir)
    batches = _counting_loads(monkeypatch)
    together = _ingest(tmp_path / "together", inbox_dir, archive, key)
    # a (1), b (2, duplicate), c (3), d (4); e (5, extra columns) alone; f (6), g (7, rejected), h (8)
    assert batches == [[1, 3, 4], [5], [6, 8]]

    batches.clear()
    monkeypatch.setattr(inbox, "BATCH_ROWS", 1)  # a batch ends after every file with rows
    one_by_one = _ingest(tmp_path / "one_by_one", inbox_dir, archive, key)
    assert batches == [[1], [3], [4], [5], [6, 8]]  # f has no rows: it waits with h

    assert one_by_one == together
    files = together["ops.ingested_files"]
    assert [(f[1], f[4]) for f in files] == [
        ("a.csv", "ingested"),
        ("b.csv", "duplicate"),
        ("c.csv", "ingested"),
        ("d.csv", "ingested"),
        ("e.csv", "ingested"),
        ("f.csv", "ingested"),
        ("g.csv", "rejected"),
        ("h.csv", "ingested"),
    ]
    assert files[1][6] == 1  # b.csv is a's duplicate, a found earlier in the same batch
    assert len(together["raw.her2_rows"]) == len(together["ops.identifier_fingerprints"]) == 9


def test_an_identifier_is_its_own_files_whatever_the_batch(tmp_path, key, monkeypatch):
    inbox_dir = tmp_path / "inbox"
    _varied_inbox(inbox_dir)
    batches = _counting_loads(monkeypatch)
    written = _ingest(tmp_path, inbox_dir, tmp_path / "archive", key)
    assert [3, 4] in [b[1:] for b in batches]  # c and d in one batch
    with warehouse.connect(tmp_path / "her2.duckdb") as con:
        got = con.execute(
            "SELECT f.file_name, r.test_id, r.pathologist_id, r.malformed FROM raw.her2_rows AS r "
            "JOIN ops.ingested_files AS f USING (file_id) "
            "WHERE f.file_name IN ('c.csv', 'd.csv') ORDER BY r.file_id, r.source_row"
        ).fetchall()
    assert got == [
        ("c.csv", "T0010", "MRN-B-0020", None),  # d's MRN, an ordinary value in c
        ("d.csv", "T0020", "NORTH-P01", None),
        ("d.csv", None, None, raw_layer.WHY_LEAK),  # its own file's MRN: nothing kept
    ]
    e = next(f for f in written["ops.ingested_files"] if f[1] == "e.csv")
    assert e[11] == ["lis_comment"]  # columns_extra: ref_code holds its own MRN, dropped


def test_a_batch_that_fails_leaves_none_of_its_files_and_the_next_run_takes_them(
    tmp_path, key, monkeypatch
):
    inbox_dir, archive = tmp_path / "inbox", tmp_path / "archive"
    _varied_inbox(inbox_dir)
    real = raw_layer.load

    def fails_on_the_second_batch(con, files, key):
        if files[0][0] != 1:
            raise RuntimeError("killed while writing a batch")
        return real(con, files, key)

    monkeypatch.setattr(raw_layer, "load", fails_on_the_second_batch)
    with pytest.raises(RuntimeError):
        _ingest(tmp_path / "wh", inbox_dir, archive, key)
    with warehouse.connect(tmp_path / "wh" / "her2.duckdb") as con:
        kept = con.execute("SELECT file_name FROM ops.ingested_files ORDER BY 1").fetchall()
        rows = con.execute("SELECT DISTINCT file_id FROM raw.her2_rows ORDER BY 1").fetchall()
    assert kept == [("a.csv",), ("b.csv",), ("c.csv",), ("d.csv",)]  # the first batch, whole
    assert rows == [(1,), (3,), (4,)]

    monkeypatch.setattr(raw_layer, "load", real)
    after = _ingest(tmp_path / "wh", inbox_dir, archive, key)
    assert after == _ingest(tmp_path / "clean", inbox_dir, archive, key)
