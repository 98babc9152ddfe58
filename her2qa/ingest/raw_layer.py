"""The raw layer, written for a batch of read files: the MRN keyed, names and birth dates
dropped, values that look like identifiers screened, in a few statements for the whole batch.

Every check is the file's own, whatever batch it is in: a value is an identifier when it
equals one of *its file's* MRNs, names or birth dates (``incoming_phi`` is keyed by
``file_id``). A file with extra columns is loaded in a batch of its own (``may_share``):
which of its extra columns are kept, and under which names, is that file's alone.

Why batches (her2qa/ingest/inbox.py calls this once per batch, in one transaction): a
16,667-row file is one DuckDB pipeline on one core, and its commit writes its rows into the
log. Loading the 60 files of a 1M-row inbox one at a time took 17.2 s (3.8 s of commits);
in batches of 500,000 rows 5.6 s, on both cores, with the rows written once, straight into
the warehouse file (in process, the same files and statements; README "Scale").
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

import warehouse
from her2qa.ingest import extract, phi
from schemas import contract

# A contract value is a code, a date or a number; a value this long is not one (and a
# 10 MB field must not travel into the raw layer). The row is quarantined, the value dropped.
MAX_VALUE_CHARS = 4_096
# Extra-column values shaped like an identifier (besides equal to one of the file's MRNs,
# names or birth dates): a date (a birth date?), an "MRN 123"-like code, an SSN.
_ID_VALUE = (
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{2,4}"
    r"|(?i:(mrn|pid|pat|patient|med ?rec)[ #:_-]*[0-9].*)|[0-9]{3}-[0-9]{2}-[0-9]{4}"
)
_PHI_COLUMNS = ("patient_mrn", "patient_name", "patient_dob")
WHY_LONG = (
    f"a value is longer than {MAX_VALUE_CHARS:,} characters (not a contract value); the "
    "values of this record are not kept"
)
WHY_SPANS = (
    "a value runs over several lines (an unterminated quote?); the values of this record "
    "are not kept"
)
WHY_LEAK = (
    "a value equals a patient identifier of this file (fields shifted by an unquoted "
    "comma?); the values of this record are not kept"
)


def extra_columns(data: extract.Extract) -> list[str]:
    """The file's extra (non-contract) columns, by header name."""
    return [n.removeprefix("extra:") for n in data.table.column_names if n.startswith("extra:")]


def may_share(data: extract.Extract) -> bool:
    """Whether the file may be loaded in a batch with others: only without extra columns."""
    return not extra_columns(data)


def load(
    con: duckdb.DuckDBPyConnection,
    files: list[tuple[int, extract.Extract]],
    key: phi.PhiKey,
) -> list[tuple[list[str], int]]:
    """Write the raw rows of ``files`` ((file_id, extract), file_ids ascending, no other
    batch's file between the first and the last) and their identifier fingerprints; in the
    caller's transaction.

    Returns, per file, the extra columns kept and the number dropped because their values
    look like identifiers. A record is kept without values (and quarantined as malformed)
    when a kept value equals one of its file's MRNs, names or birth dates (fields shifted by
    an unquoted comma), runs over lines, or is implausibly long."""
    if len(files) > 1 and not all(may_share(data) for _, data in files):
        raise ValueError("a file with extra columns is loaded in a batch of its own")
    table, extras = _batch_table(files)
    present = set(table.column_names)
    warehouse.run(con, "macros/text")  # blank(): white space trimmed as str.strip() does
    con.register("incoming_extract", table)
    try:
        # The files' identifiers, in memory only while the batch is loaded (a TEMP table
        # lives in the connection, never in the warehouse file).
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE incoming_phi AS
            SELECT DISTINCT file_id, v FROM (
                SELECT file_id, blank(patient_mrn) AS v FROM incoming_extract
                UNION ALL SELECT file_id, blank(patient_name) FROM incoming_extract
                UNION ALL SELECT file_id, blank(patient_dob) FROM incoming_extract
                UNION ALL SELECT file_id, unnest(regexp_split_to_array(patient_name, '[\\s,;]+'))
                    FROM incoming_extract
            ) WHERE length(v) >= 3
            """
        )
        kept_extras, dropped = _screen_extras(con, extras)
        _insert_rows(con, present, kept_extras, key)
        # the site's identifier check looks these rows' identifiers up by fingerprint
        warehouse.run(con, "macros/identifiers")
        warehouse.run(
            con,
            "ops/identifier_fingerprints",
            {"first_file_id": files[0][0], "last_file_id": files[-1][0]},
        )
    finally:
        con.execute("DROP TABLE IF EXISTS incoming_phi")
        con.execute("DROP TABLE IF EXISTS incoming_leaks")
        con.unregister("incoming_extract")
    kept = [name for name, _ in kept_extras]
    # extras only in a batch of one file (above): they are that file's
    return [(kept, dropped) if extras else ([], 0) for _ in files]


def _batch_table(
    files: list[tuple[int, extract.Extract]],
) -> tuple[pa.Table, list[tuple[str, str]]]:
    """The batch as one table with a ``file_id`` column, every contract column (null where a
    file has none: a missing column and a null one read the same below) and the extra
    columns under positional names: header text never becomes SQL; extra names go in as
    values. Returns the table and the (header name, positional column) of the extras."""
    tables = []
    extras: list[tuple[str, str]] = []
    for file_id, data in files:
        table = data.table
        renamed = []
        for name in table.column_names:
            if name.startswith("extra:"):
                extras.append((name.removeprefix("extra:"), f"x{len(extras)}"))
                renamed.append(extras[-1][1])
            else:
                renamed.append(name)
        table = table.rename_columns(renamed)
        for column in (*contract.RAW_KEPT, *_PHI_COLUMNS):
            if column not in table.column_names:
                table = table.append_column(column, pa.nulls(table.num_rows, pa.string()))
        tables.append(table.append_column("file_id", pa.repeat(file_id, table.num_rows)))
    return pa.concat_tables(tables, promote_options="default"), extras


def _insert_rows(
    con: duckdb.DuckDBPyConnection,
    present: set[str],
    kept_extras: list[tuple[str, str]],
    key: phi.PhiKey,
) -> None:
    """One INSERT of the batch's raw rows: every kept value, by positional name (never header
    text), and what disqualifies its record: over-long, over several lines, or equal to a
    patient identifier of its file."""
    checked = list(contract.RAW_KEPT) + [x for _, x in kept_extras]
    too_long = [f"length({c}) > {MAX_VALUE_CHARS}" for c in checked]
    spans = [f"contains({c}, chr(10)) OR contains({c}, chr(13))" for c in checked]
    # (kept extras hold no identifier value: _screen_extras checked every one of them)
    leak = _leak_test(con, list(contract.RAW_KEPT))
    screened = (
        "SELECT *, CASE WHEN malformed IS NOT NULL THEN malformed "  # noqa: S608 - ours
        f"WHEN coalesce({' OR '.join(too_long)}, false) THEN $why_long "
        f"WHEN coalesce({' OR '.join(spans)}, false) THEN $why_spans "
        f"WHEN {leak} THEN $why_leak "
        "END AS why_malformed FROM incoming_extract"
    )

    def kept(column: str) -> str:
        return f"CASE WHEN why_malformed IS NULL THEN {column} END"

    select = [
        "file_id",
        "source_row",
        *[(kept(name) if name in present else "NULL") for name in contract.RAW_KEPT],
        f"CASE WHEN why_malformed IS NULL THEN {phi.hmac_sql('patient_mrn')} END",
        "why_malformed",
    ]
    params: dict[str, object] = {"why_long": WHY_LONG, "why_spans": WHY_SPANS, "why_leak": WHY_LEAK}
    if kept_extras:
        pairs = []
        for i, (name, column) in enumerate(kept_extras):
            params[f"k{i}"] = name
            pairs.append(f"$k{i}, {column}")
        select.append(f"CASE WHEN why_malformed IS NULL THEN json_object({', '.join(pairs)}) END")
    else:
        select.append("NULL")
    ipad, opad = key.pads()
    params.update(ipad=ipad, opad=opad)
    columns = ["file_id", "source_row", *contract.RAW_KEPT, "patient_key", "malformed", "extra"]
    con.execute(
        f"INSERT INTO raw.her2_rows ({', '.join(columns)}) "  # noqa: S608 - names are ours
        f"SELECT {', '.join(select)} FROM ({screened})",
        params,
    )


def _leak_test(con: duckdb.DuckDBPyConnection, columns: list[str]) -> str:
    """SQL that is true for a record one of whose ``columns``, trimmed, is one of its file's
    identifiers (``incoming_phi``): fields shifted by an unquoted comma.

    The batch's distinct values are trimmed and looked up once, into ``incoming_leaks`` (per
    file, the values as read whose trimmed form is an identifier of that file; a TEMP table,
    dropped with incoming_phi). Usually it is empty and no record needs a look-up; otherwise
    a record is looked up by its file and its values as read, with the same truth as
    trimming each: a value is in incoming_leaks exactly when its trimmed form is in
    incoming_phi for the same file (a NULL in neither)."""
    values = f"unnest([{', '.join(columns)}])"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE incoming_leaks AS
        SELECT d.file_id, d.v
        FROM (SELECT DISTINCT file_id, {values} AS v FROM incoming_extract) AS d
        SEMI JOIN incoming_phi AS p ON p.file_id = d.file_id AND p.v = blank(d.v)
        """  # noqa: S608 - column names are ours
    )
    if not con.execute("SELECT count(*) FROM incoming_leaks").fetchone()[0]:
        return "false"
    record = f"SELECT {values} AS v"
    return (
        f"EXISTS (SELECT 1 FROM ({record}) AS r JOIN incoming_leaks AS l "  # noqa: S608
        "ON l.v = r.v AND l.file_id = incoming_extract.file_id)"
    )


def _screen_extras(
    con: duckdb.DuckDBPyConnection, extras: list[tuple[str, str]]
) -> tuple[list[tuple[str, str]], int]:
    """Drop the extra columns whose name or any value looks like an identifier: equal to
    one of the file's MRNs, names or birth dates, or shaped like a date or an MRN code.
    One aggregate query over the file, in DuckDB (a batch with extras is one file)."""
    if not extras:
        return [], 0
    # One pass over the file's extra values, unpivoted (one IN look-up, not one per column:
    # 900 columns each with its own look-up ran out of memory).
    columns = ", ".join(x for _, x in extras)
    flagged_columns = {
        r[0]
        for r in con.execute(
            f"""
            SELECT col FROM (UNPIVOT (SELECT {columns} FROM incoming_extract)
                             ON {columns} INTO NAME col VALUE val)
            WHERE blank(val) IN (SELECT v FROM incoming_phi)
               OR regexp_full_match(blank(val), $id_value)
            GROUP BY col
            """,  # noqa: S608 - positional names are ours
            {"id_value": _ID_VALUE},
        ).fetchall()
    }
    row = [x in flagged_columns for _, x in extras]
    # A header name equal to a patient's identifier (a data row taken for a header) too.
    names_phi = {
        r[0]
        for r in con.execute(
            "SELECT v FROM incoming_phi WHERE v IN (SELECT unnest($names))",
            {"names": [n.strip() for n, _ in extras]},
        ).fetchall()
    }
    kept = [
        (name, x)
        for (name, x), flagged in zip(extras, row, strict=True)
        if not flagged and name.strip() not in names_phi
    ]
    return kept, len(extras) - len(kept)
