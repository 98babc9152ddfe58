"""Case-level worklists: CSV files in a folder only the owner can read.

Pages and packs never carry case rows; worklists (discordant cases, metastasis
retest candidates) are written here instead, for the people who must act on
them. Every cell that a spreadsheet would run as a formula is neutralised
(OWASP "CSV injection": a leading =, +, -, @, tab or carriage return gets a
leading apostrophe), and numbers are written as numbers.

Two writers, one file format: ``write_csv`` takes Python rows; ``copy_csv`` has DuckDB write
the rows of a query whose cells ``csv_cell`` spelled as ``write_csv`` would (neutralised text,
Python's True/False and nan, CRLF line ends), so a large worklist never becomes Python objects
(about 30 µs a row through ``write_csv``: benchmarks/site_scale_benchmark.py).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import duckdb

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# DuckDB types whose own CSV spelling is Python's csv spelling of the fetched value (integers,
# dates); text, booleans and floating point are spelled by ``csv_cell``.
_AS_WRITTEN = frozenset(
    "TINYINT SMALLINT INTEGER BIGINT HUGEINT UTINYINT USMALLINT UINTEGER UBIGINT DATE".split()
)


def neutralise(value: object) -> object:
    """A cell safe to open in a spreadsheet: text that could run as a formula is quoted."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def restricted_folder(path: Path) -> Path:
    """Create (or tighten) a folder readable by its owner only (mode 0700)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Write a worklist CSV (mode 0600) into a restricted folder; returns the row count."""
    restricted_folder(path.parent)
    tmp = path.with_suffix(path.suffix + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    count = 0
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([neutralise(v) for v in row])
            count += 1
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return count


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def csv_cell(column: str, duckdb_type: str, table: str) -> str | None:
    """SQL giving the text ``write_csv`` writes for ``table.column`` (NULL for an empty cell),
    or None for a type it has no spelling for (write such a query with ``write_csv``).

    Text: ``neutralise`` (a leading formula character gets an apostrophe); '' and NULL are
    both an empty cell, as csv writes them. Booleans: True / False. Floating point: DuckDB's
    shortest round-trip spelling is Python's repr, except a NaN's sign, dropped here."""
    name = column.replace('"', '""')
    ref = f'{table}."{name}"'
    kind = duckdb_type.upper()
    if kind == "VARCHAR":
        # the first character's code point tested once, not six starts_with: the same cells,
        # 5% of the worklists' time at 10M (1.47-1.65 s against 1.55-1.99 s for write_all)
        codes = ", ".join(str(ord(c)) for c in _FORMULA_START)
        return (
            f"CASE WHEN ascii({ref}) IN ({codes}) THEN {_literal(chr(39))} || {ref} "
            f"ELSE nullif({ref}, '') END"
        )
    if kind == "BOOLEAN":
        return f"CASE WHEN {ref} THEN 'True' WHEN NOT {ref} THEN 'False' END"
    if kind in ("DOUBLE", "FLOAT"):
        return f"CASE WHEN isnan({ref}::DOUBLE) THEN 'NaN'::DOUBLE ELSE {ref}::DOUBLE END"
    if kind in _AS_WRITTEN:
        return ref
    return None


def copy_csv(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> int:
    """Have DuckDB write the rows of ``query`` (its cells spelled by ``csv_cell``) as a worklist
    CSV, mode 0600, into a restricted folder; returns the row count. The bytes are those
    ``write_csv`` writes for the same rows: minimal quoting, no comment character, CRLF."""
    restricted_folder(path.parent)
    tmp = path.with_suffix(path.suffix + ".part")
    # DuckDB creates the file with the process umask; the folder is owner-only (0700), so no
    # one else can open it before the chmod below
    count = con.execute(
        f"COPY ({query}) TO {_literal(str(tmp))} "
        f"(FORMAT csv, HEADER, NEW_LINE {_literal(chr(13) + chr(10))}, COMMENT '')"
    ).fetchone()[0]
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return int(count)
