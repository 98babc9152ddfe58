"""Reading one LIS extract file (spec/lis-extract.md §File) into text columns.

The result is an Arrow table of strings whose columns are the contract's
columns present in the header (matched trimmed and case-insensitively) and the
unknown extra columns, plus ``source_row`` (1-based among data rows) and
``malformed`` (why a record could not be split into the header's fields).

Two readers give the same rows: pyarrow's multi-threaded parser for files that
are well formed (the common case, ~1 s per million rows), and Python's csv
module for the rest, which keeps every malformed record as a row so that it
can be quarantined with its reason instead of failing the whole file.

File-level failures raise ``FileRejected`` with a reason kind and a message.
"""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv

from schemas import contract

_SNIFF_BYTES = 1 << 16
_BATCH_ROWS = 100_000
# Extra columns whose name suggests PHI are never kept (a safety net beyond the contract).
_PHI_NAME = re.compile(r"name|birth|dob|mrn|ssn|social|address|phone|email|zip|postcode", re.I)


class FileRejected(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Header:
    names: list[str]  # as written in the file
    contract_index: dict[str, int]  # contract column -> position
    extra_index: dict[str, int]  # kept unknown column -> position
    dropped_extra: list[str]  # unknown columns not kept because they look like PHI

    @property
    def missing_optional(self) -> list[str]:
        return [
            c for c in contract.NAMES if c not in self.contract_index and c not in contract.REQUIRED
        ]


@dataclass(frozen=True)
class Extract:
    header: Header
    table: pa.Table  # string columns: contract names present, extras as "extra:<name>"


def sniff(path: Path) -> None:
    """Reject files that are empty, binary or not UTF-8 before parsing them."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if size == 0 or not head.lstrip(codecs.BOM_UTF8).strip():
        raise FileRejected("empty", "the file is empty")
    if b"\x00" in head or head[:2] == b"\x1f\x8b" or head[:4] == b"PK\x03\x04":
        raise FileRejected("not_csv", "the file is not a CSV text file (binary content)")
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise FileRejected(
                    "not_utf8",
                    f"the file is not UTF-8 (invalid byte at offset {offset + exc.start})",
                ) from None
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise FileRejected(
                "not_utf8", "the file is not UTF-8 (truncated character at the end)"
            ) from None


def read_header(path: Path) -> Header:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        try:
            names = next(csv.reader(fh))
        except StopIteration:
            raise FileRejected("empty", "the file is empty") from None
        except csv.Error as exc:
            raise FileRejected("not_csv", f"the header row is not CSV: {exc}") from None
    contract_index: dict[str, int] = {}
    extra_index: dict[str, int] = {}
    dropped: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(names):
        key = contract.header_key(name)
        if key in seen:
            raise FileRejected("duplicate_columns", f"column '{name.strip()}' appears twice")
        seen.add(key)
        if key in contract.BY_NAME:
            contract_index[key] = i
        elif not key:
            continue  # a trailing comma in the header: an unnamed, empty column
        elif _PHI_NAME.search(key):
            dropped.append(name.strip())
        else:
            extra_index[name.strip()] = i
    missing = [c for c in contract.REQUIRED if c not in contract_index]
    if missing:
        raise FileRejected(
            "missing_columns", "required column(s) missing from the header: " + ", ".join(missing)
        )
    return Header(names, contract_index, extra_index, dropped)


def read(path: Path) -> Extract:
    """Read a whole file; raises FileRejected for file-level failures."""
    sniff(path)
    header = read_header(path)
    try:
        table = _read_arrow(path, header)
    except pa.ArrowInvalid:
        table = _read_python(path, header)
    return Extract(header, table)


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
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    n = table.num_rows
    columns = {out: table.column(f"f{i}") for out, i in _select(header)}
    columns["source_row"] = pa.array(range(1, n + 1), pa.int64())
    columns["malformed"] = pa.nulls(n, pa.string())
    return pa.table(columns)


def _read_python(path: Path, header: Header) -> pa.Table:
    """Row by row: keeps records whose field count differs from the header's."""
    selected = _select(header)
    width = len(header.names)
    batches: list[pa.RecordBatch] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, strict=False)
        next(reader)
        rows: list[list[str]] = []
        malformed: list[str | None] = []
        source_row = 0
        numbers: list[int] = []
        while True:
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:  # e.g. a field larger than the csv module allows
                source_row += 1
                rows.append([""] * width)
                malformed.append(f"the record cannot be read as CSV ({exc})")
                numbers.append(source_row)
                continue
            if not record:
                continue  # a blank line is not a data row (as in the fast reader)
            source_row += 1
            numbers.append(source_row)
            if len(record) != width:
                malformed.append(
                    f"the record has {len(record)} fields where the header has {width}"
                )
                record = (record + [""] * width)[:width]
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
