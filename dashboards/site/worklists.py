"""Case-level worklists: the only place the dashboards put individual cases, and never on a
page. Each is a CSV in the restricted folder (mode 0700, files 0600, spreadsheet formulas
neutralised: her2qa/restricted.py), for the people who must review the cases.

The folder is configured on its own (HER2QA_RESTRICTED), never inside the site, so copying the
site to a shared drive never carries a case list. The lab's own identifiers (lab_id,
accession_id, test ids) are kept, since a reviewer needs them to pull the case;
``patient_key`` is left out (a reviewer does not need it: data minimisation).

Every worklist is the rows of ONE warehouse table (``Worklist``), a table made for the list
(marts.worklist_* and the discordance and retest tables): the CSV writes them, and the page
that counts the list (``counts``, ``counts_by_rule``) counts the same table, so a page's count
always equals the CSV's rows. The case worklists of issue 11 carry on every row the specimen,
``rule`` (the stable code of what put it on the list), ``reason`` (one sentence for the
pathologist) and ``source`` (the guideline section); the aging list carries ``days_open``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb

from her2qa.restricted import copy_csv, csv_cell, restricted_folder, write_csv


@dataclass(frozen=True)
class Worklist:
    """One CSV: the rows of ``table``, sorted by ``order``."""

    file: str
    table: str  # schema.table: a name from the catalog, never from input
    description: str
    order: str
    exclude: tuple[str, ...] = ()  # columns left out (patient_key, internal flags)
    has_rule: bool = True  # the table has a `rule` column (counts_by_rule)

    @property
    def query(self) -> str:
        excluded = f" EXCLUDE ({', '.join(self.exclude)})" if self.exclude else ""
        # table and order are this module's constants, never input
        return f"SELECT *{excluded} FROM {self.table} ORDER BY {self.order}"  # noqa: S608

    def csv_query(self, columns: list[tuple[str, str]]) -> str | None:
        """``query`` with every cell spelled as the CSV writes it (her2qa/restricted.csv_cell),
        for DuckDB to write the file itself; None when a column's type has no such spelling.
        ``columns``: (name, DuckDB type) of ``query``. The order is on the table's columns
        (qualified), never on the spelled cells."""
        cells = [(name, csv_cell(name, kind, "w")) for name, kind in columns]
        if any(sql is None for _, sql in cells):
            return None
        select = ", ".join(f'{sql} AS "{name}"' for name, sql in cells)
        order = ", ".join(f"w.{term.strip()}" for term in self.order.split(","))
        # table and order are this module's constants; names and types the table's
        return f"SELECT {select} FROM {self.table} AS w ORDER BY {order}"  # noqa: S608

    @property
    def count_query(self) -> str:
        """Rows per lab and pooled ('ALL'): the same table as ``query``."""
        lab = "CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id"
        source = f"FROM {self.table}"
        return f"SELECT {lab}, count(*) AS n {source} GROUP BY ROLLUP (lab_id)"

    @property
    def rule_query(self) -> str:
        """Rows per lab (and 'ALL') and rule: the same table as ``query``."""
        lab = "CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id"
        source = f"FROM {self.table}"
        sets = "GROUPING SETS ((lab_id, rule), (rule))"
        return f"SELECT {lab}, rule, count(*) AS n {source} GROUP BY {sets} ORDER BY lab_id, rule"


# Ordered for a reviewer: by lab, then the rule, then the case (the aging list: oldest first).
LISTS: tuple[Worklist, ...] = (
    Worklist(
        "ihc_ish_discordance.csv",
        "marts.ihc_ish_discordance",
        "IHC 3+ with ISH group 5 or a single-probe ISH under 4.0 HER2/cell, IHC 0/1+ with group 1 "
        "or a single-probe ISH of 6.0 or more, and every dual-probe ISH group 2-4 with how it "
        "resolved (marts.ihc_ish_discordance)",
        "lab_id, discordance_type, specimen_date, accession_id",
        exclude=("patient_key",),
    ),
    Worklist(
        "ihc_pct_contradictions.csv",
        "marts.worklist_pct_contradictions",
        "IHC scores that contradict their % of stained cells under the ASCO/CAP version the "
        "result was read under, whatever the reported call (marts.worklist_pct_contradictions)",
        "lab_id, rule, report_date, test_id",
    ),
    Worklist(
        "open_equivocal_cases.csv",
        "marts.worklist_open_equivocal",
        "open equivocal specimens, primaries and metastases, with days open, oldest first "
        "(marts.worklist_open_equivocal)",
        "days_open DESC, lab_id, accession_id",
    ),
    Worklist(
        "ish_counting.csv",
        "marts.worklist_ish_counting",
        "ISH counted in fewer than 20 nuclei, and dual-probe groups 2-4 with IHC 2+ whose blinded "
        "recount is missing, in another group or by the same observer "
        "(marts.worklist_ish_counting)",
        "lab_id, rule, report_date, test_id",
    ),
    Worklist(
        "ihc0_metastatic_retest.csv",
        "marts.worklist_ihc0_metastatic",
        "metastatic patients whose only HER2 result is an IHC 0 primary: retest for HER2-low / "
        "ultralow (marts.worklist_ihc0_metastatic)",
        "lab_id, collection_date, accession_id",
    ),
    Worklist(
        "metastasis_retest_candidates.csv",
        "marts.retest_candidates",
        "metastases to consider for HER2 retesting, with the reason (marts.retest_candidates)",
        "lab_id, reason_group DESC, reason_code, collection_date, accession_id",
        exclude=("patient_key",),
        has_rule=False,
    ),
    Worklist(
        "interpretation_disagreements.csv",
        "marts.worklist_interpretation_disagreements",
        "results whose reported call differs from the ASCO/CAP algorithm's call for the row "
        "(marts.worklist_interpretation_disagreements)",
        "lab_id, report_date, test_id",
        has_rule=False,
    ),
)
BY_FILE: dict[str, Worklist] = {w.file: w for w in LISTS}
# file name -> query, and file name -> what it lists (kept for callers of the earlier API)
WORKLISTS: dict[str, str] = {w.file: w.query for w in LISTS}
DESCRIPTION: dict[str, str] = {w.file: w.description for w in LISTS}
BATCH = 10_000
# What each list's file was written from (write_all): a dot file beside the lists, owner-only.
MANIFEST = ".written.json"


def _batches(cur: duckdb.DuckDBPyConnection) -> Iterator[tuple]:
    while True:
        chunk = cur.fetchmany(BATCH)
        if not chunk:
            return
        yield from chunk


def write_all(con: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, int]:
    """Write every worklist into ``folder`` (created 0700); returns rows per file.

    A list is written again only when what it was written from has changed: the warehouse's
    case-level tables and aggregates (ops.mart_state.changed_at: a build with nothing staged
    keeps it), the list's query, or its file (size or modification time). ``MANIFEST``
    records each list as written; without it, or without a build, every list is written. A
    run with no new file leaves the files as they are (2.1 s of a 10M run otherwise).

    The lists are written side by side, as many at once as DuckDB has threads: each COPY
    sorts in parallel but writes its file on one thread, and the lists grow with the
    warehouse (220 MB at 10M results). Two at a time on 2 cores, at 10M: 2.65 s -> 2.46 s
    under the default 1GB DuckDB memory limit, 2.5 s -> 1.8 s with 3GB.
    Each file is its own query and cursor, so the bytes are those of one at a time."""
    restricted_folder(folder)
    changed_at = _tables_changed_at(con)
    queries = {w.file: _query_text(con, w) for w in LISTS}
    rows = _standing(folder, changed_at, queries)
    todo = [w for w in LISTS if w.file not in rows]
    threads = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(todo) or 1))) as pool:
        written = pool.map(lambda w: write(con, folder, w), todo)  # each opens its own cursor
        rows.update(zip((w.file for w in todo), written, strict=True))
    _record(folder, changed_at, queries, rows)
    return {w.file: rows[w.file] for w in LISTS}


def write(con: duckdb.DuckDBPyConnection, folder: Path, w: Worklist) -> int:
    """Write one worklist into ``folder`` (already owner-only); returns its rows. DuckDB writes
    the file, so the rows never become Python objects (a list can have a million rows at 10M
    results); a column type without a CSV spelling in SQL falls back to Python's writer."""
    cur = con.cursor()
    try:
        copy = _csv_query(cur, w)
        if copy is not None:
            return copy_csv(cur, copy, folder / w.file)
        cur.execute(w.query)
        columns = [d[0] for d in cur.description]
        return write_csv(folder / w.file, columns, _batches(cur))
    finally:
        cur.close()


def _csv_query(cur: duckdb.DuckDBPyConnection, w: Worklist) -> str | None:
    cur.execute(f"DESCRIBE {w.query}")
    return w.csv_query([(name, kind) for name, kind, *_ in cur.fetchall()])


def _query_text(con: duckdb.DuckDBPyConnection, w: Worklist) -> str:
    """What the file of ``w`` is written by: its SQL, cells spelled (or Python's writer's)."""
    cur = con.cursor()
    try:
        return _csv_query(cur, w) or f"write_csv: {w.query}"
    finally:
        cur.close()


def _tables_changed_at(con: duckdb.DuckDBPyConnection) -> str | None:
    (changed_at,) = con.execute("SELECT max(changed_at) FROM ops.mart_state").fetchone()
    return None if changed_at is None else changed_at.isoformat()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _standing(folder: Path, changed_at: str | None, queries: dict[str, str]) -> dict[str, int]:
    """Rows of each list whose file stands as the manifest recorded it, written from this
    state of the warehouse by the same query."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if changed_at is None or manifest.get("changed_at") != changed_at:
        return {}
    standing = {}
    for name, entry in manifest.get("lists", {}).items():
        if name not in queries or entry.get("query") != _digest(queries[name]):
            continue
        try:
            status = (folder / name).stat()
        except OSError:
            continue
        if [status.st_size, status.st_mtime_ns] == [entry.get("bytes"), entry.get("mtime_ns")]:
            standing[name] = int(entry["rows"])
    return standing


def _record(
    folder: Path, changed_at: str | None, queries: dict[str, str], rows: dict[str, int]
) -> None:
    """The manifest of the lists as now written (mode 0600, replaced whole)."""
    lists = {}
    for name, n in sorted(rows.items()):
        status = (folder / name).stat()
        lists[name] = {
            "query": _digest(queries[name]),
            "rows": n,
            "bytes": status.st_size,
            "mtime_ns": status.st_mtime_ns,
        }
    text = json.dumps({"changed_at": changed_at, "lists": lists}, indent=1, sort_keys=True)
    tmp = folder / (MANIFEST + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, folder / MANIFEST)


def counts(con: duckdb.DuckDBPyConnection, file: str) -> dict[str, int]:
    """Rows of a worklist per lab_id, and 'ALL' for the whole list (0 when empty)."""
    out = {r[0]: int(r[1]) for r in con.execute(BY_FILE[file].count_query).fetchall()}
    out.setdefault("ALL", 0)
    return out


def counts_by_rule(con: duckdb.DuckDBPyConnection, file: str) -> dict[str, dict[str, int]]:
    """Rows of a worklist per lab_id (and 'ALL') and rule: {lab: {rule: n}}."""
    out: dict[str, dict[str, int]] = {}
    for lab, rule, n in con.execute(BY_FILE[file].rule_query).fetchall():
        out.setdefault(lab, {})[rule] = int(n)
    return out
