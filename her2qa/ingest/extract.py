"""Reading one LIS extract file (spec/lis-extract.md §File) into text columns.

The result is an Arrow table of strings whose columns are the contract's
columns present in the header (matched trimmed and case-insensitively) and the
unknown extra columns, plus ``source_row`` (1-based among data rows) and
``malformed`` (why a record could not be split into the header's fields).

Two readers give the same rows: pyarrow's multi-threaded parser for files that
are well formed (the common case, ~1 s per million rows), and Python's csv
module for the rest, which keeps every malformed record as a row so that it
can be quarantined with its reason instead of failing the whole file.

PHI: a record whose fields do not line up with the header (a field count that
differs, a quoted value that runs over several lines) may carry a name, an MRN
or a birth date in any column, so such a record keeps *no* value at all: only
its row number, its physical line(s) and its field count, in words that never
quote the record. Extra columns whose name looks like an identifier are never
read into a kept column.

File-level failures raise ``FileRejected`` with a reason kind and a message.
"""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from schemas import contract

_BATCH_ROWS = 100_000
_HEAD_BYTES = 512
# The contract has 27 columns: a header with thousands is not an extract, and reading it
# positionally would cost memory per column (a 1M-column header took 8.8 GB). Rejected.
MAX_COLUMNS = 1_000
# The csv module refuses fields over 128 KiB by default and then loses its place in the
# file; a long field is read whole (the file is already bounded by its size) and the row
# is quarantined by the raw layer's length cap instead (her2qa/ingest/inbox.py).
csv.field_size_limit(1 << 30)

# Extra columns whose name suggests an identifier are never kept. Matched on the name with
# everything but letters and digits removed: "Medical Record #", "patient-identifier", "DOB".
_PHI_NAME = re.compile(
    r"name|birth|dob|mrn|ssn|social|address|phone|email|zip|postcode|medicalrecord|recordn"
    r"|identifier|patient|person|subject|pid|ptid|patid|nhs|insurance|passport|licen",
    re.I,
)


def phi_like_name(name: str) -> bool:
    return bool(_PHI_NAME.search(re.sub(r"[^0-9a-z]", "", name.lower())))


class FileRejected(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class ByteChecks:
    """File-level checks made on the bytes as they are read once (hash, archive copy):
    NUL bytes anywhere, UTF-8 validity, compressed-archive signatures, physical lines."""

    size: int = 0
    newlines: int = 0
    last_byte: bytes = b""
    head: bytes = b""
    nul_offset: int | None = None
    utf8_error: str | None = None
    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")()
    )

    def feed(self, chunk: bytes) -> None:
        if len(self.head) < _HEAD_BYTES:  # what formats.recognise looks at
            self.head = (self.head + chunk)[:_HEAD_BYTES]
        if self.nul_offset is None and (at := chunk.find(b"\x00")) >= 0:
            self.nul_offset = self.size + at
        if self.utf8_error is None:
            try:
                self._decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                self.utf8_error = f"invalid byte at offset {self.size + exc.start}"
        self.newlines += chunk.count(b"\n")
        self.size += len(chunk)
        if chunk:
            self.last_byte = chunk[-1:]

    def finish(self) -> None:
        if self.utf8_error is None:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self.utf8_error = "truncated character at the end"

    @property
    def physical_lines(self) -> int:
        """Lines in the file, header included (a last line without a newline counts)."""
        return self.newlines + (1 if self.size and self.last_byte != b"\n" else 0)

    def raise_if_rejected(self) -> None:
        """File-level verdicts that need no parsing; a NUL byte anywhere rejects the file
        before any of its rows is staged (an LIS never writes one into a text export)."""
        if self.size == 0:
            raise FileRejected("empty", "the file is empty")
        if self.head[:2] == b"\x1f\x8b" or self.head[:4] == b"PK\x03\x04":
            raise FileRejected("not_csv", "the file is not a CSV text file (compressed archive)")
        if self.nul_offset is not None:
            raise FileRejected(
                "not_csv",
                f"the file is not a CSV text file (NUL byte at offset {self.nul_offset})",
            )
        if self.utf8_error is not None:
            raise FileRejected("not_utf8", f"the file is not UTF-8 ({self.utf8_error})")


@dataclass(frozen=True)
class Header:
    names: list[str]  # as written in the file
    contract_index: dict[str, int]  # contract column -> position
    extra_index: dict[str, int]  # kept unknown column -> position
    dropped_extra: list[str]  # unknown columns not kept because their name looks like PHI

    @property
    def missing_optional(self) -> list[str]:
        return [
            c for c in contract.NAMES if c not in self.contract_index and c not in contract.REQUIRED
        ]


@dataclass(frozen=True)
class Extract:
    header: Header
    table: pa.Table  # string columns: contract names present, extras as "extra:<name>"
    physical_lines: int | None  # lines in the file, header included (None: not a text table)
    reader: str  # "arrow", "python" (the bounded CSV fallback) or the format's adapter


def check_bytes(path: Path) -> ByteChecks:
    """The byte checks of a file read on its own (tests, a re-read of the archive)."""
    checks = ByteChecks()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            checks.feed(chunk)
    checks.finish()
    return checks


def read_header(path: Path) -> Header:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        try:
            names = next(csv.reader(fh))
        except StopIteration:
            raise FileRejected("empty", "the file is empty") from None
        except csv.Error as exc:
            raise FileRejected("not_csv", f"the header row is not CSV: {exc}") from None
    if not any(n.strip() for n in names):
        raise FileRejected("empty", "the file has no header row")
    if len(names) > MAX_COLUMNS:
        raise FileRejected(
            "too_many_columns",
            f"the header has {len(names):,} columns (an extract has at most {MAX_COLUMNS:,})",
        )
    contract_index: dict[str, int] = {}
    extra_index: dict[str, int] = {}
    dropped: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(names):
        key = contract.header_key(name)
        if key in seen:
            # the column name of a contract column is safe to quote; an unknown one may not be
            shown = f"'{key}'" if key in contract.BY_NAME else f"number {i + 1}"
            raise FileRejected("duplicate_columns", f"column {shown} appears twice")
        seen.add(key)
        if key in contract.BY_NAME:
            contract_index[key] = i
        elif not key:
            continue  # a trailing comma in the header: an unnamed, empty column
        elif phi_like_name(key):
            dropped.append(name.strip())
        else:
            extra_index[name.strip()] = i
    missing = [c for c in contract.REQUIRED if c not in contract_index]
    if missing:
        raise FileRejected(
            "missing_columns", "required column(s) missing from the header: " + ", ".join(missing)
        )
    return Header(names, contract_index, extra_index, dropped)


def read(path: Path, checks: ByteChecks | None = None) -> Extract:
    """Read a whole file; raises FileRejected for file-level failures.

    ``checks`` are the byte checks made while the file was archived (one read); without
    them the file is read once more for them."""
    checks = checks or check_bytes(path)
    checks.raise_if_rejected()
    header = read_header(path)
    try:
        table = _read_arrow(path, header)
    except pa.ArrowInvalid:
        table = None
    # The fast reader is trusted only when every data line is one record: otherwise (blank
    # lines, a quoted value over several lines, an unterminated quote merging lines) the
    # line-tracking reader says which physical lines each record came from.
    if table is None or table.num_rows != checks.physical_lines - 1 or _spans_lines(table):
        return Extract(header, _read_python(path, header), checks.physical_lines, "python")
    return Extract(header, table, checks.physical_lines, "arrow")


def _spans_lines(table: pa.Table) -> bool:
    for name in table.column_names:
        if name in ("source_row", "malformed"):
            continue
        column = table.column(name)
        for brk in ("\n", "\r"):
            if pc.any(pc.match_substring(column, brk)).as_py():
                return True
    return False


def _select(header: Header) -> list[tuple[str, int]]:
    """(output name, position) of the kept columns."""
    kept = [(name, i) for name, i in header.contract_index.items()]
    kept += [(f"extra:{name}", i) for name, i in header.extra_index.items()]
    return kept


def _read_arrow(path: Path, header: Header) -> pa.Table:
    width = len(header.names)
    positional = [f"f{i}" for i in range(width)]
    table = pcsv.read_csv(
        path,
        read_options=pcsv.ReadOptions(
            column_names=positional, skip_rows=1, block_size=1 << 24, encoding="utf8"
        ),
        parse_options=pcsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=True),
        convert_options=pcsv.ConvertOptions(
            column_types={name: pa.string() for name in positional},
            include_columns=[f"f{i}" for _, i in _select(header)],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    n = table.num_rows
    columns = {out: table.column(f"f{i}") for out, i in _select(header)}
    columns["source_row"] = pa.array(range(1, n + 1), pa.int64())
    columns["malformed"] = pa.nulls(n, pa.string())
    return pa.table(columns)


def _lines(first: int, last: int) -> str:
    return f"line {first}" if first == last else f"lines {first}-{last}"


def _read_python(path: Path, header: Header) -> pa.Table:
    """Row by row, tracking physical lines: keeps every record as a row, and a record that
    does not line up with the header as its row number and reason only (no values)."""
    selected = _select(header)
    width = len(header.names)
    empty = [""] * width
    batches: list[pa.RecordBatch] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, strict=False)
        next(reader)
        rows: list[list[str]] = []
        malformed: list[str | None] = []
        numbers: list[int] = []
        source_row = 0
        while True:
            first_line = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:  # the csv module's own words, never the record's text
                source_row += 1
                numbers.append(source_row)
                rows.append(empty)
                malformed.append(
                    f"the record at {_lines(first_line, reader.line_num)} cannot be read as CSV "
                    f"({exc}); its values are not kept"
                )
                continue
            if not record:
                continue  # a blank line is not a data row (as in the fast reader)
            source_row += 1
            numbers.append(source_row)
            last_line = reader.line_num
            if len(record) != width:
                malformed.append(
                    f"the record at {_lines(first_line, last_line)} has {len(record)} fields "
                    f"where the header has {width}; its values are not kept (shifted fields "
                    "can put a name or MRN in any column)"
                )
                record = empty
            elif last_line != first_line:
                malformed.append(
                    f"the record spans {_lines(first_line, last_line)} (a quoted value over "
                    "several lines, or an unterminated quote merging records); its values are "
                    "not kept"
                )
                record = empty
            else:
                malformed.append(None)
            rows.append(record)
            if len(rows) >= _BATCH_ROWS:
                batches.append(_batch(rows, malformed, numbers, selected))
                rows, malformed, numbers = [], [], []
        batches.append(_batch(rows, malformed, numbers, selected))
    return pa.Table.from_batches(batches)


def _batch(
    rows: list[list[str]],
    malformed: list[str | None],
    numbers: list[int],
    selected: list[tuple[str, int]],
) -> pa.RecordBatch:
    arrays = {out: pa.array([r[i] for r in rows], pa.string()) for out, i in selected}
    arrays["source_row"] = pa.array(numbers, pa.int64())
    arrays["malformed"] = pa.array(malformed, pa.string())
    return pa.record_batch(arrays)
