"""The long table as an Excel workbook with typed cells (``her2qa generate --format xlsx``).

One sheet, "results": the contract's header row, then one row per result. Cells are typed
as a lab's export types them: number columns as numbers, date columns as dates (a number
with a date format: what Excel stores), everything else as text (an accession or a test id
stays text, digits and all). An empty CSV field is an empty cell. Reading it back
(her2qa/ingest/formats/excel.py) gives the CSV's values: "24" for 24.0, "2024-03-01" for a
date cell.

Written by xlsxwriter in constant-memory mode (row by row, through a temporary file) with
a fixed creation time, so the same rows give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import xlsxwriter

from schemas import contract

# Deterministic bytes: xlsxwriter otherwise stamps the workbook with the time it was written.
_CREATED = dt.datetime(2024, 1, 1)  # a workbook's times are local (naive)
# Days from Excel's day 0 (1899-12-30, the 1900 date system) to 1970-01-01.
_EXCEL_EPOCH_DAYS = 25_569


def to_bytes(table: pa.Table) -> bytes:
    """One extract's rows (contract text columns) as an .xlsx workbook."""
    kinds = {name: contract.BY_NAME[name].kind for name in table.column_names}
    columns = [(name, table.column(name), kind) for name, kind in kinds.items()]
    return workbook(columns, sheet="results")


def workbook(columns: Sequence[tuple[str, pa.ChunkedArray | pa.Array, str]], sheet: str) -> bytes:
    """A one-sheet workbook: a header row of the given names, then the columns' values,
    typed by their contract kind ("number"/"integer": number cells, "date": date cells,
    else text); null or "" is an empty cell."""
    fd, name = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    try:
        book = xlsxwriter.Workbook(name, {"constant_memory": True, "strings_to_numbers": False})
        book.set_properties({"created": _CREATED})
        ws = book.add_worksheet(sheet)
        date_format = book.add_format({"num_format": "yyyy-mm-dd"})
        cells, writers = [], []
        for j, (header, column, kind) in enumerate(columns):
            ws.write_string(0, j, header)
            values, typed = _cells(column, kind)
            cells.append(values)
            if not typed:
                writers.append((ws.write_string, None))
            else:
                writers.append((ws.write_number, date_format if kind == "date" else None))
        n = len(cells[0]) if cells else 0
        for i in range(n):  # constant-memory mode writes row by row
            for j, column_cells in enumerate(cells):
                value = column_cells[i]
                if value is not None:
                    write, fmt = writers[j]
                    write(i + 1, j, value, fmt)
        book.close()
        return Path(name).read_bytes()
    finally:
        Path(name).unlink(missing_ok=True)


def _cells(column: pa.ChunkedArray | pa.Array, kind: str) -> tuple[list, bool]:
    """A column's cell values (None: empty) and whether they are typed, converted in Arrow:
    numbers as floats, dates as Excel day numbers; a column with a value that is not one
    stays text (written as text)."""
    text = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
    try:
        if kind in ("number", "integer"):
            return pc.cast(text, pa.float64()).to_pylist(), True
        if kind == "date":
            days = pc.cast(pc.cast(pc.strptime(text, "%Y-%m-%d", "s"), pa.date32()), pa.int32())
            return pc.add(days, _EXCEL_EPOCH_DAYS).to_pylist(), True
    except pa.ArrowInvalid:
        pass
    return text.to_pylist(), False
