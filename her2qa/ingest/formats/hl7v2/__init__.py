"""HL7 v2.x ORU^R01 result messages onto the LIS contract (docs/formats/hl7v2.md).

What counts as a row (``rows_read`` of the file): every HER2 result found (an IHC result, an
ISH result: at most one of each per OBR), and one row, with its reason, for every item that
carries none: an OBR without a HER2 observation (a narrative-only report), a message that
is not an ORU^R01 or cannot be read, lines outside any message, a batch whose trailer count
disagrees with what it holds. Nothing in the file is dropped without a row saying why.

Where the values come from:

- MSH-4 sending facility -> ``lab_id`` (else the source's configured ``lab_id``);
- PID-3 (the identifier of type MR, else the first) -> ``patient_mrn``, PID-5 ->
  ``patient_name``, PID-7 -> ``patient_dob``: keyed or dropped by the raw layer like a CSV's;
- OBR = the order for one specimen part: OBR-3 filler order number -> ``test_id``
  (``-IHC`` / ``-ISH`` appended when one OBR carries both), SPM-2 specimen id (else OBR-3) ->
  ``accession_id``, OBR-7 (else SPM-17) -> ``collection_date``, OBR-22 -> ``report_date``,
  OBR-25 / OBX-11 F or C (C: a correction, ``result_version`` 2 unless one is sent),
  OBX-16 (else OBR-32) -> ``pathologist_id``, OBX-23 -> ``performing_lab``;
- OBX by code (``codes``): the LOINC codes of issue 13, local ``99HER2QA`` codes, a source's
  code map; checked for value type, unit and answer list (``results``).

Modules: ``text`` (bytes, delimiters, positions), ``codes`` (what each code gives),
``results`` (observations -> rows).
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from her2qa.config import SourceConfig
from her2qa.ingest import extract
from her2qa.ingest.formats.hl7v2 import codes, text
from her2qa.ingest.formats.hl7v2.results import Reader, envelope_items, with_items
from schemas import contract

READER = "hl7v2"
# Messages are read a run at a time (bounded memory: the offsets arrays take ~40 bytes per
# byte of a run), runs in parallel threads (numpy and pyarrow release the GIL).
_RUN_BYTES = 32 << 20
_MIN_RUN_BYTES = 2 << 20
_THREADS = min(4, os.cpu_count() or 1)
_HEADER_CODES = [text.code(h) for h in (b"MSH", b"FHS", b"BHS")]
_BLANK = re.compile(rb"[ \t\r\n\x0b\x1c]*")


def read(path: Path, source: SourceConfig) -> extract.Extract:
    """Read one archived HL7 v2 file: plain, batched (FHS/BHS) or MLLP-framed messages."""
    lookup = codes.Lookup.build(codes.code_map(source))
    data = path.read_bytes()
    if _BLANK.fullmatch(data):
        raise extract.FileRejected("empty", "the file is empty")
    header = text.first_header(data)
    delims = text.delimiters(header)
    data, sep = text.normalise(data, text.charset(header, delims, source))
    size = max(_MIN_RUN_BYTES, min(_RUN_BYTES, len(data) // _THREADS + 1))
    runs = text.chunks(data, sep, delims.field, size)
    view = memoryview(data)
    texts = [text.Text(view[lo:hi], sep, delims) for lo, hi in runs]
    seg_offsets = np.concatenate(([0], np.cumsum([len(t) for t in texts])[:-1]))
    msg_offsets = np.concatenate(
        ([0], np.cumsum([int((t.types() == text.code(b"MSH")).sum()) for t in texts])[:-1])
    )

    def one(i: int) -> tuple[pa.Table, tuple]:
        reader = Reader(texts[i], lookup, source.lab_id, int(seg_offsets[i]), int(msg_offsets[i]))
        return reader.rows(), reader.envelope()

    try:
        if len(texts) > 1:
            with ThreadPoolExecutor(_THREADS) as pool:
                done = list(pool.map(one, range(len(texts))))
        else:
            done = [one(0)]
    except (IndexError, KeyError, TypeError) as exc:
        # a shape of file no test has shown: that file's reason, never the run's end (the
        # exception's text is not shown: it may quote the file)
        raise extract.FileRejected(
            "unreadable", f"the HL7 v2 reader cannot read this file ({type(exc).__name__})"
        ) from None
    batches = [b for _, (found, _) in done for b in found]
    msh = np.concatenate([m for _, (_, m) in done])
    rows = pa.concat_tables([table for table, _ in done])
    rows = with_items(rows, envelope_items(batches, msh))
    order = np.lexsort((rows.column("k").to_numpy(), rows.column("anchor").to_numpy()))
    # an escape character outside the header segments' MSH-2 (one each) means escapes
    headers = sum(int(np.isin(t.types(), _HEADER_CODES).sum()) for t in texts)
    escapes = data.count(delims.escape.encode()) > headers
    return _extract(rows.take(pa.array(order)), delims, escapes)


def _unescaped(column: pa.Array, d: text.Delimiters) -> pa.Array:
    """Escape sequences decoded in the (few) values that hold the escape character."""
    has = pc.fill_null(pc.match_substring(column, d.escape), False)
    if not pc.any(has).as_py():
        return column
    values = column.to_pylist()
    for row in np.flatnonzero(has.to_numpy(zero_copy_only=False)).tolist():
        values[row] = text.unescape(values[row], d)
    return pa.array(values, pa.string())


def _extract(rows: pa.Table, d: text.Delimiters, escapes: bool) -> extract.Extract:
    """The rows as an Extract: a row with a reason keeps no value (its reason is its
    quarantine reason), as for every message format."""
    why = rows.column("why").combine_chunks().cast(pa.string())
    keep = pc.is_null(why)
    every = why.null_count == len(why)
    columns: dict[str, pa.Array] = {}
    for name in contract.NAMES:
        values = rows.column(name).combine_chunks().cast(pa.string())
        if escapes:
            values = _unescaped(values, d)
        columns[name] = values if every else pc.if_else(keep, values, pa.scalar(None, pa.string()))
    columns["source_row"] = pa.array(np.arange(1, rows.num_rows + 1, dtype=np.int64))
    columns["malformed"] = why
    return extract.Extract(extract.Header.of_contract(), pa.table(columns), None, READER)
