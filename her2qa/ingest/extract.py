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

Dialects (``Dialect``, from a ``[[sources]]`` entry of her2qa.toml): the delimiter, the
encoding (UTF-8, Windows-1252, Latin-1: transcoded while read), the decimal mark of number
columns and the header row. A file that does not fit its dialect is rejected with what it
looks like ("semicolon-delimited: set `delimiter = ";"` ..."), never with a list of columns
that are all there under another delimiter.

File-level failures raise ``FileRejected`` with a reason kind and a message.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from her2qa.config import DEFAULT_SOURCE, ConfigError, SourceConfig
from her2qa.ingest import mapping
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
    """File-level checks made on the archived copy's bytes in the read that hashes them:
    NUL bytes anywhere, UTF-8 validity, compressed-archive signatures, physical lines."""

    size: int = 0
    newlines: int = 0
    carriage_returns: int = 0
    crlfs: int = 0  # of those, followed by a newline (a Windows line end, or one in a value)
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
                byte = exc.object[exc.start]  # the decoder's input: carried bytes + chunk
                self.utf8_error = f"invalid byte 0x{byte:02X} at offset {self.size + exc.start}"
        self.newlines += chunk.count(b"\n")
        if crs := chunk.count(b"\r"):
            self.carriage_returns += crs
            self.crlfs += chunk.count(b"\r\n")
        if self.last_byte == b"\r" and chunk[:1] == b"\n":  # a pair split between chunks
            self.crlfs += 1
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
    def bare_carriage_returns(self) -> int:
        """Carriage returns without a newline after them: none in a file of Unix or Windows
        line ends whose values hold no carriage return."""
        return self.carriage_returns - self.crlfs

    @property
    def physical_lines(self) -> int:
        """Lines in the file, header included (a last line without a newline counts)."""
        return self.newlines + (1 if self.size and self.last_byte != b"\n" else 0)

    def raise_if_rejected(self, encoding: str = "utf-8") -> None:
        """File-level verdicts that need no parsing; a NUL byte anywhere rejects the file
        before any of its rows is staged (an LIS never writes one into a text export).
        ``encoding`` is the source's codec: a configured Windows-1252 file is not UTF-8."""
        if self.size == 0:
            raise FileRejected("empty", "the file is empty")
        if looks_like_workbook(self.head):
            # Only a source configured with format = "csv" brings a workbook here: without
            # it the bytes choose the Excel adapter (formats.recognise).
            raise FileRejected(
                "not_csv",
                'this is an Excel workbook, not CSV text: remove `format = "csv"` from its '
                "[[sources]] entry and it is read as a workbook",
            )
        if self.head[:2] == b"\x1f\x8b" or self.head[:4] == b"PK\x03\x04":
            raise FileRejected("not_csv", "the file is not a CSV text file (compressed archive)")
        if self.head[:2] in (b"\xff\xfe", b"\xfe\xff") or (
            self.nul_offset is not None and self.nul_offset < 2
        ):
            raise FileRejected(
                "not_csv",
                "this is UTF-16 text: export it as UTF-8 (or as Windows-1252 and set "
                '`encoding = "windows-1252"` for this source)',
            )
        if self.nul_offset is not None:
            raise FileRejected(
                "not_csv",
                f"the file is not a CSV text file (NUL byte at offset {self.nul_offset})",
            )
        if self.utf8_error is not None and encoding == "utf-8":
            raise FileRejected(
                "not_utf8",
                f"the file is not UTF-8 ({self.utf8_error}): it looks like Windows-1252/Latin-1:"
                ' set `encoding = "windows-1252"` (or "latin-1") for this source',
            )


def looks_like_workbook(head: bytes) -> bool:
    """An OOXML (.xlsx) or OpenDocument (.ods) zip, or an OLE2 compound file (.xls), by the
    first bytes: the zip's first entry names the package's content."""
    if head.startswith(OLE2_SIGNATURE):
        return True
    if not head.startswith(b"PK\x03\x04"):
        return False
    return any(mark in head for mark in (b"[Content_Types].xml", b"xl/", b"opendocument.spread"))


OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# How a [[sources]] entry spells an encoding -> Python's codec (pyarrow takes the same names).
ENCODINGS: dict[str, str] = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "windows-1252": "cp1252",
    "cp1252": "cp1252",
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "iso-8859-1": "latin-1",
}
DELIMITER_WORDS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
DELIMITER_TOML = {",": ",", ";": ";", "\t": "\\t", "|": "|"}
# A header row further down than this is not a header (a preamble of a few report lines is).
MAX_HEADER_ROW = 1_000
# Lines looked at for a header that is elsewhere than configured (the rejection's hint).
_HINT_LINES = 30
_HINT_LINE_CHARS = 1 << 20  # of each (a header is far shorter; a hostile line is not read whole)


@dataclass(frozen=True)
class Dialect:
    """How a CSV source is written (``[[sources]]``: delimiter, encoding, decimal,
    header_row); the defaults are the contract's (spec/lis-extract.md §File)."""

    delimiter: str = ","
    encoding: str = "utf-8"  # Python codec name (ENCODINGS' values)
    decimal: str = "."
    header_row: int = 1  # 1-based line of the column headers; lines above it are skipped

    @property
    def text_encoding(self) -> str:
        """The codec a text stream is opened with (a UTF-8 byte-order mark is allowed)."""
        return "utf-8-sig" if self.encoding == "utf-8" else self.encoding


DEFAULT_DIALECT = Dialect()


def dialect(source: SourceConfig = DEFAULT_SOURCE) -> Dialect:
    """The source's dialect, checked: a wrong key value is one ConfigError line."""
    if not source.raw:
        return DEFAULT_DIALECT
    where = f"[[sources]] {source.pattern!r}"
    delimiter = source.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n':
        raise ConfigError(f'{where}: delimiter must be one character, e.g. ";" or "\\t" (tab)')
    encoding = source.get("encoding", "utf-8")
    codec = ENCODINGS.get(encoding.strip().lower()) if isinstance(encoding, str) else None
    if codec is None:
        raise ConfigError(
            f"{where}: encoding {encoding!r} is not one of utf-8, windows-1252, latin-1"
        )
    decimal = source.get("decimal", ".")
    if decimal not in (".", ","):
        raise ConfigError(f'{where}: decimal must be "." or ","')
    if decimal == delimiter:
        raise ConfigError(f'{where}: decimal = "," needs another delimiter (e.g. delimiter = ";")')
    header_row = source.get("header_row", 1)
    if isinstance(header_row, bool) or not isinstance(header_row, int):
        raise ConfigError(f"{where}: header_row must be a whole number (1 = the first row)")
    if not 1 <= header_row <= MAX_HEADER_ROW:
        raise ConfigError(f"{where}: header_row must be between 1 and {MAX_HEADER_ROW:,}")
    return Dialect(delimiter, codec, decimal, header_row)


@dataclass(frozen=True)
class Header:
    names: list[str]  # as written in the file
    contract_index: dict[str, int]  # contract column -> position
    extra_index: dict[str, int]  # kept unknown column -> position
    dropped_extra: list[str]  # unknown columns not kept because their name looks like PHI

    @classmethod
    def of_contract(cls) -> Header:
        """Every contract column and nothing else: the header of a message format's rows
        (HL7 v2, FHIR), whose adapter writes each column, null where a message has none."""
        return cls(
            names=list(contract.NAMES),
            contract_index={name: i for i, name in enumerate(contract.NAMES)},
            extra_index={},
            dropped_extra=[],
        )

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


def _open_text(path: Path, d: Dialect) -> TextIO:
    return path.open(encoding=d.text_encoding, newline="")


def header_names(path: Path, d: Dialect = DEFAULT_DIALECT) -> list[str]:
    """The cells of the header row (line ``d.header_row``), as written."""
    with _open_text(path, d) as fh:
        for _ in range(d.header_row - 1):
            if not fh.readline():
                raise FileRejected(
                    "empty", f"the file has fewer lines than header_row = {d.header_row}"
                )
        try:
            return next(csv.reader(fh, delimiter=d.delimiter))
        except StopIteration:
            raise FileRejected("empty", "the file is empty") from None
        except csv.Error as exc:
            raise FileRejected("not_csv", f"the header row is not CSV: {exc}") from None


def header_from_names(
    names: list[str],
    hint: Callable[[], FileRejected | None] | None = None,
    provided: Set[str] = frozenset(),
    renames: Mapping[str, str] | None = None,
) -> Header:
    """Match header cells to the contract (trimmed, case-insensitive); unknown columns are
    kept as extras unless their name looks like an identifier. When required columns are
    missing, ``hint`` may say what the file looks like instead (a wrong delimiter ...);
    ``provided`` columns are given by the source when the file has none (``lab_id``);
    ``renames`` maps a folded header to the contract column it holds (``columns``)."""
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
        key = renames.get(key, key) if renames else key
        if not key:
            continue  # an unnamed column (a trailing delimiter, a sheet wider than its header)
        if key in seen:
            # the column name of a contract column is safe to quote; an unknown one may not be
            shown = f"'{key}'" if key in contract.BY_NAME else f"number {i + 1}"
            raise FileRejected("duplicate_columns", f"column {shown} appears twice")
        seen.add(key)
        if key in contract.BY_NAME:
            contract_index[key] = i
        elif phi_like_name(key):
            dropped.append(name.strip())
        else:
            extra_index[name.strip()] = i
    missing = [c for c in contract.REQUIRED if c not in contract_index and c not in provided]
    if missing:
        better = hint() if hint else None
        if better is not None:
            raise better
        raise FileRejected(
            "missing_columns", "required column(s) missing from the header: " + ", ".join(missing)
        )
    return Header(names, contract_index, extra_index, dropped)


def read_header(
    path: Path, d: Dialect = DEFAULT_DIALECT, source: SourceConfig = DEFAULT_SOURCE
) -> Header:
    names = header_names(path, d)
    return header_from_names(
        names,
        hint=lambda: _header_hint(path, d),
        provided=mapping.provided(source),
        renames=mapping.long_columns(source),
    )


def _contract_columns(line: str, delimiter: str) -> set[str]:
    try:
        cells = next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return set()
    return {contract.header_key(c) for c in cells} & set(contract.BY_NAME)


def header_elsewhere(
    row: int, configured_row: int, delimiter: str | None = None, *, unit: str = "line"
) -> FileRejected:
    """The one wording of "the headers are not where the source says": on another ``row``
    (``unit``: a CSV's line, a sheet's row) and/or under another ``delimiter``, with the
    settings that read the file. Counts and settings only: a header row may be a data row."""
    if row == configured_row and delimiter is not None:
        return FileRejected(
            "wrong_delimiter",
            f"{DELIMITER_WORDS[delimiter]}-delimited: set "
            f'`delimiter = "{DELIMITER_TOML[delimiter]}"` for this source',
        )
    also = (
        ""
        if delimiter is None
        else f' and `delimiter = "{DELIMITER_TOML[delimiter]}"` '
        f"({DELIMITER_WORDS[delimiter]}-delimited)"
    )
    return FileRejected(
        "wrong_header_row",
        f"the column headers are on {unit} {row}, not {unit} {configured_row}: set "
        f"`header_row = {row}`{also} for this source",
    )


def _header_hint(path: Path, d: Dialect) -> FileRejected | None:
    """What a file whose header lacks required columns looks like, when the columns are
    there under another delimiter or on another line (counted, never quoted: a header
    row may be a data row)."""
    try:
        with _open_text(path, d) as fh:
            lines = [fh.readline(_HINT_LINE_CHARS).rstrip("\r\n") for _ in range(_HINT_LINES)]
    except (OSError, UnicodeError):
        return None
    required = set(contract.REQUIRED)
    here = lines[d.header_row - 1] if d.header_row <= len(lines) else ""
    found_here = len(_contract_columns(here, d.delimiter))
    # The same line under another delimiter.
    for delim in DELIMITER_WORDS:
        if delim != d.delimiter and len(_contract_columns(here, delim) & required) > max(
            found_here, 1
        ):
            return header_elsewhere(d.header_row, d.header_row, delim)
    # The header on another line (a report title or a blank line above it).
    for number, line in enumerate(lines, 1):
        if number == d.header_row:
            continue
        for delim in DELIMITER_WORDS:
            if required <= _contract_columns(line, delim):
                other = None if delim == d.delimiter else delim
                return header_elsewhere(number, d.header_row, other)
    return None


def read(
    path: Path, checks: ByteChecks | None = None, source: SourceConfig = DEFAULT_SOURCE
) -> Extract:
    """Read a whole file in its source's dialect; raises FileRejected for file-level
    failures (ConfigError for a dialect the configuration gets wrong).

    ``checks`` are the byte checks made while the file was archived (one read); without
    them the file is read once more for them."""
    d = dialect(source)
    mapping.value_maps(source)  # configuration mistakes before any file-level verdict
    checks = checks or check_bytes(path)
    checks.raise_if_rejected(d.encoding)
    try:
        header = read_header(path, d, source)
        table, reader = read_columns(path, checks, d, len(header.names), select(header))
    except UnicodeDecodeError as exc:  # a configured single-byte codec with an unused byte
        raise FileRejected(
            "bad_encoding",
            f"the file is not {d.encoding} text (a byte it does not define, at position "
            f"{exc.start} of a block): check `encoding` for this source",
        ) from None
    if d.decimal == ",":
        table = decimal_comma(table)
    return Extract(header, mapping.apply(table, source), checks.physical_lines, reader)


def read_columns(
    path: Path,
    checks: ByteChecks,
    d: Dialect,
    width: int,
    selected: list[tuple[str, int]],
) -> tuple[pa.Table, str]:
    """The ``selected`` (output name, position) columns of every data record as text, plus
    ``source_row`` and ``malformed``; and which reader made them ("arrow" or "python")."""
    try:
        table = _read_arrow(path, d, width, selected)
    except pa.ArrowInvalid:
        table = None
    # The fast reader is trusted only when every data line is one record: otherwise (blank
    # lines, a quoted value over several lines, an unterminated quote merging lines) the
    # line-tracking reader says which physical lines each record came from.
    #
    # As many records as data lines says so by itself when the file has no bare carriage
    # return: each record takes at least one line, a value over several lines or a blank
    # line makes fewer records than lines, and only a bare carriage return (which the fast
    # reader also takes for a line end) could make up for them. Then no value is looked at
    # (that look took 1.2 s per million rows).
    if (
        table is None
        or table.num_rows != checks.physical_lines - d.header_row
        or (checks.bare_carriage_returns and _spans_lines(table))
    ):
        return _read_python(path, d, width, selected), "python"
    return table, "arrow"


# Number columns of the contract: where a decimal comma is read as the contract's point.
NUMBER_COLUMNS = tuple(c.name for c in contract.COLUMNS if c.kind in ("number", "integer"))
_DECIMAL_COMMA = r"^(\s*[+-]?[0-9]*),([0-9]+\s*)$"


def decimal_comma_reason(column: str) -> str:
    return (
        f"the {column} value has a '.' in a source whose decimal mark is ',' (a thousands "
        "separator or a decimal point? not guessed); the values of this record are not kept"
    )


def decimal_comma(table: pa.Table) -> pa.Table:
    """A source configured with ``decimal = ","``: "3,2" in a number column becomes the
    contract's "3.2". A number there with a "." is ambiguous ("1.440": 1440 or 1.44?) and
    makes its record malformed, with the column named. Never applied unconfigured: "1,234"
    is ambiguous too."""
    malformed = table.column("malformed")
    for name in NUMBER_COLUMNS:
        if name not in table.column_names:
            continue
        column = table.column(name)
        dotted = pc.fill_null(pc.match_substring(column, "."), False)
        malformed = pc.if_else(
            pc.and_(pc.is_null(malformed), dotted), pa.scalar(decimal_comma_reason(name)), malformed
        )
        fixed = pc.replace_substring_regex(column, _DECIMAL_COMMA, r"\1.\2")
        table = table.set_column(table.column_names.index(name), name, fixed)
    return table.set_column(table.column_names.index("malformed"), "malformed", malformed)


def _spans_lines(table: pa.Table) -> bool:
    for name in table.column_names:
        if name in ("source_row", "malformed"):
            continue
        column = table.column(name)
        for brk in ("\n", "\r"):
            if pc.any(pc.match_substring(column, brk)).as_py():
                return True
    return False


def select(header: Header) -> list[tuple[str, int]]:
    """(output name, position) of the kept columns: contract names, extras as "extra:<name>"."""
    kept = [(name, i) for name, i in header.contract_index.items()]
    kept += [(f"extra:{name}", i) for name, i in header.extra_index.items()]
    return kept


def _read_arrow(path: Path, d: Dialect, width: int, selected: list[tuple[str, int]]) -> pa.Table:
    positional = [f"f{i}" for i in range(width)]
    table = pcsv.read_csv(
        path,
        read_options=pcsv.ReadOptions(
            column_names=positional,
            skip_rows=d.header_row,  # lines above the header, and the header
            block_size=1 << 24,
            encoding="utf8" if d.encoding == "utf-8" else d.encoding,  # transcoded to UTF-8
        ),
        parse_options=pcsv.ParseOptions(
            delimiter=d.delimiter, newlines_in_values=True, ignore_empty_lines=True
        ),
        convert_options=pcsv.ConvertOptions(
            column_types={name: pa.string() for name in positional},
            include_columns=[f"f{i}" for _, i in selected],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    n = table.num_rows
    columns = {out: table.column(f"f{i}") for out, i in selected}
    columns["source_row"] = pa.array(range(1, n + 1), pa.int64())
    columns["malformed"] = pa.nulls(n, pa.string())
    return pa.table(columns)


def _lines(first: int, last: int) -> str:
    return f"line {first}" if first == last else f"lines {first}-{last}"


def _read_python(path: Path, d: Dialect, width: int, selected: list[tuple[str, int]]) -> pa.Table:
    """Row by row, tracking physical lines: keeps every record as a row, and a record that
    does not line up with the header as its row number and reason only (no values)."""
    empty = [""] * width
    above = d.header_row - 1  # physical lines before the header
    batches: list[pa.RecordBatch] = []
    with _open_text(path, d) as fh:
        for _ in range(above):
            fh.readline()
        reader = csv.reader(fh, strict=False, delimiter=d.delimiter)
        next(reader)
        rows: list[list[str]] = []
        malformed: list[str | None] = []
        numbers: list[int] = []
        source_row = 0
        while True:
            first_line = above + reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:  # the csv module's own words, never the record's text
                source_row += 1
                numbers.append(source_row)
                rows.append(empty)
                malformed.append(
                    f"the record at {_lines(first_line, above + reader.line_num)} cannot be "
                    f"read as CSV ({exc}); its values are not kept"
                )
                continue
            if not record:
                continue  # a blank line is not a data row (as in the fast reader)
            source_row += 1
            numbers.append(source_row)
            last_line = above + reader.line_num
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
