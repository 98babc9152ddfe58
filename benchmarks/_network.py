"""The synthetic inputs of the nightly benchmark: a network of any size built from
``her2qa generate`` chunks, and the nightly files that land on top of it. DuckDB SQL over the
CSV files (no Python loop over rows); the contract is ../shared/spec/lis-extract.md.

    make_chunk(cache, c, rows, grow)   chunk c of a network, cached in ``cache``
    nightly_file(sources, out, k, ...) the k-th night's file of new results, amendments and
                                       late results, valid against the contract

A network of N rows is chunks 0 .. N/rows-1. Chunk 0 is ``generate(rows=rows, seed=7)``
untouched (at 1M rows the very network of the other benchmarks); chunk
c >= 1 is generated with seed 7 + c, so its values differ, and rewritten so that no id
collides with another chunk's. ``grow`` says how the network grows:

- ``density`` (default): the same 5 laboratories, each with more results. test_id,
  accession_id and patient_mrn get the chunk number inside them (T00100001 -> T00700100001 in
  chunk 7: unique within the lab, as the contract asks). Proficiency-testing rows are kept in
  chunk 0 only: a laboratory answers each challenge once, whatever its volume.
- ``labs``: more laboratories (NORTH007, ... in chunk 7), each the size of chunk 0's; MRNs get
  the chunk number (an MRN is unique across the deployment), test and accession ids stay (they
  are unique within a lab). The reference laboratory and the proficiency challenges are shared
  by the whole network, as in life.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

SEED = 7
GROW = ("density", "labs")
DONE = "chunk.json"  # written last: a chunk folder without it is incomplete
# One night's mix (issue 14: mostly new results, some amendments of old tests that touch old
# periods, late results for old specimens); the new results come as whole specimens.
NIGHT_SHARES = {"amended": 0.10, "late": 0.05}

_READ = "header = true, all_varchar = true, delim = ',', quote = '\"', escape = '\"'"


def _lit(text: str | Path) -> str:
    """A SQL string literal (our own paths and names only)."""
    return "'" + str(text).replace("'", "''") + "'"


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # a child's stdout is its JSON line
    return con


def chunk_dir(cache: Path, c: int, rows: int, grow: str) -> Path:
    return cache / (f"c000-r{rows}" if c == 0 else f"c{c:03d}-r{rows}-{grow}")


def make_chunk(cache: Path, c: int, rows: int, grow: str) -> dict:
    """Chunk ``c`` of ``rows`` rows: generated once, then read from the cache."""
    out = chunk_dir(cache, c, rows, grow)
    done = out / DONE
    if done.is_file():
        return json.loads(done.read_text("utf-8"))
    from her2qa.generate import generate  # the child that builds a chunk pays the import

    if grow not in GROW:
        raise ValueError(f"grow must be one of {GROW}")
    part = out.with_name(out.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    if c == 0:
        generate(part, rows=rows, seed=SEED, messy=False)
        written = rows
    else:
        raw = out.with_name(out.name + ".raw")
        shutil.rmtree(raw, ignore_errors=True)
        generate(raw, rows=rows, seed=SEED + c, messy=False)
        part.mkdir(parents=True)
        con = _connect()
        written = sum(_rewrite(con, src, part, c, grow) for src in sorted(raw.glob("*.csv")))
        con.close()
        shutil.rmtree(raw)
    shutil.rmtree(out, ignore_errors=True)
    part.rename(out)
    files = sorted(out.glob("*.csv"))
    info = {
        "chunk": c,
        "seed": SEED + c,
        "grow": grow,
        "rows": written,
        "files": [str(f) for f in files],
        "bytes": sum(f.stat().st_size for f in files),
    }
    done.write_text(json.dumps(info, indent=1), "utf-8")
    return info


def _rewrite(con: duckdb.DuckDBPyConnection, src: Path, folder: Path, c: int, grow: str) -> int:
    """One generated file of chunk ``c`` with its ids made the chunk's own; rows written."""
    tag = f"{c:03d}"
    mrn = f"'MRN' || '{tag}' || substr(patient_mrn, 4)"  # MRN + 8 digits -> MRN + tag + digits
    lab, rest = src.stem.split("_", 1)  # NORTH_2024Q3
    if grow == "density":
        replace = (
            f"'T' || '{tag}' || substr(test_id, 2) AS test_id, "
            f"substr(accession_id, 1, 4) || '{tag}' || substr(accession_id, 5) AS accession_id, "
            f"{mrn} AS patient_mrn"
        )
        where = "coalesce(test_purpose, '') <> 'proficiency'"
        name = f"{src.stem}_c{tag}.csv"  # sorts after chunk 0's file of the same quarter
    else:
        replace = (
            f"lab_id || '{tag}' AS lab_id, "
            f"CASE WHEN performing_lab = lab_id THEN performing_lab || '{tag}' "
            f"ELSE performing_lab END AS performing_lab, {mrn} AS patient_mrn"
        )
        where = "true"
        name = f"{lab}{tag}_{rest}.csv"
    return con.execute(
        f"COPY (SELECT * REPLACE ({replace}) FROM read_csv({_lit(src)}, {_READ}) "  # noqa: S608
        f"WHERE {where}) TO {_lit(folder / name)} (HEADER, DELIMITER ',')"
    ).fetchone()[0]


def nightly_file(sources: list[Path], out: Path, k: int, rows: int = 1_000) -> dict:
    """The k-th night's file of ``rows`` results, built from the rows of ``sources`` (network
    files, earlier nights' files included, so versions and dates follow them).

    - new results: whole specimens of the network copied as new specimens of new patients
      (new accession, test ids and MRN), reported the night after the latest report of
      ``sources``, collected as long before as the original (the collection date moves with
      the specimen's last report);
    - amendments (10%): the current version of old clinical IHC results (negative, score 0
      or 1+) sent again as version + 1, reported that night, the score changed between 0 and
      1+ (both negative, so the row stays valid): old periods change;
    - late results (5%, and what whole specimens leave over): a second pathologist's read of
      an old specimen's clinical IHC, reported that night.

    Returns the counts and the night's date."""
    con = _connect()
    con.execute(
        f"CREATE TEMP TABLE src AS SELECT * FROM read_csv($files, {_READ})",  # noqa: S608
        {"files": [str(p) for p in sources]},
    )
    columns = [r[0] for r in con.execute("DESCRIBE src").fetchall()]
    night = con.execute("SELECT max(report_date::DATE) + 1 FROM src").fetchone()[0]
    n_amended = round(rows * NIGHT_SHARES["amended"])
    n_late_min = round(rows * NIGHT_SHARES["late"])
    params = {"k": k, "night": night}
    # The current version of each result (a repeat of a version is the same row).
    con.execute(
        """
        CREATE TEMP TABLE cur AS
        SELECT *, coalesce(TRY_CAST(result_version AS INTEGER), 1) AS v
        FROM src
        QUALIFY row_number() OVER (
            PARTITION BY lab_id, test_id
            ORDER BY coalesce(TRY_CAST(result_version AS INTEGER), 1) DESC) = 1
        """
    )
    # Whole specimens (clinical, second reads, reference lab: no validation or PT material),
    # taken in a hash order until the night's share of new results is filled.
    con.execute(
        """
        CREATE TEMP TABLE picked AS
        SELECT lab_id, accession_id, row_number() OVER (ORDER BY h) AS spec_seq
        FROM (
            SELECT *, sum(n) OVER (ORDER BY h ROWS UNBOUNDED PRECEDING) AS upto
            FROM (
                SELECT lab_id, accession_id, count(*) AS n, hash(lab_id, accession_id, $k) AS h
                FROM cur GROUP BY ALL
                HAVING bool_and(coalesce(test_purpose, 'clinical')
                                IN ('clinical', 'second_read', 'reference_lab'))
            )
        )
        WHERE upto <= $n_new
        """,
        {"k": k, "n_new": rows - n_amended - n_late_min},
    )
    kk = f"{k:02d}"
    con.execute(
        f"""
        CREATE TEMP TABLE night_new AS
        SELECT c.* EXCLUDE (v) REPLACE (
            'TN{kk}-' || lpad((row_number() OVER (ORDER BY p.spec_seq, c.test_id))::VARCHAR,
                              6, '0') AS test_id,
            '1' AS result_version,
            'S' || strftime($night, '%y') || '-N{kk}' || lpad(p.spec_seq::VARCHAR, 5, '0')
                || '-A1' AS accession_id,
            'MRNN{kk}' || lpad(p.spec_seq::VARCHAR, 6, '0') AS patient_mrn,
            strftime(c.collection_date::DATE + (s.shift)::INTEGER, '%Y-%m-%d')
                AS collection_date,
            strftime($night, '%Y-%m-%d') AS report_date
        )
        FROM cur AS c
        JOIN picked AS p USING (lab_id, accession_id)
        JOIN (SELECT lab_id, accession_id, $night - max(report_date::DATE) AS shift
              FROM cur SEMI JOIN picked USING (lab_id, accession_id) GROUP BY ALL) AS s
          USING (lab_id, accession_id)
        """,  # noqa: S608 - our own literals
        {"night": night},
    )
    n_new = con.execute("SELECT count(*) FROM night_new").fetchone()[0]
    con.execute(
        """
        CREATE TEMP TABLE night_amended AS
        SELECT c.* EXCLUDE (v) REPLACE (
            (c.v + 1)::VARCHAR AS result_version,
            CASE c.ihc_score WHEN '0' THEN '1+' ELSE '0' END AS ihc_score,
            strftime($night, '%Y-%m-%d') AS report_date
        )
        FROM cur AS c ANTI JOIN picked USING (lab_id, accession_id)
        WHERE c.assay = 'IHC' AND c.ihc_score IN ('0', '1+') AND c.reported_result = 'negative'
          AND coalesce(c.test_purpose, 'clinical') = 'clinical'
        ORDER BY hash(c.lab_id, c.test_id, $k, 'amended')
        LIMIT $n
        """,
        {**params, "n": n_amended},
    )
    con.execute(
        f"""
        CREATE TEMP TABLE night_late AS
        WITH readers AS (
            SELECT lab_id, list(DISTINCT pathologist_id ORDER BY pathologist_id) AS ids
            FROM cur WHERE pathologist_id IS NOT NULL GROUP BY lab_id
        ),
        chosen AS (
            SELECT c.*, list_filter(r.ids, lambda x: x IS DISTINCT FROM c.pathologist_id) AS others,
                   hash(c.lab_id, c.test_id, $k, 'late') AS h
            FROM cur AS c ANTI JOIN picked USING (lab_id, accession_id)
            JOIN readers AS r USING (lab_id)
            WHERE c.assay = 'IHC' AND c.ihc_score IS NOT NULL
              AND coalesce(c.test_purpose, 'clinical') = 'clinical'
            ORDER BY h
            LIMIT $n
        )
        SELECT c.* EXCLUDE (v, others, h) REPLACE (
            'TN{kk}-L' || lpad((row_number() OVER (ORDER BY h))::VARCHAR, 5, '0') AS test_id,
            '1' AS result_version,
            'second_read' AS test_purpose,
            strftime($night, '%Y-%m-%d') AS report_date,
            CASE WHEN len(others) > 0 THEN others[1 + (h % len(others))::BIGINT]
                 ELSE c.pathologist_id END AS pathologist_id
        )
        FROM chosen AS c
        """,  # noqa: S608 - our own literals
        {**params, "n": rows - n_new - n_amended},
    )
    select = ", ".join(f'"{c}"' for c in columns)
    written = con.execute(
        f"COPY (SELECT {select} FROM night_new UNION ALL SELECT {select} "  # noqa: S608 - ours
        f"FROM night_amended UNION ALL SELECT {select} FROM night_late) "
        f"TO {_lit(out)} (HEADER, DELIMITER ',')"
    ).fetchone()[0]
    n_amended_got, n_late = con.execute(
        "SELECT (SELECT count(*) FROM night_amended), (SELECT count(*) FROM night_late)"
    ).fetchone()
    con.close()
    return {
        "file": str(out),
        "night": night.isoformat(),
        "rows": written,
        "new": n_new,
        "amended": n_amended_got,
        "late": n_late,
    }
