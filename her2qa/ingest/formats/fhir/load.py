"""A FHIR JSON file -> the table ``res`` of its resources, one row each, in file order.

``res`` (in the given DuckDB connection): ``pos`` (1-based place in the file), ``label``
(where, in words: "entry 12", "line 7", "entry 3, contained 'p1'"), ``parent`` (the
``pos`` of the resource that contains it), ``full_url``, ``method`` (the entry's request
method) and ``r``, the resource typed by ``schema.RESOURCE``; an entry without a resource
has ``r`` NULL. Items of the file that are no resource at all (a line that is not JSON, an
entry that is not an object) come back as ``(pos, reason)`` pairs: they are rows too.

Three layouts are parsed by DuckDB's typed JSON reader, in parallel where lines allow it:
NDJSON (one resource per line, FHIR bulk data), a Bundle written one entry per line (what
the generator writes), and any other single JSON object (a Bundle or one resource, parsed
as one value). Anything DuckDB cannot read that way (an element of the wrong shape, a
Bundle inside a Bundle, ``contained`` resources, a JSON array, a broken line) goes through
Python's json parser, which walks the structure, checks each resource against the schema
and hands the ones that fit to the same typed reader: one reading of the resources
whatever the layout.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import duckdb

from her2qa.ingest import extract
from her2qa.ingest.formats.fhir import schema

RESOURCE_TYPE = schema.duckdb_type(schema.RESOURCE)
ENTRY_TYPE = schema.duckdb_type(schema.ENTRY)
# The resource types the mapping reads; any other is kept as a reference target only (its
# type and id), whatever its shape.
READ_TYPES = frozenset(
    {
        "Observation",
        "DiagnosticReport",
        "Patient",
        "Specimen",
        "Organization",
        "Practitioner",
        "PractitionerRole",
    }
)
# A line longer than this is not an NDJSON resource (and is not parsed twice to find out).
_MAX_LINE_SNIFF = 8 << 20


@dataclass
class Loaded:
    """What the file held besides ``res``: items that are no resource, the parsed
    resources (when the fallback reader parsed them: for validation) and the layout."""

    layout: str  # ndjson | entry-lines | object | fallback
    bad: list[tuple[int, str]] = field(default_factory=list)
    parsed: dict[int, dict] | None = None  # pos -> resource, when Python parsed the file
    body: bytes | None = None  # the lines read, one value each (line layouts)
    bundle_types: list[str] = field(default_factory=list)


class _Fallback(Exception):
    """The fast reading does not fit this file: read it with Python's parser."""


def load(con: duckdb.DuckDBPyConnection, data: bytes) -> Loaded:
    """Fill ``res`` from the file's bytes; raises ``extract.FileRejected`` when the file
    is not JSON or holds no FHIR resource."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    text = data.lstrip()
    if not text:
        raise extract.FileRejected("empty", "the file is empty")
    if text[:1] not in (b"{", b"["):
        raise extract.FileRejected("not_fhir", "the file is not FHIR JSON (no JSON object)")
    try:  # FHIR JSON is UTF-8 (RFC 8259); anything else is not read at all
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise extract.FileRejected(
            "not_utf8", f"the file is not UTF-8 (invalid byte at offset {exc.start})"
        ) from None
    try:
        if text[:1] == b"{":
            loaded = _fast(con, data)
            _check_fast(con)
            return loaded
    except (_Fallback, duckdb.Error):
        pass  # DuckDB's message may quote the file: never shown, the fallback says why
    con.execute("DROP VIEW IF EXISTS res")  # what the fast reading left
    for table in ("res_lines", "res_object", "res_entries"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return _fallback(con, data)


def _nonblank_lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.strip():
            yield number, line


def _fast(con: duckdb.DuckDBPyConnection, data: bytes) -> Loaded:
    first_end = data.find(b"\n")
    if first_end < 0 or not data[first_end:].strip():
        return _read_object(con, data)
    first = data[:first_end].strip()
    if len(first) <= _MAX_LINE_SNIFF and _is_object(first):  # a whole object: NDJSON
        return _read_lines(con, data, "ndjson")
    if first.endswith(b'"entry":['):  # a Bundle written one entry per line?
        body_end = data.rstrip().rfind(b"\n")
        if body_end > first_end and data[body_end:].strip() == b"]}":
            try:
                header = json.loads(first + b"]}")
            except ValueError:
                header = None
            if isinstance(header, dict) and header.get("resourceType") == "Bundle":
                loaded = _read_lines(con, data[first_end + 1 : body_end], "entry-lines")
                loaded.bundle_types = [str(header.get("type"))]
                return loaded
    return _read_object(con, data)


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def _read_lines(con: duckdb.DuckDBPyConnection, body: bytes, layout: str) -> Loaded:
    """One JSON value per line, parsed in parallel by DuckDB. A raw line break can only
    separate values in JSON (never sit inside a string), so the entries' separating commas
    are found without parsing; a line that is not one value makes DuckDB fail, and the
    file goes to the fallback."""
    body = body.replace(b"\r\n", b"\n")
    if layout == "entry-lines":
        body = body.replace(b",\n", b"\n")
        columns = {name: schema.duckdb_type(shape) for name, shape in schema.ENTRY.items()}
        records = "true"
        entry = "fullUrl AS full_url, request.method AS method, resource AS r"
    else:
        columns = {"r": RESOURCE_TYPE}
        records = "false"
        entry = "NULL::VARCHAR AS full_url, NULL::VARCHAR AS method, r"
    if not body.strip():  # a Bundle without entries: a file without items
        ddl = ", ".join(f'"{name}" {kind}' for name, kind in columns.items())
        con.execute(f"CREATE TABLE res_lines ({ddl})")
    else:
        rel = con.read_json(
            io.BytesIO(body),
            format="newline_delimited",
            records=records,
            columns=columns,
            maximum_object_size=max(len(body), 1 << 20),
        )
        rel.to_table("res_lines")  # rows in line order (DuckDB keeps insertion order)
    # line numbers are row numbers unless blank lines were skipped
    if layout == "entry-lines":
        label = "'entry ' || (rowid + 1)"
    elif re.search(rb"(^|\n)[ \t]*\n", body):  # blank lines were skipped: no line numbers
        label = "'resource ' || (rowid + 1)"
    else:
        label = "'line ' || (rowid + 1)"
    con.execute(
        f"""
        CREATE VIEW res AS
        SELECT rowid + 1 AS pos, {label} AS label, NULL::BIGINT AS parent, {entry}
        FROM res_lines
        """  # noqa: S608 - our names
    )
    return Loaded(layout, body=body)


def _read_object(con: duckdb.DuckDBPyConnection, data: bytes) -> Loaded:
    """One JSON object (a Bundle or a resource), parsed as one value."""
    columns = {name: schema.duckdb_type(shape) for name, shape in schema.RESOURCE.items()}
    columns["entry"] = f"{ENTRY_TYPE}[]"
    columns["type"] = "VARCHAR"
    rel = con.read_json(
        io.BytesIO(data),
        format="unstructured",
        records="true",
        columns=columns,
        maximum_object_size=max(len(data) + 1, 1 << 20),
    )
    rel.to_table("res_object")
    kind, bundle_type = con.execute("SELECT resourceType, type FROM res_object").fetchall()[0]
    if kind is None:
        raise extract.FileRejected(
            "not_fhir", "the file is JSON but not a FHIR resource (no resourceType)"
        )
    if kind == "Bundle":
        con.execute(
            """
            CREATE TABLE res_entries AS
            SELECT i AS pos, 'entry ' || i AS label, NULL::BIGINT AS parent,
                   e.fullUrl AS full_url, e.request.method AS method, e.resource AS r
            FROM (SELECT unnest(entry) AS e, generate_subscripts(entry, 1) AS i FROM res_object)
            """
        )
        loaded = Loaded("object", bundle_types=[str(bundle_type)])
    else:
        fields = ", ".join(f'"{name}"' for name in schema.RESOURCE)
        con.execute(
            f"""
            CREATE TABLE res_entries AS
            SELECT 1::BIGINT AS pos, 'the resource' AS label, NULL::BIGINT AS parent,
                   NULL::VARCHAR AS full_url, NULL::VARCHAR AS method,
                   struct_pack({fields})::{RESOURCE_TYPE} AS r
            FROM res_object
            """  # noqa: S608 - field names are ours
        )
        loaded = Loaded("object")
    con.execute("DROP TABLE res_object")
    con.execute("CREATE VIEW res AS SELECT * FROM res_entries")
    return loaded


def _check_fast(con: duckdb.DuckDBPyConnection) -> None:
    """Resources inside resources (a nested Bundle, ``contained``) need the fallback, which
    lifts them out with their place."""
    nested = con.execute(
        "SELECT count(*) FROM res WHERE r.resourceType = 'Bundle' OR r.contained IS NOT NULL"
    ).fetchall()[0][0]
    if nested:
        raise _Fallback


# ---------------------------------------------------------------- fallback: Python's parser


@dataclass
class _Walk:
    resources: list[tuple[int, str, int | None, dict]] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)
    bundle_types: list[str] = field(default_factory=list)
    pos: int = 0

    def next_pos(self) -> int:
        self.pos += 1
        return self.pos


def _fallback(con: duckdb.DuckDBPyConnection, data: bytes) -> Loaded:
    walk = _Walk()
    lines = list(_nonblank_lines(data))
    whole: object = None
    try:
        whole = json.loads(data)
    except ValueError as exc:
        # NDJSON when its first line is a value of its own; else one broken JSON value
        if len(lines) < 2 or not _is_json(lines[0][1]):
            raise _not_json(exc) from None
        whole = None
    except RecursionError:
        raise extract.FileRejected("not_fhir", "the file's JSON is nested too deeply") from None
    if whole is None:  # NDJSON: one value per line, a broken line is one bad item
        for number, line in lines:
            try:
                value = json.loads(line)
            except (ValueError, RecursionError):
                walk.bad.append((walk.next_pos(), f"line {number} is not valid JSON"))
                continue
            _walk_value(walk, value, f"line {number}", None)
        layout = "fallback"
    else:
        _walk_value(walk, whole, None, None)
        layout = "fallback"
    if not walk.resources and not walk.bundle_types:
        raise extract.FileRejected("not_fhir", "the file holds no FHIR resource")
    _load_walked(con, walk)
    parsed = {pos: resource for pos, _label, _parent, resource in walk.resources}
    return Loaded(layout, bad=walk.bad, parsed=parsed, bundle_types=walk.bundle_types)


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except (ValueError, RecursionError):
        return False
    return True


def _not_json(exc: ValueError) -> extract.FileRejected:
    where = ""
    if isinstance(exc, json.JSONDecodeError):  # its message names the place, not the text
        where = f" (line {exc.lineno}, column {exc.colno}: {exc.msg})"
    return extract.FileRejected("not_json", f"the file is not valid JSON{where}")


def _walk_value(walk: _Walk, value: object, label: str | None, full_url: str | None) -> None:
    """A top-level value, a Bundle's entry or a line: resources are kept with their place."""
    if isinstance(value, list) and label is None:  # a JSON array of resources (not FHIR's)
        for i, item in enumerate(value, start=1):
            _walk_value(walk, item, f"item {i}", None)
        return
    where = label or "the resource"
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        walk.bad.append((walk.next_pos(), f"{where} is not a FHIR resource (no resourceType)"))
        return
    if value["resourceType"] == "Bundle":
        walk.bundle_types.append(str(value.get("type")))
        entries = value.get("entry") or []
        if not isinstance(entries, list):
            walk.bad.append((walk.next_pos(), f"the entries of Bundle at {where} are not a list"))
            return
        for i, entry in enumerate(entries, start=1):
            place = f"{label}, entry {i}" if label else f"entry {i}"
            if not isinstance(entry, dict):
                walk.bad.append((walk.next_pos(), f"{place} is not an object"))
                continue
            resource = entry.get("resource")
            if resource is None:
                request = entry.get("request") if isinstance(entry.get("request"), dict) else {}
                method = request.get("method")
                why = f" (a {method} request is not applied)" if isinstance(method, str) else ""
                walk.bad.append((walk.next_pos(), f"{place} has no resource{why}"))
                continue
            url = entry.get("fullUrl")
            _walk_value(walk, resource, place, url if isinstance(url, str) else None)
        return
    _keep(walk, value, where, full_url)


def _readable(resource: dict) -> tuple[dict | None, str | None]:
    """The resource as handed to the typed reader (a type the mapping does not read: its
    type and id only), or why its shape cannot be read."""
    if resource["resourceType"] not in READ_TYPES:
        rid = resource.get("id")
        return {
            "resourceType": resource["resourceType"],
            "id": rid if isinstance(rid, str) else None,
        }, None
    problem = schema.mismatch(resource, schema.RESOURCE)
    if problem:
        return None, problem
    return {k: v for k, v in resource.items() if k != "contained"}, None


def _keep(walk: _Walk, resource: dict, where: str, full_url: str | None) -> None:
    pos = walk.next_pos()
    kind = resource["resourceType"]
    own, problem = _readable(resource)
    if own is None:
        walk.bad.append((pos, f"{kind} at {where} cannot be read: {problem} (not FHIR R4)"))
        return
    contained = resource.get("contained") or []
    walk.resources.append((pos, where, None, {"fullUrl": full_url, "resource": own}))
    if not isinstance(contained, list):
        return
    for inner in contained:
        if not isinstance(inner, dict) or not isinstance(inner.get("resourceType"), str):
            continue  # not a resource: nothing can refer to it
        inner_id = inner.get("id") if isinstance(inner.get("id"), str) else ""
        place = f"{where}, contained {inner['resourceType']}"
        inner_pos = walk.next_pos()
        body, problem = _readable(inner)
        if body is None:
            walk.bad.append((inner_pos, f"{place} cannot be read: {problem} (not FHIR R4)"))
            continue
        walk.resources.append(
            (inner_pos, place, pos, {"fullUrl": f"#{inner_id}", "resource": body})
        )


def _load_walked(con: duckdb.DuckDBPyConnection, walk: _Walk) -> None:
    lines = []
    for pos, label, parent, entry in walk.resources:
        lines.append(
            json.dumps({"i": pos, "l": label, "p": parent, "e": entry}, separators=(",", ":"))
        )
    if not lines:
        con.execute(
            f"CREATE TABLE res (pos BIGINT, label VARCHAR, parent BIGINT, full_url VARCHAR, "
            f"method VARCHAR, r {RESOURCE_TYPE})"
        )
        return
    buf = "\n".join(lines).encode("utf-8")
    rel = con.read_json(
        io.BytesIO(buf),
        format="newline_delimited",
        records="true",
        columns={"i": "BIGINT", "l": "VARCHAR", "p": "BIGINT", "e": ENTRY_TYPE},
        maximum_object_size=max(len(buf), 1 << 20),
    )
    rel.to_table("res_walked")
    con.execute(
        """
        CREATE VIEW res AS
        SELECT i AS pos, l AS label, p AS parent, e.fullUrl AS full_url,
               e.request.method AS method, e.resource AS r
        FROM res_walked
        """
    )
