"""The same synthetic network in each input format (``her2qa generate --format``).

Every writer takes one extract's rows as the contract's text columns (``pa.Table``, one
row per result, the same values the CSV would hold) and returns the file's bytes; the file
layout, the simulation and the manifest are the same whichever format is written, so a
test can ingest one network in every format and compare the marts.

| format | suffix | writer |
|---|---|---|
| csv | .csv | ``her2qa.generate.files`` (the contract's CSV) |
| xlsx | .xlsx | ``formats.xlsx``: the long table in a workbook, typed cells |
| wide | .xlsx | ``formats.wide``: one row per case, IHC and ISH side by side |
| hl7v2 | .hl7 | ``formats.hl7v2``: ORU^R01 messages, LOINC-coded OBX |
| fhir | .json | ``formats.fhir``: FHIR R4 Bundles of Observations |
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import pyarrow as pa

SUFFIXES: dict[str, str] = {
    "csv": ".csv",
    "xlsx": ".xlsx",
    "wide": ".xlsx",
    "hl7v2": ".hl7",
    "fhir": ".json",
}
FORMATS = tuple(SUFFIXES)


def writer(fmt: str) -> Callable[[pa.Table], bytes]:
    """The ``to_bytes(rows) -> bytes`` of a non-CSV format."""
    if fmt not in SUFFIXES or fmt == "csv":
        raise ValueError(f"no writer for format {fmt!r}")
    return importlib.import_module(f"her2qa.generate.formats.{fmt}").to_bytes
