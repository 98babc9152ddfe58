"""Ingest: file identity, file-level failures, amendments, accounting (real DuckDB files)."""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import os
import shutil
import stat
import time

import pytest

import warehouse
from her2qa.ingest import phi
from schemas import contract
from tests.conftest import IHC_ROW, ISH_ROW, TEST_KEY, write_extract


def _rows(n: int, **overrides) -> list[dict]:
    return [{**IHC_ROW, "test_id": f"T{i:04d}", **overrides} for i in range(n)]


def _accounting_holds(wh) -> None:
    bad = wh.query(
        "SELECT file_name FROM ops.ingested_files WHERE rows_read <> rows_staged + rows_quarantined"
    )
    assert bad == []


def test_same_file_twice_and_renamed_copy_add_nothing(wh):
    write_extract(wh.inbox / "a.csv", _rows(5))
    first = wh.run()
    assert (first.rows_read, first.rows_staged) == (5, 5)
    second = wh.run()  # same file still in the inbox
    assert second.files == 0
    shutil.copy(wh.inbox / "a.csv", wh.inbox / "a-copy.csv")
    wh.run()
    files = wh.query(
        "SELECT file_name, status, duplicate_of, rows_read FROM ops.ingested_files ORDER BY file_id"
    )
    assert files == [("a.csv", "ingested", None, 5), ("a-copy.csv", "duplicate", 1, 0)]
    assert wh.one("SELECT count(*) FROM raw.her2_rows") == 5
    assert wh.one("SELECT count(*) FROM staging.her2_results_history") == 5
    wh.run()  # the duplicate is recorded once, not at every run
    assert wh.one("SELECT count(*) FROM ops.ingested_files") == 2


def test_archive_is_read_only_and_content_addressed(wh):
    path = write_extract(wh.inbox / "a.csv", _rows(1))
    wh.run()
    sha, archived = wh.one("SELECT sha256, archive_path FROM ops.ingested_files")
    assert archived.endswith(f"{sha}.csv")
    mode = stat.S_IMODE(os.stat(archived).st_mode)
    assert mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) == 0
    assert open(archived, "rb").read() == path.read_bytes()


@pytest.mark.parametrize("kernel", ["copies", "refuses", "fails midway"])
def test_the_archive_copy_is_the_file_whether_the_kernel_clones_copies_or_refuses(
    wh, monkeypatch, kernel
):
    """The archive copy is asked of the kernel (a clone, no disk, on XFS or btrfs); refused
    at once or after part of the file, it is made again from the start in user space."""
    real, calls = os.copy_file_range, []

    def kernel_copy(source, target, count, *rest):
        calls.append(count)
        if kernel == "refuses" or (kernel == "fails midway" and len(calls) > 1):
            raise OSError(errno.EXDEV, "Invalid cross-device link")  # another file system
        return real(source, target, 1000 if kernel == "fails midway" else count, *rest)

    monkeypatch.setattr(os, "copy_file_range", kernel_copy)
    path = write_extract(wh.inbox / "a.csv", _rows(3000))
    assert wh.run().rows_staged == 3000
    sha, archived = wh.one("SELECT sha256, archive_path FROM ops.ingested_files")
    assert calls
    assert open(archived, "rb").read() == path.read_bytes()
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()


def test_file_level_failures_are_recorded_and_other_files_go_on(wh):
    (wh.inbox / "empty.csv").write_bytes(b"")
    (wh.inbox / "latin1.csv").write_bytes(
        ",".join(contract.NAMES).encode() + b"\nNORTH,x,1,A,MRN1,Jos\xe9\n"
    )
    write_extract(wh.inbox / "nocols.csv", _rows(2), header=["lab_id", "test_id", "patient_mrn"])
    (wh.inbox / "binary.csv").write_bytes(gzip.compress(b"lab_id,test_id\n1,2\n"))
    write_extract(wh.inbox / "good.csv", _rows(3))
    (wh.inbox / "notes.txt").write_text("not an extract")
    wh.run()
    got = dict(
        wh.query(
            "SELECT file_name, split_part(reason, ':', 1) FROM ops.ingested_files WHERE status = 'rejected'"
        )
    )
    assert got == {
        "empty.csv": "empty",
        "latin1.csv": "not_utf8",
        "nocols.csv": "missing_columns",
        "binary.csv": "not_csv",
    }
    reason = wh.one("SELECT reason FROM ops.ingested_files WHERE file_name = 'nocols.csv'")
    assert "accession_id" in reason and "specimen_role" in reason
    assert wh.one("SELECT count(*) FROM staging.her2_results") == 3
    assert wh.one("SELECT count(*) FROM ops.ingested_files") == 5  # notes.txt is not an extract


def test_header_only_file_is_valid_and_empty(wh):
    write_extract(wh.inbox / "h.csv", [])
    wh.run()
    assert wh.one("SELECT status || ':' || rows_read FROM ops.ingested_files") == "ingested:0"


def test_header_is_matched_loosely_and_extras_are_kept_in_raw(wh):
    header = [
        " LAB_ID ",
        "Test_Id",
        "accession_id",
        "PATIENT_MRN",
        "specimen_role",
        "collection_date",
        "report_date",
        "assay",
        "ihc_score",
        "reported_result",
        "lis_comment",
        "Patient_Name",
    ]
    row = {
        **IHC_ROW,
        " LAB_ID ": "NORTH",
        "Test_Id": "T1",
        "PATIENT_MRN": "MRN1",
        "lis_comment": "recut requested",
        "Patient_Name": "Ada",
    }
    path = wh.inbox / "x.csv"
    write_extract(path, [row], header=header)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # a UTF-8 byte-order mark
    wh.run()
    assert wh.one("SELECT test_id FROM staging.her2_results") == "T1"
    extra = json.loads(wh.one("SELECT extra FROM raw.her2_rows"))
    assert extra == {"lis_comment": "recut requested"}
    missing = wh.one("SELECT columns_missing FROM ops.ingested_files")
    assert "performing_lab" in missing and "ish_ratio" in missing
    assert wh.one("SELECT performing_lab FROM staging.her2_results") == "NORTH"


def test_malformed_records_are_quarantined_with_exact_row_numbers(wh):
    path = write_extract(wh.inbox / "r.csv", _rows(4))
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = lines[2].rstrip("\r\n") + ",surplus\r\n"  # data row 2 gets an extra field
    lines.insert(4, "\r\n")  # a blank line is not a row
    path.write_text("".join(lines))
    wh.run()
    assert wh.one("SELECT rows_read FROM ops.ingested_files") == 4
    row, codes = wh.one("SELECT source_row, reason_codes FROM quarantine.rejected_rows")
    assert (row, codes) == (2, ["malformed_record"])
    assert [
        r[0] for r in wh.query("SELECT source_row FROM staging.her2_results_history ORDER BY 1")
    ] == [1, 3, 4]


def test_amendment_supersedes_and_history_is_kept(wh):
    write_extract(wh.inbox / "1.csv", [IHC_ROW])
    wh.run()
    amended = {
        **IHC_ROW,
        "result_version": "2",
        "ihc_score": "3+",
        "reported_result": "positive",
        "report_date": "2024-03-10",
    }
    write_extract(wh.inbox / "2.csv", [amended])
    wh.run()
    assert wh.query("SELECT result_version, ihc_score FROM staging.her2_results") == [(2, "3+")]
    assert wh.query("SELECT result_version FROM staging.her2_results_history ORDER BY 1") == [
        (1,),
        (2,),
    ]
    # a late copy of version 1 changes nothing; an invalid version 3 is quarantined
    write_extract(
        wh.inbox / "3.csv", [IHC_ROW, {**amended, "result_version": "3", "ihc_score": "4+"}]
    )
    wh.run()
    assert wh.query("SELECT result_version, ihc_score FROM staging.her2_results") == [(2, "3+")]
    assert (
        wh.one(
            "SELECT rows_staged || '/' || rows_repeated || '/' || rows_quarantined FROM ops.ingested_files WHERE file_name = '3.csv'"
        )
        == "1/1/1"
    )
    _accounting_holds(wh)


def test_conflicting_version_first_arrival_wins(wh):
    write_extract(
        wh.inbox / "1.csv", [IHC_ROW, {**IHC_ROW, "ihc_score": "3", "reported_result": "POS"}]
    )
    wh.run()
    write_extract(
        wh.inbox / "2.csv", [{**IHC_ROW, "ihc_score": "1+", "reported_result": "negative"}]
    )
    wh.run()
    assert wh.one("SELECT ihc_score FROM staging.her2_results") == "2+"
    rejected = wh.query(
        "SELECT source_file, source_row, reason_codes, reasons FROM quarantine.rejected_rows ORDER BY file_id"
    )
    assert [(r[0], r[1], r[2]) for r in rejected] == [
        ("1.csv", 2, ["conflicting_version"]),
        ("2.csv", 1, ["conflicting_version"]),
    ]
    assert "1.csv, row 1" in rejected[1][3][0]
    _accounting_holds(wh)


def test_repeat_with_other_spelling_is_identical(wh):
    write_extract(
        wh.inbox / "1.csv", [{**IHC_ROW, "ihc_score": "3+", "reported_result": "positive"}]
    )
    write_extract(
        wh.inbox / "2.csv",
        [{**IHC_ROW, "ihc_score": "Score 3+", "reported_result": "POS", "assay": "ihc"}],
    )
    wh.run()
    assert wh.one("SELECT rows_repeated FROM ops.ingested_files WHERE file_name = '2.csv'") == 1
    assert wh.one("SELECT count(*) FROM quarantine.rejected_rows") == 0


def test_phi_never_enters_the_warehouse(wh):
    rows = [
        {
            **IHC_ROW,
            "test_id": f"T{i}",
            "patient_mrn": f"MRN-SECRET-{i:03d}",
            "patient_name": f"Zebulon Quux{i}",
            "patient_dob": "1931-02-03",
        }
        for i in range(3)
    ]
    rows.append(
        {
            **ISH_ROW,
            "patient_mrn": "MRN-SECRET-999",
            "patient_name": "Zebulon Quux9",
            "patient_dob": "1931-02-03",
            "ish_ratio": "bad",
        }
    )  # quarantined: raw JSON too
    write_extract(wh.inbox / "phi.csv", rows)
    wh.run()
    tables = wh.query("SELECT table_schema, table_name FROM information_schema.tables")
    assert len(tables) >= 6
    for schema, table in tables:
        text = " ".join(
            str(v) for row in wh.query(f'SELECT * FROM "{schema}"."{table}"') for v in row
        )
        for secret in ("MRN-SECRET", "Zebulon", "Quux", "1931-02-03"):
            assert secret not in text, (schema, table, secret)
    keys = {r[0] for r in wh.query("SELECT patient_key FROM raw.her2_rows")}
    expected = phi.patient_key(phi.PhiKey(TEST_KEY.encode()), "MRN-SECRET-001")
    assert expected in keys and len(keys) == 4
    raw_json = json.loads(wh.one("SELECT raw FROM quarantine.rejected_rows"))
    assert (
        "patient_key" in raw_json
        and "patient_mrn" not in raw_json
        and "patient_name" not in raw_json
    )


def test_patient_key_depends_on_the_configured_key(wh, monkeypatch):
    write_extract(wh.inbox / "a.csv", [IHC_ROW])
    wh.run()
    first = wh.one("SELECT patient_key FROM staging.her2_results")
    other = phi.patient_key(phi.PhiKey(b"another-key-0123456789"), IHC_ROW["patient_mrn"])
    assert first == phi.patient_key(wh.key, IHC_ROW["patient_mrn"]) != other


def _counting_reads(monkeypatch) -> list[str]:
    """Every inbox file read whole (hashed) from now on, by name."""
    from her2qa.ingest import inbox

    reads: list[str] = []
    real = inbox._hash_fd

    def counted(fd: int) -> str:
        reads.append(os.readlink(f"/proc/self/fd/{fd}").rsplit("/", 1)[-1])
        return real(fd)

    monkeypatch.setattr(inbox, "_hash_fd", counted)
    return reads


def test_a_file_unchanged_since_its_last_settled_look_is_not_read_again(wh, monkeypatch):
    from her2qa.ingest import inbox

    path = write_extract(wh.inbox / "a.csv", _rows(3))
    wh.run()
    reads = _counting_reads(monkeypatch)
    wh.run()  # looked at within LOOK_SETTLED_NS of its last change: not trusted, read again
    assert reads == ["a.csv"]
    monkeypatch.setattr(inbox, "LOOK_SETTLED_NS", 0)
    wh.run()  # that look is trusted now (as it would be 2 s after the file's last change)
    reads.clear()
    wh.run()
    assert reads == []
    assert wh.one("SELECT count(*) FROM ops.ingested_files") == 1

    # rewritten in place, same size, modification time put back: the change time tells
    time.sleep(0.05)  # past the file system clock's tick
    before = path.stat()
    path.write_bytes(path.read_bytes().replace(b"T0000", b"T9999"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    wh.run()
    assert reads == ["a.csv"]
    assert wh.one("SELECT count(*) FROM ops.ingested_files") == 2  # the new bytes, recorded
    assert wh.one("SELECT count(*) FROM staging.her2_results WHERE test_id = 'T9999'") == 1

    # a file gone from the inbox is forgotten: the table stays the size of the inbox
    path.unlink()
    wh.run()
    assert wh.one("SELECT count(*) FROM ops.inbox_looks") == 0


def test_each_file_is_fingerprinted_as_its_rows_are_loaded(wh):
    """ops.identifier_fingerprints gains a file's rows in the transaction that loads them
    (wh.run refills nothing after ingest: without the per-file insert the counts differ)."""
    write_extract(wh.inbox / "a.csv", _rows(3))
    wh.run()
    write_extract(wh.inbox / "b.csv", _rows(2, lab_id="SOUTH"))
    wh.run()
    with warehouse.connect(wh.path, read_only=True) as con:
        assert warehouse.fingerprints_cover_raw(con)
        warehouse.run(con, "macros/identifiers")
        per_file = con.execute(
            "SELECT file_id, count(*), count(DISTINCT test_id) "
            "FROM ops.identifier_fingerprints GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        found = con.execute(
            "SELECT count(*) FROM ops.identifier_fingerprints "
            "WHERE test_id = identifier_fingerprint('T0001')"
        ).fetchone()[0]
    assert per_file == [(1, 3, 3), (2, 2, 2)]
    assert found == 2  # T0001 of each lab
