"""FHIR R4 JSON -> the contract's rows (issue 13 §6; docs/formats/fhir.md).

``read(path, source)`` reads a Bundle (collection, transaction, searchset, ...: any type
whose entries carry resources), a single resource, or NDJSON (one resource per line, FHIR
bulk data). A row is one *item*: an Observation that is a result (or was meant to be: an
ER result, a status-only Observation, a value that does not fit its code are rows with
their reason), a DiagnosticReport none of whose results is in the file, an entry without
a resource, or a part of the file that is no readable resource. Patients, Specimens,
Organizations, Practitioners and other resources are context, not rows.

Modules: ``codes`` (what codes mean; the configurable code map), ``schema`` (the elements
read), ``load`` (bytes -> typed resources, in DuckDB), ``mapping`` (resources -> rows, in
SQL), ``validate`` (FHIR R4 checks with fhir.resources' R4B models).

``lab_id``: the file says it first (the Organization that assigned the Specimen's
accession, else the DiagnosticReport's performing Organization, by identifier); the
source's ``lab_id`` is used when the file does not say it.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from her2qa.config import DEFAULT_SOURCE, SourceConfig
from her2qa.ingest import extract
from her2qa.ingest.formats.fhir import codes, load, mapping, validate
from schemas import contract

READER = "fhir"
_MAX_THREADS = 2


def read(path: Path, source: SourceConfig = DEFAULT_SOURCE) -> extract.Extract:
    """One FHIR JSON file as contract rows (one per item); ``extract.FileRejected`` when the
    file is not FHIR JSON, ``config.ConfigError`` when the source's code map is wrong."""
    code_map = codes.code_map(source.get("codes"))
    data = path.read_bytes()
    # rows come out in file order: the line layouts number resources by insertion order
    con = duckdb.connect(config={"threads": _MAX_THREADS, "preserve_insertion_order": True})
    try:
        loaded = load.load(con, data)
        items = mapping.run(con, code_map, source.lab_id)
        others = con.execute("SELECT pos, reason FROM other_items").fetchall()
        invalid = _validate(con, loaded, data, items)
        names = _names(con, invalid)
    except duckdb.Error as exc:
        # DuckDB's message may quote the file's values: only its kind is said
        raise extract.FileRejected(
            "unreadable", f"the file could not be mapped ({type(exc).__name__})"
        ) from None
    finally:
        con.close()
    items = _apply_validation(items, invalid, names)
    return _extract(items, others + loaded.bad)


# ------------------------------------------------------------------------- validation


def _validate(
    con: duckdb.DuckDBPyConnection, loaded: load.Loaded, data: bytes, items: pa.Table
) -> dict[int, str]:
    """pos -> why the resource there is not valid FHIR R4, for the resources checked
    (see ``validate``: all of a small file, a sample of a large one, every misfit)."""
    kinds = dict(con.execute("SELECT pos, rtype FROM kind WHERE NOT empty").fetchall())
    misfits = items.filter(pc.invert(pc.is_null(items["misfit"])))
    wanted_extra = set(misfits["pos"].to_pylist())
    for members in misfits["members"].to_pylist():
        wanted_extra.update(members or [])
    if len(kinds) <= validate.VALIDATE_ALL:
        sample = set(kinds)
    else:
        seen: dict[str, int] = {}
        sample = set()
        for pos in sorted(kinds):
            if seen.get(kinds[pos], 0) < validate.SAMPLE:
                seen[kinds[pos]] = seen.get(kinds[pos], 0) + 1
                sample.add(pos)
    source = _Resources(loaded, data, max(sample, default=0))
    invalid = validate.check((pos, r) for pos in sorted(sample) if (r := source.get(pos)))
    broken_kinds = {kinds[pos] for pos in invalid}
    rest = {pos for pos, kind in kinds.items() if kind in broken_kinds} | wanted_extra
    rest -= sample
    if rest:
        invalid |= validate.check((pos, r) for pos in sorted(rest) if (r := source.get(pos)))
    return invalid


class _Resources:
    """The parsed JSON of resources by position, from what the loader kept (the fallback's
    parse, the lines of a line layout) or, for one big JSON value, a parse of its start
    (and of the whole only when a resource beyond it is asked for)."""

    def __init__(self, loaded: load.Loaded, data: bytes, prefix_entries: int) -> None:
        self.loaded = loaded
        self.data = data
        self.prefix_entries = prefix_entries
        self.cache: dict[int, dict] | None = None
        self.lines: list[bytes] | None = None

    def get(self, pos: int) -> dict | None:
        if self.loaded.parsed is not None:
            entry = self.loaded.parsed.get(pos)
            return entry["resource"] if entry else None
        if self.loaded.body is not None:
            if self.lines is None:  # split once, when a resource is first asked for
                self.lines = [line for line in self.loaded.body.split(b"\n") if line.strip()]
            if not 0 < pos <= len(self.lines):
                return None
            value = json.loads(self.lines[pos - 1])
            resource = value if self.loaded.layout == "ndjson" else value.get("resource")
            return resource if isinstance(resource, dict) else None
        if self.cache is None:
            self.cache = validate.first_entries(self.data, self.prefix_entries)
            if not self.cache:  # a single resource, not a Bundle
                whole = json.loads(self.data)
                if isinstance(whole, dict) and whole.get("resourceType") != "Bundle":
                    self.cache = {1: whole}
        if pos not in self.cache:  # beyond the parsed start: parse the whole file once
            whole = json.loads(self.data)
            entries = whole.get("entry") or [] if isinstance(whole, dict) else []
            self.cache = {
                i: e["resource"]
                for i, e in enumerate(entries, start=1)
                if isinstance(e, dict) and isinstance(e.get("resource"), dict)
            }
            self.prefix_entries = len(entries)
        return self.cache.get(pos)


def _names(con: duckdb.DuckDBPyConnection, invalid: dict[int, str]) -> dict[int, str]:
    if not invalid:
        return {}
    rows = con.execute(
        "SELECT pos, name FROM named WHERE pos IN (SELECT unnest($p))", {"p": list(invalid)}
    ).fetchall()
    return dict(rows)


def _apply_validation(items: pa.Table, invalid: dict[int, str], names: dict[int, str]) -> pa.Table:
    """An item whose Observation, member, Patient, Specimen or report is not valid FHIR R4
    is quarantined with that (what it refers to must be readable to be trusted)."""
    if not invalid:
        return items
    reasons = items["reason"].to_pylist()
    columns = ("pos", "patient_pos", "specimen_pos", "report_pos", "members")
    places = zip(*(items[c].to_pylist() for c in columns), strict=True)
    for i, (pos, patient, specimen, report, members) in enumerate(places):
        if pos in invalid:
            name = names.get(pos, "the Observation")
            reasons[i] = f"{name} is not valid FHIR R4 ({invalid[pos]})"
            continue
        for ref in (*(members or []), patient, specimen, report):
            if ref in invalid:
                what = names.get(ref, "a resource it refers to")
                reasons[i] = (
                    f"{names.get(pos, 'the Observation')}: {what} is not valid FHIR R4 "
                    f"({invalid[ref]})"
                )
                break
    index = items.column_names.index("reason")
    return items.set_column(index, "reason", pa.array(reasons, pa.string()))


# ---------------------------------------------------------------------------- output


def _extract(items: pa.Table, others: list[tuple[int, str]]) -> extract.Extract:
    """Items and the other rows in file order, values kept only where there is no reason."""
    n = items.num_rows + len(others)
    pos = pa.concat_arrays(
        [
            items["pos"].combine_chunks().cast(pa.int64()),
            pa.array([p for p, _ in others], pa.int64()),
        ]
    )
    reason = pa.concat_arrays(
        [
            items["reason"].combine_chunks().cast(pa.string()),
            pa.array([r for _, r in others], pa.string()),
        ]
    )
    order = pc.sort_indices(pos)
    reason = pc.take(reason, order)
    ok = pc.is_null(reason)
    columns: dict[str, pa.Array] = {}
    empty = pa.nulls(len(others), pa.string())
    for name in contract.NAMES:
        values = pa.concat_arrays([items[name].combine_chunks().cast(pa.string()), empty])
        columns[name] = pc.if_else(ok, pc.take(values, order), pa.scalar(None, pa.string()))
    columns["source_row"] = pa.array(range(1, n + 1), pa.int64())
    columns["malformed"] = reason
    return extract.Extract(extract.Header.of_contract(), pa.table(columns), None, READER)
