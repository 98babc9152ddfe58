"""Excel workbooks (.xlsx, .xls, .ods) onto the contract's columns, through python-calamine.

A sheet in the long layout is a CSV in cells: one header row (matched to the contract like
a CSV's header: trimmed, case-insensitive; unknown columns kept as extras unless named like
an identifier), then one row per result. Which sheet and which row hold it come from the
file's ``[[sources]]`` entry (``sheet``: name or 0-based position, default the first;
``header_row``: 1-based sheet row, default 1).

Typed cells are read as what they are and written as the contract's text:

- text: as it is (``decimal = ","``: "3,2" in a number column -> "3.2", as for CSV);
- number: integral -> "24" (never "24.0": an accession or a count typed as a number keeps
  its digits); otherwise 15 significant digits, no exponent ("4.05", never
  "4.050000000000001");
- date, date-time: ISO "2024-03-01"; in a date column the date of a date-time (the
  contract's dates are days);
- boolean: "TRUE" / "FALSE" (no contract column is one: validation says so);
- empty: "" (an empty field, as in a CSV).

A date column holding a number (a date serial without a date format) stays a number and is
quarantined as not a date: never guessed.

Rows: ``source_row`` N is sheet row ``header_row + N`` (Excel's row numbers); a row with no
value at all is not a data row (like a blank CSV line). A workbook that cannot be read is
rejected with what it is ("this is an Excel workbook (.xlsx) but it cannot be read: ...").

Speed: python-calamine's own parse of the sheet (Rust, one thread) is most of the time;
reading its rows directly is ~3x faster than ``pandas.read_excel(engine="calamine")``
(docs/formats/excel.md; benchmarks/formats_benchmark.py). Rows are converted in batches,
so the Python values of the whole sheet never exist at once.
"""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import python_calamine

from her2qa.config import ConfigError, SourceConfig
from her2qa.ingest import extract, mapping
from schemas import contract

_BATCH_ROWS = 100_000
# Rows kept from the top of the sheet to say where a misplaced header row is.
_HINT_ROWS = 30
Cell = str | float | int | bool | dt.date | dt.datetime | dt.time | dt.timedelta


def read(path: Path, source: SourceConfig) -> extract.Extract:
    """A long-layout sheet: one row per result (``formats.wide`` reads one row per case)."""
    mapping.value_maps(source)  # configuration mistakes before any file-level verdict
    sheet = open_sheet(path, source)
    header = extract.header_from_names(
        sheet.names,
        hint=sheet.header_hint,
        provided=mapping.provided(source),
        renames=mapping.long_columns(source),
    )
    selected = [(out, i, kind_of(out)) for out, i in extract.select(header)]
    table = sheet.text_table(selected, decimal(source))
    return extract.Extract(header, mapping.apply(table, source), None, "calamine")


def kind_of(column: str) -> str:
    """The contract kind a column's cells are written as (extras: text)."""
    spec = contract.BY_NAME.get(column)
    return spec.kind if spec else "text"


def decimal(source: SourceConfig) -> str:
    mark = source.get("decimal", ".")
    if mark not in (".", ","):
        raise ConfigError(f'{mapping.where(source)}: decimal must be "." or ","')
    return mark


def _header_row(source: SourceConfig) -> int:
    row = source.get("header_row", 1)
    if isinstance(row, bool) or not isinstance(row, int) or not 1 <= row <= extract.MAX_HEADER_ROW:
        raise ConfigError(
            f"{mapping.where(source)}: header_row must be a whole number from 1 to "
            f"{extract.MAX_HEADER_ROW:,} (the sheet row of the column headers)"
        )
    return row


@dataclass
class Sheet:
    """One sheet, read from its header row down (rows as calamine gives them)."""

    names: list[str]  # header cells as text
    header_row: int  # 1-based sheet row of the header
    top: list[list[Cell]]  # the sheet's first rows (for a misplaced header's hint)
    rows: Iterator[list[Cell]]  # the rows below the header, in order, blank ones included

    def header_hint(self) -> extract.FileRejected | None:
        """Where the header row is when it is not on ``header_row`` (counted, not quoted)."""
        required = set(contract.REQUIRED)
        for number, cells in enumerate(self.top, 1):
            keys = {contract.header_key(_text(c, "text")) for c in cells}
            if number != self.header_row and required <= keys:
                return extract.header_elsewhere(number, self.header_row, unit="row")
        return None

    def text_table(self, selected: list[tuple[str, int, str]], mark: str = ".") -> pa.Table:
        """The ``selected`` (output name, position, contract kind) columns of every data row
        as text, plus ``source_row`` (sheet row - header row) and ``malformed``; converted
        in batches of rows. A row of empty cells is not a data row (a blank CSV line)."""
        batches: list[pa.RecordBatch] = []
        rows: list[list[Cell]] = []
        numbers: list[int] = []
        number = 0
        # Millions of short-lived lists and strings, none in a reference cycle: the cyclic
        # collector's passes over them cost a third of the conversion. Off while converting.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for cells in self.rows:
                number += 1
                if cells.count("") == len(cells):
                    continue
                rows.append(cells)
                numbers.append(number)
                if len(rows) >= _BATCH_ROWS:
                    batches.append(_batch(rows, numbers, selected, mark))
                    rows, numbers = [], []
            batches.append(_batch(rows, numbers, selected, mark))
        except python_calamine.CalamineError as exc:  # a row calamine cannot give
            raise extract.FileRejected(
                "unreadable_workbook", f"a row of the sheet cannot be read ({type(exc).__name__})"
            ) from None
        finally:
            if collecting:
                gc.enable()
        return pa.Table.from_batches(batches)


def open_sheet(path: Path, source: SourceConfig) -> Sheet:
    """The configured sheet of a workbook, its header row read; FileRejected when the
    workbook cannot be read or has no such sheet or row."""
    header_row = _header_row(source)
    wanted = source.get("sheet")
    if wanted is not None and (isinstance(wanted, bool) or not isinstance(wanted, str | int)):
        raise ConfigError(f"{mapping.where(source)}: sheet must be a name or a 0-based position")
    try:
        book = python_calamine.CalamineWorkbook.from_path(path)
        index = _sheet_index(book.sheet_names, wanted)
        rows = iter(book.get_sheet_by_index(index).iter_rows())
        top = list(itertools.islice(rows, max(header_row, _HINT_ROWS)))
    except extract.FileRejected:
        raise
    except Exception as exc:  # a parser of untrusted bytes: any failure is this file's
        raise unreadable(path, exc) from None
    if len(top) < header_row:
        raise extract.FileRejected(
            "empty", f"the sheet has no row {header_row} (header_row): it has {len(top)} row(s)"
        )
    names = [_text(c, "text") for c in top[header_row - 1]]
    return Sheet(names, header_row, top, itertools.chain(top[header_row:], rows))


def _sheet_index(names: list[str], wanted: str | int | None) -> int:
    if not names:
        raise extract.FileRejected("empty", "the workbook has no sheet")
    if wanted is None:
        return 0
    if isinstance(wanted, int):
        if 0 <= wanted < len(names):
            return wanted
        raise extract.FileRejected(
            "no_sheet", f"the workbook has no sheet {wanted} (0-based): it has {len(names)}"
        )
    folded = [n.strip().lower() for n in names]
    key = wanted.strip().lower()
    if key in folded:
        return folded.index(key)
    # The configured name is configuration text (safe to quote); the workbook's are not
    # quoted (a sheet may be named after a patient).
    raise extract.FileRejected(
        "no_sheet",
        f"the workbook has no sheet named {wanted!r} (it has {len(names)} sheet(s); "
        "`sheet` may also be a 0-based position)",
    )


def unreadable(path: Path, exc: BaseException) -> extract.FileRejected:
    """What a file calamine cannot read is, by its bytes (never the parser's message: it
    may quote the file)."""
    head = path.read_bytes()[:8] if path.stat().st_size else b""
    why = type(exc).__name__
    if isinstance(exc, python_calamine.PasswordError):
        return extract.FileRejected(
            "unreadable_workbook",
            "this is an Excel workbook protected by a password: export it without one",
        )
    if head.startswith(extract.OLE2_SIGNATURE):
        return extract.FileRejected(
            "unreadable_workbook",
            f"this is an Excel workbook (.xls, or an encrypted .xlsx) but it cannot be read "
            f"({why}): export it again as .xlsx without a password",
        )
    if head.startswith(b"PK\x03\x04"):
        what = _zip_kind(path)
        if what is None:
            return extract.FileRejected(
                "not_workbook", "this is a zip archive, not a workbook: unpack it"
            )
        return extract.FileRejected(
            "unreadable_workbook",
            f"this is an Excel workbook ({what}) but it cannot be read ({why}): damaged or "
            "not finished writing? export it again",
        )
    return extract.FileRejected(
        "not_workbook",
        "this is not a workbook (no .xlsx, .xls or .ods signature; CSV text?): check "
        "`format` for this source",
    )


def _zip_kind(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return ".xlsx or .ods"  # a workbook's signature, a damaged zip
    if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
        return ".xlsx"
    if "content.xml" in names and "mimetype" in names:
        return ".ods"
    return None


# -- cells to the contract's text ---------------------------------------------------------

_DECIMAL_COMMA = re.compile(r"^(\s*[+-]?[0-9]*),([0-9]+\s*)$")


def _number(value: float) -> str:
    """A number cell as the contract writes it: integral without ".0"; otherwise 15
    significant digits (what Excel shows: no binary noise), never an exponent."""
    if value.is_integer():
        return str(int(value))
    text = format(value, ".15g")
    if "e" in text or "E" in text:  # 1e-07: positional, the contract's plain decimals
        text = np.format_float_positional(float(text), trim="-")
    return text


def cell_text(value: Cell) -> str:
    """A header cell (or any cell outside a contract column) as text."""
    return _text(value, "text")


def _text(value: Cell, kind: str) -> str:
    """One non-text cell as the contract's text (``kind``: the contract column's kind)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return _number(value) if np.isfinite(value) else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        if kind == "date" or value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)  # a duration: no contract column is one


def _column(values: tuple[Cell, ...], kind: str, mark: str) -> tuple[pa.Array, list[int]]:
    """One column's cells as text, and the rows a decimal comma makes malformed."""
    bad: list[int] = []
    if mark == "," and kind in ("number", "integer"):
        out: list[str] = []
        for i, v in enumerate(values):
            if isinstance(v, str):
                if "." in v:
                    bad.append(i)
                v = _DECIMAL_COMMA.sub(r"\1.\2", v)
            else:
                v = _text(v, kind)
            out.append(v)
        return pa.array(out, pa.string()), bad
    try:
        return pa.array(values, pa.string()), bad  # all text cells: converted in C
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        pass
    # Dates and numbers repeat: each distinct one is converted once, keyed by value. Not
    # booleans and ints: True == 1 == 1.0 would share a key with a float.
    cache: dict[Cell, str] = {}
    get = cache.get

    def convert(value: Cell) -> str:
        text = cache[value] = _text(value, kind)
        return text

    out = [
        v
        if (c := v.__class__) is str
        else _text(v, kind)
        if c is bool or c is int
        else get(v) or convert(v)
        for v in values
    ]
    return pa.array(out, pa.string()), bad


def _batch(
    rows: list[list[Cell]],
    numbers: list[int],
    selected: list[tuple[str, int, str]],
    mark: str,
) -> pa.RecordBatch:
    width = max((len(r) for r in rows), default=0)
    if any(len(r) != width for r in rows):  # calamine's rows are the sheet's width: rarely
        rows = [r + [""] * (width - len(r)) for r in rows]
    columns = list(zip(*rows, strict=True))
    arrays: dict[str, pa.Array] = {}
    malformed: list[str | None] = [None] * len(rows)
    for out, position, kind in selected:
        values = columns[position] if position < len(columns) else ("",) * len(rows)
        array, bad = _column(values, kind, mark)
        for i in bad:
            malformed[i] = malformed[i] or extract.decimal_comma_reason(out)
        arrays[out] = array
    arrays["source_row"] = pa.array(numbers, pa.int64())
    arrays["malformed"] = pa.array(malformed, pa.string())
    return pa.record_batch(arrays)
