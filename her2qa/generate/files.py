"""Which row goes to which extract file, and the CSV bytes of each file.

One extract per lab per quarter of ``report_date`` (``NORTH_2024Q3.csv``); an
exact repeat goes to the lab's next quarter (an overlapping extract), an
amendment already carries a report date in a later quarter. Within a file, rows
follow ``report_date`` then ``test_id``. File names sort in arrival order within
a lab (``..._2023Q4`` before ``..._2024Q1``), which is the order the expected
statuses in the manifest assume.

CSV: UTF-8, comma separated, ``"`` quoting (RFC 4180) only for fields that
need it, null written as an empty field. The body of a file is built with
pyarrow string kernels and taken straight from the resulting buffer: no Python
loop over rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from her2qa.generate import network as net
from her2qa.generate.results import Simulation
from schemas.contract import NAMES


@dataclass
class Layout:
    """The file order of the simulated rows."""

    order: np.ndarray  # indices into sim.rows, in file order
    names: list[str]  # one per non-empty extract, in file order
    labs: list[str]
    quarters: list[str]
    bounds: np.ndarray  # rows of file f are order[bounds[f]:bounds[f + 1]]

    def file_of(self, row: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.bounds, row, side="right") - 1


@dataclass
class Extract:
    """One file to write: a slice of the rendered rows under a given header."""

    name: str
    start: int
    stop: int
    fields: list[tuple[str, str]]  # (header text as written, column key)
    lab: str | None = None
    quarter: str | None = None
    bom: bool = False
    eol: str = "\n"
    variations: list[str] = field(default_factory=list)


def layout(sim: Simulation) -> Layout:
    rows = sim.rows
    lab = sim.spec["lab"][rows["spec"]].astype(np.int64)
    q = net.quarter(rows["rep"]) + rows["repeat"]
    fid = lab * net.N_QUARTERS + q
    order = np.lexsort((rows["key"], rows["version"], rows["test_seq"], rows["rep"], fid))
    fids, starts = np.unique(fid[order], return_index=True)
    bounds = np.append(starts, len(order))
    labs = [net.LAB_CODES[f // net.N_QUARTERS] for f in fids]
    quarters = [net.quarter_label(int(f % net.N_QUARTERS)) for f in fids]
    names = [f"{lab_}_{q_}.csv" for lab_, q_ in zip(labs, quarters, strict=True)]
    return Layout(order=order, names=names, labs=labs, quarters=quarters, bounds=bounds)


def plain_extracts(lay: Layout) -> list[Extract]:
    """The clean files: every contract column, in contract order."""
    return [
        Extract(
            name=name,
            start=int(lay.bounds[f]),
            stop=int(lay.bounds[f + 1]),
            fields=[(c, c) for c in NAMES],
            lab=lay.labs[f],
            quarter=lay.quarters[f],
        )
        for f, name in enumerate(lay.names)
    ]


def quote(values: pa.Array) -> pa.Array:
    """RFC 4180: a field with a quote, comma or line break is quoted, its quotes doubled."""
    needs = pc.match_substring_regex(values, '[",\r\n]')
    if not pc.any(needs).as_py():
        return values
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(values, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, values)


def quote_text(value: str) -> str:
    if any(ch in value for ch in '",\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_bytes(
    header: Sequence[str], cells: Sequence[pa.Array], eol: str = "\n", bom: bool = False
) -> bytes:
    """A whole CSV file: header line then one line per row (``cells`` already quoted)."""
    head = (",".join(quote_text(h) for h in header) + eol).encode("utf-8")
    prefix = b"\xef\xbb\xbf" if bom else b""
    if not cells or len(cells[0]) == 0:
        return prefix + head
    line = pc.binary_join_element_wise(*cells, ",", null_handling="replace", null_replacement="")
    line = pc.binary_join_element_wise(line, "", eol)  # line + eol
    if isinstance(line, pa.ChunkedArray):  # pragma: no cover (inputs are plain arrays)
        line = line.combine_chunks()
    offsets = np.frombuffer(line.buffers()[1], np.int32)[line.offset : line.offset + len(line) + 1]
    body = memoryview(line.buffers()[2])[int(offsets[0]) : int(offsets[-1])]
    return prefix + head + bytes(body)


@dataclass
class Written:
    name: str
    sha256: str
    data_rows: int
    size: int


def write_file(path: Path, data: bytes, data_rows: int) -> Written:
    path.write_bytes(data)
    return Written(path.name, hashlib.sha256(data).hexdigest(), data_rows, len(data))


def write_extracts(
    out_dir: Path, columns: dict[str, pa.Array], extracts: Iterable[Extract]
) -> list[Written]:
    """Write every extract; ``columns`` are the rendered rows in file order."""
    quoted = {name: quote(values) for name, values in columns.items()}
    written = []
    for ex in extracts:
        cells = [quoted[key].slice(ex.start, ex.stop - ex.start) for _, key in ex.fields]
        data = csv_bytes([h for h, _ in ex.fields], cells, eol=ex.eol, bom=ex.bom)
        written.append(write_file(out_dir / ex.name, data, ex.stop - ex.start))
    return written
