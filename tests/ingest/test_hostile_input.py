"""Fault injection at the ingest boundary (issue 12): hostile files never leak PHI, never stop
the other files, stay bounded in time and memory, and every file's rows are accounted for.

Every test plants canary identifiers (an MRN, a name, a birth date) and ends with a scan of
every table of every schema of the real DuckDB file, JSON and reasons included."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
from pathlib import Path

import pytest

from her2qa.ingest import extract, inbox
from schemas import contract
from tests.conftest import IHC_ROW, write_extract

CANARY_MRN = "MRN-CANARY-7731"
CANARY_NAME = "Xanthippe Quurlbeck"
CANARY_DOB = "1967-04-05"
CANARIES = (CANARY_MRN, "Xanthippe", "Quurlbeck", CANARY_DOB)


def _row(i: int, **overrides: str) -> dict:
    return {
        **IHC_ROW,
        "test_id": f"T{i:04d}",
        "patient_mrn": f"{CANARY_MRN}{i}",
        "patient_name": CANARY_NAME,
        "patient_dob": CANARY_DOB,
        **overrides,
    }


def _csv_line(values: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def _line(row: dict) -> str:
    return _csv_line([row.get(c, "") for c in contract.NAMES])


def _header() -> str:
    return _csv_line(list(contract.NAMES))


def assert_no_phi(wh, extra_text: str = "") -> None:
    """Canaries appear in no column of any table of any schema, nor in extra_text."""
    tables = wh.query(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database()"
    )
    assert {s for s, _ in tables} >= {"ops", "raw", "staging", "quarantine"}
    for schema, table in tables:
        text = json.dumps(wh.query(f'SELECT * FROM "{schema}"."{table}"'), default=str)
        for canary in CANARIES:
            assert canary not in text, (schema, table, canary)
    for canary in CANARIES:
        assert canary not in extra_text


def assert_accounting(wh) -> None:
    unbalanced = wh.query(
        "SELECT file_name FROM ops.ingested_files "
        "WHERE rows_read <> rows_staged + rows_quarantined "
        "   OR rows_read <> (SELECT count(*) FROM raw.her2_rows r WHERE r.file_id = ops.ingested_files.file_id)"
    )
    assert unbalanced == []
    assert (
        wh.one(
            "SELECT count(*) FROM ops.ingested_files WHERE staged_at IS NULL AND status = 'ingested'"
        )
        == 0
    )


def test_unquoted_comma_in_a_name_keeps_no_shifted_value(wh):
    path = wh.inbox / "shift.csv"
    good = [_row(1), _row(2)]
    shifted = _line(_row(3)).replace(CANARY_NAME, "Quurlbeck, Xanthippe")  # unquoted: shifts
    shifted = shifted.replace('"Quurlbeck, Xanthippe"', "Quurlbeck, Xanthippe")
    path.write_text(_header() + _line(good[0]) + shifted + _line(good[1]))
    wh.run()
    assert (
        wh.one(
            "SELECT rows_read || '/' || rows_staged || '/' || rows_quarantined FROM ops.ingested_files"
        )
        == "3/2/1"
    )
    row, codes, reasons, raw = wh.one(
        "SELECT source_row, reason_codes, reasons, raw FROM quarantine.rejected_rows"
    )
    assert (row, codes) == (2, ["malformed_record"])
    width = len(contract.NAMES)
    assert (
        "line 3" in reasons[0] and f"{width + 1} fields where the header has {width}" in reasons[0]
    )
    assert set(json.loads(raw).values()) == {None}  # nothing of the record is kept
    # the value that landed in specimen_role in the issue (a birth date) is nowhere
    assert wh.one("SELECT count(*) FROM raw.her2_rows WHERE specimen_role IS NOT NULL") == 2
    assert_no_phi(wh)
    assert_accounting(wh)


def test_unterminated_quote_is_visible_as_merged_lines_and_keeps_nothing(wh):
    path = wh.inbox / "quote.csv"
    lines = [_line(_row(i)) for i in range(8)]
    lines[2] = lines[2].replace("NORTH-P01", '"NORTH-P01')  # opens a quote, never closed
    path.write_text(_header() + "".join(lines))
    wh.run()
    read, lines_seen, staged, quarantined = wh.one(
        "SELECT rows_read, physical_lines, rows_staged, rows_quarantined FROM ops.ingested_files"
    )
    assert lines_seen == 9 and read < 8  # merged lines are visible: 8 data lines, fewer records
    assert staged == 2 and quarantined == read - 2
    reasons = wh.query("SELECT reasons[1] FROM quarantine.rejected_rows")
    assert all("lines 4-9" in r[0] or "line" in r[0] for r in reasons)
    assert all(CANARY_MRN not in r[0] for r in reasons)
    assert_no_phi(wh)
    assert_accounting(wh)


def test_identifier_columns_are_dropped_by_name_and_by_value(wh):
    header = [
        *contract.NAMES,
        "medical_record_number",
        "Patient Identifier",
        "DOB",
        "birthdate",
        "ref_code",  # holds the MRN: dropped by value
        "event_day",  # holds dates: dropped by value (a birth date?)
        "contact",  # holds the patient's name
        "lis_comment",  # kept
    ]
    rows = [
        {
            **_row(i),
            "medical_record_number": f"{CANARY_MRN}{i}",
            "Patient Identifier": f"{CANARY_MRN}{i}",
            "DOB": CANARY_DOB,
            "birthdate": CANARY_DOB,
            "ref_code": f"{CANARY_MRN}{i}" if i == 1 else "R-1",
            "event_day": "05/04/1967",
            "contact": CANARY_NAME if i == 2 else "",
            "lis_comment": "recut requested",
        }
        for i in range(3)
    ]
    write_extract(wh.inbox / "extras.csv", rows, header=header)
    wh.run()
    kept, dropped, by_name, by_value = wh.one(
        "SELECT columns_extra, columns_dropped, columns_dropped_by_name, columns_dropped_by_value FROM ops.ingested_files"
    )
    assert kept == ["lis_comment"] and (dropped, by_name, by_value) == (7, 4, 3)
    assert {
        json.loads(r[0])["lis_comment"] for r in wh.query("SELECT extra FROM raw.her2_rows")
    } == {"recut requested"}
    assert wh.one("SELECT count(*) FROM staging.her2_results") == 3
    assert_no_phi(wh)
    assert_accounting(wh)


def test_a_value_equal_to_an_identifier_in_a_contract_column_keeps_nothing(wh):
    # same field count, but the MRN sits in pathologist_id (a shifted or mis-mapped export)
    write_extract(wh.inbox / "m.csv", [_row(1), _row(2, pathologist_id=f"{CANARY_MRN}1")])
    wh.run()
    codes, reasons = wh.one("SELECT reason_codes, reasons FROM quarantine.rejected_rows")
    assert codes == ["malformed_record"] and "patient identifier" in reasons[0]
    assert_no_phi(wh)
    assert_accounting(wh)


@pytest.mark.parametrize("blank", ["\t", "\t \t", "\u00a0", " \u2003\t"])
def test_white_space_only_required_value_is_missing(wh, blank):
    write_extract(wh.inbox / "ws.csv", [_row(1, test_id=blank), _row(2, patient_mrn="\t")])
    wh.run()
    got = wh.query(
        "SELECT source_row, reason_codes, reason_fields FROM quarantine.rejected_rows ORDER BY 1"
    )
    assert got == [
        (1, ["required_missing"], ["test_id"]),
        (2, ["required_missing"], ["patient_mrn"]),
    ]
    assert wh.one("SELECT count(*) FROM staging.her2_results_history") == 0
    assert_no_phi(wh)
    assert_accounting(wh)


def test_nul_byte_anywhere_rejects_the_file_before_staging(wh):
    body = "".join(_line(_row(i)) for i in range(600))  # > 64 KB before the NUL byte
    assert len(body) > 1 << 16
    (wh.inbox / "nul.csv").write_bytes((_header() + body).encode() + b"NORTH,\x00x\n")
    write_extract(wh.inbox / "ok.csv", [_row(1)])
    wh.run()
    status, reason, read = wh.one(
        "SELECT status, reason, rows_read FROM ops.ingested_files WHERE file_name = 'nul.csv'"
    )
    assert status == "rejected" and reason.startswith("not_csv") and "NUL" in reason and read == 0
    assert wh.one("SELECT count(*) FROM raw.her2_rows") == 1  # only ok.csv's row
    assert wh.one("SELECT count(*) FROM staging.her2_results") == 1
    assert_no_phi(wh)
    assert_accounting(wh)


def test_hostile_shapes_are_bounded_and_recorded(wh):
    # 100k+ columns in the header (the 1M-column file took 8.8 GB)
    wide = ",".join([*contract.NAMES, *(f"c{i}" for i in range(120_000))])
    (wh.inbox / "wide.csv").write_text(wide + "\n" + _line(_row(1)))
    # a 10 MB field in an extra column and in a contract column
    big = "A" * (10 << 20)
    header = [*contract.NAMES, "lis_comment"]
    write_extract(
        wh.inbox / "big.csv",
        [{**_row(1), "lis_comment": big}, {**_row(2), "assay_kit": big}, _row(3)],
        header=header,
    )
    wh.run()  # (no timing assertion in a test: speed lives in benchmarks/)
    wide_status, wide_reason = wh.one(
        "SELECT status, reason FROM ops.ingested_files WHERE file_name = 'wide.csv'"
    )
    assert wide_status == "rejected" and wide_reason.startswith("too_many_columns")
    assert (
        wh.one(
            "SELECT rows_read || '/' || rows_staged || '/' || rows_quarantined FROM ops.ingested_files WHERE file_name = 'big.csv'"
        )
        == "3/1/2"
    )
    assert wh.one("SELECT max(length(raw::VARCHAR)) FROM quarantine.rejected_rows") < 10_000
    assert wh.one("SELECT count(*) FROM raw.her2_rows WHERE length(extra::VARCHAR) > 10000") == 0
    assert_no_phi(wh)
    assert_accounting(wh)


def test_many_extra_columns_load(wh):
    # 900 extra columns (an old quadratic look-up made 20k columns take 30 s)
    header = [*contract.NAMES, *(f"c{i}" for i in range(900))]
    write_extract(
        wh.inbox / "many.csv", [{**_row(1), **{f"c{i}": "v" for i in range(900)}}], header=header
    )
    wh.run()
    assert len(wh.one("SELECT columns_extra FROM ops.ingested_files")) == 900
    assert wh.one("SELECT count(*) FROM staging.her2_results") == 1
    assert_accounting(wh)


def test_links_and_non_regular_entries_are_recorded_once_and_never_followed(wh, tmp_path):
    secret = tmp_path / "outside.csv"
    write_extract(secret, [_row(1)])
    (wh.inbox / "link.csv").symlink_to(secret)
    (wh.inbox / "dangling.csv").symlink_to(tmp_path / "gone.csv")
    (wh.inbox / "x.csv").mkdir()
    write_extract(wh.inbox / "..hidden.csv", [_row(2)])
    os.mkfifo(wh.inbox / "pipe.csv")
    write_extract(wh.inbox / "good.csv", [_row(3)])
    wh.run()
    got = dict(
        wh.query(
            "SELECT file_name, split_part(reason, ':', 1) FROM ops.ingested_files WHERE status = 'rejected'"
        )
    )
    assert got == {
        "link.csv": "symlink",
        "dangling.csv": "symlink",
        "x.csv": "not_a_regular_file",
        "pipe.csv": "not_a_regular_file",
        "..hidden.csv": "hidden_name",
    }
    assert wh.one("SELECT count(*) FROM raw.her2_rows") == 1  # good.csv only
    archived = [p for p in (wh.root / "var" / "archive").rglob("*.csv")]
    assert len(archived) == 1 and archived[0].read_bytes() == (wh.inbox / "good.csv").read_bytes()
    wh.run()  # recorded once, not at every run
    assert wh.one("SELECT count(*) FROM ops.ingested_files") == 6
    assert_no_phi(wh)
    assert_accounting(wh)


def test_an_unreadable_file_is_recorded_and_the_others_go_on(wh, monkeypatch):
    write_extract(wh.inbox / "a.csv", [_row(1)])
    write_extract(wh.inbox / "locked.csv", [_row(2)])
    write_extract(wh.inbox / "z.csv", [_row(3)])
    real_open = inbox._open_nofollow

    def deny(path: Path) -> int:
        # as root chmod 000 cannot deny a read; the error is the one open() raises
        if path.name == "locked.csv":
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path)

    monkeypatch.setattr(inbox, "_open_nofollow", deny)
    if os.geteuid() != 0:  # and, where it can, for real
        os.chmod(wh.inbox / "locked.csv", 0)
    wh.run()
    got = wh.query("SELECT file_name, status, reason FROM ops.ingested_files ORDER BY file_id")
    assert [(n, s) for n, s, _ in got] == [
        ("a.csv", "ingested"),
        ("locked.csv", "rejected"),
        ("z.csv", "ingested"),
    ]
    assert "permission denied" in got[1][2]
    monkeypatch.setattr(inbox, "_open_nofollow", real_open)
    os.chmod(wh.inbox / "locked.csv", 0o644)
    wh.run()  # readable again: ingested by content, like any new file
    assert (
        wh.one(
            "SELECT status FROM ops.ingested_files WHERE file_name = 'locked.csv' AND sha256 <> ''"
        )
        == "ingested"
    )
    assert_no_phi(wh)
    assert_accounting(wh)


def test_a_growing_file_waits_and_archived_bytes_match_the_hash(wh, monkeypatch):
    path = write_extract(wh.inbox / "grow.csv", [_row(1)])
    real_feed = extract.ByteChecks.feed
    appended = []

    def feed_and_append(self, chunk):  # the LIS appends while the file is being archived
        real_feed(self, chunk)
        if not appended:
            appended.append(True)
            with path.open("a") as fh:
                fh.write(_line(_row(2)))

    monkeypatch.setattr(extract.ByteChecks, "feed", feed_and_append)
    messages: list[str] = []
    with __import__("warehouse").connect(wh.path) as con:
        __import__("warehouse").ensure_schema(con)
        outcomes = inbox.ingest_inbox(
            con, wh.inbox, wh.root / "var" / "archive", wh.key, "r1", progress=messages.append
        )
    assert [o.status for o in outcomes] == ["waiting"] and "next run" in messages[0]
    assert wh.one("SELECT count(*) FROM ops.ingested_files") == 0
    assert not [p for p in (wh.root / "var" / "archive").rglob("*.csv")]  # no partial snapshot kept
    monkeypatch.setattr(extract.ByteChecks, "feed", real_feed)
    wh.run()
    sha, archived, read = wh.one("SELECT sha256, archive_path, rows_read FROM ops.ingested_files")
    assert read == 2
    assert (
        hashlib.sha256(Path(archived).read_bytes()).hexdigest()
        == sha
        == hashlib.sha256(path.read_bytes()).hexdigest()
    )
    assert_no_phi(wh)
    assert_accounting(wh)


def test_control_characters_in_names_are_escaped_in_progress_lines(wh):
    write_extract(wh.inbox / "evil\nname\x1b[31m.csv", [_row(1)])
    messages: list[str] = []
    import warehouse

    with warehouse.connect(wh.path) as con:
        warehouse.ensure_schema(con)
        inbox.ingest_inbox(
            con, wh.inbox, wh.root / "var" / "archive", wh.key, "r", progress=messages.append
        )
    assert len(messages) == 1 and "\n" not in messages[0] and "\x1b" not in messages[0]
    assert "evil\\nname\\x1b[31m.csv" in messages[0]


def test_existing_bad_inputs_with_canaries_are_accounted_and_leak_nothing(wh):
    header = _header()
    (wh.inbox / "empty.csv").write_bytes(b"")
    (wh.inbox / "latin1.csv").write_bytes(
        (header + _line(_row(1))).encode() + "Jos\xe9\n".encode("latin-1")
    )
    (wh.inbox / "binary.csv").write_bytes(gzip.compress((header + _line(_row(2))).encode()))
    write_extract(
        wh.inbox / "nocols.csv", [_row(3)], header=["lab_id", "patient_mrn", "patient_name"]
    )
    (wh.inbox / "dupcols.csv").write_text("lab_id,LAB_ID\nA,B\n")
    (wh.inbox / "headeronly.csv").write_text(header)
    (wh.inbox / "blank-lines.csv").write_text(header + _line(_row(4)) + "\n\n" + _line(_row(5)))
    messages: list[str] = []
    import warehouse

    with warehouse.connect(wh.path) as con:
        warehouse.ensure_schema(con)
        inbox.ingest_inbox(
            con, wh.inbox, wh.root / "var" / "archive", wh.key, "r", progress=messages.append
        )
    wh.run()
    got = dict(
        wh.query(
            "SELECT file_name, status || ':' || coalesce(split_part(reason, ':', 1), '') FROM ops.ingested_files"
        )
    )
    assert got == {
        "binary.csv": "rejected:not_csv",
        "blank-lines.csv": "ingested:",
        "dupcols.csv": "rejected:duplicate_columns",
        "empty.csv": "rejected:empty",
        "headeronly.csv": "ingested:",
        "latin1.csv": "rejected:not_utf8",
        "nocols.csv": "rejected:missing_columns",
    }
    assert wh.one("SELECT count(*) FROM staging.her2_results") == 2
    assert_no_phi(wh, "\n".join(messages))
    assert_accounting(wh)
