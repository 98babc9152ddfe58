"""The ``extract.Extract`` of an adapter that finds results one by one (HL7 v2, FHIR):
rows of contract columns (text) plus the reason of every found item that carries no result."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from her2qa.ingest import extract
from schemas import contract


def to_extract(
    rows: Sequence[dict[str, str | None]],
    reasons: Sequence[str | None],
    reader: str,
) -> extract.Extract:
    """One output row per found item, in file order (``source_row`` 1-based).

    ``rows[i]`` maps contract columns (PHI ones included: keyed or dropped by the raw layer
    like a CSV's) to text; ``reasons[i]`` is None for a result, else why the item is kept
    without values (its quarantine reason: never a patient identifier)."""
    if len(rows) != len(reasons):
        raise ValueError("one reason (or None) per row")
    columns: dict[str, pa.Array] = {}
    for name in contract.NAMES:
        columns[name] = pa.array(
            [
                None if why is not None else row.get(name)
                for row, why in zip(rows, reasons, strict=True)
            ],
            pa.string(),
        )
    columns["source_row"] = pa.array(range(1, len(rows) + 1), pa.int64())
    columns["malformed"] = pa.array(list(reasons), pa.string())
    header = extract.Header(
        names=list(contract.NAMES),
        contract_index={name: i for i, name in enumerate(contract.NAMES)},
        extra_index={},
        dropped_extra=[],
    )
    return extract.Extract(header, pa.table(columns), None, reader)
