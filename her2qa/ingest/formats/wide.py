"""Wide exports: one row per case, IHC and ISH side by side, onto the contract's long rows.

A ``[[sources]]`` entry with ``layout = "wide"`` says which header holds which contract
column (docs/formats/wide.md, docs/formats/wide-example.toml)::

    [[sources]]
    pattern = "NORTH_cases_*.xlsx"
    layout = "wide"
    lab_id = "NORTH"                      # when the sheet has no lab column
    columns = {"Accession" = "accession_id", "MRN" = "patient_mrn", ...}   # the case's
    [[sources.assays]]
    assay = "IHC"
    columns = {"IHC test ID" = "test_id", "HER2 IHC score" = "ihc_score", ...}
    [[sources.assays]]
    assay = "ISH"
    columns = {"ISH test ID" = "test_id", "HER2/CEP17 ratio" = "ish_ratio", ...}

Each case row gives one result row per assay block with any value in its columns: the
case's columns, the block's columns and the block's ``assay``. Headers are matched like the
contract's (trimmed, case-insensitive); the sheet's other columns are kept as extras (or
dropped when named like an identifier), as for a CSV.

What counts as a row: one result found (a block with a value), and one row, with its
reason, for a case row with no value in any block or a CSV record that cannot be read.
``source_row`` numbers these rows in sheet order (the IHC block before the ISH block of the
same case); the extra ``case_row`` points back to the case's row (N-th data row below the
header: sheet row ``header_row + N`` in a workbook). The unpivot is Arrow filters and
concatenation, no Python loop over rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from her2qa.config import ConfigError, SourceConfig
from her2qa.ingest import extract, mapping
from her2qa.ingest.formats import excel
from schemas import contract

ASSAYS = ("IHC", "ISH")
# The extra column that points back from a result row to its case row.
CASE_ROW = "case_row"
_BLOCK_KEYS = {"assay", "columns"}


@dataclass(frozen=True)
class Block:
    assay: str  # "IHC" or "ISH"
    columns: dict[str, str]  # folded header -> contract column


@dataclass(frozen=True)
class WideMapping:
    case: dict[str, str]  # folded header -> contract column, the same for every block
    blocks: tuple[Block, ...]
    labels: dict[str, str]  # folded header -> the header as configured (for messages)

    def headers(self) -> dict[str, str]:
        """Every mapped header (folded) -> one contract column it feeds (for its kind)."""
        out = dict(self.case)
        for block in self.blocks:
            for header, column in block.columns.items():
                out.setdefault(header, column)
        return out


def wide_mapping(source: SourceConfig) -> WideMapping:
    """The source's wide mapping, checked: every mistake is one ConfigError line."""
    at = mapping.where(source)
    if source.get("layout") != "wide":
        raise ConfigError(f'{at}: layout must be "long" (default) or "wide"')
    labels: dict[str, str] = {}
    raw_case = source.get("columns")
    case = mapping.column_map(raw_case, f"{at}: columns")
    labels.update({contract.header_key(h): h for h in raw_case or {}})
    if "assay" in case.values():
        raise ConfigError(f"{at}: columns cannot map assay: each [[sources.assays]] block says it")
    raw_blocks = source.get("assays")
    if not isinstance(raw_blocks, list) or not raw_blocks:
        raise ConfigError(
            f'{at}: a wide source needs assays = [{{assay = "IHC", columns = {{...}}}}, ...]'
        )
    blocks = []
    for n, raw in enumerate(raw_blocks, 1):
        where = f"{at}: assays block {n}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where} must be a table {{assay, columns}}")
        unknown = sorted(set(raw) - _BLOCK_KEYS)
        if unknown:
            raise ConfigError(f"{where} has unknown key(s): {', '.join(unknown)}")
        assay = raw.get("assay")
        if not isinstance(assay, str) or assay.strip().upper() not in ASSAYS:
            raise ConfigError(f'{where}: assay must be "IHC" or "ISH"')
        assay = assay.strip().upper()
        columns = mapping.column_map(raw.get("columns"), f"{where} ({assay}) columns")
        if not columns:
            raise ConfigError(f"{where} ({assay}) maps no columns")
        labels.update({contract.header_key(h): h for h in raw.get("columns") or {}})
        if "assay" in columns.values():
            raise ConfigError(f"{where} ({assay}): assay is the block's, not a column's")
        both = sorted(set(columns.values()) & set(case.values()))
        if both:
            raise ConfigError(
                f"{where} ({assay}): {', '.join(both)} is mapped for the case too: map it once"
            )
        covered = set(case.values()) | set(columns.values()) | {"assay"}
        missing = [c for c in contract.REQUIRED if c not in covered | mapping.provided(source)]
        if missing:
            raise ConfigError(
                f"{where} ({assay}): no column maps to {', '.join(missing)} (in the block or "
                "the case columns)"
            )
        blocks.append(Block(assay, columns))
    mapping.value_maps(source)  # checked now, not when a file first gets that far
    return WideMapping(case, tuple(blocks), labels)


def read(path: Path, source: SourceConfig, checks: extract.ByteChecks) -> extract.Extract:
    """One wide sheet (CSV or Excel, by the source's format or the file's bytes)."""
    from her2qa.ingest import formats  # the package that dispatches here

    plan = wide_mapping(source)
    fmt = formats.kind(checks, source)
    d = extract.dialect(source) if fmt == "csv" else None
    sheet = None
    if fmt == "excel":
        sheet = excel.open_sheet(path, source)
        names = sheet.names
    elif d is not None:
        checks.raise_if_rejected(d.encoding)
        names = extract.header_names(path, d)
    else:  # the entry's pattern also matches messages: this file's verdict, not the run's
        raise extract.FileRejected(
            "wrong_format",
            f'this file is {fmt}, but its [[sources]] entry has layout = "wide" (CSV or Excel '
            "only): narrow the entry's pattern",
        )
    header, positions = _match(names, plan, lambda: _hint(path, d, sheet, plan))
    kinds = plan.headers()
    folded = [contract.header_key(n) for n in names]
    wanted = sorted(set(positions.values()) | set(header.extra_index.values()))
    if fmt == "excel":
        selected = [(f"c{i}", i, excel.kind_of(kinds.get(folded[i], ""))) for i in wanted]
        grid = sheet.text_table(selected, excel.decimal(source))
        lines = None
    else:
        assert d is not None
        try:
            grid, _reader = extract.read_columns(
                path, checks, d, len(names), [(f"c{i}", i) for i in wanted]
            )
        except UnicodeDecodeError:
            raise extract.FileRejected(
                "bad_encoding", f"the file is not {d.encoding} text: check `encoding`"
            ) from None
        lines = checks.physical_lines
    table = _unpivot(grid, plan, positions, header.extra_index)
    if d is not None and d.decimal == ",":
        table = extract.decimal_comma(table)
    return extract.Extract(header, mapping.apply(table, source), lines, "wide")


def _match(
    names: list[str], plan: WideMapping, hint: Callable[[], extract.FileRejected | None]
) -> tuple[extract.Header, dict[str, int]]:
    """The sheet's header against the mapping: positions of mapped headers, extras kept
    or dropped like a CSV's; a missing header of a required column rejects the file, with
    where the headers are instead when ``hint`` finds them (another delimiter or row)."""
    positions: dict[str, int] = {}  # folded header -> position
    extra_index: dict[str, int] = {}
    dropped: list[str] = []
    mapped = plan.headers()
    seen: set[str] = set()
    for i, name in enumerate(names):
        key = contract.header_key(name)
        if not key:
            continue
        if key in seen:
            shown = f"{plan.labels[key]!r}" if key in mapped else f"number {i + 1}"
            raise extract.FileRejected("duplicate_columns", f"column {shown} appears twice")
        seen.add(key)
        if key in mapped:
            positions[key] = i
        elif extract.phi_like_name(key):
            dropped.append(name.strip())
        else:
            extra_index[name.strip()] = i
    extra_index.pop(CASE_ROW, None)  # the adapter's own pointer wins over a column so named
    required = set(contract.REQUIRED)
    absent = [h for h, c in mapped.items() if h not in positions and c in required]
    if absent:
        better = hint()
        if better is not None:
            raise better
        shown = ", ".join(f"{plan.labels[h]!r} ({mapped[h]})" for h in absent)
        raise extract.FileRejected("missing_columns", f"the sheet has no column {shown}")
    contract_index = {c: positions[h] for h, c in plan.case.items() if h in positions}
    for block in plan.blocks:
        for h, c in block.columns.items():
            if h in positions:
                contract_index.setdefault(c, positions[h])
    contract_index["assay"] = -1  # given by each block, not by a column
    return extract.Header(names, contract_index, extra_index, dropped), positions


def _unpivot(
    grid: pa.Table,
    plan: WideMapping,
    positions: dict[str, int],
    extra_index: dict[str, int],
) -> pa.Table:
    """Case rows -> result rows: one per block with a value, one per case row without any
    (or unreadable), in sheet order; ``source_row`` renumbered, ``case_row`` kept."""
    n = grid.num_rows
    readable = pc.is_null(grid.column("malformed"))
    names = [c for c in contract.NAMES if c in _covered(plan)]
    parts: list[pa.Table] = []
    any_value = pa.array([False] * n)
    for k, block in enumerate(plan.blocks):
        block_cols = [positions[h] for h in block.columns if h in positions]
        has_value = pa.array([False] * n)
        for i in block_cols:
            filled = pc.not_equal(pc.utf8_trim_whitespace(grid.column(f"c{i}")), "")
            has_value = pc.or_(has_value, pc.fill_null(filled, False))
        any_value = pc.or_(any_value, has_value)
        keep = pc.and_(has_value, readable)
        rows = grid.filter(keep)
        columns: dict[str, pa.ChunkedArray | pa.Array] = {}
        for column in names:
            header = _header_of(column, plan.case, block.columns, positions)
            if column == "assay":
                columns[column] = pa.array([block.assay] * rows.num_rows, pa.string())
            elif header is not None:
                columns[column] = rows.column(f"c{positions[header]}")
            else:
                columns[column] = pa.nulls(rows.num_rows, pa.string())
        parts.append(_part(columns, rows, extra_index, k, None))
    # A case row with no result in any block, or one that could not be read: one row each.
    lost = grid.filter(pc.invert(pc.and_(any_value, readable)))
    blocks = ", ".join(b.assay for b in plan.blocks)
    reason = pc.if_else(
        pc.is_null(lost.column("malformed")),
        pc.binary_join_element_wise(
            "case row ",
            pc.cast(lost.column("source_row"), pa.string()),
            f" has no value in any assay block ({blocks}): no result to read",
            "",
        ),
        lost.column("malformed"),
    )
    empty = {c: pa.nulls(lost.num_rows, pa.string()) for c in names}
    parts.append(_part(empty, lost, extra_index, -1, reason))
    table = pa.concat_tables(parts)
    order = pc.sort_indices(table, [("_case", "ascending"), ("_block", "ascending")])
    table = table.take(order).drop_columns(["_case", "_block"])
    return table.set_column(
        table.column_names.index("source_row"),
        "source_row",
        pa.array(range(1, table.num_rows + 1), pa.int64()),
    )


def _hint(
    path: Path, d: extract.Dialect | None, sheet: excel.Sheet | None, plan: WideMapping
) -> extract.FileRejected | None:
    """Where the mapped headers are when they are not where the source says: another row of
    the sheet, another line or delimiter of the CSV (counted, never quoted)."""
    required = {h for h, c in plan.headers().items() if c in contract.REQUIRED}

    def fits(names: list[str]) -> bool:
        return required <= {contract.header_key(n) for n in names}

    if sheet is not None:
        for number, cells in enumerate(sheet.top, 1):
            if number != sheet.header_row and fits([excel.cell_text(c) for c in cells]):
                return extract.header_elsewhere(number, sheet.header_row, unit="row")
        return None
    assert d is not None
    for delimiter in extract.DELIMITER_WORDS:
        for row in range(1, 31):
            try:
                names = extract.header_names(
                    path, dataclasses.replace(d, delimiter=delimiter, header_row=row)
                )
            except (extract.FileRejected, UnicodeError, OSError):
                break
            if not fits(names) or (delimiter, row) == (d.delimiter, d.header_row):
                continue
            other = None if delimiter == d.delimiter else delimiter
            return extract.header_elsewhere(row, d.header_row, other)
    return None


def _covered(plan: WideMapping) -> set[str]:
    out = set(plan.case.values()) | {"assay"}
    for block in plan.blocks:
        out |= set(block.columns.values())
    return out


def _header_of(
    column: str, case: dict[str, str], block: dict[str, str], positions: dict[str, int]
) -> str | None:
    for source in (block, case):
        for header, mapped in source.items():
            if mapped == column and header in positions:
                return header
    return None


def _part(
    columns: dict[str, pa.ChunkedArray | pa.Array],
    rows: pa.Table,
    extra_index: dict[str, int],
    block: int,
    reason: pa.ChunkedArray | pa.Array | None,
) -> pa.Table:
    """One block's (or the lost rows') result rows with extras, pointer and sort keys."""
    out = dict(columns)
    for name, i in extra_index.items():
        out[f"extra:{name}"] = rows.column(f"c{i}")
    out[f"extra:{CASE_ROW}"] = pc.cast(rows.column("source_row"), pa.string())
    out["source_row"] = rows.column("source_row")
    out["malformed"] = reason if reason is not None else pa.nulls(rows.num_rows, pa.string())
    out["_case"] = rows.column("source_row")
    out["_block"] = pa.array([block] * rows.num_rows, pa.int64())
    return pa.table(out)
