"""One adapter per input format, one pipeline after it (spec/lis-extract.md: every ingest
path maps onto the contract's columns).

Each adapter reads one archived file into an ``extract.Extract``: an Arrow table of text
columns named like the contract's (long form, one row per result found), ``source_row`` and
``malformed`` (why a row carries no usable result, recorded as its quarantine reason). What
follows (PHI keying, validation, quarantine, staging, accounting) is the same for every
format: ``rows_read = rows_staged + rows_quarantined`` holds per file, where a row is one
result found, or one item of the file that carries none (counted with its reason).

| format | recognised by | adapter |
|---|---|---|
| csv | anything else (text) | ``her2qa.ingest.extract`` (+ ``[[sources]]`` dialect) |
| excel | ``PK`` zip (.xlsx, .ods) or OLE2 (.xls) signature | ``formats.excel`` |
| hl7v2 | ``MSH|``, ``FHS|``, ``BHS|`` or an MLLP start byte | ``formats.hl7v2`` |
| fhir | a JSON object or array | ``formats.fhir`` |

A ``[[sources]]`` entry of ``her2qa.toml`` (``config.SourceConfig``) may name the format
and say how to read it (sheet, delimiter, encoding, wide layout, code maps). A source with
``layout = "wide"`` (one row per case, CSV or Excel) is read by ``formats.wide``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from her2qa.config import DEFAULT_SOURCE, SourceConfig
from her2qa.ingest import extract

# ``recognise`` looks at the leading bytes ByteChecks keeps (extract.py, _HEAD_BYTES).
_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MLLP_START = b"\x0b"
_HL7_STARTS = (b"MSH|", b"FHS|", b"BHS|")


def recognise(head: bytes) -> str:
    """The format the first bytes of a file look like (never the file name: an ``.xlsx``
    renamed ``.csv`` is still a workbook)."""
    if head.startswith(_ZIP) or head.startswith(_OLE2):
        return "excel"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if text.startswith(_MLLP_START) or text.startswith(_HL7_STARTS):
        return "hl7v2"
    if text.startswith((b"{", b"[")):
        return "fhir"
    return "csv"


def kind(checks: extract.ByteChecks, source: SourceConfig = DEFAULT_SOURCE) -> str:
    """The format a file is read as: the one its source configures, else its bytes'."""
    return source.format or recognise(checks.head)


def read(
    path: Path, checks: extract.ByteChecks, source: SourceConfig = DEFAULT_SOURCE
) -> extract.Extract:
    """Read one archived file with its format's adapter; raises ``extract.FileRejected``
    for file-level failures (the reason names the file's format when it is not the one
    configured)."""
    fmt = kind(checks, source)
    if source.get("layout", "long") != "long":  # one row per case: formats.wide (CSV or Excel)
        from her2qa.ingest.formats import wide

        return wide.read(path, source, checks)
    if fmt == "csv":
        return extract.read(path, checks, source)  # the source's dialect
    adapter = importlib.import_module(f"her2qa.ingest.formats.{fmt}")
    return adapter.read(path, source)
